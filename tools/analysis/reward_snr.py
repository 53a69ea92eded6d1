"""How much of RLKD's reward can the temperatures move? A paired probe.

RLKD's agent only learns if the temperatures it picks show in its reward
above the reward's noise (issue 17). This measures both, in real training,
for each kind of reward:

- ``next_batch`` (the paper): ``perf(batch t+1, after step t) -
  perf(batch t, before step t)``;
- ``same_batch``: ``perf(batch t, after step t) - perf(batch t, before)``,

each with ``perf`` = top-1 accuracy and minus the cross-entropy.

The student is first trained with the RLKD config's losses at a fixed
T = 4 (KD) for
``--warmup-iters`` iterations, to a typical mid-training state. Then each
of ``--trials`` trials draws two training batches (t, t+1) and, from the
same student and optimizer state, takes one KD step on batch t with every
instance at temperature ``--low`` and, restarting from the same state, one
with every instance at ``--high``, measuring every reward after each. The
two arms share their batches, so ``signal = mean over trials of r(high) -
r(low)`` is the temperatures' effect alone, with its standard error; the
``noise`` is the std of one arm's reward over trials, what the agent sees
from iteration to iteration. ``SNR = |signal| / noise``: an upper bound on
what per-instance choices can show, since here every instance moves the
same way, and ``--low``/``--high`` span most of RLKD's range. The
measurements run the student in training mode under ``no_grad`` and put
its BN statistics back, so they leave the training untouched.

::

    python tools/analysis/reward_snr.py [--trials 200] [--warmup-iters 300]

The ResNet-56 teacher comes from ``work_dirs/digitpairs/teacher_resnet56.pth``
(``compare_methods.py`` or the demo train it); ``--random-teacher`` skips
it, for a smoke run.
"""
import argparse
import copy
import math
import os.path as osp
import statistics

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS, DefaultScope
from mmengine.runner import Runner

import mmrlkd  # noqa: F401  (compat shims before mmrazor is imported)
from mmrlkd.agents import batch_performance
from mmrlkd.models.algorithms.rlkd_distill import unchanged_buffers
from mmrlkd.utils import register_all_modules

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
RLKD_CONFIG = osp.join(ROOT, 'configs', 'digitpairs',
                       'rlkd_resnet56_resnet8w4_digitpairs.py')
TEACHER = osp.join(ROOT, 'work_dirs', 'digitpairs', 'teacher_resnet56.pth')
REWARDS = ('next_batch', 'same_batch')
PERFORMANCES = ('accuracy', 'neg_ce')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--config',
        default=RLKD_CONFIG,
        help='an RLKD config; its provider is replaced by a fixed '
        'temperature, so its steps are KD steps with the same losses')
    parser.add_argument('--teacher-ckpt', default=TEACHER)
    parser.add_argument(
        '--random-teacher',
        action='store_true',
        help='an untrained teacher (a smoke run; the numbers mean little)')
    parser.add_argument('--trials', type=int, default=200)
    parser.add_argument(
        '--warmup-iters',
        type=int,
        default=300,
        help='KD iterations (fixed T) before the probe; DigitPairs has 79 '
        'per epoch')
    parser.add_argument('--low', type=float, default=1.0)
    parser.add_argument('--high', type=float, default=8.0)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int)
    return parser.parse_args(argv)


def build(args):
    """The KD algorithm, its optimizer wrapper and a training loader."""
    cfg = Config.fromfile(args.config)
    cfg.model.distiller.temperature_provider = dict(
        type='mmrlkd.FixedTemperature', temperature=4.0)
    if args.random_teacher:
        cfg.model.teacher_ckpt = None
    else:
        if not osp.isfile(args.teacher_ckpt):
            raise FileNotFoundError(
                f'no teacher at {args.teacher_ckpt}: train it with '
                '`python tools/analysis/compare_methods.py --methods kd '
                '--seeds 1` (or the demo), or pass --random-teacher')
        cfg.model.teacher_ckpt = args.teacher_ckpt
    cfg.model.data_preprocessor = cfg.data_preprocessor
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
        loader = Runner.build_dataloader(cfg.train_dataloader, seed=args.seed)
    model.train()
    return model, build_optim_wrapper(model, cfg.optim_wrapper), loader


def endless(loader):
    while True:
        yield from loader


