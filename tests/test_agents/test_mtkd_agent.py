"""MTKD-RL agent: state layout, weights, reward, both update rules."""
import copy
import math
import statistics

import pytest
import torch

from mmrlkd.agents import (MTKDAgent, MTKDPolicy, heuristic_weights,
                           mtkd_state, normalised_reward)
from mmrlkd.agents.mtkd_agent import policy_gradient_loss

INFO_DIMS = [5, 3, 4]  # d_m + C_m of three teachers


def random_state(n, info_dims=INFO_DIMS, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, sum(info_dims) + 3 * len(info_dims), generator=gen)


def scalars_by_walking(state, info_dims):
    """cos, KL, CE (N, M) read by walking the documented layout."""
    cos, kl, ce, start = [], [], [], 0
    for dim in info_dims:
        cos.append(state[:, start])
        kl.append(state[:, start + 1])
        ce.append(state[:, start + 2])
        start += 3 + dim
    return (torch.stack(cos, 1), torch.stack(kl, 1), torch.stack(ce, 1))


def softmax_rows(x):
    e = torch.exp(x - x.max(dim=1, keepdim=True).values)
    return e / e.sum(dim=1, keepdim=True)


def hand_weights(params, state, info_dims, dynamic=False):
    """The official PolicyTrans written out from the spec's equations."""
    num = len(info_dims)
    cos, kl, ce = scalars_by_walking(state, info_dims)
    p_ce = (1 - softmax_rows(ce)) / (num - 1)
    p_kl, p_cos = softmax_rows(kl), softmax_rows(cos)
    hidden = torch.clamp(state @ params['stem.0.weight'].T, min=0)
    a_l = softmax_rows(hidden @ params['logit_head.weight'].T +
                       params['logit_head.bias'])
    a_f = softmax_rows(hidden @ params['feature_head.weight'].T +
                       params['feature_head.bias'])
    if dynamic:
        c_l = softmax_rows(params['logit_mix'][None])[0]
        c_f = softmax_rows(params['feature_mix'][None])[0]
    else:
        c_l = c_f = torch.full((3, ), 1 / 3)
    w_l = c_l[0] * a_l + c_l[1] * p_ce + c_l[2] * p_kl
    w_f = c_f[0] * a_f + c_f[1] * p_ce + c_f[2] * p_cos
    return w_l, w_f


def test_state_layout_puts_each_teacher_block_in_order():
    n = 4
    cos, kl, ce = (torch.randn(n, 2) for _ in range(3))
    embeddings = [torch.randn(n, 3), torch.randn(n, 2)]
    logits = [torch.randn(n, 5), torch.randn(n, 5)]
    state = mtkd_state(cos, kl, ce, embeddings, logits)
    assert state.shape == (n, 2 * 3 + 3 + 2 + 2 * 5)
    for i in range(n):
        expected = []
        for m in range(2):
            expected += [cos[i, m], kl[i, m], ce[i, m]]
            expected += embeddings[m][i].tolist() + logits[m][i].tolist()
        assert state[i].tolist() == pytest.approx([float(v) for v in expected])
    assert not state.requires_grad


def test_heuristic_weights_follow_the_official_formulas():
    cos, kl, ce = (torch.randn(3, 4) for _ in range(3))
    p_ce, p_kl, p_cos = heuristic_weights(cos, kl, ce)
    for i in range(3):
        z_ce = sum(math.exp(v) for v in ce[i].tolist())
        z_kl = sum(math.exp(v) for v in kl[i].tolist())
        z_cos = sum(math.exp(v) for v in cos[i].tolist())
        for m in range(4):
            assert float(p_ce[i, m]) == pytest.approx(
                (1 - math.exp(ce[i, m]) / z_ce) / 3, rel=1e-5)
            assert float(p_kl[i, m]) == pytest.approx(
                math.exp(kl[i, m]) / z_kl, rel=1e-5)
            assert float(p_cos[i, m]) == pytest.approx(
                math.exp(cos[i, m]) / z_cos, rel=1e-5)
    one = heuristic_weights(*(torch.randn(3, 1) for _ in range(3)))
    assert all(torch.equal(p, torch.ones(3, 1)) for p in one)


