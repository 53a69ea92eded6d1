"""Strict teacher loading from the checkpoints people have (issue 26).

Small MMPretrain classifiers and their checkpoints are made in the tests:
other architectures, other shapes, prefixed and nested keys, distiller and
EMA checkpoints; then each distiller (RLKD, MTKD-RL, Faster R-CNN RoI
distillation) with a checkpoint that does not fit.
"""
import copy
import itertools
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from test_mtkd_rl_distill import build as build_mtkd_rl
from test_mtkd_rl_distill import cifar_classifier

from mmrlkd.models import TeacherCheckpointError, load_teacher
from mmrlkd.registry import MODELS

ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
RLKD = osp.join(ROOT,
                'configs/digitpairs/rlkd_resnet56_resnet8w4_digitpairs.py')
_loggers = itertools.count()


@pytest.fixture
def log(tmp_path):
    """The text logged with ``logger='current'`` during the test."""
    path = tmp_path / 'test.log'
    MMLogger.get_instance(
        f'teacher_ckpt_{next(_loggers)}', log_file=str(path))
    return path.read_text


def classifier(depth=8, base=2, num_classes=10):
    torch.manual_seed(depth * 100 + base * 10 + num_classes)
    cfg = cifar_classifier(depth, base)
    cfg['head']['num_classes'] = num_classes
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg)


def save(tmp_path, checkpoint, name='ckpt.pth'):
    path = str(tmp_path / name)
    torch.save(checkpoint, path)
    return path


def assert_weights(model, state):
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_mmpretrain_checkpoint_loads_and_the_log_says_what(tmp_path, log):
    source = classifier()
    meta = dict(
        epoch=3, iter=120, dataset_meta=dict(classes=list('abcdefghij')))
    path = save(tmp_path, dict(meta=meta, state_dict=source.state_dict()))
    teacher = classifier(base=2, num_classes=10, depth=8)
    teacher.head.fc.weight.data.zero_()
    fit = load_teacher(teacher, path)
    assert_weights(teacher, source.state_dict())
    assert fit['matched'] == fit['total'] and teacher._is_init
    assert (f"teacher: loaded {fit['total']}/{fit['total']} parameters and "
            f"buffers from {path!r} (state_dict; saved at epoch 3, iter 120, "
            '10 classes)') in log()


def test_other_architecture_names_counts_keys_and_fix(tmp_path):
    """A ResNet-8 checkpoint for a ResNet-14 teacher: the second block of
    each stage would stay random."""
    source = classifier(depth=8)
    path = save(tmp_path, dict(state_dict=source.state_dict()))
    teacher = classifier(depth=14)
    with pytest.raises(TeacherCheckpointError) as error:
        load_teacher(teacher, path)
    message = str(error.value)
    total, matched = len(teacher.state_dict()), len(source.state_dict())
    assert f"teacher checkpoint {path!r} (state_dict) does not fit" in message
    assert f'{matched} of its {total} parameters and buffers match' \
        in message
    assert 'missing (' in message and 'backbone.stages.0.1.conv1.weight' \
        in message and ' more); ' in message
    assert 'likely fix: the checkpoint is of another model' in message
    assert 'teacher_ckpt_strict=False' in message


def test_other_shapes_are_listed_with_both_shapes(tmp_path):
    path = save(tmp_path, classifier(num_classes=5).state_dict())
    with pytest.raises(TeacherCheckpointError) as error:
        load_teacher(classifier(num_classes=10), path)
    message = str(error.value)
    assert 'other shape (checkpoint vs teacher) (2): head.fc.weight [5, 8] ' \
        'vs [10, 8], head.fc.bias [5] vs [10]' in message
    assert 'number of classes' in message


def test_prefixed_keys_name_the_part_to_take(tmp_path, log):
    source = classifier()
    prefixed = {f'model.{k}': v for k, v in source.state_dict().items()}
    path = save(tmp_path, dict(state_dict=prefixed))
    with pytest.raises(
            TeacherCheckpointError,
            match=r"0 of its \d+ .* set teacher_ckpt_part='model'"):
        load_teacher(classifier(), path)
    teacher = classifier(num_classes=10, base=2, depth=8)
    load_teacher(teacher, path, part='model')
    assert_weights(teacher, source.state_dict())
    assert "(state_dict, its 'model.' part)" in log()


def test_a_backbone_checkpoint_is_not_a_teacher(tmp_path):
    backbone = classifier().backbone.state_dict()
    path = save(tmp_path, backbone)
    with pytest.raises(
            TeacherCheckpointError,
            match="holds only the teacher's 'backbone'.*whole teacher"):
        load_teacher(classifier(), path)


def test_nested_and_ddp_checkpoints_load(tmp_path, log):
    source = classifier()
    ddp = {f'module.{k}': v for k, v in source.state_dict().items()}
    path = save(tmp_path, dict(state_dict=dict(model=ddp), epoch=1))
    teacher = classifier(num_classes=10, base=2, depth=8)
    teacher.head.fc.bias.data.fill_(7)
    load_teacher(teacher, path)
    assert_weights(teacher, source.state_dict())
    assert '(state_dict -> model)' in log()


def test_missing_num_batches_tracked_is_tolerated(tmp_path):
    source = classifier()
    state = {
        k: v
        for k, v in source.state_dict().items()
        if not k.endswith('num_batches_tracked')
    }
    teacher = classifier()
    fit = load_teacher(teacher, save(tmp_path, state))
    assert fit['missing'] == [] and fit['matched'] == len(state)


