"""The agent learns a state-dependent temperature from per-instance rewards.

A contextual bandit: states are uniform in [0, 1]^3, the best temperature is
T*(s) = 2 + 6 * s_0, and each instance is rewarded with -(T - T*)^2. With
gamma = 0 every instance's advantage is its own reward minus its value, so
the only thing to learn is the map from state to temperature. The initial
policy (T about 5 everywhere) is off by about 1.5 on average.

With only a batch reward (the mean quality of 64 instances), PPO alone can
hardly tell which temperatures were good; instance reward calibration
splits the batch reward over the instances and makes it learnable.
"""
import torch

from mmrlkd.agents import (CALIBRATED_PPO, PPOUpdater, RewardCorrector,
                           RLKDAgent, StateUpdater, TemperaturePolicy)

MAX_UPDATES = 300
EPISODE = 256


def mean_error(policy, states):
    temperature = policy.act(states, deterministic=True)['temperature']
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
        rewards = -(out['temperature'] - (2 + 6 * states[:, 0]))**2
        diagnostics = updater.update(states, out['action'], out['log_prob'],
                                     out['value'], rewards)
        assert diagnostics['skipped'] == 0.0
        errors.append(mean_error(policy, fresh))
        if below_one is None and errors[-1] < 1.0:
            below_one = len(errors) - 1
    print(f'mean |T - T*|: {errors[0]:.3f} at start, < 1.0 after '
          f'{below_one} updates, {errors[-1]:.3f} after {len(errors) - 1}')
    assert below_one is not None and below_one <= MAX_UPDATES
    assert errors[-1] < 0.5


BATCH_BUDGET = 400
BATCH = 64


def train_on_batch_rewards(calibration, seed=0):
    """The same bandit, but each episode (batch of 64 instances) earns one
    reward: the batch's mean quality -(T - T*)^2. With calibration: the
    gated-credit bandit agent (``CALIBRATED_PPO``, ``gate_credit=True``,
    the state updater); without: the paper's gamma 0.99 and GAE lambda
    0.95. A narrower policy keeps the test fast."""
    torch.manual_seed(seed)
    policy = TemperaturePolicy(hidden_dim=64)
    ppo = CALIBRATED_PPO if calibration else {}
    agent = RLKDAgent(policy, PPOUpdater(policy, **ppo),
                      RewardCorrector(3, gate_credit=True)
                      if calibration else None,
                      StateUpdater(3) if calibration else None)
    fresh = torch.rand(4096, 3, generator=torch.Generator().manual_seed(1))
    states_rng = torch.Generator().manual_seed(seed + 100)
    for _ in range(BATCH_BUDGET):
        states = torch.rand(BATCH, 3, generator=states_rng)
        out = agent.act(states)
        quality = -(out['temperature'] - (2 + 6 * states[:, 0]))**2
        episode = dict(
            states=states,
            policy_states=out['policy_states'],
            actions=out['action'],
            log_probs=out['log_prob'],
            values=out['value'])
        diagnostics = agent.learn(episode, quality.mean())
        assert diagnostics['skipped'] == 0.0
    temperature = agent.act(fresh, deterministic=True)['temperature']
    return (temperature - (2 + 6 * fresh[:, 0])).abs().mean().item()


def test_calibration_learns_from_the_batch_reward_alone():
    with_calibration = train_on_batch_rewards(calibration=True)
    without = train_on_batch_rewards(calibration=False)
    print(f'mean |T - T*| after {BATCH_BUDGET} batch rewards: '
          f'{with_calibration:.3f} with calibration, {without:.3f} without')
    # Measured: 0.31 / 0.32 / 0.35 with calibration in seeds 0 / 1 / 2
    # (1.17 / 1.49 / 1.34 before issue 17's bandit PPO and credit gate),
    # 1.46-1.52 without; the initial policy is off by about 1.5.
    assert with_calibration < 0.6
    assert with_calibration < without - 0.5