@pytest.mark.parametrize('dynamic', [False, True])
def test_policy_weights_are_the_official_mix_and_distributions(dynamic):
    torch.manual_seed(0)
    policy = MTKDPolicy(INFO_DIMS, hidden_dim=16, dynamic=dynamic)
    if dynamic:  # away from the average, so the mix matters
        with torch.no_grad():
            policy.logit_mix.copy_(torch.tensor([2.0, -1.0, 0.5]))
            policy.feature_mix.copy_(torch.tensor([-0.5, 1.0, 0.0]))
    state = random_state(7)
    w_l, w_f = policy(state)
    params = dict(policy.named_parameters())
    hand_l, hand_f = hand_weights(params, state, INFO_DIMS, dynamic)
    torch.testing.assert_close(w_l, hand_l)
    torch.testing.assert_close(w_f, hand_f)
    for w in (w_l, w_f):
        assert w.shape == (7, 3) and (w > 0).all()
        torch.testing.assert_close(w.sum(1), torch.ones(7))


def test_policy_rejects_a_state_of_the_wrong_size():
    with pytest.raises(ValueError, match='columns'):
        MTKDPolicy(INFO_DIMS)(torch.zeros(2, 5))


def test_normalised_reward_is_the_clipped_z_score():
    reward = torch.tensor([-3.0, -1.0, -0.5, -2.5, 4.0])
    values = reward.tolist()
    mean, std = statistics.mean(values), statistics.stdev(values)
    expected = [min(max((v - mean) / std, 0.0), 1.0) for v in values]
    assert normalised_reward(reward).tolist() == pytest.approx(expected)
    assert normalised_reward(torch.tensor([2.0])).tolist() == [0.0]
    assert normalised_reward(torch.full((4, ), 1.5)).tolist() == [0.0] * 4


def fill(agent, num_batches, n=6, seed=0):
    """Store random batches; returns them."""
    batches = []
    for b in range(num_batches):
        state = random_state(n, seed=seed + b)
        reward = normalised_reward(torch.randn(n))
        actions = agent.act(state) if agent.samples_actions else None
        agent.store(state, reward, actions)
        batches.append((state, reward))
    return batches


@pytest.mark.parametrize('dynamic', [False, True])
def test_upstream_update_is_reward_weighted_bce_with_plain_sgd(dynamic):
    torch.manual_seed(0)
    agent = MTKDAgent(INFO_DIMS, hidden_dim=16, dynamic=dynamic, lr=0.1)
    batches = fill(agent, 2)
    # By hand: one SGD step per batch on -mean(r * log w) for both heads.
    params = {
        k: v.detach().clone().requires_grad_()
        for k, v in agent.policy.named_parameters()
    }
    expected_losses = []
    for state, reward in batches:
        w_l, w_f = hand_weights(params, state, INFO_DIMS, dynamic)
        loss = (-(reward[:, None] * torch.log(w_l)).mean() -
                (reward[:, None] * torch.log(w_f)).mean())
        grads = torch.autograd.grad(loss, list(params.values()))
        with torch.no_grad():
            for p, g in zip(params.values(), grads):
                p -= 0.1 * g
        expected_losses.append(loss.item())

    result = agent.update()
    assert result['agent_batches'] == 2 and len(agent) == 0
    assert result['agent_loss'] == pytest.approx(
        sum(expected_losses) / 2, rel=1e-5)
    for name, param in agent.policy.named_parameters():
        torch.testing.assert_close(param, params[name].detach())
    if dynamic:  # the mix is trained by the agent's loss too
        assert not torch.equal(agent.policy.logit_mix, torch.ones(3))