def rlkd_model(teacher=None):
    cfg = Config.fromfile(RLKD)
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.teacher = teacher or model_cfg.teacher
    model_cfg.teacher.backbone.depth = 8
    model_cfg.teacher_ckpt = None
    model_cfg.data_preprocessor = cfg.data_preprocessor
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(model_cfg), model_cfg


def test_a_distiller_checkpoint_gives_its_teacher_or_student(tmp_path, log):
    torch.manual_seed(0)
    source, model_cfg = rlkd_model()
    path = save(tmp_path,
                dict(meta=dict(epoch=2), state_dict=source.state_dict()))
    # The case: an RLKD run's checkpoint as teacher_ckpt.
    model_cfg.teacher_ckpt = path
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(model_cfg)
    assert_weights(model.teacher, source.teacher.state_dict())
    assert "(state_dict, its 'teacher.' part (a distiller's checkpoint); " \
        'saved at epoch 2)' in log()
    # With teacher_ckpt_part='architecture': the distilled student.
    student_cfg = copy.deepcopy(model_cfg.architecture)
    model_cfg.update(teacher=student_cfg, teacher_ckpt_part='architecture')
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(model_cfg)
    assert_weights(model.teacher, source.student.state_dict())
    with pytest.raises(
            TeacherCheckpointError,
            match=r"without a 'teachers.0' part; its parts are \[.*"
            r"'architecture'.*'teacher'"):
        load_teacher(model.teacher, path, part='teachers.0')


def test_ema_weights_are_taken_with_the_flag(tmp_path, log):
    raw, ema = classifier(), classifier(num_classes=10, base=2, depth=8)
    for param in ema.parameters():
        param.data.add_(1.0)
    path = save(
        tmp_path,
        dict(state_dict=raw.state_dict(), state_dict_ema=ema.state_dict()))
    teacher = classifier()
    load_teacher(teacher, path)
    assert_weights(teacher, raw.state_dict())
    assert "not the EMA weights 'state_dict_ema' (teacher_ckpt_ema=True " \
        'takes them)' in log()
    load_teacher(teacher, path, ema=True)
    assert_weights(teacher, ema.state_dict())
    # MMEngine's EMAHook swaps the two: 'state_dict' holds the average.
    swapped = {f'module.{k}': v for k, v in raw.state_dict().items()}
    swapped['steps'] = torch.tensor(10)
    path = save(
        tmp_path,
        dict(state_dict=ema.state_dict(), ema_state_dict=swapped),
        name='mmengine_ema.pth')
    load_teacher(teacher, path, ema=True)
    assert_weights(teacher, ema.state_dict())
    assert "EMA weights (MMEngine's EMAHook saves them as 'state_dict')" \
        in log()
    path = save(tmp_path, raw.state_dict(), name='no_ema.pth')
    with pytest.raises(TeacherCheckpointError, match='holds no EMA weights'):
        load_teacher(teacher, path, ema=True)


def test_not_strict_loads_what_fits_and_logs_the_counts(tmp_path, log):
    source = classifier(num_classes=5)
    path = save(tmp_path, source.state_dict())
    teacher = classifier(num_classes=10)
    head_before = teacher.head.fc.weight.clone()
    fit = load_teacher(teacher, path, strict=False)
    total = len(teacher.state_dict())
    assert fit['matched'] == total - 2
    assert torch.equal(teacher.head.fc.weight, head_before)
    for key, value in source.backbone.state_dict().items():
        assert torch.equal(teacher.backbone.state_dict()[key], value), key
    text = log()
    assert (f'teacher_ckpt_strict=False: teacher checkpoint {path!r} '
            '(a plain state dict) does not fit the teacher: '
            f'{total - 2} of its {total} parameters') in text
    assert f'loaded {total - 2}/{total} parameters' in text


def test_rlkd_distill_stops_on_a_teacher_of_another_architecture(tmp_path):
    path = save(tmp_path, dict(state_dict=classifier().state_dict()))
    _, model_cfg = rlkd_model()
    model_cfg.teacher_ckpt = path
    with DefaultScope.overwrite_default_scope('mmpretrain'), \
            pytest.raises(TeacherCheckpointError, match=path):
        MODELS.build(model_cfg)
    model_cfg.teacher_ckpt_strict = False
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        MODELS.build(model_cfg)


def test_mtkd_rl_names_the_teacher_whose_checkpoint_does_not_fit(tmp_path):
    path = save(tmp_path, classifier(base=3).state_dict())
    with pytest.raises(TeacherCheckpointError, match='teacher 1 checkpoint'):
        build_mtkd_rl([cifar_classifier(base=3),
                       cifar_classifier(base=4)],
                      teacher_ckpts=[path, path])


def test_student_roi_distill_loads_strictly(tmp_path, log):
    from test_student_roi_distill import build, detector_cfg
    with DefaultScope.overwrite_default_scope('mmdet'):
        other = MODELS.build(detector_cfg(16))
        same = MODELS.build(detector_cfg(32))
    path = save(tmp_path, dict(state_dict=other.state_dict()))
    with pytest.raises(
            TeacherCheckpointError,
            match='other shape.*backbone.conv1.weight \\[16, 3, 7, 7\\] '
            'vs \\[32, 3, 7, 7\\]'):
        build(teacher_ckpt=path)
    path = save(tmp_path, dict(state_dict=same.state_dict()), 'same.pth')
    model = build(teacher_ckpt=path)
    assert_weights(model.teacher, same.state_dict())
    assert f'from {path!r} (state_dict)' in log()
