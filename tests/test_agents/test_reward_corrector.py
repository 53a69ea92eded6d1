"""Reward corrector: eq. (11) and the redistribution by hand, and credit
assignment on a synthetic episode whose return only some instances earn."""
import copy
import math

import pytest
import torch

from mmrlkd.agents import (RewardCorrector, redistribute_return,
                           return_decomposition_loss)
from mmrlkd.agents.reward_corrector import ReturnDecompositionNet


def loop_loss(predictions, episode_return, step_returns=None, w1=1.0, w2=0.5):
    """w1 (g_last - G)^2 + w2 * (1/N) sum_t (g_t - G_t)^2, one float at a
    time."""
    g = [float(x) for x in predictions]
    targets = [float(episode_return)] * len(g) if step_returns is None \
        else [float(x) for x in step_returns]
    aux = sum((g_t - G_t)**2 for g_t, G_t in zip(g, targets)) / len(g)
    return w1 * (g[-1] - float(episode_return))**2 + w2 * aux


def test_loss_is_a_mean_of_squares_by_hand():
    predictions = torch.tensor([0.5, -1.0, 2.0, 1.5])
    # w1 (1.5 - 1)^2 + 0.5 * mean((-0.5)^2, (-2)^2, 1^2, 0.5^2)
    # = 0.25 + 0.5 * 5.5 / 4
    assert return_decomposition_loss(predictions, 1.0).item() == \
        pytest.approx(0.25 + 0.5 * 5.5 / 4)
    # The official code's square of a mean would give (mean(g - G))^2.
    assert return_decomposition_loss(predictions, 1.0).item() != \
        pytest.approx(1.5 * (predictions - 1.0).mean().item()**2)


@pytest.mark.parametrize('weights', [(1.0, 0.5), (2.0, 0.0), (0.0, 3.0)])
def test_loss_matches_a_loop(weights):
    g = torch.Generator().manual_seed(0)
    predictions = torch.randn(9, generator=g)
    step_returns = torch.randn(9, generator=g)
    for targets in (None, step_returns):
        expected = loop_loss(predictions, 0.7, targets, *weights)
        actual = return_decomposition_loss(predictions, torch.tensor(0.7),
                                           targets, *weights)
        assert actual.item() == pytest.approx(expected, rel=1e-6)


def test_padded_episodes_give_the_mean_of_their_own_losses():
    g = torch.Generator().manual_seed(1)
    lengths = torch.tensor([5, 3, 1])
    predictions = torch.randn(3, 5, generator=g)
    returns = torch.randn(3, generator=g)
    per_episode = return_decomposition_loss(
        predictions, returns, lengths=lengths, reduction='none')
    for i, length in enumerate(lengths.tolist()):
        expected = loop_loss(predictions[i, :length], returns[i])
        assert per_episode[i].item() == pytest.approx(expected, rel=1e-6)
    assert return_decomposition_loss(
        predictions, returns,
        lengths=lengths).item() == pytest.approx(per_episode.mean().item())


def test_prediction_is_a_causal_cumulative_sum():
    torch.manual_seed(0)
    net = ReturnDecompositionNet(3)
    torch.nn.init.normal_(net.contribution[-1].weight)  # not the zero init
    states, temps = torch.rand(6, 3), torch.rand(6)
    c = net.contributions(states, temps)
    expected = [
        net.baseline.item() + sum(c[:t + 1].tolist()) / math.sqrt(6)
        for t in range(6)
    ]
    assert net(states, temps).tolist() == pytest.approx(expected, rel=1e-5)
    # Step t never depends on later steps.
    changed = states.clone()
    changed[4:] = 0.0
    torch.testing.assert_close(net(changed, temps)[:4], net(states, temps)[:4])
    # Padding contributes nothing and each episode uses its own length.
    padded = torch.cat([states[:4], torch.ones(2, 3)])[None]
    out = net(padded, temps[None], torch.tensor([4]))
    torch.testing.assert_close(out[0, :4], net(states[:4], temps[:4]))


def test_redistribution_by_hand():
    predictions = torch.tensor([1.0, 3.0, 2.0, 6.0])
    # Differences from g_{-1} = 0.5: 0.5, 2, -1, 4 (sum 5.5); the return
    # 7.5 leaves 2.0, i.e. 0.5 more per step.
    rewards = redistribute_return(predictions, torch.tensor(7.5), 0.5)
    assert rewards.tolist() == pytest.approx([1.0, 2.5, -0.5, 4.5])
    assert rewards.sum().item() == pytest.approx(7.5)


def test_untrained_corrector_splits_the_return_evenly():
    corrector = RewardCorrector(3)
    rewards = corrector.redistribute(torch.rand(8, 3), torch.rand(8), 2.0)
    assert rewards.tolist() == pytest.approx([0.25] * 8)


def test_corrector_loss_is_eq_11_on_its_network():
    torch.manual_seed(0)
    corrector = RewardCorrector(3)
    torch.nn.init.normal_(corrector.network.contribution[-1].weight)
    states, temps = torch.rand(7, 3), torch.rand(7)
    predictions = corrector.network(states, temps).detach()
    assert corrector.loss(states, temps, 0.3).item() == pytest.approx(
        loop_loss(predictions, 0.3), rel=1e-6)
    assert corrector.update(states, temps, 0.3).item() == pytest.approx(
        loop_loss(predictions, 0.3), rel=1e-6)


