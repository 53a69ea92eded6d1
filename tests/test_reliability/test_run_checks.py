"""Runs that must not start, or not go on (issue 26), on one and two
processes: a teacher checkpoint that does not fit, a teacher at chance
level, labels outside the heads' classes, a loss that stays NaN.

Tiny DigitPairs KD runs (4 iterations of 8 images per epoch; 2 per rank
under two gloo processes). Every scenario must end in its stated error on
every rank, without a hang.
"""
import glob
import os
import os.path as osp
import re

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.registry import HOOKS, DefaultScope
from mmengine.runner import Runner
from test_configs import CONFIGS
from two_processes import run_on_two_processes

from mmrlkd.engine.hooks import (LabelRangeError, NonFiniteLossError,
                                 TeacherCheckError)
from mmrlkd.models import TeacherCheckpointError
from mmrlkd.registry import MODELS
from mmrlkd.utils import prepare_distributed

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
KD = osp.join(ROOT, 'configs/digitpairs/kd_resnet56_resnet8w4_digitpairs.py')
RLKD = osp.join(ROOT,
                'configs/digitpairs/rlkd_resnet56_resnet8w4_digitpairs.py')


def random_teacher_checkpoint(config, path, **head):
    """A checkpoint of the config's (depth-8) teacher, untrained."""
    from tiny_digitpairs import tiny_config
    cfg = tiny_config(config, osp.dirname(path))
    cfg.model.teacher.head.update(head)
    torch.manual_seed(1)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        teacher = MODELS.build(cfg.model.teacher)
    torch.save(dict(state_dict=teacher.state_dict()), path)
    return path


def runner(config, work_dir, launcher='none', **options):
    from tiny_digitpairs import tiny_config
    cfg = tiny_config(config, work_dir, **options)
    cfg.launcher = launcher
    prepare_distributed(cfg)
    return Runner.from_cfg(cfg)


def scenario(name, work_dir, launcher='none'):
    """Build and train the scenario's run; its error's type and text."""
    ckpt = osp.join(work_dir, 'teacher.pth')
    options = dict(
        mismatch={'model.teacher_ckpt': ckpt},
        chance={'model.teacher_ckpt': ckpt},
        labels={
            'model.architecture.head.num_classes': 50,
            'model.teacher.head.num_classes': 50
        },
        nan={
            'optim_wrapper.optimizer.lr': float('nan'),
            'default_hooks.finite_loss.interval': 1,
            'train_cfg.max_epochs': 3
        })[name]
    try:
        runner(RLKD if name == 'mismatch' else KD, work_dir, launcher,
               **options).train()
    except Exception as error:  # the test compares type and message
        return type(error).__name__, str(error)
    return None, None


def make_checkpoints(work_dir):
    for name in ('mismatch', 'chance', 'labels', 'nan'):
        path = osp.join(work_dir, name)
        if name == 'mismatch':  # a 10-class teacher for a 100-class run
            random_teacher_checkpoint(
                RLKD, osp.join(path, 'teacher.pth'), num_classes=10)
        elif name == 'chance':
            random_teacher_checkpoint(KD, osp.join(path, 'teacher.pth'))


EXPECTED = dict(
    mismatch=(TeacherCheckpointError, r'head.fc.weight \[10, \d+\] vs '
              r'\[100, \d+\].*likely fix'),
    chance=(TeacherCheckError, r"the teacher loaded from '.*teacher.pth' is "
            r'at chance level: teacher top-1 .* on 32 training images'),
    labels=(LabelRangeError, r"label \d+ \('\d+'\) of training sample \d+ "
            r'is outside the 50 classes of the student head'),
    nan=(NonFiniteLossError, 'NaN or infinite for 3 consecutive '
         r'iterations \(up to iteration 4\); non-finite in the last '
         'iteration: loss'))


@pytest.fixture(scope='module')
def work_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp('run_checks')
    for name in EXPECTED:
        (root / name).mkdir()
    make_checkpoints(str(root))
    return root


