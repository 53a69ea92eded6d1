"""Distributed launch on machines with or without CUDA."""
import os

import torch
import torch.distributed as torch_dist


def prepare_distributed(cfg):
    """Make ``cfg.launcher == 'pytorch'`` work on CPU-only machines.

    MMEngine 0.10.7's ``init_dist`` calls ``torch.cuda.set_device``, and its
    default DDP wrapper passes ``device_ids=[LOCAL_RANK]``; both fail without
    CUDA. The Runner skips ``init_dist`` when a process group already exists,
    so on CPU we create a gloo group here (from torchrun's environment) and
    ask DDP for ``device_ids=None``. With CUDA nothing changes.

    Args:
        cfg (mmengine.Config): The run's config; ``model_wrapper_cfg`` may be
            added or completed.
    """
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return
    if not torch_dist.is_initialized():
        missing = [
            key for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
            if key not in os.environ
        ]
        if missing:
            raise RuntimeError(
                '--launcher pytorch needs the environment set by torchrun '
                f'(tools/dist_train.sh); missing: {", ".join(missing)}')
        timeout = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('timeout')
        kwargs = {}
        if timeout is not None:
            import datetime
            kwargs['timeout'] = datetime.timedelta(seconds=timeout)
        torch_dist.init_process_group(backend='gloo', **kwargs)
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def finish_distributed():
    """Leave the process group cleanly at the end of a run.

    Without it a gloo process can abort at exit ("terminate called without
    an active exception") while its peer still talks to it, which torchrun
    reports as a failed run although training finished.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()
