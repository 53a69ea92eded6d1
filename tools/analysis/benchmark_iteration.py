"""Median training-iteration time of RLKD against vanilla KD.

Both algorithms are built from the CIFAR-100 configs (ResNet-56 -> ResNet-20
by default) with the same weights, and trained on the same random batch
(the config's batch size, 64 images of 32x32, 100 classes). One iteration is
what the Runner does: data preprocessing, the distillation forward (teacher
+ student), backward, the SGD step, and for RLKD the agent's work after the
step (reward + PPO update, the RLKDAgentHook's call). KD and RLKD take
turns iteration by iteration, so both see the same machine load, and each
timed block starts both from the same weights and optimizer state; the
script prints both medians, their ratio, and the quartiles of the per-block
ratios (the machine's noise). ``--official-loop`` adds an agent that acts
the official code's way (a Python loop over instances, one policy call and
host sync each). ``--same-batch-reward`` adds RLKD with
``RLKDTemperature(reward='same_batch')``, whose reward re-runs the student
on its batch after the step (one more no-grad forward).

A block is one iteration, or ``update_interval`` of them when the RLKD
config's ``RLKDAgentHook`` learns every k-th iteration (``--update-interval``
overrides it): the agent then learns once per block, at its end, as under
the hook, and the printed times are each block's mean per iteration, so the
update's cost is spread over the iterations that share it, not hidden by
the median.

    python tools/analysis/benchmark_iteration.py [--pairs 40] [--device cuda]

After the timing it counts the host reads of one iteration that learns
(on a GPU: synchronisations, through ``torch.cuda.set_sync_debug_mode``;
on the CPU: the same operations, through :class:`HostReads`), for KD and
RLKD, in an iteration that does not log: the agent's budget is 1 on top of
KD's (its decision whether to learn); its logged scalars are read once
every ``LOG_INTERVAL`` iterations, as ``RLKDAgentHook`` reads them for the
LoggerHook.

``--detection`` times RoI-logit distillation of a small Faster R-CNN instead
(the Shapes configs of ``configs/detection/shapes/``: R18-FPN width 32 ->
width 8, 3 classes, the config's 8 images of 128x128, drawn by
``mmdet.testing``; every sampled RoI is an instance of the agent).
``--kd-config``/``--rlkd-config`` may name other detection configs (e.g.
the COCO ones).

    python tools/analysis/benchmark_iteration.py --detection [--pairs 20]

A CPU timing hides what the agent would cost on a GPU (its operations,
host reads and collectives, behind the student's convolutions);
``tools/analysis/count_iteration_ops.py`` counts those, by part.
"""
import argparse
import copy
import os.path as osp
import statistics
import time
import warnings

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS, DefaultScope
from mmpretrain.structures import DataSample

import mmrlkd  # noqa: F401  (compat shims before mmrazor is imported)
from mmrlkd.engine.hooks.rlkd_agent_hook import to_host_all
from mmrlkd.models import RLKDTemperature, TemperatureOutput
from mmrlkd.registry import MODELS as RLKD_MODELS
from mmrlkd.utils import register_all_modules
from mmrlkd.utils.host_reads import HostReads

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
KD = osp.join(ROOT, 'configs/kd/kd_resnet56_resnet20_cifar100.py')
RLKD = osp.join(ROOT, 'configs/rlkd/rlkd_resnet56_resnet20_cifar100.py')
SHAPES = osp.join(ROOT, 'configs/detection/shapes')
DET_KD = osp.join(SHAPES,
                  'kd_roi_faster-rcnn_r18w32_faster-rcnn_r18w8_shapes.py')
DET_RLKD = osp.join(SHAPES,
                    'rlkd_roi_faster-rcnn_r18w32_faster-rcnn_r18w8_shapes.py')
# (kd config, rlkd config, image size) of each mode
#: MMEngine's LoggerHook interval by default: RLKDAgentHook reads the
#: agent's scalars for the logger once in this many iterations.
LOG_INTERVAL = 10
#: Each model's agent diagnostics not read yet (by ``id``).
_UNLOGGED = {}

DEFAULTS = dict(
    classification=(KD, RLKD, 32), detection=(DET_KD, DET_RLKD, 128))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--detection',
        action='store_true',
        help='time Faster R-CNN RoI-logit distillation instead')
    parser.add_argument('--kd-config')
    parser.add_argument('--rlkd-config')
    parser.add_argument(
        '--batch-size',
        type=int,
        help='images per iteration (default: the KD config\'s training '
        'batch size)')
    parser.add_argument('--image-size', type=int)
    parser.add_argument(
        '--pairs',
        type=int,
        default=40,
        help='timed blocks, each of KD and RLKD')
    parser.add_argument(
        '--warmup', type=int, default=5, help='untimed blocks of each first')
    parser.add_argument(
        '--update-interval',
        type=int,
        help='iterations per agent update (default: the RLKD config\'s '
        'RLKDAgentHook update_interval)')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument(
        '--threads',
        type=int,
        help='torch intra-op threads (default: torch\'s choice); 1 avoids '
        'spin-waiting of idle threads on a busy shared CPU')
    parser.add_argument(
        '--official-loop',
        action='store_true',
        help='also time an agent acting instance by instance')
    parser.add_argument(
        '--same-batch-reward',
        action='store_true',
        help="also time RLKD with reward='same_batch' (classification)")
    parser.add_argument(
        '--eager-agent',
        action='store_true',
        help='also time RLKD with the agent eager (capture=False; on CUDA, '
        'RLKD acts and learns from CUDA graphs)')
    args = parser.parse_args()
    mode = 'detection' if args.detection else 'classification'
    for name, default in zip(('kd_config', 'rlkd_config', 'image_size'),
                             DEFAULTS[mode]):
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.batch_size is None:
        args.batch_size = Config.fromfile(
            args.kd_config).train_dataloader.batch_size
    if args.update_interval is None:
        args.update_interval = update_interval(args.rlkd_config)
    if args.update_interval < 1:
        parser.error('--update-interval must be >= 1')
    return args


