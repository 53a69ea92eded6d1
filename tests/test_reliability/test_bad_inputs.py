"""Bad inputs the rest of the suite does not cover yet (issue 8).

Covered elsewhere: non-finite logits (test_instance_temperature_distiller,
test_student_roi_distill), class-count mismatch and missing or unreadable
teacher checkpoints (same files), bf16 autocast (test_instance_temperature_
distiller), an empty batch of RoIs (test_student_roi_distill:
test_distiller_with_no_rois_at_all), a checkpoint without an agent
(test_rlkd_agent_hook). Teacher checkpoints that do not fit, teachers at
chance level, labels outside the heads' classes and NaN losses (issue 26):
test_models/test_algorithms/test_teacher_checkpoint and test_run_checks.
"""
import copy
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.hooks import Hook
from mmengine.registry import MODELS, DefaultScope
from reliability_runs import DIGITPAIRS, assert_identical, tiny_runner

from mmrlkd.datasets import DigitPairs

RLKD = 'rlkd_resnet56_resnet8w4_digitpairs.py'


def rlkd_model(**provider):
    """The DigitPairs RLKD model (ResNet-8 teacher), agent acting."""
    cfg = Config.fromfile(osp.join(DIGITPAIRS, RLKD))
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.teacher.backbone.depth = 8
    model_cfg.teacher_ckpt = None
    model_cfg.data_preprocessor = cfg.data_preprocessor
    model_cfg.distiller.temperature_provider.update(provider)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(model_cfg)
    model.temperature_provider.acting = True
    return model


def digit_pairs(num):
    dataset = DigitPairs(
        split='train', num_samples=num, pipeline=[dict(type='PackInputs')])
    return [dataset[i] for i in range(num)]


def losses_of(model, samples):
    model.train()
    batch = model.data_preprocessor(pseudo_collate(samples), True)
    return model(**batch, mode='loss')


def parameters(modules):
    return [p.detach().clone() for m in modules for p in m.parameters()]


def test_batch_size_one_trains_student_and_agent():
    torch.manual_seed(0)
    model = rlkd_model()
    provider = model.temperature_provider
    before = parameters(provider.agent.networks())
    samples = digit_pairs(3)
    for step, sample in enumerate(samples):
        losses = losses_of(model, [sample])
        for key, value in losses.items():
            assert torch.isfinite(value).all(), key
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        loss.backward()
        diagnostics = provider.finish_iteration()
        if step:  # one-instance episodes, rewarded by the next batch
            assert diagnostics['skipped'] == 0.0
            for key in ('policy_loss', 'value_loss', 'corrector_loss',
                        'state_updater_loss', 'calibrated_reward_std'):
                assert math.isfinite(diagnostics[key]), key
    assert losses['distill.temperature_std'] == 0
    after = parameters(provider.agent.networks())
    assert all(torch.isfinite(p).all() for p in after)
    assert any(not torch.equal(a, b) for a, b in zip(before, after))
    assert all(
        p.grad is None or torch.isfinite(p.grad).all()
        for p in model.student.parameters())


class NaNPerformance(Hook):
    """Makes the performance of the iterations in ``iters`` NaN, before
    RLKDAgentHook (priority NORMAL) turns it into a reward."""

    priority = 'ABOVE_NORMAL'

    def __init__(self, iters):
        self.iters = iters

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        provider = runner.model.temperature_provider
        if runner.iter in self.iters:
            provider._record.performance = torch.tensor(float('nan'))


class PolicyProbe(Hook):
    """The policy after every iteration (priority LOW: after the agent's
    update)."""

    priority = 'LOW'

    def __init__(self):
        self.policies = []

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        policy = runner.model.temperature_provider.policy
        self.policies.append(copy.deepcopy(policy.state_dict()))


def test_nan_reward_skips_the_update_and_is_counted(tmp_path):
    runner = tiny_runner(RLKD, tmp_path, epochs=1)
    probe = PolicyProbe()
    runner.register_hook(NaNPerformance(iters={1}))
    runner.register_hook(probe)
    runner.train()
    hub = runner.message_hub
    # Episodes 0, 1, 2 are closed at iterations 1, 2, 3; the NaN
    # performance of iteration 1 makes rewards 0 and 1 NaN.
    skipped = hub.get_scalar('train/rl/skipped').data[0].tolist()
    assert skipped == [1.0, 1.0, 0.0]
    counts = hub.get_scalar('train/rl/skipped_updates').data[0].tolist()
    assert counts == [1.0, 2.0, 2.0]
    assert len(hub.get_scalar('train/rl/reward').data[0]) == 1
    assert_identical(probe.policies[0], probe.policies[1], 'skipped 1')
    assert_identical(probe.policies[1], probe.policies[2], 'skipped 2')
    assert any(not torch.equal(value, probe.policies[3][key])
               for key, value in probe.policies[2].items())
    for name, param in runner.model.student.named_parameters():
        assert torch.isfinite(param).all(), name
    saved = torch.load(
        osp.join(tmp_path, 'epoch_1.pth'), weights_only=False)['rlkd_agent']
    assert saved['skipped_updates'] == 2


@pytest.mark.parametrize('t_min,t_max', [(5.0, 5.0), (6.0, 5.0), (-1.0, 10.0)])
def test_bad_temperature_range_fails_when_the_model_is_built(t_min, t_max):
    with pytest.raises(ValueError, match='t_min'):
        rlkd_model(t_min=t_min, t_max=t_max)


def test_fp16_autocast_gives_float32_temperatures_losses_and_states():
    """--amp on a GPU runs the networks in float16; CPU autocast does too."""
    torch.manual_seed(0)
    model = rlkd_model()
    provider = model.temperature_provider
    dtypes = {}
    model.student.head.fc.register_forward_hook(
        lambda m, i, o: dtypes.__setitem__('logits', o.dtype))
    provider.register_forward_hook(
        lambda m, i, o: dtypes.__setitem__('temperature', o.student.dtype))
    samples = digit_pairs(16)
    for step in range(2):
        with torch.autocast('cpu', dtype=torch.float16):
            losses = losses_of(model, samples[8 * step:8 * step + 8])
        assert dtypes == dict(logits=torch.float16, temperature=torch.float32)
        assert provider._record.episode.states.dtype == torch.float32
        for key in ('distill.loss_kd', 'distill.temperature_mean'):
            assert losses[key].dtype == torch.float32, key
            assert torch.isfinite(losses[key]), key
        diagnostics = provider.finish_iteration()
    assert diagnostics['skipped'] == 0.0
    assert math.isfinite(diagnostics['policy_loss'])
