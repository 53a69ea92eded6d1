"""RLKDAgent: PPO learns from the calibrated rewards on the states the
policy acted on; reward statistics; checkpoints; identical updates on two
processes (see test_agents_in_lockstep.py)."""
import copy
import math

import pytest
import torch

from mmrlkd.agents import (PPOUpdater, RewardCorrector, RLKDAgent,
                           StateUpdater, TemperaturePolicy)

EPISODE = 16


def make_agent(calibration=True, state_update=True, seed=0):
    torch.manual_seed(seed)
    policy = TemperaturePolicy(hidden_dim=32)
    return RLKDAgent(policy, PPOUpdater(policy),
                     RewardCorrector(3, epochs=2) if calibration else None,
                     StateUpdater(3) if state_update else None)


def rollout(agent, seed=0, num=EPISODE):
    states = torch.rand(num, 3, generator=torch.Generator().manual_seed(seed))
    out = agent.act(states)
    return dict(
        states=states,
        policy_states=out['policy_states'],
        actions=out['action'],
        log_probs=out['log_prob'],
        values=out['value'])


def params(agent):
    return [
        p.detach().clone() for net in agent.networks()
        for p in net.parameters()
    ]


def assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


def test_policy_acts_on_the_updated_states():
    agent = make_agent()
    torch.nn.init.normal_(agent.state_updater.network.mask[-1].weight)
    states = torch.rand(EPISODE, 3)
    out = agent.act(states, deterministic=True)
    masks = agent.state_updater.network.masks(states)
    torch.testing.assert_close(out['policy_states'], masks * states)
    expected = agent.policy.act(masks * states, deterministic=True)
    torch.testing.assert_close(out['temperature'], expected['temperature'])
    raw = make_agent(state_update=False).act(states)
    assert torch.equal(raw['policy_states'], states)


def test_ppo_learns_from_the_calibrated_rewards_on_the_acted_states():
    """Replay learn() by hand on a twin: reward statistics, corrector step,
    redistribution, state-updater step, then PPO on the policy's states
    with rewards that sum to the batch reward."""
    agent = make_agent()
    for seed in range(3):  # some history for the statistics and the replay
        agent.learn(rollout(agent, seed), 0.1 * seed - 0.05)
    episode = rollout(agent, seed=7)
    reward = torch.tensor(0.3)
    twin = copy.deepcopy(agent)

    torch.manual_seed(11)
    diagnostics = agent.learn(episode, reward)

    torch.manual_seed(11)
    mean, std = twin._reward_statistics(reward)
    normalised = (reward - mean) / std
    temps = torch.sigmoid(episode['actions'])
    twin.reward_corrector.update(episode['states'], temps, normalised)
    credit = twin.reward_corrector.redistribute(episode['states'], temps,
                                                normalised)
    rewards = credit * std + mean / EPISODE
    assert rewards.sum().item() == pytest.approx(0.3, abs=1e-6)
    assert rewards.std() > 0  # not the even split
    twin.state_updater.update(episode['states'], temps,
                              credit * math.sqrt(EPISODE))
    twin.updater.update(episode['policy_states'], episode['actions'],
                        episode['log_probs'], episode['values'], rewards)
    assert_same(params(agent), params(twin))
    assert diagnostics['calibrated_reward_std'] == pytest.approx(
        rewards.std().item(), rel=1e-5)
    for key in ('corrector_loss', 'state_updater_loss', 'state_updater_mse',
                'mask_mean', 'reward_std', 'policy_loss'):
        assert math.isfinite(diagnostics[key]), key


def test_without_calibration_ppo_gets_the_delayed_reward():
    agent = make_agent(calibration=False, state_update=False)
    episode = rollout(agent)
    twin = copy.deepcopy(agent)
    diagnostics = agent.learn(episode, 0.3)
    delayed = torch.zeros(EPISODE)
    delayed[-1] = 0.3
    twin.updater.update(episode['states'], episode['actions'],
                        episode['log_probs'], episode['values'], delayed)
    assert_same(params(agent), params(twin))
    for key in ('corrector_loss', 'calibrated_reward_std', 'mask_mean'):
        assert math.isnan(diagnostics[key])