def update_interval(config):
    """``update_interval`` of the config's RLKDAgentHook (1 without one)."""
    for hook in Config.fromfile(config).get('custom_hooks', []):
        if hook['type'].split('.')[-1] == 'RLKDAgentHook':
            return hook.get('update_interval', 1)
    return 1


@RLKD_MODELS.register_module()
class LoopedRLKDTemperature(RLKDTemperature):
    """The official code's way of acting: one policy call per instance."""

    def forward(self, preds_S, preds_T, gt_labels=None):
        out = super().forward(preds_S, preds_T, gt_labels)
        if not self.acting:
            return out
        states = self._record.episode.states
        temps = []
        for i in range(len(states)):
            acted = self.policy.act(states[i:i + 1])
            temps.append(acted['temperatures'].item())
            acted['values'].item()
        temps = torch.tensor(temps, device=preds_S.device)
        return TemperatureOutput.shared(temps)


def build(config, device, provider_type=None, **provider_options):
    cfg = Config.fromfile(config)
    cfg.model.teacher_ckpt = None
    if 'data_preprocessor' in cfg:  # MMPretrain keeps it outside the model
        cfg.model.data_preprocessor = cfg.data_preprocessor
    if provider_type is not None:
        cfg.model.distiller.temperature_provider.type = provider_type
    cfg.model.distiller.temperature_provider.update(provider_options)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model).to(device)
    model.train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    provider = model.temperature_provider
    if hasattr(provider, 'finish_iteration'):
        provider.acting = True
    return model, optim_wrapper


def make_batch(args):
    g = torch.Generator().manual_seed(0)
    inputs = [
        torch.randint(
            0,
            256, (3, args.image_size, args.image_size),
            generator=g,
            dtype=torch.uint8) for _ in range(args.batch_size)
    ]
    labels = torch.randint(0, 100, (args.batch_size, ), generator=g)
    samples = [DataSample().set_gt_label(int(label)) for label in labels]
    return dict(inputs=inputs, data_samples=samples)


def make_detection_batch(args, model):
    """Random images with random boxes of the student's classes."""
    from mmdet.testing import demo_mm_inputs
    num_classes = model.student.roi_head.bbox_head.num_classes
    return demo_mm_inputs(
        batch_size=args.batch_size,
        image_shapes=[(3, args.image_size, args.image_size)] * args.batch_size,
        num_classes=num_classes,
        with_mask=False)


def run_iteration(model, optim_wrapper, data, update=True):
    """What the Runner and RLKDAgentHook do in one training iteration.

    ``update``: whether an RLKD agent learns after it (RLKDAgentHook's call
    with ``update_interval`` > 1 skips it on all but every k-th iteration).
    The agent's diagnostics are read as the hook reads them for the logger:
    those of ``LOG_INTERVAL`` iterations at once.

    Returns:
        bool: Whether this iteration read the logged scalars.
    """
    batch = model.data_preprocessor(data, True)
    losses = model(**batch, mode='loss')
    loss, _ = model.parse_losses(losses)
    optim_wrapper.update_params(loss)
    provider = model.temperature_provider
    if not hasattr(provider, 'finish_iteration'):
        return False
    pending = _UNLOGGED.setdefault(id(model), [])
    pending.append(
        provider.finish_iteration(
            learn=update,
            performance_after_step=getattr(model, 'performance_after_step',
                                           None)))
    if len(pending) < LOG_INTERVAL:
        return False
    to_host_all(pending)
    pending.clear()
    return True


def train_iteration(model, optim_wrapper, data, device, update=True):
    """One training iteration; returns its wall time in seconds."""
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    start = time.perf_counter()
    run_iteration(model, optim_wrapper, data, update)
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def host_reads(model, optim_wrapper, data, device):
    """Host reads of training iterations that learn: the most in one that
    does not log, and in the one of ``LOG_INTERVAL`` that logs the agent's
    scalars (the same for KD). GPU synchronisations on CUDA, the same
    operations counted by :class:`HostReads` elsewhere."""
    counts = {False: [], True: []}
    for _ in range(LOG_INTERVAL):
        if device.startswith('cuda'):
            torch.cuda.synchronize()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter('always')
                torch.cuda.set_sync_debug_mode('warn')
                try:
                    logged = run_iteration(model, optim_wrapper, data)
                finally:
                    torch.cuda.set_sync_debug_mode('default')
            count = sum('synchroniz' in str(w.message) for w in caught)
        else:
            with HostReads() as counter:
                logged = run_iteration(model, optim_wrapper, data)
            count = len(counter.reads)
        counts[logged].append(count)
    return max(counts[False]), max(counts[True] or counts[False])


