"""CTKD and DTKD providers feed InstanceKDLoss and InstanceDKDLoss through
the real RLKDDistill + InstanceTemperatureDistiller."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import MODELS, DefaultScope

from mmrlkd.datasets import DigitPairs
from mmrlkd.models import InstanceDKDLoss, InstanceKDLoss

ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
KD_BASE = osp.join(ROOT, 'configs', 'digitpairs',
                   'rlkd_resnet56_resnet8w4_digitpairs.py')
PROVIDERS = {
    'ctkd_global': dict(type='mmrlkd.CTKDGlobalTemperature'),
    'ctkd_instance':
    dict(type='mmrlkd.CTKDInstanceTemperature', num_classes=100),
    'dtkd': dict(type='mmrlkd.DTKDTemperature'),
}


@pytest.fixture(scope='module')
def data():
    dataset = DigitPairs(
        split='train', num_samples=16, pipeline=[dict(type='PackInputs')])
    return pseudo_collate([dataset[i] for i in range(16)])


def model_with(provider):
    cfg = Config.fromfile(KD_BASE)
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.teacher.backbone.depth = 8
    model_cfg.teacher_ckpt = None
    model_cfg.data_preprocessor = cfg.data_preprocessor
    distiller = model_cfg.distiller
    distiller.temperature_provider = provider
    distiller.distill_losses.loss_dkd = dict(
        type='mmrlkd.InstanceDKDLoss', alpha=1.0, beta=2.0)
    distiller.loss_forward_mappings.loss_dkd = dict(
        preds_S=dict(from_student=True, recorder='fc'),
        preds_T=dict(from_student=False, recorder='fc'),
        gt_labels=dict(from_student=True, recorder='gt_labels', data_idx=1))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(model_cfg)


@pytest.mark.parametrize('name', list(PROVIDERS))
def test_provider_temperatures_reach_both_losses(name, data):
    torch.manual_seed(0)
    model = model_with(PROVIDERS[name])
    assert sorted(
        model.distiller.temperature_losses) == ['loss_dkd', 'loss_kd']
    model.train()
    batch = model.data_preprocessor(data, True)
    losses = model(**batch, mode='loss')

    # The same numbers from the provider's temperatures, outside the
    # distiller (deterministic given the logits; the instance MLP's BN
    # normalises with the same batch statistics in training mode).
    with torch.no_grad():
        student = model.architecture(batch['inputs'], mode='tensor')
        teacher = model.teacher(batch['inputs'], mode='tensor')
    labels = torch.cat([s.gt_label for s in batch['data_samples']])
    temps = model.temperature_provider(student, teacher, labels)
    kd = InstanceKDLoss(loss_weight=0.9)(student, teacher, temperature=temps)
    dkd = InstanceDKDLoss(
        alpha=1.0, beta=2.0)(
            student, teacher, labels, temperature=temps)
    torch.testing.assert_close(losses['distill.loss_kd'].detach(), kd)
    torch.testing.assert_close(losses['distill.loss_dkd'].detach(), dkd)
    torch.testing.assert_close(losses['distill.temperature_mean'],
                               temps.student.detach().float().mean())

    loss, _ = model.parse_losses(losses)
    loss.backward()
    provider_grads = [p.grad for p in model.temperature_provider.parameters()]
    assert all(
        g is not None and torch.isfinite(g).all() for g in provider_grads)
    assert all(
        torch.isfinite(p.grad).all() for p in model.architecture.parameters()
        if p.grad is not None)
