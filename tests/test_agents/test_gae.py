"""GAE against a plain double loop and closed forms."""
import random

import pytest
import torch

from mmrlkd.agents import compute_gae


def double_loop_gae(rewards, values, gamma, lam, last_value):
    """A_t = sum_l (gamma * lam)^l * delta_{t+l}, written out literally."""
    steps = len(rewards)
    next_values = values[1:] + [last_value]
    deltas = [
        rewards[t] + gamma * next_values[t] - values[t] for t in range(steps)
    ]
    return [
        sum((gamma * lam)**lag * deltas[t + lag] for lag in range(steps - t))
        for t in range(steps)
    ]


@pytest.mark.parametrize('seed', range(4))
def test_matches_a_plain_double_loop(seed):
    rng = random.Random(seed)
    steps = rng.randint(1, 40)
    gamma, lam = rng.random(), rng.random()
    last_value = rng.uniform(-2, 2)
    rewards = [rng.gauss(0, 1) for _ in range(steps)]
    values = [rng.gauss(0, 1) for _ in range(steps)]
    advantages, returns = compute_gae(
        torch.tensor(rewards, dtype=torch.float64),
        torch.tensor(values, dtype=torch.float64), gamma, lam, last_value)
    expected = double_loop_gae(rewards, values, gamma, lam, last_value)
    assert advantages.tolist() == pytest.approx(expected, abs=1e-9)
    assert returns.tolist() == pytest.approx(
        [a + v for a, v in zip(expected, values)], abs=1e-9)


@pytest.mark.parametrize('gamma', [0.0, 0.5, 0.99, 1.0])
@pytest.mark.parametrize('lam', [0.0, 0.95, 1.0])
def test_closed_form_constant_value_terminal_reward(gamma, lam):
    """Constant critic v, reward R only at the last of T steps, terminal.

    The TD errors are delta_t = 0 + gamma * v - v = (gamma - 1) v for
    t < T - 1 and delta_{T-1} = R + gamma * 0 - v = R - v. With c = gamma *
    lam and k = T - 1 - t steps to the end,

        A_t = (gamma - 1) v * sum_{l<k} c^l + c^k (R - v)
            = (gamma - 1) v * (1 - c^k) / (1 - c) + c^k (R - v),

    where the geometric sum is k when c = 1.
    """
    steps, value, reward = 7, 0.8, 3.0
    rewards = torch.zeros(steps)
    rewards[-1] = reward
    values = torch.full((steps, ), value)
    advantages, returns = compute_gae(rewards, values, gamma, lam)
    c = gamma * lam
    expected = []
    for t in range(steps):
        k = steps - 1 - t
        geometric = k if c == 1 else (1 - c**k) / (1 - c)
        expected.append((gamma - 1) * value * geometric + c**k *
                        (reward - value))
    assert advantages.tolist() == pytest.approx(expected, abs=1e-6)
    assert returns.tolist() == pytest.approx([a + value for a in expected],
                                             abs=1e-6)


def test_lambda_one_is_monte_carlo_return_minus_value():
    torch.manual_seed(0)
    gamma, last_value = 0.9, 1.5
    rewards = torch.randn(10, dtype=torch.float64)
    values = torch.randn(10, dtype=torch.float64)
    advantages, returns = compute_gae(rewards, values, gamma, 1.0, last_value)
    steps = len(rewards)
    mc_returns = [
        sum(gamma**lag * rewards[t + lag].item()
            for lag in range(steps - t)) + gamma**(steps - t) * last_value
        for t in range(steps)
    ]
    assert returns.tolist() == pytest.approx(mc_returns, abs=1e-9)
    assert advantages.tolist() == pytest.approx(
        [g - v for g, v in zip(mc_returns, values.tolist())], abs=1e-9)


def test_lambda_zero_is_td0():
    torch.manual_seed(1)
    gamma, last_value = 0.9, -0.7
    rewards = torch.randn(10, dtype=torch.float64)
    values = torch.randn(10, dtype=torch.float64)
    advantages, _ = compute_gae(rewards, values, gamma, 0.0, last_value)
    next_values = torch.cat([values[1:], torch.tensor([last_value])])
    torch.testing.assert_close(advantages,
                               rewards + gamma * next_values - values)


def test_gamma_zero_gives_reward_minus_value():
    rewards = torch.tensor([1.0, -2.0, 0.5])
    values = torch.tensor([0.2, 0.3, -0.1])
    advantages, returns = compute_gae(rewards, values, 0.0, 0.95, 5.0)
    torch.testing.assert_close(advantages, rewards - values)
    torch.testing.assert_close(returns, rewards)


def test_dtype_tensor_last_value_and_empty_episode():
    rewards = torch.tensor([0.0, 1.0])
    values = torch.tensor([0.5, 0.5])
    advantages, returns = compute_gae(
        rewards, values, last_value=torch.tensor(2.0))
    assert advantages.dtype == returns.dtype == torch.float32
    expected = double_loop_gae([0.0, 1.0], [0.5, 0.5], 0.99, 0.95, 2.0)
    assert advantages.tolist() == pytest.approx(expected, abs=1e-6)
    advantages, returns = compute_gae(torch.zeros(0), torch.zeros(0))
    assert advantages.shape == returns.shape == (0, )


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        compute_gae(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError):
        compute_gae(torch.zeros(3, 1, 1), torch.zeros(3, 1, 1))
