"""DigitPairs demo: teacher, student alone, KD and RLKD students on a CPU.

Runs the configs of ``configs/digitpairs/`` through MMEngine's Runner, exactly
as ``tools/train.py`` would, and prints a table of test top-1 accuracies with
where each run's logs are. The teacher is trained once and reused (its
checkpoint is kept at ``work_dirs/digitpairs/teacher_resnet56.pth``, the
path the distillation configs read).

    python demo/digitpairs_demo.py [--epochs N] [--retrain-teacher]
"""
import argparse
import os.path as osp
import shutil
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

from mmengine.config import Config  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import mmrlkd  # noqa: E402,F401  (compat shims before mmrazor is imported)
from mmrlkd.utils import register_all_modules, set_max_epochs  # noqa: E402

CONFIGS = osp.join(ROOT, 'configs', 'digitpairs')
TEACHER_CONFIG = osp.join(CONFIGS, 'resnet56_digitpairs.py')
RUNS = [
    ('student alone (ResNet-8, width 4)', 'resnet8w4_digitpairs.py'),
    ('vanilla KD (tau = 4)', 'kd_resnet56_resnet8w4_digitpairs.py'),
    ('RLKD (PPO temperatures)', 'rlkd_resnet56_resnet8w4_digitpairs.py'),
]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--work-dir',
        default=osp.join(ROOT, 'work_dirs', 'digitpairs'),
        help='where checkpoints and logs go')
    parser.add_argument(
        '--epochs', type=int, help='override the students\' epochs')
    parser.add_argument(
        '--teacher-epochs', type=int, help='override the teacher\'s epochs')
    parser.add_argument(
        '--retrain-teacher',
        action='store_true',
        help='train the teacher even if its checkpoint exists')
    return parser.parse_args()


def load_config(path, work_dir, epochs=None, teacher_ckpt=None):
    cfg = Config.fromfile(path)
    cfg.work_dir = work_dir
    if epochs is not None:
        set_max_epochs(cfg, epochs)
    if 'teacher_ckpt' in cfg.model:
        cfg.model.teacher_ckpt = teacher_ckpt
    return cfg


def train_and_test(cfg):
    """Train, then evaluate the final model; returns (top-1 %, seconds)."""
    start = time.time()
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    return metrics['accuracy/top1'], time.time() - start, runner.log_dir


def teacher_accuracy(cfg, checkpoint):
    cfg.load_from = checkpoint
    runner = Runner.from_cfg(cfg)
    return runner.test()['accuracy/top1'], runner.log_dir


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)
    teacher_ckpt = osp.join(args.work_dir, 'teacher_resnet56.pth')
    rows = []

    teacher_dir = osp.join(args.work_dir, 'resnet56_teacher')
    cfg = load_config(TEACHER_CONFIG, teacher_dir, args.teacher_epochs)
    if osp.isfile(teacher_ckpt) and not args.retrain_teacher:
        print(f'Reusing the teacher checkpoint {teacher_ckpt}', flush=True)
        acc, log_dir = teacher_accuracy(cfg, teacher_ckpt)
        rows.append(('teacher ResNet-56 (reused)', acc, None, log_dir))
    else:
        print('Training the teacher (ResNet-56)', flush=True)
        acc, seconds, log_dir = train_and_test(cfg)
        with open(osp.join(teacher_dir, 'last_checkpoint')) as f:
            shutil.copyfile(f.read().strip(), teacher_ckpt)
        rows.append(('teacher ResNet-56', acc, seconds, log_dir))

    for name, config in RUNS:
        print(f'Training: {name}', flush=True)
        work_dir = osp.join(args.work_dir, osp.splitext(config)[0])
        cfg = load_config(
            osp.join(CONFIGS, config), work_dir, args.epochs, teacher_ckpt)
        rows.append((name, *train_and_test(cfg)))

    print('\nDigitPairs test top-1 (10,000 pairs of unseen handwriting)')
    print(f'{"run":<36} {"top-1 %":>8} {"time":>8}  logs')
    for name, acc, seconds, log_dir in rows:
        took = '-' if seconds is None else f'{seconds / 60:.1f} min'
        print(f'{name:<36} {acc:>8.2f} {took:>8}  '
              f'{osp.relpath(log_dir, ROOT)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