def test_upstream_update_pulls_weights_toward_uniform():
    """The documented quirk: rows summing to 1 maximise sum log w at 1/M,
    so rewarding instances that used teacher 0 moves weight AWAY from it.
    (The pull is weak at lr 0.1 behind the heuristics' 2/3 of the mix; a
    large lr makes it visible in a few steps.)"""
    torch.manual_seed(0)
    agent = MTKDAgent([4, 4], hidden_dim=16, lr=5.0)
    with torch.no_grad():
        agent.policy.logit_head.bias.copy_(torch.tensor([1.5, -1.5]))
    state = torch.cat([torch.zeros(32, 3), torch.randn(32, 4)] * 2, dim=1)
    before = agent.act(state)[0][:, 0].mean()
    for _ in range(20):
        agent.store(state, torch.ones(32))
        agent.update()
    after = agent.act(state)[0][:, 0].mean()
    assert before > 0.64  # (0.95 + 0.5 + 0.5) / 3
    assert after < 0.53  # toward (0.5 + 0.5 + 0.5) / 3


def two_group_batch(gen, n=64):
    """Group g of each instance is visible in its state; teacher g costs 0
    and the other teacher 1, so teacher g earns the higher reward."""
    group = torch.randint(0, 2, (n, ), generator=gen)
    sign = 1.0 - 2.0 * group.float()
    info = torch.stack(
        [sign, torch.ones(n),
         torch.zeros(n), torch.zeros(n)], dim=1) + 0.1 * torch.randn(
             n, 4, generator=gen)
    zeros = torch.zeros(n, 3)  # flat heuristics: only the agent decides
    state = torch.cat([zeros, info, zeros, info], dim=1)
    cost = torch.stack([group.float(), 1 - group.float()], dim=1)
    return state, group, cost


@pytest.mark.parametrize('dynamic', [False, True])
def test_policy_gradient_moves_weights_to_the_better_teacher(dynamic):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    agent = MTKDAgent([4, 4], update_rule='policy_gradient', dynamic=dynamic)
    for _ in range(60):
        state, _, cost = two_group_batch(gen)
        a_l, a_f = agent.act(state, explore=True)
        reward = -(a_l * cost).sum(1) - (a_f * cost).sum(1)
        agent.store(state, normalised_reward(reward), (a_l, a_f))
        agent.update()
    state, group, _ = two_group_batch(gen, 512)
    for w in agent.act(state, explore=False):
        # From 1/2; at most 2/3 when the agent's third of the mix is one-hot.
        assert w[group == 0, 0].mean() > 0.62
        assert w[group == 1, 1].mean() > 0.62


def test_policy_gradient_loss_is_reinforce_on_dirichlet_draws():
    torch.manual_seed(0)
    w_l = softmax_rows(torch.randn(5, 3))
    w_f = softmax_rows(torch.randn(5, 3))
    a_l = softmax_rows(torch.randn(5, 3))
    a_f = softmax_rows(torch.randn(5, 3))
    reward = torch.rand(5)
    kappa = 7.0

    def log_dirichlet(alpha, x):
        return (torch.lgamma(alpha.sum(1)) - torch.lgamma(alpha).sum(1) +
                ((alpha - 1) * torch.log(x)).sum(1))

    log_prob = (
        log_dirichlet(kappa * w_l, a_l) + log_dirichlet(kappa * w_f, a_f))
    expected = -((reward - reward.mean()) * log_prob).mean()
    loss = policy_gradient_loss(w_l, w_f, a_l, a_f, reward, kappa)
    torch.testing.assert_close(loss, expected)


def test_acting_draws_only_under_policy_gradient_exploration():
    state = random_state(8)
    torch.manual_seed(0)
    upstream = MTKDAgent(INFO_DIMS, hidden_dim=16)
    mean = upstream.policy(state)
    for w, m in zip(upstream.act(state, explore=True), mean):
        torch.testing.assert_close(w, m)
    pg = MTKDAgent(INFO_DIMS, hidden_dim=16, update_rule='policy_gradient')
    mean = pg.policy(state)
    for w, m in zip(pg.act(state, explore=True), mean):
        assert not torch.allclose(w, m)
        torch.testing.assert_close(w.sum(1), torch.ones(8))
    for w, m in zip(pg.act(state, explore=False), mean):
        torch.testing.assert_close(w, m)
    with pytest.raises(ValueError, match='sampled actions'):
        pg.store(state, torch.zeros(8))