@pytest.mark.parametrize('name', list(EXPECTED))
def test_one_process_stops_with_the_stated_error(work_dirs, name):
    error, message = scenario(name, str(work_dirs / name))
    expected, pattern = EXPECTED[name]
    assert error == expected.__name__, message
    assert re.search(pattern, message, re.S), message


def _scenario_on_rank(rank, arg):
    os.environ.update(LOCAL_RANK=str(rank), RANK=str(rank), WORLD_SIZE='2')
    return scenario(*arg, launcher='pytorch')


@pytest.mark.parametrize('name', list(EXPECTED))
def test_two_processes_both_stop_with_the_stated_error(work_dirs, tmp_path,
                                                       name):
    results = run_on_two_processes(tmp_path, _scenario_on_rank,
                                   (name, str(work_dirs / name)))
    assert sorted(results) == [0, 1]
    expected, pattern = EXPECTED[name]
    for rank, (error, message) in results.items():
        assert error == expected.__name__, (rank, message)
        assert re.search(pattern, message, re.S), (rank, message)


@MODELS.register_module(force=True)
class LabelReadingTeacher(BaseModel):
    """A teacher that knows every label: its logits are the one-hot labels
    (through an identity ``head.fc``, which KD's recorders read)."""

    def __init__(self, num_classes=100):
        super().__init__()
        self.head = torch.nn.Module()
        self.head.fc = torch.nn.Linear(num_classes, num_classes)
        torch.nn.init.eye_(self.head.fc.weight)
        torch.nn.init.zeros_(self.head.fc.bias)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        labels = torch.stack([s.gt_label.reshape(-1)[0] for s in data_samples])
        one_hot = F.one_hot(labels, self.head.fc.in_features).float()
        return self.head.fc(one_hot.to(inputs.device))


def test_a_teacher_above_chance_level_passes_and_is_logged(tmp_path):
    teacher = LabelReadingTeacher()
    ckpt = str(tmp_path / 'knowing_teacher.pth')
    torch.save(dict(state_dict=teacher.state_dict()), ckpt)
    run = runner(
        KD, tmp_path / 'work', **{
            'model.teacher':
            dict(_delete_=True, type='mmrlkd.LabelReadingTeacher'),
            'model.teacher_ckpt': ckpt
        })
    run.train()
    log = open(osp.join(run.log_dir, f'{run.timestamp}.log')).read()
    assert 'TeacherCheckHook: teacher top-1 100.0%, balanced accuracy ' \
        '100.0% on 32 training images (chance level ' in log
    assert 'not stopping' not in log and run.iter == 4


def test_opt_outs_train_and_log(work_dirs, tmp_path):
    ckpt = str(work_dirs / 'chance' / 'teacher.pth')
    run = runner(
        KD,
        tmp_path / 'weak_teacher',
        **{
            'model.teacher_ckpt': ckpt,
            'default_hooks.teacher_check.min_accuracy': 0.0
        })
    run.train()
    log = open(osp.join(run.log_dir, f'{run.timestamp}.log')).read()
    assert 'TeacherCheckHook: teacher top-1 ' in log
    assert 'on 32 training images (chance level' in log
    ckpt = str(work_dirs / 'mismatch' / 'teacher.pth')
    run = runner(
        RLKD,
        tmp_path / 'not_strict',
        **{
            'model.teacher_ckpt': ckpt,
            'model.teacher_ckpt_strict': False,
            'default_hooks.teacher_check.enabled': False
        })
    run.train()
    log = open(osp.join(run.log_dir, f'{run.timestamp}.log')).read()
    assert 'teacher_ckpt_strict=False: teacher checkpoint' in log
    assert 'TeacherCheckHook: ' not in log


