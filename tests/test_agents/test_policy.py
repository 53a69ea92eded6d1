"""Temperature policy: architecture, squashing, Gaussian log-probs."""
import math

import pytest
import torch
import torch.nn as nn
from torch.distributions import Normal

from mmrlkd.agents import TemperaturePolicy


def linear_shapes(module):
    return [(m.in_features, m.out_features) for m in module.modules()
            if isinstance(m, nn.Linear)]


def test_architecture_and_parameter_groups():
    policy = TemperaturePolicy()
    assert linear_shapes(policy.actor) == [(3, 256), (256, 256), (256, 1)]
    assert linear_shapes(policy.critic) == [(3, 256), (256, 256), (256, 1)]
    assert isinstance(policy.actor[-1], nn.Tanh)
    assert policy.log_std.shape == (1, )
    assert policy.log_std.item() == pytest.approx(-0.5)
    actor = {id(p) for p in policy.actor_parameters()}
    critic = {id(p) for p in policy.critic_parameters()}
    assert id(policy.log_std) in actor
    assert not actor & critic
    assert actor | critic == {id(p) for p in policy.parameters()}


@pytest.mark.parametrize('t_min,t_max', [(0.0, 10.0), (1.0, 21.0)])
def test_temperature_mapping(t_min, t_max):
    policy = TemperaturePolicy(t_min=t_min, t_max=t_max, t_floor=0.5)
    actions = torch.linspace(-6, 6, 25)
    expected = [
        max(t_min + (t_max - t_min) / (1 + math.exp(-a)), 0.5)
        for a in actions.tolist()
    ]
    temperature = policy.to_temperature(actions)
    torch.testing.assert_close(temperature, torch.tensor(expected))
    assert policy.to_temperature(torch.tensor(0.0)) == pytest.approx(
        (t_min + t_max) / 2)
    assert policy.to_temperature(torch.tensor(100.0)) == pytest.approx(t_max)


def test_floor_keeps_temperature_positive():
    policy = TemperaturePolicy(t_floor=1e-2)
    temperature = policy.to_temperature(torch.tensor([-1e4, -30.0, 0.0]))
    assert temperature.tolist()[:2] == pytest.approx([1e-2, 1e-2])
    assert (temperature > 0).all()


def test_deterministic_act_uses_the_mean():
    torch.manual_seed(0)
    policy = TemperaturePolicy()
    states = torch.rand(32, 3)
    out = policy.act(states, deterministic=True)
    mu = policy.actor(states).squeeze(-1)
    torch.testing.assert_close(out['actions'], mu)
    torch.testing.assert_close(out['temperatures'], 10 * torch.sigmoid(mu))
    torch.testing.assert_close(out['values'],
                               policy.critic(states).squeeze(-1))
    assert set(out) == {'actions', 'log_probs', 'values', 'temperatures'}
    for tensor in out.values():
        assert tensor.shape == (32, ) and not tensor.requires_grad


def test_log_prob_is_the_gaussian_density_of_the_pre_squash_action():
    torch.manual_seed(1)
    policy = TemperaturePolicy()
    states = torch.rand(64, 3)
    out = policy.act(states)
    mu = policy.actor(states).squeeze(-1).detach()
    expected = Normal(mu, math.exp(-0.5)).log_prob(out['actions'])
    torch.testing.assert_close(out['log_probs'], expected)
    torch.testing.assert_close(out['temperatures'],
                               10 * torch.sigmoid(out['actions']))


def test_sampled_actions_have_mean_mu_and_std_e_minus_half():
    torch.manual_seed(2)
    policy = TemperaturePolicy()
    states = torch.rand(1, 3).expand(20000, 3)
    actions = policy.act(states)['actions']
    mu = policy.actor(states[:1]).item()
    assert actions.mean().item() == pytest.approx(mu, abs=0.02)
    assert actions.std().item() == pytest.approx(math.exp(-0.5), rel=0.02)


def test_log_prob_entropy_and_gradients():
    torch.manual_seed(3)
    policy = TemperaturePolicy(init_log_std=0.3)
    states = torch.rand(16, 3)
    actions = torch.randn(16)
    log_prob = policy.log_prob(states, actions)
    mu = policy.actor(states).squeeze(-1)
    normal = Normal(mu, math.exp(0.3))
    torch.testing.assert_close(log_prob, normal.log_prob(actions))
    # Entropy of N(mu, s^2) = 0.5 * log(2 * pi * e * s^2).
    expected_entropy = 0.5 * math.log(2 * math.pi * math.e * math.exp(0.6))
    torch.testing.assert_close(policy.entropy(),
                               torch.tensor([expected_entropy]))
    log_prob.sum().backward()
    assert policy.log_std.grad is not None
    assert all(p.grad is not None for p in policy.actor.parameters())


@pytest.mark.parametrize('kwargs', [
    dict(t_min=5.0, t_max=5.0),
    dict(t_min=6.0, t_max=5.0),
    dict(t_min=-1.0),
    dict(t_floor=-0.1),
    dict(t_floor=10.0),
    dict(state_dim=0),
    dict(hidden_dim=0),
    dict(init_log_std=float('nan')),
])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        TemperaturePolicy(**kwargs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_act_does_not_sync_with_the_host():
    policy = TemperaturePolicy().cuda()
    states = torch.rand(64, 3, device='cuda')
    policy.act(states)  # warm-up: lazy CUDA initialisation may sync
    torch.cuda.set_sync_debug_mode('error')
    try:
        policy.act(states)
        policy.act(states, deterministic=True)
    finally:
        torch.cuda.set_sync_debug_mode('default')
