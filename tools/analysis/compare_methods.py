"""Compare distillation methods on DigitPairs over several seeds.

Trains the student alone and with each method, once per seed, evaluates
every final student on the test set and prints mean +- std top-1 per method
(and saves a bar plot):

    python tools/analysis/compare_methods.py --seeds 5 \
        --methods student kd ctkd dtkd rlkd mtkd_rl [--epochs 20] \
        [--cfg-options k=v ...] [--rerun]

Every finished run leaves ``<work-dir>/<method>/seed_<s>/result.json`` (its
top-1 and the settings it ran with); a later call with the same settings
reuses it, so an interrupted comparison continues where it stopped
(``--rerun`` trains again). Processes sharing a ``--work-dir`` can split the
runs by ``--methods`` or ``--seed-list``; a last call over everything prints
the whole table from the results.

The teachers are the configs' ResNet-56 at
``work_dirs/digitpairs/teacher_resnet56.pth`` and, for MTKD-RL's second
teacher, a ResNet-20 at ``work_dirs/digitpairs/teacher_resnet20.pth`` (the
one ``demo/digitpairs_demo.py`` writes). A missing one is trained once with
its config of ``configs/digitpairs/`` and kept there for later calls.
"""
import argparse
import itertools
import json
import os
import os.path as osp
import shutil
import statistics
import time

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import mmrlkd  # noqa: F401  (compat shims before mmrazor is imported)
from mmrlkd.utils import register_all_modules, set_max_epochs

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(ROOT, 'configs', 'digitpairs')
TEACHER_DIR = osp.join(ROOT, 'work_dirs', 'digitpairs')
METHODS = {
    'student': 'resnet8w4_digitpairs.py',
    'kd': 'kd_resnet56_resnet8w4_digitpairs.py',
    'ctkd': 'ctkd_resnet56_resnet8w4_digitpairs.py',
    'dtkd': 'dtkd_resnet56_resnet8w4_digitpairs.py',
    'rlkd': 'rlkd_resnet56_resnet8w4_digitpairs.py',
    'rlkd_frozen': 'rlkd_frozen_agent_resnet56_resnet8w4_digitpairs.py',
    'rlkd_same_batch': 'rlkd_same_batch_resnet56_resnet8w4_digitpairs.py',
    'mtkd_rl': 'mtkd_rl_resnet56_resnet20_resnet8w4_digitpairs.py',
}
# The teacher-checkpoint arguments each method reads, in its config's order
# (every other distillation method reads the first teacher only).
TEACHERS_OF = {
    'student': (),
    'mtkd_rl': ('teacher_ckpt', 'teacher2_ckpt'),
}
# The config that trains each teacher, and its work dir (beside the ckpt).
TEACHER_CONFIGS = {
    'teacher_ckpt': ('resnet56_digitpairs.py', 'resnet56_teacher'),
    'teacher2_ckpt': ('resnet20_digitpairs.py', 'resnet20_teacher'),
}
RESULT_FILE = 'result.json'
# Runners built in one process need distinct names (MMLogger instances).
_run_ids = itertools.count()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--methods', nargs='+', default=list(METHODS), choices=list(METHODS))
    parser.add_argument(
        '--seeds', type=int, default=5, help='run seeds 0 .. N-1')
    parser.add_argument(
        '--seed-list',
        type=int,
        nargs='+',
        help='run these seeds instead (e.g. to split a comparison between '
        'processes sharing one --work-dir)')
    parser.add_argument('--epochs', type=int, help='override the epochs')
    parser.add_argument(
        '--teacher-ckpt',
        default=osp.join(TEACHER_DIR, 'teacher_resnet56.pth'),
        help='ResNet-56 teacher (trained here if missing)')
    parser.add_argument(
        '--teacher2-ckpt',
        default=osp.join(TEACHER_DIR, 'teacher_resnet20.pth'),
        help='ResNet-20, the second MTKD-RL teacher (trained if missing)')
    parser.add_argument(
        '--teacher-epochs',
        type=int,
        help='override the epochs of a teacher trained here')
    parser.add_argument(
        '--work-dir', default=osp.join(ROOT, 'work_dirs', 'compare'))
    parser.add_argument('--plot', help='bar plot path (default: in work dir)')
    parser.add_argument(
        '--rerun',
        action='store_true',
        help='train every run again instead of reusing its result.json')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='overrides applied to every method, e.g. '
        'optim_wrapper.optimizer.lr=0.1')
    parser.add_argument(
        '--teacher-cfg-options',
        nargs='+',
        action=DictAction,
        help='overrides for a teacher trained here')
    return parser.parse_args(argv)


def teachers_of(method):
    return TEACHERS_OF.get(method, ('teacher_ckpt', ))


def teacher_ckpts(args, method):
    """The checkpoint paths of a method's teachers, in its config's order."""
    return [getattr(args, name) for name in teachers_of(method)]


