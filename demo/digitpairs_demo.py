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
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

from mmengine.config import Config  # noqa: E402
from teacher_then_students import (add_demo_arguments,  # noqa: E402
                                   print_table, run_teacher_then_students)

import mmrlkd  # noqa: E402,F401  (compat shims before mmrazor is imported)
from mmrlkd.utils import register_all_modules, set_max_epochs  # noqa: E402

CONFIGS = osp.join(ROOT, 'configs', 'digitpairs')
TEACHER = ('ResNet-56', osp.join(CONFIGS, 'resnet56_digitpairs.py'),
           'resnet56_teacher', 'teacher_resnet56.pth')
STUDENTS = [
    ('student alone (ResNet-8, width 4)', 'resnet8w4_digitpairs.py'),
    ('vanilla KD (tau = 4)', 'kd_resnet56_resnet8w4_digitpairs.py'),
    ('RLKD (PPO temperatures)', 'rlkd_resnet56_resnet8w4_digitpairs.py'),
]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_demo_arguments(parser, osp.join(ROOT, 'work_dirs', 'digitpairs'))
    return parser.parse_args()


def load_config(path, work_dir, epochs=None, teacher_ckpt=None):
    cfg = Config.fromfile(path)
    cfg.work_dir = work_dir
    if epochs is not None:
        set_max_epochs(cfg, epochs)
    if 'teacher_ckpt' in cfg.model:
        cfg.model.teacher_ckpt = teacher_ckpt
    return cfg


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)
    students = [(name, osp.join(CONFIGS, config))
                for name, config in STUDENTS]
    rows = run_teacher_then_students(args, load_config, TEACHER, students,
                                     'accuracy/top1')
    print_table('DigitPairs test top-1 (10,000 pairs of unseen handwriting)',
                'top-1 %', rows, ROOT)
    return 0


if __name__ == '__main__':
    sys.exit(main())
