"""RLKDAgent: PPO learns from the calibrated rewards on the states the
policy acted on; reward statistics; checkpoints; identical updates on two
processes (see test_agents_in_lockstep.py)."""
import copy
import math

import pytest
import torch

from mmrlkd.agents import (Episode, PPOUpdater, RewardCorrector, RLKDAgent,
                           StateUpdater, TemperaturePolicy)
from mmrlkd.agents.agent import RewardScale

EPISODE = 16


def make_agent(calibration=True, state_update=True, seed=0):
    torch.manual_seed(seed)
    policy = TemperaturePolicy(hidden_dim=32)
    return RLKDAgent(policy, PPOUpdater(policy),
                     RewardCorrector(3, epochs=2) if calibration else None,
                     StateUpdater(3) if state_update else None)


def rollout(agent, seed=0, num=EPISODE):
    states = torch.rand(num, 3, generator=torch.Generator().manual_seed(seed))
    return agent.act(states)[1]


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
    temperatures, episode = agent.act(states, deterministic=True)
    masks = agent.state_updater.network.masks(states)
    torch.testing.assert_close(episode.policy_states, masks * states)
    assert torch.equal(episode.states, states)
    expected = agent.policy.act(masks * states, deterministic=True)
    torch.testing.assert_close(temperatures, expected['temperatures'])
    torch.testing.assert_close(episode.actions, expected['actions'])
    raw = make_agent(state_update=False).act(states)[1]
    assert torch.equal(raw.policy_states, states)


def spy_on_ppo(agent):
    """Record what PPO is given (the agent's output to its PPO step)."""
    calls = []
    update = agent.updater.train

    def recording(*args):
        # The episode's steps, without the padding (the last argument,
        # ``valid``, marks them).
        steps = args[-1].bool()
        calls.append([a.detach()[steps].clone() for a in args[:-1]])
        return update(*args)

    agent.updater.train = recording
    return calls


def test_ppo_learns_calibrated_rewards_that_sum_to_the_batch_reward():
    """PPO gets one reward per instance, spread by the corrector (not an
    even split), summing to the batch reward, on the acted states."""
    agent = make_agent()
    for seed in range(3):  # some history for the statistics and the replay
        agent.learn(rollout(agent, seed), 0.1 * seed - 0.05)
    calls = spy_on_ppo(agent)
    episode = rollout(agent, seed=7)
    diagnostics = agent.learn(episode, torch.tensor(0.3))
    (states, actions, log_probs, values, rewards), = calls
    assert torch.equal(states, episode.policy_states)
    assert torch.equal(actions, episode.actions)
    assert rewards.sum().item() == pytest.approx(0.3, abs=1e-6)
    assert rewards.std() > 0
    assert diagnostics['calibrated_reward_std'] == pytest.approx(
        rewards.std().item(), rel=1e-5)
    assert float(agent.reward_corrector.replay[-1][2]) == pytest.approx(
        float(diagnostics['corrector_target']))
    for key in ('corrector_loss', 'state_updater_loss', 'state_updater_mse',
                'mask_mean', 'reward_std', 'policy_loss'):
        assert math.isfinite(diagnostics[key]), key


def test_without_calibration_ppo_gets_the_delayed_reward():
    agent = make_agent(calibration=False, state_update=False)
    episode = rollout(agent)
    calls = spy_on_ppo(agent)
    diagnostics = agent.learn(episode, 0.3)
    delayed = torch.zeros(EPISODE)
    delayed[-1] = 0.3
    assert torch.equal(calls[0][4], delayed)
    for key in ('corrector_loss', 'calibrated_reward_std', 'mask_mean'):
        assert math.isnan(diagnostics[key])


def test_a_long_episode_is_learnt_from_a_random_ordered_subset():
    agent = make_agent(calibration=False, state_update=False)
    agent.max_episode_length = 5
    episode = rollout(agent)
    calls = spy_on_ppo(agent)
    agent.learn(episode, 0.3)
    states, actions = calls[0][:2]
    assert actions.shape == (5, )
    # Rows of the episode, in the episode's order.
    rows = [int((episode.actions == a).nonzero()) for a in actions]
    assert rows == sorted(rows) and len(set(rows)) == 5
    assert torch.equal(states, episode.policy_states[rows])


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


