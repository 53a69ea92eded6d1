"""RLKDDistill + InstanceTemperatureDistiller against MMRazor's own KD."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import MODELS, DefaultScope

from mmrlkd.datasets import DigitPairs
from mmrlkd.models import RLKDDistill

ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CONFIGS = osp.join(ROOT, 'configs', 'digitpairs')


def small_model_cfg(name):
    cfg = Config.fromfile(osp.join(CONFIGS, name))
    model = copy.deepcopy(cfg.model)
    model.teacher.backbone.depth = 8
    model.teacher_ckpt = None
    model.data_preprocessor = cfg.data_preprocessor
    return model


def build(model_cfg):
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(model_cfg)


@pytest.fixture(scope='module')
def data():
    dataset = DigitPairs(
        split='train', num_samples=16, pipeline=[dict(type='PackInputs')])
    return pseudo_collate([dataset[i] for i in range(16)])


def losses_of(model, data):
    model.train()
    batch = model.data_preprocessor(data, True)
    return model(**batch, mode='loss')


def rlkd_cfg_with(provider):
    cfg = small_model_cfg('rlkd_resnet56_resnet8w4_digitpairs.py')
    cfg.distiller.temperature_provider = provider
    return cfg


def test_fixed_temperature_reproduces_mmrazor_kd(data):
    torch.manual_seed(0)
    razor = build(small_model_cfg('kd_resnet56_resnet8w4_digitpairs.py'))
    ours = build(
        rlkd_cfg_with(dict(type='mmrlkd.FixedTemperature', temperature=4.0)))
    assert isinstance(ours, RLKDDistill)
    ours.load_state_dict(razor.state_dict())
    expected = losses_of(razor, data)
    got = losses_of(ours, data)
    torch.testing.assert_close(
        got['distill.loss_kd'],
        expected['distill.loss_kl'],
        rtol=1e-6,
        atol=1e-6)
    torch.testing.assert_close(got['student.loss'], expected['student.loss'])
    assert got['distill.temperature_mean'].item() == 4.0
    assert got['distill.temperature_std'].item() == 0.0


def test_rlkd_temperatures_reach_the_loss_and_feature_losses_coexist(data):
    cfg = rlkd_cfg_with(dict(type='mmrlkd.RLKDTemperature'))
    # An MMRazor feature loss (attention transfer) in the same distiller.
    cfg.distiller.student_recorders.feat = dict(
        type='ModuleOutputs', source='backbone')
    cfg.distiller.teacher_recorders.feat = dict(
        type='ModuleOutputs', source='backbone')
    cfg.distiller.distill_losses.loss_feat = dict(
        type='ATLoss', loss_weight=1000.0)
    cfg.distiller.loss_forward_mappings.loss_feat = dict(
        s_feature=dict(from_student=True, recorder='feat', data_idx=0),
        t_feature=dict(from_student=False, recorder='feat', data_idx=0))
    model = build(cfg)
    assert model.distiller.temperature_losses == ['loss_kd']
    model.temperature_provider.acting = True
    losses = losses_of(model, data)
    assert losses['distill.loss_feat'] > 0
    assert losses['distill.temperature_std'] > 0
    temps = losses['distill.temperature_mean']
    assert 0 < temps < 10
    # The agent is not part of the student's parameters.
    agent = {id(p) for p in model.temperature_provider.policy.parameters()}
    assert not agent & {id(p) for p in model.parameters()}


def test_provider_that_needs_labels_without_labels():
    cfg = rlkd_cfg_with(dict(type='mmrlkd.RLKDTemperature'))
    cfg.distiller.gt_labels = None
    with pytest.raises(ValueError, match='gt_labels'):
        build(cfg)


def test_distiller_without_a_temperature_loss():
    cfg = rlkd_cfg_with(dict(type='mmrlkd.FixedTemperature'))
    cfg.distiller.distill_losses.loss_kd = dict(type='KLDivergence')
    with pytest.raises(ValueError, match='temperature'):
        build(cfg)


def test_rlkd_distill_needs_the_instance_temperature_distiller():
    cfg = small_model_cfg('kd_resnet56_resnet8w4_digitpairs.py')
    cfg.type = 'mmrlkd.RLKDDistill'
    with pytest.raises(TypeError, match='InstanceTemperatureDistiller'):
        build(cfg)