def train_step(model, optim_wrapper, data, temperature):
    model.temperature_provider.temperature = temperature
    batch = model.data_preprocessor(data, True)
    loss, _ = model.parse_losses(model(**batch, mode='loss'))
    optim_wrapper.update_params(loss)


@torch.no_grad()
def performances(model, data):
    """The student's accuracy and minus CE on ``data``, as trained (training
    mode), leaving its BN statistics as they were."""
    batch = model.data_preprocessor(data, True)
    with unchanged_buffers(model.student):
        logits = model.student(batch['inputs'], mode='tensor')
    labels = torch.cat([s.gt_label for s in batch['data_samples']])
    return {
        kind: float(batch_performance(logits, labels, kind))
        for kind in PERFORMANCES
    }


def rewards_of_one_step(model, optim_wrapper, batch_t, batch_next,
                        temperature):
    """Every reward of one KD step on ``batch_t`` at ``temperature``."""
    before = performances(model, batch_t)
    train_step(model, optim_wrapper, batch_t, temperature)
    after = performances(model, batch_t)
    after_next = performances(model, batch_next)
    return {('same_batch', kind): after[kind] - before[kind]
            for kind in PERFORMANCES} | \
        {('next_batch', kind): after_next[kind] - before[kind]
         for kind in PERFORMANCES}


def probe(model, optim_wrapper, batches, trials, low, high):
    """Rewards of both arms over ``trials`` pairs of batches.

    Returns:
        dict: (reward, performance) -> {'low': [...], 'high': [...]}.
    """
    results = {
        (r, p): {
            'low': [],
            'high': []
        }
        for r in REWARDS
        for p in PERFORMANCES
    }
    for trial in range(trials):
        batch_t, batch_next = next(batches), next(batches)
        start = copy.deepcopy((model.state_dict(), optim_wrapper.state_dict()))
        for arm, temperature in (('low', low), ('high', high)):
            model.load_state_dict(start[0])
            # A copy each time: the optimizer adopts the loaded tensors
            # and its step would change the saved momentum in place.
            optim_wrapper.load_state_dict(copy.deepcopy(start[1]))
            for key, value in rewards_of_one_step(model, optim_wrapper,
                                                  batch_t, batch_next,
                                                  temperature).items():
                results[key][arm].append(value)
        print(f'\rtrial {trial + 1}/{trials}', end='', flush=True)
    print()
    return results


def summarise(arms):
    """Signal (mean paired difference) and its standard error, noise (std
    of one arm's reward, the mean of the two arms' stds) and SNR."""
    differences = [h - lo for h, lo in zip(arms['high'], arms['low'])]
    signal = statistics.fmean(differences)
    stderr = statistics.stdev(differences) / math.sqrt(len(differences))
    noise = statistics.fmean(
        [statistics.stdev(arms['low']),
         statistics.stdev(arms['high'])])
    return dict(
        signal=signal,
        stderr=stderr,
        noise=noise,
        snr=abs(signal) / noise if noise > 0 else math.inf)


def table(results, low, high):
    lines = [
        f'| reward | performance | signal r(T={high:g}) - r(T={low:g}) '
        '| noise std(r) | SNR |', '|---|---|---:|---:|---:|'
    ]
    for (reward, performance), arms in results.items():
        s = summarise(arms)
        lines.append(f'| {reward} | {performance} | {s["signal"]:+.2e} '
                     f'± {s["stderr"]:.1e} | {s["noise"]:.2e} | '
                     f'{s["snr"]:.3f} |')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    register_all_modules(init_default_scope=False)
    torch.manual_seed(args.seed)
    model, optim_wrapper, loader = build(args)
    batches = endless(loader)
    for i in range(args.warmup_iters):
        train_step(model, optim_wrapper, next(batches), 4.0)
        print(f'\rwarm-up {i + 1}/{args.warmup_iters}', end='', flush=True)
    print()
    results = probe(model, optim_wrapper, batches, args.trials, args.low,
                    args.high)
    print(f'{args.trials} paired trials after {args.warmup_iters} KD '
          f'iterations at T = 4 ({osp.basename(args.config)}, seed '
          f'{args.seed}); signal ± its standard error:')
    print(table(results, args.low, args.high))
    return results


if __name__ == '__main__':
    main()