def test_reward_scale_standardises_with_debiased_emas():
    scale = RewardScale(momentum=0.9)
    rewards = [0.5, -0.2, 0.1, 0.4]
    for k, reward in enumerate(rewards, start=1):
        standardised, got_mean, got_std = scale.standardise(
            torch.tensor(reward))
        weights = [0.1 * 0.9**(k - i) for i in range(1, k + 1)]
        norm = 1 - 0.9**k
        mean = sum(w * r for w, r in zip(weights, rewards)) / norm
        mean_sq = sum(w * r * r for w, r in zip(weights, rewards)) / norm
        std = math.sqrt(max(mean_sq - mean**2, 0)) + 1e-8
        assert got_mean.item() == pytest.approx(mean, rel=1e-5)
        assert got_std.item() == pytest.approx(std, rel=1e-4, abs=1e-6)
        assert standardised.item() == pytest.approx(
            (reward - mean) / std, rel=1e-4, abs=1e-4)


@pytest.mark.parametrize('field', ['states', 'policy_states', 'values'])
def test_non_finite_episode_or_reward_trains_nothing(field):
    agent = make_agent()
    episode = rollout(agent)
    broken = getattr(episode, field).clone()
    broken.view(-1)[0] = float('nan')
    setattr(episode, field, broken)
    before = params(agent)
    diagnostics = agent.learn(episode, 0.1)
    assert diagnostics['skipped'] == 1.0
    assert math.isnan(diagnostics['corrector_loss'])
    assert_same(before, params(agent))
    assert not agent.reward_corrector.replay
    diagnostics = agent.learn(rollout(agent), float('inf'))
    assert diagnostics['skipped'] == 1.0
    assert diagnostics['skipped_updates'] == 2.0
    assert_same(before, params(agent))
    empty = agent.learn(Episode.empty(3), 0.1)
    assert empty['skipped'] == 1.0


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


def test_a_rollout_of_episodes_is_learnt_together_none_dropped():
    """rollout_episodes=2: the first episode waits, the second brings one
    update on both, each episode's rewards summing to its own reward."""
    agent = make_agent()
    agent.rollout_episodes = 2
    calls = spy_on_ppo(agent)
    first, second = rollout(agent, 1, num=12), rollout(agent, 2)
    before = params(agent)
    waiting = agent.learn(first, 0.3)
    assert not calls and 'policy_loss' not in waiting
    assert_same(before, params(agent))
    diagnostics = agent.learn(second, -0.1)
    assert float(diagnostics['skipped']) == 0
    (states, actions, _, _, rewards), = calls
    assert torch.equal(actions, torch.cat([first.actions, second.actions]))
    assert torch.equal(states,
                       torch.cat([first.policy_states, second.policy_states]))
    assert rewards[:12].sum().item() == pytest.approx(0.3, abs=1e-6)
    assert rewards[12:].sum().item() == pytest.approx(-0.1, abs=1e-6)
    assert agent.updater.num_updates == 1 and not agent.rollout


def test_a_half_full_rollout_survives_a_checkpoint():
    agent = make_agent()
    agent.rollout_episodes = 2
    agent.learn(rollout(agent, 0), 0.2)
    twin = make_agent(seed=1)
    twin.rollout_episodes = 2
    assert twin.load_state_dict(copy.deepcopy(agent.state_dict())) == []
    assert len(twin.rollout) == 1
    episode = rollout(agent, seed=5)
    agent.learn(episode, 0.5)
    twin.learn(episode, 0.5)
    assert_same(params(agent), params(twin))


@pytest.mark.parametrize('episodes', [0, 1.5])
def test_rollout_episodes_must_be_a_positive_int(episodes):
    policy = TemperaturePolicy(hidden_dim=8)
    with pytest.raises(ValueError, match='rollout_episodes'):
        RLKDAgent(policy, PPOUpdater(policy), rollout_episodes=episodes)