def interleaved_block(runs, data, device, iterations=1):
    """Mean iteration time (s) of each run over one block of iterations.

    The runs take turns iteration by iteration, so that each block's runs
    see the same machine load; an RLKD agent learns once, after the block's
    last iteration, as under ``RLKDAgentHook(update_interval=iterations)``.
    """
    seconds = dict.fromkeys(runs, 0.0)
    for i in range(iterations):
        for name, (model, optim_wrapper) in runs.items():
            seconds[name] += train_iteration(model, optim_wrapper, data,
                                             device, i == iterations - 1)
    return {name: total / iterations for name, total in seconds.items()}


def roi_count(model, data):
    """How many RoIs (agent instances) the student samples from ``data``."""
    with torch.no_grad():
        losses = model(**model.data_preprocessor(data, True), mode='loss')
    return int(losses['distill.roi_count'])


def main():
    args = parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    register_all_modules(init_default_scope=False)
    torch.manual_seed(0)
    runs = {'KD': build(args.kd_config, args.device)}
    runs['RLKD'] = build(args.rlkd_config, args.device)
    runs['RLKD'][0].load_state_dict(runs['KD'][0].state_dict())
    if args.official_loop:
        runs['RLKD, loop over instances'] = build(
            args.rlkd_config,
            args.device,
            provider_type='mmrlkd.LoopedRLKDTemperature')
        runs['RLKD, loop over instances'][0].load_state_dict(
            runs['KD'][0].state_dict())
    if args.same_batch_reward:
        name = 'RLKD, same-batch reward'
        runs[name] = build(args.rlkd_config, args.device, reward='same_batch')
        runs[name][0].load_state_dict(runs['KD'][0].state_dict())
    if args.eager_agent:
        name = 'RLKD, eager agent'
        runs[name] = build(args.rlkd_config, args.device, capture=False)
        runs[name][0].load_state_dict(runs['KD'][0].state_dict())
    if args.detection:
        data = make_detection_batch(args, runs['KD'][0])
    else:
        data = make_batch(args)
    k = args.update_interval
    for _ in range(args.warmup):
        interleaved_block(runs, data, args.device, k)
    # Every block starts from KD's weights and optimizer state: trained
    # apart, the students drift, and a detector's work (proposals kept by
    # NMS, RoIs) drifts with them (~10 % here), which is not the agent's.
    start = copy.deepcopy(
        (runs['KD'][0].state_dict(), runs['KD'][1].state_dict()))
    times = {name: [] for name in runs}
    for i in range(args.pairs):
        for model, optim_wrapper in runs.values():
            model.load_state_dict(start[0])
            # A copy each time: the optimizer adopts the loaded tensors
            # and its steps would change the saved momentum in place.
            optim_wrapper.load_state_dict(copy.deepcopy(start[1]))
        for name, seconds in interleaved_block(runs, data, args.device,
                                               k).items():
            times[name].append(seconds)
        print(f'\rblock {i + 1}/{args.pairs}', end='', flush=True)
    print()
    print(f'device: {args.device}, torch threads: {torch.get_num_threads()}'
          f', batch {args.batch_size} x 3 x {args.image_size}^2')
    print(f'agent update every {k} iteration(s): times are per-iteration '
          f'means of blocks of {k}, median over {args.pairs} blocks')
    if args.detection:
        print('RoIs (agent instances) per iteration: '
              f"{roi_count(runs['RLKD'][0], data)}")
    kd = statistics.median(times['KD'])
    for name, values in times.items():
        median = statistics.median(values)
        print(f'{name:<28} median {median * 1e3:8.1f} ms   '
              f'ratio to KD {median / kd:.3f}')
    if args.pairs >= 4:
        print('per-block ratio to KD, quartiles (the machine\'s noise):')
        for name, values in times.items():
            if name != 'KD':
                ratios = [v / t for v, t in zip(values, times['KD'])]
                q1, q2, q3 = statistics.quantiles(ratios, n=4)
                print(f'  {name:<26} {q1:.3f}  {q2:.3f}  {q3:.3f}')
    kind = 'GPU synchronisations' if args.device.startswith('cuda') else \
        'host reads (GPU synchronisations on a GPU)'
    print(f'{kind} per iteration (agent learning; in brackets: in the '
          f'iteration of {LOG_INTERVAL} that reads the logged scalars):')
    for name in runs:
        if name != 'RLKD, loop over instances':
            plain, logging = host_reads(*runs[name], data, args.device)
            print(f'  {name:<26} {plain} ({logging})')


if __name__ == '__main__':
    main()
