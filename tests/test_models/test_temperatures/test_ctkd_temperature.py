"""CTKD providers: mapping, initial values, and adversarial learning."""
import copy
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS, DefaultScope

from mmrlkd.datasets import DigitPairs
from mmrlkd.models import (CTKDGlobalTemperature, CTKDInstanceTemperature,
                           InstanceDKDLoss, InstanceKDLoss)

ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CTKD_CONFIG = osp.join(ROOT, 'configs', 'digitpairs',
                       'ctkd_resnet56_resnet8w4_digitpairs.py')


def logits(num=16, classes=10, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    student = scale * torch.randn(num, classes, generator=g)
    teacher = scale * torch.randn(num, classes, generator=g)
    labels = torch.randint(0, classes, (num, ), generator=g)
    return student, teacher, labels


def test_global_starts_at_the_official_value_and_is_shared():
    provider = CTKDGlobalTemperature()
    out = provider(*logits())
    assert out.student.shape == ()
    assert out.teacher is out.student
    assert out.student.item() == pytest.approx(1 + 20 / (1 + math.exp(-1)))


def test_instance_starts_in_the_middle_of_the_range():
    provider = CTKDInstanceTemperature(num_classes=10)
    out = provider(*logits(num=16))
    assert out.student.shape == (16, )
    torch.testing.assert_close(out.student, torch.full((16, ), 11.0))


@pytest.mark.parametrize('theta, bound', [(-30.0, 2.0), (30.0, 7.0)])
def test_temperature_stays_in_its_range(theta, bound):
    provider = CTKDGlobalTemperature(t_start=2.0, t_range=5.0, init=theta)
    tau = provider(*logits()).student.item()
    assert 2.0 <= tau <= 7.0 and tau == pytest.approx(bound, abs=1e-6)


def test_instance_input_is_detached_and_class_count_checked():
    provider = CTKDInstanceTemperature(num_classes=10)
    student, teacher, _ = logits()
    student.requires_grad_(True)
    provider(student, teacher).student.sum().backward()
    assert student.grad is None
    with pytest.raises(ValueError, match='num_classes=10'):
        provider(*logits(classes=7))


def test_instance_handles_a_batch_of_one_in_training():
    provider = CTKDInstanceTemperature(num_classes=10).train()
    out = provider(*logits(num=1))
    assert out.student.shape == (1, ) and provider.mlp.training


def test_invalid_range():
    with pytest.raises(ValueError, match='t_range'):
        CTKDGlobalTemperature(t_range=0)


def kd_value(loss, student, teacher, labels, temperature):
    if isinstance(loss, InstanceDKDLoss):
        return loss(student, teacher, labels, temperature=temperature)
    return loss(student, teacher, temperature=temperature)


PROVIDERS = {
    'global': lambda: CTKDGlobalTemperature(),
    'instance': lambda: CTKDInstanceTemperature(num_classes=10),
}
LOSSES = {
    'kd': lambda: InstanceKDLoss(loss_weight=0.9),
    'dkd': lambda: InstanceDKDLoss(alpha=1.0, beta=2.0),
}


@pytest.mark.parametrize('loss_name', list(LOSSES))
@pytest.mark.parametrize('provider_name', list(PROVIDERS))
def test_one_sgd_step_makes_the_temperature_ascend_the_loss(
        provider_name, loss_name):
    """The student descends the loss while the temperature ascends it."""
    torch.manual_seed(0)
    provider = PROVIDERS[provider_name]()
    loss_fn = LOSSES[loss_name]()
    student0, teacher, labels = logits()
    student = torch.nn.Parameter(student0.clone())
    optimizer = torch.optim.SGD([student, *provider.parameters()], lr=0.5)

    def loss_at(student_logits):
        with torch.no_grad():
            temperature = provider(student_logits, teacher, labels)
            return kd_value(loss_fn, student_logits, teacher, labels,
                            temperature).item()

    provider.eval()  # compare at the same BN statistics as the step
    before = loss_at(student0)
    provider.grl_lambda = 1.0
    temperature = provider(student, teacher, labels)
    loss = kd_value(loss_fn, student, teacher, labels, temperature)
    assert torch.isfinite(loss)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    assert all(
        torch.isfinite(p.grad).all() for p in provider.parameters()
        if p.grad is not None)
    # The temperature's move alone (student logits as before) raised it.
    assert loss_at(student0) > before
    # The student's move alone (temperature as after the step) lowered it.
    assert loss_at(student.detach()) < loss_at(student0)


@pytest.mark.parametrize('strength', [0.0, 0.25, 1.0])
def test_the_step_of_theta_is_the_ascent_step_times_lambda(strength):
    student, teacher, _ = logits()
    loss_fn = InstanceKDLoss()
    provider = CTKDGlobalTemperature()
    theta = provider.theta.detach().clone().requires_grad_(True)
    tau = 1 + 20 * torch.sigmoid(theta)
    ascent = torch.autograd.grad(
        loss_fn(student, teacher, temperature=tau.reshape(())), theta)[0]

    provider.grl_lambda = strength
    optimizer = torch.optim.SGD(provider.parameters(), lr=0.1)
    loss_fn(
        student, teacher, temperature=provider(student, teacher)).backward()
    optimizer.step()
    torch.testing.assert_close(provider.theta.detach() - theta.detach(),
                               0.1 * strength * ascent)


def tiny_ctkd_model():
    cfg = Config.fromfile(CTKD_CONFIG)
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.teacher.backbone.depth = 8
    model_cfg.teacher_ckpt = None
    model_cfg.data_preprocessor = cfg.data_preprocessor
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(model_cfg)
    return model, cfg


def test_the_students_optimizer_trains_theta_against_the_kd_loss():
    """Config-built model and optimizer: theta is in the student's SGD with
    its lr and weight decay, and receives the reversed KD gradient."""
    torch.manual_seed(0)
    model, cfg = tiny_ctkd_model()
    with DefaultScope.overwrite_default_scope('mmrlkd'):
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    provider = model.temperature_provider
    groups = [
        g for g in optim_wrapper.optimizer.param_groups
        if any(p is provider.theta for p in g['params'])
    ]
    assert len(groups) == 1
    assert groups[0]['lr'] == cfg.optim_wrapper.optimizer.lr
    assert groups[0]['weight_decay'] == \
        cfg.optim_wrapper.optimizer.weight_decay

    dataset = DigitPairs(
        split='train', num_samples=16, pipeline=[dict(type='PackInputs')])
    data = pseudo_collate([dataset[i] for i in range(16)])
    model.train()
    batch = model.data_preprocessor(data, True)
    provider.grl_lambda = 0.5
    losses = model(**batch, mode='loss')
    loss, _ = model.parse_losses(losses)
    optim_wrapper.backward(loss)

    # The same KD term from the same logits, as a function of a copy of theta.
    with torch.no_grad():
        student = model.architecture(batch['inputs'], mode='tensor')
        teacher = model.teacher(batch['inputs'], mode='tensor')
    theta = provider.theta.detach().clone().requires_grad_(True)
    tau = (1 + 20 * torch.sigmoid(theta)).reshape(())
    kd = InstanceKDLoss(loss_weight=0.9)(student, teacher, temperature=tau)
    torch.testing.assert_close(kd, losses['distill.loss_kd'].detach())
    ascent = torch.autograd.grad(kd, theta)[0]
    assert ascent.abs().item() > 0
    torch.testing.assert_close(provider.theta.grad, -0.5 * ascent)
