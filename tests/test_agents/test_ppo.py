"""PPO: the clipped objective by hand and the updater's contract."""
import copy

import pytest
import torch

from mmrlkd.agents import (PPOUpdater, TemperaturePolicy, clipped_fraction,
                           clipped_surrogate_loss, compute_gae)

DIAGNOSTICS = {
    'policy_loss', 'value_loss', 'entropy', 'old_approx_kl', 'approx_kl',
    'clip_fraction', 'explained_variance', 'std', 'advantage_mean',
    'return_mean', 'actor_lr', 'skipped'
}


def test_clipped_objective_on_hand_made_numbers():
    """eps = 0.2; per step, loss = -min(r A, clip(r, 0.8, 1.2) A).

    r=0.5 A=+1: min(0.5, 0.8) = 0.5   -> -0.5 (unclipped term wins)
    r=0.9 A=+1: min(0.9, 0.9) = 0.9   -> -0.9
    r=1.0 A=-1: min(-1, -1) = -1      -> +1.0
    r=1.1 A=+2: min(2.2, 2.2) = 2.2   -> -2.2
    r=1.5 A=+1: min(1.5, 1.2) = 1.2   -> -1.2 (clipped, no gradient)
    r=0.5 A=-1: min(-0.5, -0.8) = -0.8 -> +0.8 (clipped, no gradient)
    r=1.5 A=-1: min(-1.5, -1.2) = -1.5 -> +1.5
    mean = -1.5 / 7; |r - 1| > 0.2 for 4 of the 7 ratios.
    """
    ratio = torch.tensor([0.5, 0.9, 1.0, 1.1, 1.5, 0.5, 1.5],
                         requires_grad=True)
    advantages = torch.tensor([1.0, 1.0, -1.0, 2.0, 1.0, -1.0, -1.0])
    pg_loss = clipped_surrogate_loss(ratio, advantages, 0.2)
    clipfrac = clipped_fraction(ratio, 0.2)
    assert pg_loss.item() == pytest.approx(-1.5 / 7)
    assert clipfrac.item() == pytest.approx(4 / 7)
    assert not clipfrac.requires_grad
    pg_loss.backward()
    expected_grad = [-1 / 7, -1 / 7, 1 / 7, -2 / 7, 0.0, 0.0, 1 / 7]
    assert ratio.grad.tolist() == pytest.approx(expected_grad)


def test_clipped_surrogate_matches_the_literal_max_form():
    """The same loss and gradient as Schulman et al.'s eq. 7 written
    literally (``max(-A r, -A clip(r))``), weighted, on random ratios; on
    the clip range's edges the same loss (the gradient there is a choice
    of subgradient: the literal form splits a tie, here the unclipped
    term takes it)."""
    g = torch.Generator().manual_seed(0)
    ratio = torch.cat([torch.rand(200, generator=g) + 0.5,
                       torch.tensor([0.8, 1.2, 1.0])])
    advantages = torch.randn(203, generator=g)
    weights = torch.rand(203, generator=g)
    weights = weights / weights.sum()
    grads = []
    for literal in (False, True):
        r = ratio.clone().requires_grad_()
        if literal:
            loss = (torch.max(-advantages * r, -advantages * torch.clamp(
                r, 0.8, 1.2)) * weights).sum()
        else:
            loss = clipped_surrogate_loss(r, advantages, 0.2, weights)
        loss.backward()
        grads.append((loss.detach(), r.grad))
    torch.testing.assert_close(grads[0][0], grads[1][0], rtol=0, atol=1e-7)
    torch.testing.assert_close(grads[0][1][:200], grads[1][1][:200],
                               rtol=0, atol=1e-7)


def episode(steps=32, seed=0, dim=3):
    torch.manual_seed(seed)
    policy = TemperaturePolicy(state_dim=dim)
    states = torch.rand(steps, dim)
    out = policy.act(states)
    rewards = torch.randn(steps)
    return policy, dict(
        states=states,
        actions=out['actions'],
        old_log_probs=out['log_probs'],
        values=out['values'],
        rewards=rewards)


def snapshot(policy):
    return {k: v.clone() for k, v in policy.state_dict().items()}


def assert_same_params(before, policy):
    for name, tensor in policy.state_dict().items():
        torch.testing.assert_close(tensor, before[name], rtol=0, atol=0)