def test_buffer_is_bounded_and_the_agent_round_trips():
    torch.manual_seed(0)
    agent = MTKDAgent(
        INFO_DIMS,
        hidden_dim=16,
        update_rule='policy_gradient',
        momentum=0.9,
        buffer_size=3)
    fill(agent, 2)
    agent.update()  # gives SGD a momentum state to save
    fill(agent, 5, seed=10)
    assert len(agent) == 3 and agent.dropped == 2
    restored = MTKDAgent(
        INFO_DIMS,
        hidden_dim=16,
        update_rule='policy_gradient',
        momentum=0.9,
        buffer_size=3)
    restored.load_state_dict(copy.deepcopy(agent.state_dict()))
    assert len(restored) == 3 and restored.dropped == 2
    # Same policy, optimizer and buffer: the next updates are identical.
    torch.manual_seed(1)
    agent.update()
    restored.update()
    for a, b in zip(agent.policy.parameters(), restored.policy.parameters()):
        torch.testing.assert_close(a, b)


def test_agent_checks_its_arguments():
    with pytest.raises(ValueError, match='update_rule'):
        MTKDAgent(INFO_DIMS, update_rule='ppo')
    with pytest.raises(ValueError, match='concentration'):
        MTKDAgent(INFO_DIMS, concentration=0)
    with pytest.raises(ValueError, match='buffer_size'):
        MTKDAgent(INFO_DIMS, buffer_size=0)


def old_sample_dirichlet(weights, concentration, eps=1e-6):
    """The earlier draw: torch.distributions on the global generator."""
    from torch.distributions import Dirichlet
    draw = Dirichlet((concentration * weights).clamp_min(eps)).sample()
    draw = draw.clamp_min(eps)
    return draw / draw.sum(dim=1, keepdim=True)


def test_dirichlet_draws_and_density_are_torch_distributions_without_reads():
    from torch.distributions import Dirichlet

    from mmrlkd.agents.mtkd_agent import dirichlet_log_prob, sample_dirichlet
    from mmrlkd.utils.host_reads import HostReads
    weights = softmax_rows(torch.randn(6, 3, generator=torch.Generator()))
    weights[0] = torch.tensor([1.0, 0.0, 0.0])  # clamped concentrations
    torch.manual_seed(5)
    expected = old_sample_dirichlet(weights, 7.0)
    with HostReads() as counter:
        draw = sample_dirichlet(weights, 7.0, torch.Generator().manual_seed(5))
        weights.requires_grad_(True)
        log_prob = dirichlet_log_prob(weights, draw, 7.0)
    assert counter.reads == []
    assert torch.equal(draw, expected)
    alpha = (7.0 * weights).clamp_min(1e-6)
    reference = Dirichlet(alpha).log_prob(draw)
    torch.testing.assert_close(log_prob, reference, rtol=0, atol=0)
    grad, = torch.autograd.grad(log_prob.sum(), weights)
    expected_grad, = torch.autograd.grad(reference.sum(), weights)
    torch.testing.assert_close(grad, expected_grad, rtol=0, atol=0)


def test_each_rank_draws_its_own_noise_from_a_saved_generator():
    state = random_state(8)
    agents = []
    for rank in (0, 1):
        agent = MTKDAgent(
            INFO_DIMS, hidden_dim=16, update_rule='policy_gradient', seed=3)
        agent.seed_for_rank(rank)
        agents.append(agent)
    agents[1].policy.load_state_dict(agents[0].policy.state_dict())
    global_state = torch.get_rng_state()
    first = [agent.act(state)[0] for agent in agents]
    assert torch.equal(torch.get_rng_state(), global_state)  # untouched
    assert not torch.allclose(first[0], first[1])
    # The saved generator continues where it stopped.
    saved = copy.deepcopy(agents[1].state_dict())
    expected = agents[1].act(state)[0]
    restored = MTKDAgent(
        INFO_DIMS, hidden_dim=16, update_rule='policy_gradient', seed=9)
    assert restored.load_state_dict(saved) is True
    assert torch.equal(restored.act(state)[0], expected)


