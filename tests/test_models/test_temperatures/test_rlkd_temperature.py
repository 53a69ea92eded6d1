import pytest
import torch

from mmrlkd.models import FixedTemperature, RLKDTemperature


def batch(num=8, classes=5, correct=4, seed=0):
    """Logits whose argmax is right for the first `correct` instances."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (num, ), generator=g)
    student = torch.randn(num, classes, generator=g)
    student[torch.arange(num), labels] = -10.0
    student[torch.arange(correct), labels[:correct]] = 10.0
    teacher = torch.randn(num, classes, generator=g)
    return student, teacher, labels


def policy_params(provider):
    return [p.detach().clone() for p in provider.policy.parameters()]


def test_fixed_temperature():
    out = FixedTemperature(2.5)(*batch())
    assert out.teacher.item() == out.student.item() == 2.5
    with pytest.raises(ValueError):
        FixedTemperature(0)


def test_warmup_temperature_until_the_agent_acts():
    provider = RLKDTemperature(warmup_temperature=3.0)
    out = provider(*batch(correct=2))
    assert out.student.item() == 3.0
    assert provider.last_performance.item() == pytest.approx(0.25)


def test_acting_gives_one_temperature_per_instance_in_range():
    provider = RLKDTemperature(t_min=1.0, t_max=6.0)
    provider.acting = True
    out = provider(*batch(num=64))
    assert out.student.shape == (64, )
    assert torch.equal(out.student, out.teacher)
    assert (out.student > 1.0).all() and (out.student < 6.0).all()
    assert out.student.std() > 0  # sampled, not all the same


def test_evaluation_mode_is_deterministic_and_records_nothing():
    provider = RLKDTemperature().eval()
    provider.acting = True
    first = provider(*batch()).student
    second = provider(*batch()).student
    assert torch.equal(first, second)
    assert provider.finish_iteration() == {}
    assert len(provider._pending) == 0


def test_reward_is_the_next_batch_gain_times_the_scale():
    provider = RLKDTemperature()
    provider.acting = True
    provider(*batch(correct=2))  # t: accuracy 0.25
    before = policy_params(provider)
    assert provider.finish_iteration(reward_scale=0.5) == {}
    assert len(provider._pending) == 8
    provider(*batch(correct=6, seed=1))  # t+1: accuracy 0.75
    diagnostics = provider.finish_iteration(reward_scale=0.5)
    assert diagnostics['reward'] == pytest.approx(0.5 * (0.75 - 0.25))
    assert diagnostics['skipped'] == 0.0
    after = policy_params(provider)
    assert any(not torch.equal(a, b) for a, b in zip(before, after))
    # The new episode waits for its own reward.
    assert len(provider._pending) == 8


def test_update_false_drops_the_episode_without_training():
    provider = RLKDTemperature()
    provider.acting = True
    provider(*batch())
    provider.finish_iteration()
    before = policy_params(provider)
    provider(*batch(seed=1))
    diagnostics = provider.finish_iteration(update=False)
    assert set(diagnostics) == {'reward'}
    assert all(
        torch.equal(a, b) for a, b in zip(before, policy_params(provider)))


def test_agent_is_invisible_to_the_module_tree():
    provider = RLKDTemperature()
    assert list(provider.parameters()) == []
    assert provider.state_dict() == {}
    provider.double()
    assert all(p.dtype == torch.float64 for p in provider.policy.parameters())


def test_agent_state_round_trip():
    provider = RLKDTemperature()
    provider.acting = True
    provider(*batch())
    provider.finish_iteration()
    provider(*batch(seed=1))
    provider.finish_iteration()
    restored = RLKDTemperature()
    restored.load_agent_state_dict(provider.agent_state_dict())
    for a, b in zip(provider.policy.state_dict().values(),
                    restored.policy.state_dict().values()):
        assert torch.equal(a, b)
    assert restored.acting
    for key, value in provider._pending.get().items():
        assert torch.equal(value, restored._pending.get()[key])
    assert restored.updater.actor_optimizer.state_dict()['state']


def test_labels_are_required():
    with pytest.raises(ValueError, match='gt_labels'):
        RLKDTemperature()(*batch()[:2])


@pytest.mark.parametrize('kwargs', [
    dict(warmup_temperature=0),
    dict(performance='f1'),
    dict(t_min=5, t_max=2)
])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        RLKDTemperature(**kwargs)
