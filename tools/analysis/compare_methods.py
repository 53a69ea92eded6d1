"""Compare distillation methods on DigitPairs over several seeds.

Trains the student alone and with each method from one teacher checkpoint,
once per seed, evaluates every final student on the test set and prints
mean +- std top-1 per method (and saves a bar plot):

    python tools/analysis/compare_methods.py --seeds 5 \
        --methods student kd ctkd dtkd rlkd [--epochs 10] \
        [--cfg-options k=v ...]

The teacher checkpoint is the one the demo writes
(``work_dirs/digitpairs/teacher_resnet56.pth``; run
``python demo/digitpairs_demo.py`` once, or pass ``--teacher-ckpt``).
"""
import argparse
import os.path as osp
import statistics
import time

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import mmrlkd  # noqa: F401  (compat shims before mmrazor is imported)
from mmrlkd.utils import register_all_modules, set_max_epochs

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(ROOT, 'configs', 'digitpairs')
METHODS = {
    'student': 'resnet8w4_digitpairs.py',
    'kd': 'kd_resnet56_resnet8w4_digitpairs.py',
    'ctkd': 'ctkd_resnet56_resnet8w4_digitpairs.py',
    'dtkd': 'dtkd_resnet56_resnet8w4_digitpairs.py',
    'rlkd': 'rlkd_resnet56_resnet8w4_digitpairs.py',
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--methods', nargs='+', default=list(METHODS), choices=list(METHODS))
    parser.add_argument('--seeds', type=int, default=5)
    parser.add_argument('--epochs', type=int, help='override the epochs')
    parser.add_argument(
        '--teacher-ckpt',
        default=osp.join(ROOT, 'work_dirs', 'digitpairs',
                         'teacher_resnet56.pth'))
    parser.add_argument(
        '--work-dir', default=osp.join(ROOT, 'work_dirs', 'compare'))
    parser.add_argument('--plot', help='bar plot path (default: in work dir)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='overrides applied to every method, e.g. '
        'optim_wrapper.optimizer.lr=0.1')
    return parser.parse_args()


def method_config(args, method, seed):
    cfg = Config.fromfile(osp.join(CONFIGS, METHODS[method]))
    if args.epochs is not None:
        set_max_epochs(cfg, args.epochs)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if 'teacher_ckpt' in cfg.model:
        cfg.model.teacher_ckpt = args.teacher_ckpt
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.work_dir = osp.join(args.work_dir, method, f'seed_{seed}')
    cfg.log_level = 'WARNING'  # this script prints the progress
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=-1, save_last=False)
    return cfg


def save_plot(path, results):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    names = list(results)
    means = [statistics.mean(results[name]) for name in names]
    stds = [
        statistics.stdev(results[name]) if len(results[name]) > 1 else 0
        for name in names
    ]
    fig, ax = plt.subplots(figsize=(1.6 * len(names) + 1, 3.5))
    ax.bar(names, means, yerr=stds, capsize=6, color='tab:blue')
    ax.set_ylabel('test top-1 (%)')
    ax.set_ylim(max(0, min(means) - 2 * max(stds) - 5), 105)
    ax.set_title('DigitPairs, mean +- std over seeds')
    for i, (mean, std) in enumerate(zip(means, stds)):
        ax.text(
            i + 0.08, mean + std + 0.5, f'{mean:.1f}', ha='left', va='bottom')
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)
    distilling = [m for m in args.methods if m != 'student']
    if distilling and not osp.isfile(args.teacher_ckpt):
        raise SystemExit(
            f'teacher checkpoint {args.teacher_ckpt} not found: run '
            '`python demo/digitpairs_demo.py` once, or pass --teacher-ckpt')
    results = {method: [] for method in args.methods}
    runs = [(m, s) for s in range(args.seeds) for m in args.methods]
    start = time.time()
    for i, (method, seed) in enumerate(runs, start=1):
        run_start = time.time()
        cfg = method_config(args, method, seed)
        cfg.experiment_name = f'{method}_seed{seed}_{int(run_start)}'
        runner = Runner.from_cfg(cfg)
        runner.train()
        top1 = runner.test()['accuracy/top1']
        results[method].append(top1)
        elapsed = time.time() - start
        eta = elapsed / i * (len(runs) - i)
        print(
            f'[{i}/{len(runs)}] {method:<8} seed {seed}: {top1:6.2f} % '
            f'({(time.time() - run_start) / 60:.1f} min, '
            f'eta {eta / 60:.0f} min)',
            flush=True)

    print(f'\nDigitPairs test top-1 over {args.seeds} seeds')
    print(f'{"method":<10} {"mean":>7} {"std":>6}  runs')
    for method, values in results.items():
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        runs = ' '.join(f'{v:.2f}' for v in values)
        print(f'{method:<10} {statistics.mean(values):7.2f} {std:6.2f}  '
              f'{runs}')
    plot = args.plot or osp.join(args.work_dir, 'compare_methods.png')
    save_plot(plot, results)
    print(f'bar plot: {plot}')


if __name__ == '__main__':
    main()
