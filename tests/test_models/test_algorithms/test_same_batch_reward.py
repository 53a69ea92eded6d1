"""RLKD's same-batch reward: the student's gain on its own batch.

``RLKDTemperature(reward='same_batch')`` rewards iteration t's temperatures
with ``perf(batch t, after step t) - perf(batch t, before it)``; the
algorithm re-runs the student on the kept batch. References: a copy of the
stepped student run on the same inputs, labels from the data samples.
"""
import copy
import os.path as osp
from contextlib import nullcontext

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import MODELS, DefaultScope

from mmrlkd.datasets import DigitPairs
from mmrlkd.models import RLKDTemperature

ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
RLKD = osp.join(ROOT,
                'configs/digitpairs/rlkd_resnet56_resnet8w4_digitpairs.py')


def build(**provider_options):
    cfg = Config.fromfile(RLKD)
    model = copy.deepcopy(cfg.model)
    model.teacher.backbone.depth = 8
    model.teacher_ckpt = None
    model.data_preprocessor = cfg.data_preprocessor
    model.distiller.temperature_provider.update(
        reward='same_batch', **provider_options)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(model)
    model.train()
    model.temperature_provider.acting = True
    return model


@pytest.fixture(scope='module')
def data():
    dataset = DigitPairs(
        split='train', num_samples=16, pipeline=[dict(type='PackInputs')])
    return pseudo_collate([dataset[i] for i in range(16)])


def train_step(model, data, precision=None):
    """One training step: forward, backward, SGD; returns the batch."""
    batch = model.data_preprocessor(data, True)
    with precision or nullcontext():
        losses = model(**batch, mode='loss')
    loss = sum(v.float() for k, v in losses.items() if 'loss' in k)
    optimizer = torch.optim.SGD(model.student.parameters(), lr=0.5)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return batch


def labels_of(batch):
    return torch.cat([s.gt_label for s in batch['data_samples']])


def reference_logits(model, batch, precision=None):
    """The stepped student on the same inputs, in training mode; its
    buffers are put back by hand so the method under test starts equal."""
    student = model.student
    saved = [b.clone() for b in student.buffers()]
    with torch.no_grad(), precision or nullcontext():
        logits = student(batch['inputs'], mode='tensor').float()
    for buffer, value in zip(student.buffers(), saved):
        buffer.copy_(value)
    return logits


@pytest.mark.parametrize('performance', ['neg_ce', 'accuracy'])
def test_performance_after_step_is_the_gain_on_the_same_instances(
        data, performance):
    model = build(performance=performance)
    batch = train_step(model, data)
    logits = reference_logits(model, batch)
    labels = labels_of(batch)
    expected = -F.cross_entropy(logits, labels) if performance == 'neg_ce' \
        else (logits.argmax(1) == labels).float().mean()
    buffers = [b.clone() for b in model.student.buffers()]
    after = model.performance_after_step()
    torch.testing.assert_close(after, expected)
    # BN's running statistics are those of the training step alone.
    for saved, buffer in zip(buffers, model.student.buffers()):
        assert torch.equal(saved, buffer)
    # The kept batch is released: a second call has nothing to measure.
    assert model.performance_after_step() is None


@pytest.mark.parametrize('device, dtype', [
    ('cpu', torch.bfloat16),
    pytest.param(
        'cuda',
        torch.float16,
        marks=[
            pytest.mark.cuda,
            pytest.mark.skipif(
                not torch.cuda.is_available(), reason='needs CUDA')
        ]),
])
def test_the_rerun_uses_the_training_steps_autocast(data, device, dtype):
    """Trained under autocast, re-measured in it too (outside any autocast
    here, as in the hook): a precision change must not pass for a gain."""
    model = build(performance='neg_ce').to(device)
    batch = train_step(model, data, torch.autocast(device, dtype))
    logits = reference_logits(model, batch, torch.autocast(device, dtype))
    expected = -F.cross_entropy(logits, labels_of(batch).to(device))
    torch.testing.assert_close(model.performance_after_step(), expected)


def test_the_step_changes_the_measured_performance(data):
    """Before and after differ: the re-run sees the stepped weights."""
    model = build(performance='neg_ce')
    train_step(model, data)
    before = model.temperature_provider.last_performance
    after = model.performance_after_step()
    assert not torch.allclose(before, after)


def test_only_the_instances_the_provider_saw_count(data):
    model = build(performance='neg_ce')
    rows = [2, 3, 9]

    def poison(module, inputs, output):
        output = output.clone()
        output[rows] = float('nan')
        return output

    model.teacher.head.fc.register_forward_hook(poison, prepend=True)
    batch = train_step(model, data)
    keep = torch.ones(16, dtype=torch.bool)
    keep[rows] = False
    logits = reference_logits(model, batch)[keep]
    expected = -F.cross_entropy(logits, labels_of(batch)[keep])
    torch.testing.assert_close(model.performance_after_step(), expected)


def test_no_batch_is_kept_while_the_agent_does_not_act(data):
    model = build()
    model.temperature_provider.acting = False
    train_step(model, data)
    assert model.performance_after_step() is None


def test_an_unknown_reward_is_refused():
    with pytest.raises(ValueError, match='reward must be one of'):
        RLKDTemperature(reward='next_epoch')


def acted_provider(reward):
    torch.manual_seed(0)
    provider = RLKDTemperature(reward=reward)
    provider.train()
    provider.acting = True
    preds_S, preds_T = torch.randn(2, 12, 5).unbind()
    provider(preds_S, preds_T, torch.randint(0, 5, (12, )))
    return provider


def spy_on_learn(provider):
    calls = []

    def learn(episode, reward):
        calls.append((episode, reward))
        return {}

    provider.agent.learn = learn
    return calls


def test_same_batch_rewards_this_iterations_episode_at_once():
    provider = acted_provider('same_batch')
    episode_acted = provider._record.episode
    before = provider.last_performance
    calls = spy_on_learn(provider)
    diagnostics = provider.finish_iteration(
        reward_scale=0.5,
        performance_after_step=lambda: before + 0.2)
    assert len(calls) == 1
    episode, reward = calls[0]
    assert episode is episode_acted
    torch.testing.assert_close(reward, torch.tensor(0.1))
    torch.testing.assert_close(diagnostics['reward'], torch.tensor(0.1))
    # Nothing waits for a later batch, so nothing is saved as pending.
    assert provider.reward.pending is None
    assert provider.agent_state_dict().get('pending_performance') is None


def test_next_batch_rewards_the_episode_one_iteration_later():
    """The paper's reward, for contrast: the first call only queues."""
    provider = acted_provider('next_batch')
    calls = spy_on_learn(provider)
    assert provider.finish_iteration() == {}
    assert not calls and len(provider.reward.pending.episode) == 12


@pytest.mark.parametrize('acting', [True, False])
def test_same_batch_without_a_measured_change_learns_nothing(acting):
    """Acting, but the re-run measured nothing; or not acting, and the
    student is not re-run at all."""
    provider = acted_provider('same_batch')
    provider.acting = acting
    calls = spy_on_learn(provider)
    reruns = []

    def rerun():
        reruns.append(1)
        return None

    assert provider.finish_iteration(performance_after_step=rerun) == {}
    assert not calls and provider.reward.pending is None
    assert len(reruns) == (1 if acting else 0)


def test_a_frozen_same_batch_agent_never_reruns_the_student():
    provider = acted_provider('same_batch')
    reruns = []
    assert provider.finish_iteration(
        learn=False, performance_after_step=lambda: reruns.append(1)) == {}
    assert not reruns
