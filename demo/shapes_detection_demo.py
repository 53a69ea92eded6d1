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
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

from mmengine.config import Config  # noqa: E402
from teacher_then_students import (add_demo_arguments,  # noqa: E402
                                   print_table, run_teacher_then_students)

import mmrlkd  # noqa: E402,F401  (compat shims before mmrazor is imported)
from mmrlkd.utils import register_all_modules  # noqa: E402

CONFIGS = osp.join(ROOT, 'configs', 'detection', 'shapes')
GENERATOR = osp.join(ROOT, 'tools', 'dataset_converters',
                     'make_shapes_coco.py')
TEACHER = ('R18-FPN width 32',
           osp.join(CONFIGS, 'faster-rcnn_r18w32_fpn_shapes.py'),
           'r18w32_teacher', 'teacher_r18w32.pth')
STUDENTS = [
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
    add_demo_arguments(parser, osp.join(ROOT, 'work_dirs', 'shapes_det'))
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


def main():
    args = parse_args()
    if not osp.isfile(
            osp.join(args.data_root, 'annotations', 'instances_val.json')):
        subprocess.run([sys.executable, GENERATOR, args.data_root], check=True)
    register_all_modules(init_default_scope=False)
    students = [(name, osp.join(CONFIGS, config))
                for name, config in STUDENTS]

    def load(path, work_dir, epochs, teacher_ckpt):
        return load_config(path, work_dir, args.data_root, epochs,
                           teacher_ckpt)

    rows = run_teacher_then_students(args, load, TEACHER, students,
                                     'coco/bbox_mAP')
    print_table('Shapes validation COCO bbox mAP (pycocotools)', 'mAP', rows,
                ROOT, precision=3)
    return 0


if __name__ == '__main__':
    sys.exit(main())