def test_a_generator_state_that_does_not_fit_reseeds_from_the_saved_seed():
    from types import SimpleNamespace
    from unittest import mock

    from mmrlkd.engine import MTKDAgentHook
    state = random_state(8)
    agent = MTKDAgent(
        INFO_DIMS, hidden_dim=16, update_rule='policy_gradient', seed=4)
    saved = dict(agent.state_dict(), updates=2)
    # What a CPU generator's state is to a CUDA generator: not its size.
    saved['rng_state'] = torch.zeros(8, dtype=torch.uint8)
    model = SimpleNamespace(
        agent=MTKDAgent(
            INFO_DIMS, hidden_dim=16, update_rule='policy_gradient', seed=5),
        acting=True)
    runner = SimpleNamespace(model=model, logger=mock.Mock(), max_epochs=2)
    hook = MTKDAgentHook(warmup=0)
    hook.after_load_checkpoint(runner, dict(mtkd_agent=saved))
    assert hook.updates == 2
    assert 'does not fit' in runner.logger.info.call_args[0][0]
    hook.before_train(runner)  # one process: rank 0's seed
    fresh = MTKDAgent(
        INFO_DIMS, hidden_dim=16, update_rule='policy_gradient', seed=4)
    fresh.policy.load_state_dict(model.agent.policy.state_dict())
    assert torch.equal(model.agent.act(state)[0], fresh.act(state)[0])


def test_the_hook_logs_an_iteration_with_one_host_read():
    from types import SimpleNamespace

    from mmengine.logging import MessageHub

    from mmrlkd.engine import MTKDAgentHook
    from mmrlkd.utils.host_reads import HostReads
    weights = softmax_rows(torch.randn(5, 2))
    model = SimpleNamespace(
        agent=None,
        acting=True,
        last_weights=(weights, weights.flip(1)),
        last_reward=torch.tensor([0.0, 0.5, 1.0, 0.0, 0.5]))
    hub = MessageHub.get_instance('mtkd_hook_host_read_test')
    runner = SimpleNamespace(model=model, message_hub=hub)
    with HostReads() as counter:
        MTKDAgentHook(agent_step=1000).after_train_iter(runner, batch_idx=1)
    assert counter.reads == ['Tensor.tolist']
    means = weights.mean(0).tolist()
    assert hub.get_scalar('train/mtkd/w_logit_t0').current() == \
        pytest.approx(means[0])
    assert hub.get_scalar('train/mtkd/w_feat_t0').current() == \
        pytest.approx(means[1])
    assert hub.get_scalar('train/mtkd/reward').current() == pytest.approx(0.4)
    assert hub.get_scalar('train/mtkd/agent_updates').current() == 0


def _draw_on_rank(rank, _):
    from types import SimpleNamespace
    from unittest import mock

    from mmrlkd.engine import MTKDAgentHook
    torch.manual_seed(0)  # the same on both ranks, as a seeded run
    agent = MTKDAgent(INFO_DIMS, hidden_dim=16, update_rule='policy_gradient')
    runner = SimpleNamespace(
        model=SimpleNamespace(agent=agent, acting=True),
        logger=mock.Mock(),
        max_epochs=2)
    MTKDAgentHook(warmup=0).before_train(runner)
    draws = agent.act(random_state(8))
    return [t.detach().clone() for t in (*draws, *agent.policy.parameters())]


def test_two_processes_draw_different_noise_with_the_same_policy(tmp_path):
    from two_processes import run_on_two_processes
    results = run_on_two_processes(tmp_path, _draw_on_rank)
    (l0, f0, *params0), (l1, f1, *params1) = results[0], results[1]
    assert not torch.allclose(l0, l1) and not torch.allclose(f0, f1)
    assert all(torch.equal(a, b) for a, b in zip(params0, params1))