def test_update_returns_all_diagnostics_and_changes_both_networks():
    policy, data = episode()
    before = snapshot(policy)
    diagnostics = PPOUpdater(policy).update(**data)
    assert set(diagnostics) == DIAGNOSTICS
    # 0-dim tensors on the policy's device: no host sync per diagnostic.
    assert all(
        torch.is_tensor(v) and v.dim() == 0 for v in diagnostics.values())
    assert diagnostics['skipped'] == 0.0
    assert 0 <= diagnostics['clip_fraction'] <= 1
    changed = {
        name.split('.')[0]
        for name, tensor in policy.state_dict().items()
        if not torch.equal(tensor, before[name])
    }
    assert changed == {'actor', 'critic', 'log_std'}


def test_first_epoch_statistics_match_the_advantages():
    """One full-batch actor epoch: ratio = 1, so KL and clip fraction are 0
    and the policy loss is minus the mean standardised advantage."""
    policy, data = episode()
    updater = PPOUpdater(policy, actor_epochs=1, gamma=0.9)
    diagnostics = updater.update(**data)
    advantages, returns = compute_gae(data['rewards'], data['values'], 0.9,
                                      0.95)
    advantages = (advantages - advantages.mean()) / advantages.std()
    assert diagnostics['approx_kl'] == pytest.approx(0, abs=1e-7)
    assert diagnostics['clip_fraction'] == 0
    assert diagnostics['policy_loss'] == pytest.approx(
        -advantages.mean().item(), abs=1e-6)
    assert diagnostics['return_mean'] == pytest.approx(returns.mean().item())
    residual = (returns - data['values']).square().mean()
    explained = 1 - residual / returns.var(unbiased=False)
    assert diagnostics['explained_variance'] == pytest.approx(
        explained.item(), abs=1e-5)


def test_skipped_diagnostics_have_every_key():
    policy, _ = episode()
    diagnostics = PPOUpdater(policy).skipped_diagnostics()
    assert set(diagnostics) == DIAGNOSTICS
    assert diagnostics['skipped'] == 1.0
    assert torch.isnan(diagnostics['policy_loss'])
    assert diagnostics['std'] == pytest.approx(0.6065, abs=1e-4)


def test_single_step_episode_does_not_crash():
    policy, data = episode(steps=1)
    diagnostics = PPOUpdater(policy).update(**data)
    assert diagnostics['skipped'] == 0.0
    assert torch.isfinite(diagnostics['policy_loss'])


def reference_advantages(data, gamma, lam):
    """GAE with a Python loop and the returns, for one episode."""
    values, rewards = data['values'], data['rewards']
    num = rewards.shape[0]
    advantages = torch.zeros(num, dtype=torch.float64)
    last = 0.0
    for t in reversed(range(num)):
        next_value = values[t + 1].double() if t + 1 < num else 0.0
        delta = rewards[t].double() + gamma * next_value - values[t].double()
        last = delta + gamma * lam * last
        advantages[t] = last
    advantages = advantages.float()
    returns = advantages + values
    if num > 1:
        advantages = (advantages - advantages.mean()) / (advantages.std() +
                                                         1e-8)
    return advantages, returns


def reference_update(policy, episodes, actor_lr=1e-4, critic_lr=1e-3,
                     epochs=5, clip=0.2, max_grad_norm=2.0, gamma=0.99,
                     lam=0.95):
    """PPO as the official code and CleanRL write it, with a Python loop for
    GAE: an independent computation of the update the updater makes. Several
    episodes (one per process) each get their own GAE and standardisation,
    and the losses average over all their steps."""
    if isinstance(episodes, dict):
        episodes = [episodes]
    advantages, returns = map(
        torch.cat,
        zip(*(reference_advantages(data, gamma, lam) for data in episodes)))
    states, actions, old_log_probs = (
        torch.cat([data[key] for data in episodes])
        for key in ('states', 'actions', 'old_log_probs'))
    actor = torch.optim.Adam(policy.actor_parameters(), actor_lr)
    critic = torch.optim.Adam(policy.critic_parameters(), critic_lr)
    for _ in range(epochs):
        mu = policy.actor(states).squeeze(-1)
        std = policy.log_std.exp()
        new_log_probs = torch.distributions.Normal(mu, std).log_prob(actions)
        ratio = (new_log_probs - old_log_probs).exp()
        loss = torch.max(-advantages * ratio, -advantages *
                         ratio.clamp(1 - clip, 1 + clip)).mean()
        actor.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.actor_parameters(),
                                       max_grad_norm)
        actor.step()
    for _ in range(epochs):
        loss = (policy.critic(states).squeeze(-1) - returns).square().mean()
        critic.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.critic_parameters(),
                                       max_grad_norm)
        critic.step()


