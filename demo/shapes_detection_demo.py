"""Shapes demo: Faster R-CNN RoI-logit distillation (KD, DKD, RLKD) on a CPU.

Generates the Shapes detection set if it is missing
(tools/dataset_converters/make_shapes_coco.py), trains the teacher (Faster
R-CNN R18-FPN, width 32) once, then the width-8 student alone and with
vanilla KD, DKD and RLKD on its RoI logits (the teacher scores the student's
sampled RoIs), all through MMEngine's Runner exactly as tools/train.py would,
and prints each run's COCO bbox mAP (pycocotools) on the validation images.
The teacher checkpoint is kept at ``work_dirs/shapes_det/teacher_r18w32.pth``,
the path the distillation configs read.

    python demo/shapes_detection_demo.py [--epochs N] [--retrain-teacher]

Expect minutes per run on a laptop CPU (12 epochs of 200 images of 128^2).
"""
import argparse
import os.path as osp
import shutil
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

from mmengine.config import Config  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import mmrlkd  # noqa: E402,F401  (compat shims before mmrazor is imported)
from mmrlkd.utils import register_all_modules  # noqa: E402

CONFIGS = osp.join(ROOT, 'configs', 'detection', 'shapes')
GENERATOR = osp.join(ROOT, 'tools', 'dataset_converters',
                     'make_shapes_coco.py')
TEACHER_CONFIG = osp.join(CONFIGS, 'faster-rcnn_r18w32_fpn_shapes.py')
RUNS = [
    ('student alone (R18-FPN, width 8)', 'faster-rcnn_r18w8_fpn_shapes.py'),
    ('vanilla KD on RoI logits (T = 1)',
     'kd_roi_faster-rcnn_r18w32_faster-rcnn_r18w8_shapes.py'),
    ('DKD on RoI logits (beta = 0.25)',
     'dkd_roi_faster-rcnn_r18w32_faster-rcnn_r18w8_shapes.py'),
    ('RLKD (PPO temperature per RoI)',
     'rlkd_roi_faster-rcnn_r18w32_faster-rcnn_r18w8_shapes.py'),
]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--data-root',
        default=osp.join(ROOT, 'data', 'shapes'),
        help='the Shapes set (generated here when missing)')
    parser.add_argument(
        '--work-dir',
        default=osp.join(ROOT, 'work_dirs', 'shapes_det'),
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


def load_config(path, work_dir, data_root, epochs=None, teacher_ckpt=None):
    cfg = Config.fromfile(path)
    cfg.work_dir = work_dir
    data_root = data_root.rstrip('/') + '/'
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = data_root
    for evaluator in ('val_evaluator', 'test_evaluator'):
        cfg[evaluator].ann_file = data_root + 'annotations/instances_val.json'
    if epochs is not None:
        cfg.train_cfg.max_epochs = epochs
        cfg.train_cfg.val_interval = epochs
    if 'teacher_ckpt' in cfg.model:
        cfg.model.teacher_ckpt = teacher_ckpt
    return cfg


def train_and_test(cfg):
    """Train, then evaluate the final model; returns (mAP, seconds, logs)."""
    start = time.time()
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    return metrics['coco/bbox_mAP'], time.time() - start, runner.log_dir


def teacher_map(cfg, checkpoint):
    cfg.load_from = checkpoint
    runner = Runner.from_cfg(cfg)
    return runner.test()['coco/bbox_mAP'], runner.log_dir


def main():
    args = parse_args()
    if not osp.isfile(
            osp.join(args.data_root, 'annotations', 'instances_val.json')):
        subprocess.run([sys.executable, GENERATOR, args.data_root], check=True)
    register_all_modules(init_default_scope=False)
    teacher_ckpt = osp.join(args.work_dir, 'teacher_r18w32.pth')
    rows = []

    teacher_dir = osp.join(args.work_dir, 'r18w32_teacher')
    cfg = load_config(TEACHER_CONFIG, teacher_dir, args.data_root,
                      args.teacher_epochs)
    if osp.isfile(teacher_ckpt) and not args.retrain_teacher:
        print(f'Reusing the teacher checkpoint {teacher_ckpt}', flush=True)
        mean_ap, log_dir = teacher_map(cfg, teacher_ckpt)
        rows.append(
            ('teacher R18-FPN width 32 (reused)', mean_ap, None, log_dir))
    else:
        print('Training the teacher (R18-FPN, width 32)', flush=True)
        mean_ap, seconds, log_dir = train_and_test(cfg)
        with open(osp.join(teacher_dir, 'last_checkpoint')) as f:
            shutil.copyfile(f.read().strip(), teacher_ckpt)
        rows.append(('teacher R18-FPN width 32', mean_ap, seconds, log_dir))

    for name, config in RUNS:
        print(f'Training: {name}', flush=True)
        work_dir = osp.join(args.work_dir, osp.splitext(config)[0])
        cfg = load_config(
            osp.join(CONFIGS, config), work_dir, args.data_root, args.epochs,
            teacher_ckpt)
        rows.append((name, *train_and_test(cfg)))

    print('\nShapes validation COCO bbox mAP (pycocotools)')
    print(f'{"run":<36} {"mAP":>6} {"time":>8}  logs')
    for name, mean_ap, seconds, log_dir in rows:
        took = '-' if seconds is None else f'{seconds / 60:.1f} min'
        print(f'{name:<36} {mean_ap:>6.3f} {took:>8}  '
              f'{osp.relpath(log_dir, ROOT)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