EPISODE = 64


def synthetic_episode(generator):
    """Only instances with s_0 > 0.75 (about a quarter) earn the return,
    through their own temperature u; the others' temperatures do nothing.
    The return has a standard deviation of about 1, as the agent
    normalises it."""
    states = torch.rand(EPISODE, 3, generator=generator)
    temps = torch.rand(EPISODE, generator=generator)
    earns = states[:, 0] > 0.75
    effects = (temps - 0.5) * earns * 0.875
    return states, temps, earns, effects.sum()


def test_credit_concentrates_on_the_instances_that_earn_the_return():
    torch.manual_seed(0)
    corrector = RewardCorrector(3)
    train = torch.Generator().manual_seed(1)
    for _ in range(2000):
        states, temps, _, episode_return = synthetic_episode(train)
        corrector.update(states, temps, episode_return)

    test = torch.Generator().manual_seed(2)
    shares, subset_sizes = [], []
    for _ in range(20):
        states, temps, earns, episode_return = synthetic_episode(test)
        rewards = corrector.redistribute(states, temps, episode_return)
        assert rewards.sum().item() == pytest.approx(
            episode_return.item(), abs=1e-5)
        shares.append(
            (rewards.abs()[earns].sum() / rewards.abs().sum()).item())
        subset_sizes.append(earns.float().mean().item())
    share = sum(shares) / len(shares)
    print(f'share of |credit| on the earning quarter: {share:.3f} '
          f'(instances: {sum(subset_sizes) / len(subset_sizes):.3f})')
    assert share >= 0.8


def test_replay_of_episodes_of_different_lengths():
    torch.manual_seed(0)
    corrector = RewardCorrector(3, replay_size=3)
    g = torch.Generator().manual_seed(0)
    episodes = [(torch.rand(n, 3, generator=g), torch.rand(n, generator=g),
                 torch.randn((), generator=g)) for n in (5, 2, 4, 4)]
    for episode in episodes:
        corrector.update(*episode)
    assert [int(lengths) for _, _, _, lengths in corrector.replay] == [2, 4, 4]
    # The batched loss is the mean of the replayed episodes' own losses.
    torch.nn.init.normal_(corrector.network.contribution[-1].weight)
    batch = corrector.ring.batch()
    expected = sum(
        corrector.loss(*episode).item() for episode in episodes[1:]) / 3
    assert corrector.loss(*batch).item() == pytest.approx(expected, rel=1e-5)


def test_padded_episodes_of_several_processes_train_as_their_mean():
    """E episodes of one return padded to one length (one per process) make
    the same step as the mean of their own losses, an empty one (a process
    that saw no batch) weighing nothing; each one's credit sums to G."""
    g = torch.Generator().manual_seed(0)
    lengths = torch.tensor([5, 0, 3])
    states = torch.rand(3, 8, 3, generator=g)
    temperatures = torch.rand(3, 8, generator=g)
    steps = torch.arange(8)
    valid = steps < lengths.unsqueeze(-1)
    states, temperatures = states * valid.unsqueeze(-1), temperatures * valid
    torch.manual_seed(0)
    batched = RewardCorrector(3)
    torch.nn.init.normal_(batched.network.contribution[-1].weight)
    twin = copy.deepcopy(batched)
    batched.update(states, temperatures, 0.7, lengths)
    twin.optimizer.zero_grad()
    loss = (twin.loss(states[0, :5], temperatures[0, :5], 0.7) +
            twin.loss(states[2, :3], temperatures[2, :3], 0.7)) / 2
    loss.backward()
    twin.optimizer.step()
    for a, b in zip(batched.params, twin.params):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7)
    credit = batched.redistribute(states, temperatures, 0.7, lengths)
    torch.testing.assert_close(credit.sum(-1), torch.tensor([0.7, 0, 0.7]))
    assert torch.all(credit[~valid] == 0)


def test_state_dict_round_trip_continues_identically():
    torch.manual_seed(0)
    corrector = RewardCorrector(3, epochs=2)
    g = torch.Generator().manual_seed(0)
    episodes = [(torch.rand(8, 3, generator=g), torch.rand(8, generator=g),
                 torch.randn((), generator=g)) for _ in range(4)]
    for episode in episodes[:3]:
        corrector.update(*episode)
    twin = RewardCorrector(3, epochs=2)
    twin.load_state_dict(copy.deepcopy(corrector.state_dict()))
    assert len(twin.replay) == 3
    assert twin.optimizer.state_dict()['state']
    corrector.update(*episodes[3])
    twin.update(*episodes[3])
    for a, b in zip(corrector.params, twin.params):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize('kwargs', [
    dict(hidden_dim=0),
    dict(lr=0.0),
    dict(epochs=-1),
    dict(replay_size=0),
    dict(final_weight=-1.0),
    dict(aux_weight=-0.5),
])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        RewardCorrector(3, **kwargs)
