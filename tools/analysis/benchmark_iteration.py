"""Median training-iteration time of RLKD against vanilla KD.

Both algorithms are built from the CIFAR-100 configs (ResNet-56 -> ResNet-20
by default) with the same weights, and trained on the same random batch
(64 images of 32x32, 100 classes). One iteration is what the Runner does:
data preprocessing, the distillation forward (teacher + student), backward,
the SGD step, and for RLKD the agent's work after the step (reward + PPO
update, the RLKDAgentHook's call). KD and RLKD iterations are interleaved,
so both see the same machine load; the script prints both medians and their
ratio. ``--official-loop`` adds an agent that acts the official code's way
(a Python loop over instances, one policy call and host sync each).

    python tools/analysis/benchmark_iteration.py [--pairs 40] [--device cuda]

``--detection`` times RoI-logit distillation of a small Faster R-CNN instead
(the Shapes configs of ``configs/detection/shapes/``: R18-FPN width 32 ->
width 8, 3 classes, 4 images of 128x128 from ``mmdet.testing``; every
sampled RoI is an instance of the agent). ``--kd-config``/``--rlkd-config``
may name other detection configs (e.g. the COCO ones).

    python tools/analysis/benchmark_iteration.py --detection [--pairs 20]
"""
import argparse
import os.path as osp
import statistics
import time

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS, DefaultScope
from mmpretrain.structures import DataSample

import mmrlkd  # noqa: F401  (compat shims before mmrazor is imported)
from mmrlkd.models import RLKDTemperature, TemperatureOutput
from mmrlkd.registry import MODELS as RLKD_MODELS
from mmrlkd.utils import register_all_modules

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
KD = osp.join(ROOT, 'configs/kd/kd_resnet56_resnet20_cifar100.py')
RLKD = osp.join(ROOT, 'configs/rlkd/rlkd_resnet56_resnet20_cifar100.py')
SHAPES = osp.join(ROOT, 'configs/detection/shapes')
DET_KD = osp.join(SHAPES,
                  'kd_roi_faster-rcnn_r18w32_faster-rcnn_r18w8_shapes.py')
DET_RLKD = osp.join(SHAPES,
                    'rlkd_roi_faster-rcnn_r18w32_faster-rcnn_r18w8_shapes.py')
# (kd config, rlkd config, batch size, image size) of each mode
DEFAULTS = dict(
    classification=(KD, RLKD, 64, 32), detection=(DET_KD, DET_RLKD, 4, 128))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--detection',
        action='store_true',
        help='time Faster R-CNN RoI-logit distillation instead')
    parser.add_argument('--kd-config')
    parser.add_argument('--rlkd-config')
    parser.add_argument('--batch-size', type=int)
    parser.add_argument('--image-size', type=int)
    parser.add_argument(
        '--pairs', type=int, default=40, help='timed KD/RLKD iteration pairs')
    parser.add_argument(
        '--warmup',
        type=int,
        default=5,
        help='untimed iterations of each first')
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
    args = parser.parse_args()
    mode = 'detection' if args.detection else 'classification'
    for name, default in zip(
        ('kd_config', 'rlkd_config', 'batch_size', 'image_size'),
            DEFAULTS[mode]):
        if getattr(args, name) is None:
            setattr(args, name, default)
    return args


@RLKD_MODELS.register_module()
class LoopedRLKDTemperature(RLKDTemperature):
    """The official code's way of acting: one policy call per instance."""

    def forward(self, preds_S, preds_T, gt_labels=None):
        out = super().forward(preds_S, preds_T, gt_labels)
        if not self.acting:
            return out
        states = self._episode['states']
        temps = []
        for i in range(len(states)):
            acted = self.policy.act(states[i:i + 1])
            temps.append(acted['temperature'].item())
            acted['value'].item()
        temps = torch.tensor(temps, device=preds_S.device)
        return TemperatureOutput.shared(temps)


def build(config, device, provider_type=None):
    cfg = Config.fromfile(config)
    cfg.model.teacher_ckpt = None
    if 'data_preprocessor' in cfg:  # MMPretrain keeps it outside the model
        cfg.model.data_preprocessor = cfg.data_preprocessor
    if provider_type is not None:
        cfg.model.distiller.temperature_provider.type = provider_type
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


def iteration(model, optim_wrapper, data, device):
    """One training iteration; returns its wall time in seconds."""
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    start = time.perf_counter()
    batch = model.data_preprocessor(data, True)
    losses = model(**batch, mode='loss')
    loss, _ = model.parse_losses(losses)
    optim_wrapper.update_params(loss)
    provider = model.temperature_provider
    if hasattr(provider, 'finish_iteration'):
        provider.finish_iteration()  # what RLKDAgentHook runs
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    return time.perf_counter() - start


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
    if args.detection:
        data = make_detection_batch(args, runs['KD'][0])
    else:
        data = make_batch(args)
    for model, optim_wrapper in runs.values():
        for _ in range(args.warmup):
            iteration(model, optim_wrapper, data, args.device)
    times = {name: [] for name in runs}
    for i in range(args.pairs):
        for name, (model, optim_wrapper) in runs.items():
            times[name].append(
                iteration(model, optim_wrapper, data, args.device))
        print(f'\rpair {i + 1}/{args.pairs}', end='', flush=True)
    print()
    print(f'device: {args.device}, torch threads: {torch.get_num_threads()}'
          f', batch {args.batch_size} x 3 x {args.image_size}^2')
    if args.detection:
        print('RoIs (agent instances) per iteration: '
              f"{roi_count(runs['RLKD'][0], data)}")
    kd = statistics.median(times['KD'])
    for name, values in times.items():
        median = statistics.median(values)
        print(f'{name:<28} median {median * 1e3:8.1f} ms   '
              f'ratio to KD {median / kd:.3f}')


if __name__ == '__main__':
    main()