def assert_same_policies(ours, theirs, atol=1e-5):
    for (name, a), b in zip(ours.state_dict().items(),
                            theirs.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=atol, msg=name)


@pytest.mark.parametrize('steps', [1, 7, 64, 300])
def test_update_matches_the_reference_within_1e_5(steps):
    policy, data = episode(steps=steps)
    twin = copy.deepcopy(policy)
    PPOUpdater(policy).update(**data)
    reference_update(twin, data)
    assert_same_policies(policy, twin)


def padded(episodes, capacity):
    """Episodes as the agent learns from them: (E, capacity) and valid."""
    def pad(t):
        rows = t.reshape(t.shape[0], -1)
        return torch.nn.functional.pad(
            rows, (0, 0, 0, capacity - t.shape[0])).reshape(
                (capacity, ) + t.shape[1:])

    batch = {
        key: torch.stack([pad(data[key]) for data in episodes])
        for key in episodes[0]
    }
    steps = torch.arange(capacity)
    batch['valid'] = torch.stack([
        (steps < data['rewards'].shape[0]).float() for data in episodes])
    return batch


@pytest.mark.parametrize('lengths', [(7, ), (7, 1, 30), (64, 64), (300, 9)])
def test_padded_episodes_match_the_reference_on_their_union(lengths):
    """Several processes' episodes padded to one capacity, with a validity
    mask: the update equals the reference's on the union of their steps
    (each episode keeping its own GAE and standardisation)."""
    policy, _ = episode()
    episodes = [episode(steps=n, seed=1 + k)[1]
                for k, n in enumerate(lengths)]
    twin = copy.deepcopy(policy)
    PPOUpdater(policy).update(**padded(episodes, 320))
    reference_update(twin, episodes)
    assert_same_policies(policy, twin)


def test_padding_changes_nothing():
    policy, data = episode(steps=20)
    twin = copy.deepcopy(policy)
    ours = PPOUpdater(policy).update(**padded([data], 64))
    theirs = PPOUpdater(twin).update(**data)
    assert_same_policies(policy, twin, atol=1e-6)
    for key in DIAGNOSTICS:
        torch.testing.assert_close(ours[key], theirs[key], rtol=1e-5,
                                   atol=1e-6, equal_nan=True, msg=key)


def test_critic_fits_returns_of_a_repeated_episode():
    policy, data = episode(steps=64)
    data['rewards'] = 3 * data['states'][:, 0]
    updater = PPOUpdater(policy, gamma=0.0, actor_epochs=0)
    first = updater.update(**data)['value_loss']
    for _ in range(30):
        last = updater.update(**data)['value_loss']
    assert last < 0.1 * first


def test_optimizer_state_round_trip():
    policy, data = episode()
    updater = PPOUpdater(policy)
    updater.update(**data)
    twin_policy = copy.deepcopy(policy)
    twin = PPOUpdater(twin_policy)
    twin.load_state_dict(copy.deepcopy(updater.state_dict()))
    assert updater.optimizer.state_dict()['state'].keys() == \
        twin.optimizer.state_dict()['state'].keys()
    # Same networks + same optimizer state -> the same next step.
    updater.update(**data)
    twin.update(**data)
    assert_same_params(snapshot(policy), twin_policy)


