"""The run checks of issue 26 on Faster R-CNN RoI distillation (Shapes).

A few generated Shapes images; the tiny R18-w32 teacher and R18-w8
student of the Shapes configs. The teacher check scores the RoIs the
student's sampler picks, so its chance level is the background's share.
"""
import importlib.util
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from mmrlkd.engine.hooks import LabelRangeError, TeacherCheckError
from mmrlkd.registry import MODELS
from mmrlkd.utils import register_all_modules

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
KD = osp.join(ROOT, 'configs/detection/shapes/'
              'kd_roi_faster-rcnn_r18w32_faster-rcnn_r18w8_shapes.py')
SCRIPT = osp.join(ROOT, 'tools/dataset_converters/make_shapes_coco.py')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    spec = importlib.util.spec_from_file_location('make_shapes_coco', SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    root = str(tmp_path_factory.mktemp('shapes')) + '/'
    script.main([
        root, '--num-train', '4', '--num-val', '2', '--image-size', '64'
    ])
    return root


def runner(data_root, work_dir, **options):
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(KD)
    loader = dict(
        batch_size=2,
        num_workers=0,
        persistent_workers=False,
        dataset=dict(data_root=data_root))
    cfg.merge_from_dict({
        'train_dataloader': loader,
        'val_dataloader': loader,
        'test_dataloader': loader,
        'val_evaluator.ann_file':
        data_root + 'annotations/instances_val.json',
        'train_cfg.max_epochs': 1,
        'train_cfg.val_interval': 2,
        'default_hooks.logger.interval': 1,
        'default_hooks.visualization.draw': False,
        **options
    })
    cfg.work_dir = str(work_dir)
    return Runner.from_cfg(cfg)


def random_teacher(path):
    cfg = Config.fromfile(KD)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        teacher = MODELS.build(cfg.model.teacher)
    torch.save(dict(state_dict=teacher.state_dict()), path)
    return str(path)


def test_random_teacher_is_stopped_on_the_student_rois(data_root, tmp_path):
    ckpt = random_teacher(tmp_path / 'teacher.pth')
    run = runner(data_root, tmp_path / 'work', **{'model.teacher_ckpt': ckpt})
    with pytest.raises(TeacherCheckError) as error:
        run.train()
    assert re.search(
        r"the teacher loaded from '.*teacher.pth' is at chance level: "
        r"teacher top-1 .* on \d+ of the student's sampled RoIs \(chance "
        r'level \d+.\d%\)', str(error.value)), str(error.value)


@pytest.mark.slow
def test_teacher_check_opt_out_logs_and_trains(data_root, tmp_path):
    ckpt = random_teacher(tmp_path / 'teacher.pth')
    run = runner(
        data_root, tmp_path / 'weak', **{
            'model.teacher_ckpt': ckpt,
            'default_hooks.teacher_check.min_accuracy': 0.0
        })
    run.train()
    log = open(osp.join(run.log_dir, f'{run.timestamp}.log')).read()
    assert "of the student's sampled RoIs (chance level" in log
    assert run.iter == 2


def test_labels_outside_the_box_head_are_named(data_root, tmp_path):
    run = runner(
        data_root, tmp_path, **{
            'model.teacher_ckpt': None,
            'model.architecture.roi_head.bbox_head.num_classes': 2,
            'model.teacher.roi_head.bbox_head.num_classes': 2
        })
    with pytest.raises(
            LabelRangeError,
            match=r"label 2 \('triangle'\) of training sample \d+ is outside "
            r'the 2 classes of the student roi_head.bbox_head .*the dataset '
            'has 3 classes'):
        run.train()
