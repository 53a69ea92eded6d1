"""The agent learns a state-dependent temperature from per-instance rewards.

A contextual bandit: states are uniform in [0, 1]^3, the best temperature is
T*(s) = 2 + 6 * s_0, and each instance is rewarded with -(T - T*)^2. With
gamma = 0 every instance's advantage is its own reward minus its value, so
the only thing to learn is the map from state to temperature. The initial
policy (T about 5 everywhere) is off by about 1.5 on average.

With only a batch reward (the mean quality of 64 instances), the agent as
RLKDTemperature builds it by default (reward calibration, state updater,
the paper's PPO settings) must still learn it, on a best temperature it
was never tuned on, and must stay no worse than a frozen agent when the
batch reward is mostly noise.
"""
import pytest
import torch

from mmrlkd.agents import (PPOUpdater, RewardCorrector, RLKDAgent,
                           StateUpdater, TemperaturePolicy)

MAX_UPDATES = 300
EPISODE = 256


def mean_error(policy, states):
    temperature = policy.act(states, deterministic=True)['temperatures']
    return (temperature - (2 + 6 * states[:, 0])).abs().mean().item()


def test_agent_learns_a_state_dependent_temperature():
    torch.manual_seed(0)
    policy = TemperaturePolicy()
    updater = PPOUpdater(policy, gamma=0.0)  # default learning rates
    fresh = torch.rand(4096, 3, generator=torch.Generator().manual_seed(1))
    errors = [mean_error(policy, fresh)]
    assert errors[0] > 1.0
    below_one = None
    while len(errors) <= MAX_UPDATES and errors[-1] >= 0.5:
        states = torch.rand(EPISODE, 3)
        out = policy.act(states)
        rewards = -(out['temperatures'] - (2 + 6 * states[:, 0]))**2
        diagnostics = updater.update(states, out['actions'],
                                     out['log_probs'], out['values'], rewards)
        assert diagnostics['skipped'] == 0.0
        errors.append(mean_error(policy, fresh))
        if below_one is None and errors[-1] < 1.0:
            below_one = len(errors) - 1
    print(f'mean |T - T*|: {errors[0]:.3f} at start, < 1.0 after '
          f'{below_one} updates, {errors[-1]:.3f} after {len(errors) - 1}')
    assert below_one is not None and below_one <= MAX_UPDATES
    assert errors[-1] < 0.5


BATCH = 64
#: Measured on seeds 0 and 1 (notes/agent_learning.md): from 1.18 / 1.47 to
#: 0.43 / 0.70 after 1,000 episodes and 0.33 / 0.33 after 1,500 without
#: noise; with noise 3, 1.08 / 1.12 after 1,500.
LEARNING_EPISODES = 1000
LEARNT_BELOW = 0.5
BATCH_EPISODES = 1500
NOISE = 3.0
NOISY_MARGIN = 0.1


def best_temperature(states):
    """Not the instance-reward test's T*: high for low s_2, low for high."""
    return 7 - 5 * states[:, 2]


def error_after_batch_rewards(episodes, noise=0.0, learn=True, seed=0):
    """Mean |T - T*| of the default agent after ``episodes`` batch rewards
    ``mean(-(T - T*)^2) + noise * N(0, 1)``. A narrower policy keeps the
    test fast."""
    torch.manual_seed(seed)
    policy = TemperaturePolicy(hidden_dim=32)
    agent = RLKDAgent(policy, PPOUpdater(policy), RewardCorrector(3),
                      StateUpdater(3), seed=seed)
    fresh = torch.rand(4096, 3, generator=torch.Generator().manual_seed(1))
    rng = torch.Generator().manual_seed(seed + 100)
    for _ in range(episodes):
        states = torch.rand(BATCH, 3, generator=rng)
        temperatures, episode = agent.act(states)
        quality = -(temperatures - best_temperature(states))**2
        reward = quality.mean() + noise * torch.randn((), generator=rng)
        if learn:
            assert agent.learn(episode, reward)['skipped'] == 0.0
    temperatures, _ = agent.act(fresh, deterministic=True)
    return (temperatures - best_temperature(fresh)).abs().mean().item()


@pytest.mark.slow
def test_default_agent_learns_from_the_batch_reward_alone():
    frozen = error_after_batch_rewards(LEARNING_EPISODES, learn=False)
    learnt = error_after_batch_rewards(LEARNING_EPISODES)
    print(f'mean |T - T*| after {LEARNING_EPISODES} batch rewards: '
          f'{learnt:.3f} (frozen {frozen:.3f})')
    assert learnt < LEARNT_BELOW * frozen


@pytest.mark.slow
def test_default_agent_is_no_worse_than_frozen_under_noise():
    """A noise std of 3 per batch reward (the frozen policy's mean reward
    is about -4.6): the agent must not end worse than where it started.
    (Much heavier noise, std 60, is a known limit: the constant-rate
    agent drifts; see docs/en/notes/agent_learning.md.)"""
    frozen = error_after_batch_rewards(BATCH_EPISODES, learn=False)
    noisy = error_after_batch_rewards(BATCH_EPISODES, noise=NOISE)
    print(f'mean |T - T*| under noise: {noisy:.3f} (frozen {frozen:.3f})')
    assert noisy < frozen + NOISY_MARGIN
