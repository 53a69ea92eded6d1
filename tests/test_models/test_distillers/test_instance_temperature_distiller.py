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


def poison_teacher_rows(model, rows):
    """Make the teacher's logits of ``rows`` non-finite, as fp16 overflow."""

    def hook(module, inputs, output):
        output = output.clone()
        output[rows[0], 0] = float('inf')
        output[rows[1:], :] = float('nan')
        return output

    # Prepended: MMRazor's recorder hook must see the poisoned output.
    return model.teacher.head.fc.register_forward_hook(hook, prepend=True)


def test_non_finite_instances_are_skipped_and_counted(data):
    torch.manual_seed(0)
    model = build(
        rlkd_cfg_with(dict(type='mmrlkd.FixedTemperature', temperature=4.0)))
    rows = [1, 5, 6]
    poison_teacher_rows(model, rows)
    logits = {}
    model.student.head.fc.register_forward_hook(
        lambda m, i, o: logits.__setitem__('S', o.detach()))
    model.teacher.head.fc.register_forward_hook(
        lambda m, i, o: logits.__setitem__('T', o.detach()))
    losses = losses_of(model, data)
    assert losses['distill.skipped_instances'].item() == len(rows)
    keep = torch.ones(16, dtype=torch.bool)
    keep[rows] = False
    # Independent computation on the kept rows: tau^2 * KL, batch mean.
    p_T = torch.softmax(logits['T'][keep] / 4, 1)
    log_p_S = torch.log_softmax(logits['S'][keep] / 4, 1)
    expected = 0.9 * 16 * (p_T * (p_T.log() - log_p_S)).sum(1).mean()
    torch.testing.assert_close(losses['distill.loss_kd'], expected)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    for param in model.student.parameters():
        assert torch.isfinite(param.grad).all()


def test_all_instances_non_finite_gives_a_zero_distill_loss(data):
    model = build(
        rlkd_cfg_with(dict(type='mmrlkd.FixedTemperature', temperature=4.0)))
    poison_teacher_rows(model, list(range(16)))
    losses = losses_of(model, data)
    assert losses['distill.skipped_instances'].item() == 16
    assert losses['distill.loss_kd'].item() == 0.0
    assert torch.isfinite(losses['student.loss'])


def test_teacher_and_student_class_counts_must_agree():
    cfg = rlkd_cfg_with(dict(type='mmrlkd.FixedTemperature'))
    cfg.teacher.head.num_classes = 10
    with pytest.raises(
            ValueError, match='teacher predicts 10 classes and '
            'the student 100'):
        build(cfg)


def test_missing_teacher_checkpoint_names_the_path(tmp_path):
    cfg = rlkd_cfg_with(dict(type='mmrlkd.FixedTemperature'))
    cfg.teacher_ckpt = str(tmp_path / 'no_such_teacher.pth')
    with pytest.raises(FileNotFoundError, match='no_such_teacher.pth'):
        build(cfg)


def test_unreadable_teacher_checkpoint_names_the_path(tmp_path):
    path = tmp_path / 'broken.pth'
    path.write_bytes(b'this is not a checkpoint')
    cfg = rlkd_cfg_with(dict(type='mmrlkd.FixedTemperature'))
    cfg.teacher_ckpt = str(path)
    with pytest.raises(RuntimeError, match='broken.pth'):
        build(cfg)


def test_teacher_checkpoint_is_loaded(tmp_path):
    cfg = rlkd_cfg_with(dict(type='mmrlkd.FixedTemperature'))
    source = build(cfg)
    path = tmp_path / 'teacher.pth'
    torch.save(dict(state_dict=source.teacher.state_dict()), path)
    cfg.teacher_ckpt = str(path)
    model = build(cfg)
    for name, value in source.teacher.state_dict().items():
        torch.testing.assert_close(model.teacher.state_dict()[name], value)


def test_low_precision_logits_give_float32_temperatures_and_losses(data):
    """Under autocast (CPU: bfloat16; --amp on GPU: float16) the logits are
    low precision; the agent's states, temperatures and losses are fp32."""
    torch.manual_seed(0)
    model = build(rlkd_cfg_with(dict(type='mmrlkd.RLKDTemperature')))
    model.temperature_provider.acting = True
    dtypes = {}
    model.student.head.fc.register_forward_hook(
        lambda m, i, o: dtypes.__setitem__('logits', o.dtype))
    model.train()
    batch = model.data_preprocessor(data, True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = model(**batch, mode='loss')
    assert dtypes['logits'] == torch.bfloat16
    assert losses['distill.loss_kd'].dtype == torch.float32
    assert torch.isfinite(losses['distill.loss_kd'])
    assert losses['distill.temperature_mean'].dtype == torch.float32