#: The files that declare default hooks; every other config inherits one.
DECLARING = [
    osp.join(ROOT, 'configs', path) for path in (
        '_base_/digit_pairs_runtime.py', '_base_/cifar_runtime.py',
        '_base_/imagenet_runtime.py', '_base_/shapes_det_runtime.py',
        'detection/faster-rcnn_r18_fpn_1x_coco.py',
        'detection/faster-rcnn_mobilenetv2_fpn_1x_coco.py')
]


def test_the_configs_run_the_checks():
    """The default hooks of every runtime hold the three checks, and they
    build; the other configs inherit them (reading all of them takes
    minutes)."""
    checks = dict(
        label_range='mmrlkd.LabelRangeHook',
        teacher_check='mmrlkd.TeacherCheckHook',
        finite_loss='mmrlkd.FiniteLossHook')
    declaring = [
        path for path in CONFIGS + glob.glob(
            osp.join(ROOT, 'configs', '_base_', '*.py'))
        if 'default_hooks' in open(path).read()
    ]
    assert sorted(declaring) == sorted(DECLARING)
    for path in DECLARING:
        cfg = Config.fromfile(path)
        hooks = cfg.default_hooks
        assert {name: hooks.get(name, {}).get('type')
                for name in checks} == checks, path
        with DefaultScope.overwrite_default_scope(cfg.default_scope):
            for name in checks:
                assert type(HOOKS.build(hooks[name])).__name__ == \
                    checks[name].split('.')[1]


def test_datasets_without_label_lists_are_checked_batch_by_batch():
    """The fallback: labels read from each batch's host data samples."""
    from mmpretrain.structures import DataSample

    from mmrlkd.engine.hooks import LabelRangeHook
    from mmrlkd.engine.hooks.label_range_hook import head_class_counts
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(
            dict(
                type='ImageClassifier',
                backbone=dict(type='mmrlkd.ResNetCIFAR', depth=8),
                neck=dict(type='GlobalAveragePooling'),
                head=dict(
                    type='LinearClsHead', num_classes=5, in_channels=64)))
    hook = LabelRangeHook()
    hook._heads = head_class_counts(model)
    assert hook._heads == [('model head', 5)]
    hook._per_batch = True
    samples = [DataSample().set_gt_label(label) for label in (4, 0, 5)]
    hook.before_train_iter(None, 0, dict(data_samples=samples[:2]))
    with pytest.raises(
            LabelRangeError,
            match=r'label 5 of a sample of batch 3 is outside the 5 classes '
            r'of the model head \(labels must be in \[0, 5\)\)'):
        hook.before_train_iter(None, 3, dict(data_samples=samples))


def test_mtkd_rl_names_the_teacher_at_chance_level(tmp_path):
    """MTKD-RL: each teacher is measured; only those loaded from a
    checkpoint can stop the run (here teacher 1)."""
    from test_mtkd_distributed import CONFIG, small_teacher
    teachers = [small_teacher(8), small_teacher(6)]
    torch.manual_seed(2)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        random = MODELS.build(small_teacher(6))
    ckpt = str(tmp_path / 'teacher_1.pth')
    torch.save(random.state_dict(), ckpt)
    cfg = Config.fromfile(osp.join(ROOT, CONFIG))
    cfg.merge_from_dict({
        'model.teachers': teachers,
        'model.teacher_ckpts': [None, ckpt],
        'train_dataloader.batch_size': 8,
        'train_dataloader.dataset.num_samples': 32,
        'val_dataloader.dataset.num_samples': 16,
        'train_cfg.max_epochs': 1
    })
    cfg.work_dir = str(tmp_path / 'work')
    run = Runner.from_cfg(cfg)
    with pytest.raises(
            TeacherCheckError,
            match=r"the teacher 1 loaded from '.*teacher_1.pth' is at "
            'chance level'):
        run.train()
    log = open(osp.join(run.log_dir, f'{run.timestamp}.log')).read()
    assert 'teacher 1: loaded ' in log
    assert 'TeacherCheckHook: teacher 0 top-1 ' in log
    assert 'not stopping: the teacher 0 has no teacher_ckpt' in log