def test_a_long_episode_is_learnt_from_a_random_ordered_subset():
    agent = make_agent(calibration=False, state_update=False)
    agent.max_episode_length = 5
    episode = rollout(agent)
    twin = copy.deepcopy(agent)  # the same generator state
    agent.learn(episode, 0.3)
    keep = torch.randperm(EPISODE, generator=twin.generator)[:5].sort().values
    delayed = torch.zeros(5)
    delayed[-1] = 0.3
    twin.updater.update(episode['policy_states'][keep],
                        episode['actions'][keep], episode['log_probs'][keep],
                        episode['values'][keep], delayed)
    assert_same(params(agent), params(twin))


def test_a_short_episode_is_learnt_whole():
    agent = make_agent()
    episode = rollout(agent)
    twin = copy.deepcopy(agent)
    twin.max_episode_length = EPISODE
    agent.learn(episode, 0.3)
    twin.learn(episode, 0.3)
    assert_same(params(agent), params(twin))


@pytest.mark.parametrize('length', [0, 2.5, -1])
def test_max_episode_length_must_be_a_positive_int(length):
    policy = TemperaturePolicy(hidden_dim=8)
    with pytest.raises(ValueError, match='max_episode_length'):
        RLKDAgent(policy, PPOUpdater(policy), max_episode_length=length)


def test_reward_statistics_are_debiased_emas():
    agent = make_agent(calibration=False, state_update=False)
    agent.reward_momentum = 0.9
    rewards = [0.5, -0.2, 0.1, 0.4]
    for k, reward in enumerate(rewards, start=1):
        mean, std = agent._reward_statistics(torch.tensor(reward))
        weights = [0.1 * 0.9**(k - i) for i in range(1, k + 1)]
        norm = 1 - 0.9**k
        expected_mean = sum(w * r for w, r in zip(weights, rewards)) / norm
        expected_sq = sum(w * r * r for w, r in zip(weights, rewards)) / norm
        assert mean.item() == pytest.approx(expected_mean, rel=1e-5)
        assert std.item() == pytest.approx(
            math.sqrt(max(expected_sq - expected_mean**2, 0)) + 1e-8,
            rel=1e-4,
            abs=1e-6)


@pytest.mark.parametrize('field', ['states', 'policy_states', 'values'])
def test_non_finite_episode_or_reward_trains_nothing(field):
    agent = make_agent()
    episode = rollout(agent)
    episode[field] = episode[field].clone()
    episode[field].view(-1)[0] = float('nan')
    before = params(agent)
    diagnostics = agent.learn(episode, 0.1)
    assert diagnostics['skipped'] == 1.0
    assert math.isnan(diagnostics['corrector_loss'])
    assert_same(before, params(agent))
    assert not agent.reward_corrector.replay
    diagnostics = agent.learn(rollout(agent), float('inf'))
    assert diagnostics['skipped'] == 1.0
    assert_same(before, params(agent))


def test_state_dict_round_trip_continues_identically():
    agent = make_agent()
    for seed in range(3):
        agent.learn(rollout(agent, seed), 0.2 * seed)
    episode = rollout(agent, seed=5)
    twin = make_agent(seed=1)
    assert twin.load_state_dict(copy.deepcopy(agent.state_dict())) == []
    assert len(twin.reward_corrector.replay) == 3
    # The agent's own generator comes back too: same draws, same steps,
    # whatever the global generator does.
    torch.manual_seed(3)
    agent.learn(episode, 0.5)
    torch.manual_seed(4)
    twin.learn(episode, 0.5)
    assert_same(params(agent), params(twin))


def test_loading_a_state_saved_without_the_parts_reports_them():
    saved = make_agent(calibration=False, state_update=False).state_dict()
    assert make_agent().load_state_dict(saved) == [
        'reward_corrector', 'state_updater'
    ]
