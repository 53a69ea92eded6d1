"""CTKD's lambda curriculum, and CTKD / DTKD in a real MMEngine Runner."""
import itertools
import json
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmrlkd.engine import cosine_lambda
from mmrlkd.utils import register_all_modules

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DIGITPAIRS = osp.join(ROOT, 'configs', 'digitpairs')
_names = itertools.count()


def paper_lambda(n, E, lambda_min=0.0, lambda_max=1.0):
    """CTKD Eq. 11 as the authors' FAQ writes it."""
    return lambda_min + 0.5 * (lambda_max - lambda_min) * (1 + math.cos(
        (1 + min(n, E) / E) * math.pi))


def official_decay_value(epoch, loops, max_value=0.0, min_value=-1.0):
    """The official CosineDecay with the CIFAR script's settings."""
    i = min(max(epoch, 0), loops)
    value = (math.cos(i * math.pi / loops) + 1.0) * 0.5
    return value * (max_value - min_value) + min_value


@pytest.mark.parametrize('E', [2, 5, 10])
def test_lambda_matches_the_paper_and_the_official_code(E):
    assert cosine_lambda(0, E) == pytest.approx(0.0, abs=1e-12)
    assert cosine_lambda(E / 2, E) == pytest.approx(0.5)
    assert cosine_lambda(E, E) == pytest.approx(1.0)
    assert cosine_lambda(3 * E, E) == pytest.approx(1.0)
    for n in range(0, 2 * E + 1):
        assert cosine_lambda(n, E) == pytest.approx(paper_lambda(n, E))
        # The official code multiplies the gradient by -lambda.
        assert -cosine_lambda(n, E) == pytest.approx(
            official_decay_value(n, E), abs=1e-12)


def test_lambda_range_and_no_curriculum():
    assert cosine_lambda(5, 10, 0.2, 0.6) == pytest.approx(0.4)
    assert cosine_lambda(0, 10, 0.2, 0.6) == pytest.approx(0.2)
    assert cosine_lambda(1, 0) == 1.0


def tiny_runner(config, work_dir, epochs=2, **options):
    """2 iterations of 8 images per epoch; no validation, no checkpoint."""
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(osp.join(DIGITPAIRS, config))
    cfg.merge_from_dict({
        'model.teacher.backbone.depth': 8,
        'model.teacher_ckpt': None,
        'train_dataloader.batch_size': 8,
        'train_dataloader.dataset.num_samples': 16,
        'train_cfg.max_epochs': epochs,
        'val_dataloader': None,
        'val_cfg': None,
        'val_evaluator': None,
        'default_hooks.checkpoint': None,
        'default_hooks.logger.interval': 1,
        **options
    })
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = f'ctkd_hook_test_{next(_names)}'
    return Runner.from_cfg(cfg)


def test_ctkd_in_a_runner_follows_the_curriculum_and_dumps(tmp_path):
    runner = tiny_runner(
        'ctkd_resnet56_resnet8w4_digitpairs.py',
        tmp_path,
        custom_hooks=[
            dict(type='mmrlkd.CTKDCurriculumHook', decay_epochs=2),
            dict(type='mmrlkd.TemperatureDumpHook', iters=[2, 3])
        ])
    provider = runner.model.temperature_provider
    theta_before = provider.theta.detach().clone()
    runner.train()
    hub = runner.message_hub
    lambdas = hub.get_scalar('train/ctkd/lambda').data[0]
    # 2 iterations per epoch: epoch 1 at lambda_1 = 0.5, epoch 2 at 1.
    assert lambdas.tolist() == pytest.approx([0.5] * 2 + [1.0] * 2)
    assert provider.grl_lambda == 1.0
    assert not torch.equal(provider.theta.detach(), theta_before)
    means = hub.get_scalar('train/distill.temperature_mean').data[0]
    assert len(means) == 4 and all(1 < t < 21 for t in means)

    with open(osp.join(runner.log_dir, 'temperatures.jsonl')) as f:
        dumps = [json.loads(line) for line in f]
    assert [(d['iter'], d['epoch']) for d in dumps] == [(2, 1), (3, 2)]
    for dump in dumps:
        assert len(dump['student']) == 8 == len(dump['teacher'])
        # A global temperature: the logged mean of that iteration.
        assert dump['student'] == pytest.approx(
            [means[dump['iter'] - 1]] * 8, rel=1e-5)


@pytest.mark.parametrize('config', [
    'ctkd_roi_faster-rcnn_r101_faster-rcnn_r18_1x_coco.py',
    'ctkd_roi_faster-rcnn_r50_faster-rcnn_mobilenetv2_1x_coco.py'
])
def test_coco_ctkd_curriculum_moves_every_iteration_of_epoch_one(
        config, tmp_path):
    # The COCO configs' hook, unchanged, on a DigitPairs CTKD run of 4
    # iterations per epoch: lambda must rise within the first epoch (counted
    # in whole epochs, a 1-epoch curriculum is lambda_1 = 1 at once).
    hooks = Config.fromfile(osp.join(ROOT, 'configs', 'detection',
                                     config)).custom_hooks
    assert [h['type'] for h in hooks] == ['mmrlkd.CTKDCurriculumHook']
    runner = tiny_runner(
        'ctkd_resnet56_resnet8w4_digitpairs.py',
        tmp_path,
        **{'train_dataloader.batch_size': 4},
        custom_hooks=hooks)
    runner.train()
    lambdas = runner.message_hub.get_scalar('train/ctkd/lambda').data[0]
    # Iteration k (1-based) of K = 4 per epoch: (1 - cos(pi k / K)) / 2,
    # 1 from the first epoch's last iteration on.
    expected = [(1 - math.cos(math.pi * k / 4)) / 2 for k in (1, 2, 3)]
    assert lambdas.tolist() == pytest.approx(expected + [1.0] * 5)
    assert lambdas[0] < 0.2
    assert runner.model.temperature_provider.grl_lambda == 1.0


def test_convert_to_iter_based_needs_epochs():
    from mmrlkd.engine import CTKDCurriculumHook
    with pytest.raises(ValueError, match='by_epoch'):
        CTKDCurriculumHook(by_epoch=False, convert_to_iter_based=True)


def test_curriculum_hook_needs_a_ctkd_provider(tmp_path):
    runner = tiny_runner(
        'dtkd_resnet56_resnet8w4_digitpairs.py',
        tmp_path,
        epochs=1,
        custom_hooks=[dict(type='mmrlkd.CTKDCurriculumHook')])
    with pytest.raises(TypeError, match='CTKD temperature provider'):
        runner.train()


def test_dtkd_in_a_runner_warms_up_and_logs_both_sides(tmp_path):
    runner = tiny_runner('dtkd_resnet56_resnet8w4_digitpairs.py', tmp_path)
    loss = runner.model.distiller.distill_losses['loss_dtkd']
    factors = []
    loss.register_forward_hook(
        lambda module, args, out: factors.append(module.warmup_factor()))
    runner.train()
    # warmup=2 epochs: 1/2 in epoch 1, 1 in epoch 2.
    assert factors == [0.5] * 2 + [1.0] * 2
    hub = runner.message_hub
    for key in ('temperature_mean', 'temperature_teacher_mean',
                'temperature_teacher_std', 'temperature_fallbacks'):
        assert f'train/distill.{key}' in hub.log_scalars, key
    student = hub.get_scalar('train/distill.temperature_mean').data[0]
    teacher = hub.get_scalar('train/distill.temperature_teacher_mean').data[0]
    # Teacher and student temperatures average to tau = 4 per instance.
    assert (student + teacher) / 2 == pytest.approx([4.0] * 4)