def test_two_optimizer_checkpoints_load_into_the_joint_optimizer():
    """Checkpoints of before the joint step hold an actor and a critic
    Adam; loaded, the next update is the one the two would have made."""
    policy, data = episode()
    actor = torch.optim.Adam(policy.actor_parameters(), 1e-4)
    critic = torch.optim.Adam(policy.critic_parameters(), 1e-3)
    reference_update(copy.deepcopy(policy), data)  # warm both up
    for opt, params in ((actor, policy.actor_parameters()),
                        (critic, policy.critic_parameters())):
        for p in params:
            p.grad = torch.randn_like(p)
        opt.step()
    legacy = dict(actor_optimizer=actor.state_dict(),
                  critic_optimizer=critic.state_dict(), num_updates=2)
    updater = PPOUpdater(policy)
    updater.load_state_dict(copy.deepcopy(legacy))
    state = updater.optimizer.state_dict()['state']
    assert len(state) == len(policy.actor_parameters()) + len(
        policy.critic_parameters())
    for index, p in enumerate(policy.critic_parameters()):
        expected = critic.state_dict()['state'][index]['exp_avg']
        joint = state[index + len(policy.actor_parameters())]['exp_avg']
        assert torch.equal(joint, expected)
    assert updater.num_updates == 2


def test_explained_variance_is_nan_for_returns_all_but_equal():
    """gamma = 0 and one reward shared almost evenly (a credit gate of
    1e-6): returns whose spread is ~1e-6 of their size leave nothing to
    explain; the ratio read -7e9 in the credit benchmark."""
    policy, data = episode()
    data['rewards'] = 0.0123 * (1 + 1e-6 * torch.randn(32))
    diagnostics = PPOUpdater(policy, gamma=0.0).update(**data)
    assert torch.isnan(diagnostics['explained_variance'])
    data['rewards'] = 0.0123 * (1 + 1e-3 * torch.randn(32))
    diagnostics = PPOUpdater(policy, gamma=0.0).update(**data)
    assert torch.isfinite(diagnostics['explained_variance'])


def test_annealed_actor_lr_falls_linearly_to_zero():
    """total_updates = 4, actor_lr = 1e-3: updates 0..5 step the actor with
    1e-3 * (1 - n / 4) floored at 0; at 0 the actor stays put while the
    critic still learns."""
    policy, data = episode()
    updater = PPOUpdater(policy, actor_lr=1e-3, anneal_lr=True)
    updater.total_updates = 4
    seen = []
    for _ in range(6):
        actor_before = snapshot(policy.actor)
        critic_before = snapshot(policy.critic)
        seen.append(float(updater.update(**data)['actor_lr']))
        assert updater.actor_group['lr'] == pytest.approx(seen[-1])
        assert updater.critic_group['lr'] == 1e-3
        assert not all(
            torch.equal(v, critic_before[k])
            for k, v in policy.critic.state_dict().items())
    assert seen == pytest.approx([1e-3, 7.5e-4, 5e-4, 2.5e-4, 0.0, 0.0])
    assert_same_params(actor_before, policy.actor)
    assert updater.num_updates == 6


def test_constant_actor_lr_without_annealing():
    policy, data = episode()
    updater = PPOUpdater(policy, actor_lr=3e-4)
    rates = [float(updater.update(**data)['actor_lr']) for _ in range(3)]
    assert rates == pytest.approx([3e-4] * 3)


def test_annealing_without_a_horizon_says_who_sets_it():
    policy, data = episode()
    updater = PPOUpdater(policy, anneal_lr=True)
    with pytest.raises(RuntimeError, match='total_updates'):
        updater.update(**data)


def test_update_count_survives_a_round_trip():
    policy, data = episode()
    updater = PPOUpdater(policy, anneal_lr=True)
    updater.total_updates = 10
    for _ in range(3):
        updater.update(**data)
    twin = PPOUpdater(copy.deepcopy(policy), anneal_lr=True)
    twin.total_updates = 10
    twin.load_state_dict(copy.deepcopy(updater.state_dict()))
    assert twin.num_updates == 3
    assert float(twin.update(**data)['actor_lr']) == pytest.approx(7e-5)
    # A checkpoint from before the count restarts the schedule.
    legacy = {k: v for k, v in updater.state_dict().items()
              if k != 'num_updates'}
    twin.load_state_dict(copy.deepcopy(legacy))
    assert twin.num_updates == 0


@pytest.mark.parametrize('kwargs', [
    dict(actor_lr=0.0),
    dict(critic_lr=-1e-3),
    dict(clip_coef=0.0),
    dict(gamma=1.1),
    dict(gae_lambda=-0.1),
    dict(actor_epochs=-1),
    dict(critic_epochs=1.5),
    dict(max_grad_norm=0.0),
])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        PPOUpdater(TemperaturePolicy(), **kwargs)
