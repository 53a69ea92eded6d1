import copy
import math

import pytest
import torch

from mmrlkd.models import FixedTemperature, RLKDTemperature


@pytest.fixture(autouse=True)
def single_thread():
    """The agent's small networks only lose from a second thread on a busy
    machine (see tests/test_agents/conftest.py)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def batch(num=8, classes=5, correct=4, seed=0):
    """Logits whose argmax is right for the first `correct` instances."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (num, ), generator=g)
    student = torch.randn(num, classes, generator=g)
    student[torch.arange(num), labels] = -10.0
    student[torch.arange(correct), labels[:correct]] = 10.0
    teacher = torch.randn(num, classes, generator=g)
    return student, teacher, labels


def pending_size(provider):
    """Instances of the episode waiting for the next batch's reward."""
    pending = provider.reward.pending
    return 0 if pending is None or pending.episode is None else len(
        pending.episode)


def policy_params(provider):
    return [p.detach().clone() for p in provider.policy.parameters()]


def agent_params(provider):
    return [
        p.detach().clone() for net in provider.agent.networks()
        for p in net.parameters()
    ]


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
    assert pending_size(provider) == 0


def test_reward_is_the_next_batch_gain_times_the_scale():
    provider = RLKDTemperature()
    provider.acting = True
    provider(*batch(correct=2))  # t: accuracy 0.25
    before = policy_params(provider)
    assert provider.finish_iteration(reward_scale=0.5) == {}
    assert pending_size(provider) == 8
    provider(*batch(correct=6, seed=1))  # t+1: accuracy 0.75
    diagnostics = provider.finish_iteration(reward_scale=0.5)
    assert diagnostics['reward'] == pytest.approx(0.5 * (0.75 - 0.25))
    assert diagnostics['skipped'] == 0.0
    after = policy_params(provider)
    assert any(not torch.equal(a, b) for a, b in zip(before, after))
    # The new episode waits for its own reward.
    assert pending_size(provider) == 8


def test_calibration_and_state_update_are_on_by_default():
    provider = RLKDTemperature()
    assert provider.agent.reward_corrector is not None
    assert provider.agent.state_updater is not None
    assert len(provider.agent.networks()) == 3
    provider = RLKDTemperature(
        reward_calibration=False,
        state_update=False,
        reward_corrector=dict(hidden_dim=8))
    assert provider.agent.reward_corrector is None
    assert provider.agent.state_updater is None
    provider = RLKDTemperature(
        reward_corrector=dict(hidden_dim=8, replay_size=4),
        state_updater=dict(per_feature=False))
    assert provider.agent.reward_corrector.replay_size == 4
    assert provider.agent.state_updater.network.mask[-1].out_features == 1


def test_bandit_ppo_without_calibration_is_refused():
    """Without calibration only the last instance has a reward; gamma=0
    would leave every other instance without credit."""
    with pytest.raises(ValueError, match='last instance'):
        RLKDTemperature(reward_calibration=False, ppo=dict(gamma=0.0))
    agent = RLKDTemperature(
        reward_calibration=False, ppo=dict(actor_lr=1e-5)).agent
    assert agent.reward_corrector is None


def test_policy_acts_on_and_ppo_stores_the_updated_states():
    provider = RLKDTemperature()
    torch.nn.init.normal_(provider.agent.state_updater.network.mask[-1].weight)
    provider.acting = True
    student, teacher, labels = batch(num=16)
    provider(student, teacher, labels)
    provider.finish_iteration()
    episode = provider.reward.pending.episode
    masks = provider.agent.state_updater.network.masks(episode.states)
    torch.testing.assert_close(episode.policy_states, masks * episode.states)
    assert not torch.equal(episode.policy_states, episode.states)


@pytest.mark.parametrize('calibration', [True, False])
def test_closed_episodes_train_every_part_that_is_on(calibration):
    provider = RLKDTemperature(
        reward_calibration=calibration, state_update=calibration)
    provider.acting = True
    networks = provider.agent.networks()
    before = [copy.deepcopy(net.state_dict()) for net in networks]
    # The first reward is its own running mean (standardised to 0), so the
    # corrector needs a second one to learn anything.
    for seed, correct in enumerate((2, 6, 3)):
        provider(*batch(correct=correct, seed=seed))
        diagnostics = provider.finish_iteration()
    for net, saved in zip(networks, before):
        assert any(not torch.equal(value, saved[key])
                   for key, value in net.state_dict().items())
    for key in ('corrector_loss', 'state_updater_loss', 'state_updater_mse',
                'mask_mean', 'calibrated_reward_std'):
        assert math.isfinite(diagnostics[key]) == calibration, key


def test_learn_false_rewards_the_episode_without_training():
    provider = RLKDTemperature()
    provider.acting = True
    provider(*batch())
    provider.finish_iteration()
    before = policy_params(provider)
    provider(*batch(seed=1))
    diagnostics = provider.finish_iteration(learn=False)
    assert set(diagnostics) == {'reward'}
    assert all(
        torch.equal(a, b) for a, b in zip(before, policy_params(provider)))


def test_agent_is_invisible_to_the_module_tree():
    provider = RLKDTemperature()
    assert list(provider.parameters()) == []
    assert provider.state_dict() == {}
    # The agent follows the model's device, never its precision: it
    # computes in float32 (see test_rlkd_devices.py).
    provider.double()
    for network in provider.agent.networks():
        assert all(p.dtype == torch.float32 for p in network.parameters())


def test_agent_state_round_trip():
    provider = RLKDTemperature()
    provider.acting = True
    provider(*batch())
    provider.finish_iteration()
    provider(*batch(seed=1))
    provider.finish_iteration()
    restored = RLKDTemperature()
    # A deep copy, as a checkpoint file is (Adam's state would be shared).
    saved = copy.deepcopy(provider.agent_state_dict())
    assert restored.load_agent_state_dict(saved) == []
    for a, b in zip(agent_params(provider), agent_params(restored)):
        assert torch.equal(a, b)
    assert restored.acting
    saved_episode = provider.reward.pending.episode.state_dict()
    for key, value in restored.reward.pending.episode.state_dict().items():
        assert torch.equal(value, saved_episode[key])
    assert restored.updater.optimizer.state_dict()['state']
    for part in ('reward_corrector', 'state_updater'):
        assert getattr(restored.agent, part).optimizer.state_dict()['state']
    assert len(restored.agent.reward_corrector.replay) == 1
    # The next update is the same for both.
    for p in (provider, restored):
        torch.manual_seed(0)
        p(*batch(seed=2))
        p.finish_iteration()
    for a, b in zip(agent_params(provider), agent_params(restored)):
        assert torch.equal(a, b)


def test_state_saved_without_calibration_reports_the_missing_parts():
    saved = RLKDTemperature(
        reward_calibration=False, state_update=False).agent_state_dict()
    assert RLKDTemperature().load_agent_state_dict(saved) == [
        'reward_corrector', 'state_updater'
    ]


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