def method_config(args, method, seed):
    cfg = Config.fromfile(osp.join(CONFIGS, METHODS[method]))
    if args.epochs is not None:
        set_max_epochs(cfg, args.epochs)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    ckpts = teacher_ckpts(args, method)
    if 'teacher_ckpt' in cfg.model:
        cfg.model.teacher_ckpt = ckpts[0]
    if 'teacher_ckpts' in cfg.model:  # multi-teacher (MTKD-RL)
        cfg.model.teacher_ckpts = ckpts
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.work_dir = osp.join(args.work_dir, method, f'seed_{seed}')
    cfg.log_level = 'WARNING'  # this script prints the progress
    # Only the final test counts: validate once, at the end (about 12 % of a
    # run otherwise). RandomStateHook keeps validation from shifting the
    # training's random draws, so this does not change the result.
    cfg.train_cfg.val_interval = cfg.train_cfg.max_epochs
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=-1, save_last=False)
    return cfg


def run_settings(args, method, cfg):
    """What a run's top-1 depends on, besides the seed: its cache key."""
    settings = dict(
        config=osp.relpath(osp.join(CONFIGS, METHODS[method]), ROOT),
        epochs=cfg.train_cfg.max_epochs,
        cfg_options=args.cfg_options or {},
        teacher_ckpts=teacher_ckpts(args, method))
    return json.loads(json.dumps(settings))  # tuples as JSON gives them back


def cached_top1(work_dir, settings):
    """The top-1 of a finished run with these settings, else None."""
    path = osp.join(work_dir, RESULT_FILE)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        result = json.load(f)
    if result.get('settings') != settings:
        return None
    return result['top1']


def save_result(work_dir, settings, top1, seconds):
    os.makedirs(work_dir, exist_ok=True)
    with open(osp.join(work_dir, RESULT_FILE), 'w') as f:
        json.dump(
            dict(top1=top1, minutes=seconds / 60, settings=settings),
            f,
            indent=2)


def train_teacher(args, name):
    """Train a missing teacher with its config; keep its last checkpoint."""
    config, run_name = TEACHER_CONFIGS[name]
    ckpt = getattr(args, name)
    cfg = Config.fromfile(osp.join(CONFIGS, config))
    if args.teacher_epochs is not None:
        set_max_epochs(cfg, args.teacher_epochs)
    if args.teacher_cfg_options:
        cfg.merge_from_dict(args.teacher_cfg_options)
    cfg.work_dir = osp.join(osp.dirname(osp.abspath(ckpt)), run_name)
    cfg.experiment_name = f'{run_name}_{int(time.time())}_{next(_run_ids)}'
    cfg.log_level = 'WARNING'
    print(
        f'Teacher {ckpt} not found: training it once with '
        f'configs/digitpairs/{config} ({cfg.train_cfg.max_epochs} epochs, '
        f'work dir {cfg.work_dir})',
        flush=True)
    start = time.time()
    runner = Runner.from_cfg(cfg)
    runner.train()
    top1 = runner.test()['accuracy/top1']
    with open(osp.join(cfg.work_dir, 'last_checkpoint')) as f:
        shutil.copyfile(f.read().strip(), ckpt)
    print(
        f'Teacher {ckpt}: test top-1 {top1:.2f} % '
        f'({(time.time() - start) / 60:.1f} min)',
        flush=True)


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
    plt.close(fig)


def print_table(results, seeds):
    print(f'\nDigitPairs test top-1 over {seeds} seeds')
    print(f'{"method":<10} {"mean":>7} {"std":>6}  runs')
    for method, values in results.items():
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        runs = ' '.join(f'{v:.2f}' for v in values)
        print(f'{method:<10} {statistics.mean(values):7.2f} {std:6.2f}  '
              f'{runs}')


def main(argv=None):
    args = parse_args(argv)
    register_all_modules(init_default_scope=False)
    results = {method: [] for method in args.methods}
    seeds = args.seed_list or list(range(args.seeds))
    runs = [(m, s) for s in seeds for m in args.methods]
    training_time, trained = 0.0, 0
    for i, (method, seed) in enumerate(runs, start=1):
        cfg = method_config(args, method, seed)
        settings = run_settings(args, method, cfg)
        top1 = None if args.rerun else cached_top1(cfg.work_dir, settings)
        if top1 is not None:
            results[method].append(top1)
            print(
                f'[{i}/{len(runs)}] {method:<8} seed {seed}: {top1:6.2f} % '
                f'(cached, {osp.join(cfg.work_dir, RESULT_FILE)})',
                flush=True)
            continue
        for name in teachers_of(method):
            if not osp.isfile(getattr(args, name)):
                train_teacher(args, name)
        run_start = time.time()
        cfg.experiment_name = (f'{method}_seed{seed}_{int(run_start)}_'
                               f'{next(_run_ids)}')
        runner = Runner.from_cfg(cfg)
        runner.train()
        top1 = runner.test()['accuracy/top1']
        seconds = time.time() - run_start
        save_result(cfg.work_dir, settings, top1, seconds)
        results[method].append(top1)
        training_time, trained = training_time + seconds, trained + 1
        eta = training_time / trained * (len(runs) - i)
        print(
            f'[{i}/{len(runs)}] {method:<8} seed {seed}: {top1:6.2f} % '
            f'({seconds / 60:.1f} min, eta {eta / 60:.0f} min)',
            flush=True)

    print_table(results, len(seeds))
    plot = args.plot or osp.join(args.work_dir, 'compare_methods.png')
    os.makedirs(osp.dirname(osp.abspath(plot)), exist_ok=True)
    save_plot(plot, results)
    print(f'bar plot: {plot}')
    return results


if __name__ == '__main__':
    main()
