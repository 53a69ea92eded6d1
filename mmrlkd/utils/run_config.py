"""What tools/train.py and tools/test.py share: flags, config, runner."""
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .determinism import set_cublas_workspace_config
from .distributed import prepare_distributed
from .setup_env import register_all_modules


def add_common_arguments(parser):
    """Add --work-dir, --cfg-options, --launcher and --local-rank."""
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value pairs (e.g. '
        'train_cfg.max_epochs=2); lists as key="[a,b]"')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank (torch >= 2) or
    # --local_rank (older); torchrun sets LOCAL_RANK instead.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_config(args):
    """The config of ``args.config`` with the common flags applied.

    The work dir defaults to ``./work_dirs/<config name>`` as in MMDetection.
    A deterministic config also gets ``CUBLAS_WORKSPACE_CONFIG`` (see
    :func:`~mmrlkd.utils.determinism.set_cublas_workspace_config`).
    """
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    set_cublas_workspace_config(cfg)
    return cfg


def build_runner(cfg):
    """Register every component, prepare the launcher, build the Runner."""
    register_all_modules(init_default_scope=False)
    prepare_distributed(cfg)
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def set_max_epochs(cfg, epochs):
    """Shorten or lengthen an epoch-based schedule, cosine periods included.

    Schedulers with a ``T_max`` (cosine annealing) are stretched to the new
    length; milestones of step schedules are left as they are.
    """
    cfg.train_cfg.max_epochs = epochs
    for scheduler in cfg.param_scheduler:
        if scheduler.get('T_max') is not None:
            scheduler.T_max = epochs
    return cfg
