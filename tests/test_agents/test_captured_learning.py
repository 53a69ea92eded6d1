"""The agent's learning step, replayed as a CUDA graph.

A graph replays a step against the tensors it captured, at their addresses:
it is right only if the step is a function of its inputs and of the tensors
the agent declares (``_learning_tensors``: networks, optimizer states, the
learning rate, reward statistics, the corrector's replay), changes them in
place, and keeps them where they are. The CPU tests check exactly that;
the CUDA tests (run by ``tools/analysis/gpu_check.py``) compare captured
learning with eager learning.
"""
import copy

import pytest
import torch

from mmrlkd.agents import (PPOUpdater, RewardCorrector, RLKDAgent,
                           StateUpdater, TemperaturePolicy)

cuda_only = pytest.mark.skipif(
    not torch.cuda.is_available(), reason='needs CUDA')


def make_agent(device='cpu', capture=True):
    torch.manual_seed(0)
    policy = TemperaturePolicy(hidden_dim=32)
    updater = PPOUpdater(policy, actor_lr=1e-2, anneal_lr=True)
    updater.total_updates = 20  # the learning rate changes every update
    agent = RLKDAgent(policy, updater, RewardCorrector(3, replay_size=4),
                      StateUpdater(3), seed=0, capture=capture)
    return agent.to(device)


def episodes(device='cpu', count=8, seed=0):
    """(states, reward) pairs of varying lengths (one capacity of 64)."""
    g = torch.Generator().manual_seed(seed)
    return [(torch.rand(num, 3, generator=g).to(device),
             torch.rand((), generator=g).to(device))
            for num in [50, 64, 16, 37, 64, 1, 40, 64][:count]]


def snapshot(tensors):
    return [t.detach().clone() for t in tensors]


def assert_same(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second):
        assert torch.equal(a, b) or bool((a.isnan() & b.isnan()).all())


def test_the_declared_tensors_are_the_whole_learning_state():
    """Run each learning step twice from the declared tensors' values: the
    second run gives the same outputs and the same tensors, bit for bit,
    and the agent then goes on exactly like a twin that ran each step once.
    Nothing outside the declared tensors (a Python count, a replaced
    tensor, a random draw inside) feeds the step. From the second update
    on (the first creates the optimizers' state) the tensors stay where
    they are."""
    agent = make_agent()
    twin = copy.deepcopy(agent)
    step = agent.learning_step
    addresses = []

    def twice(rows, noise):
        tensors = agent._learning_tensors()
        addresses.append([t.data_ptr() for t in tensors])
        if len(addresses) == 1:
            return step(rows, noise)
        start = snapshot(tensors)
        first = step(rows, noise)
        after = snapshot(tensors)
        with torch.no_grad():
            for tensor, value in zip(tensors, start):
                tensor.copy_(value)
        assert_same(step(rows, noise), first)
        assert_same(snapshot(tensors), after)
        return first

    agent.graphed_learning.fn = twice
    for states, reward in episodes():
        for learner in (agent, twin):
            learner.learn(learner.act(states)[1], reward)
        assert_same(snapshot(agent._learning_tensors()),
                    snapshot(twin._learning_tensors()))
    assert len(addresses) == 8
    assert all(seen == addresses[1] for seen in addresses[1:])


def test_the_learning_rate_is_a_tensor_the_step_reads():
    """``anneal_lr`` changes the actor's rate in a tensor, in place, before
    the step: a graph reads each update's rate."""
    agent = make_agent()
    rates, tensors = [], []
    for states, reward in episodes(count=3):
        diagnostics = agent.learn(agent.act(states)[1], reward)
        lr = agent.updater.actor_group['lr']
        tensors.append(lr)
        rates.append(float(diagnostics['actor_lr']))
    assert all(t is tensors[0] for t in tensors)
    assert rates == pytest.approx([1e-2 * (1 - k / 20) for k in range(3)])


@pytest.mark.cuda
@cuda_only
def test_captured_learning_equals_eager_learning():
    agent = make_agent('cuda')
    eager = make_agent('cuda', capture=False)
    for states, reward in episodes('cuda'):
        episode = eager.act(states)[1]
        ours = agent.learn(episode, reward)
        theirs = eager.learn(episode, reward)
        for name, value in theirs.items():
            torch.testing.assert_close(
                torch.as_tensor(ours[name]), torch.as_tensor(value),
                rtol=1e-4, atol=1e-5, equal_nan=True, msg=name)
    assert agent.graphed_learning.failure is None
    assert agent.graphed_learning._graphs
    for ours, theirs in zip(agent._learning_tensors(),
                            eager._learning_tensors()):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


@pytest.mark.cuda
@cuda_only
def test_captured_learning_follows_a_growing_capacity():
    """An episode longer than the capacity regrows the padded tensors (and
    the replay): the step is captured again, for the new addresses only."""
    agent = make_agent('cuda')
    eager = make_agent('cuda', capture=False)
    data = episodes('cuda') + [(torch.rand(100, 3, device='cuda'),
                                torch.tensor(0.3, device='cuda'))] * 3
    for states, reward in data:
        episode = eager.act(states)[1]
        agent.learn(episode, reward)
        eager.learn(episode, reward)
    assert agent.capacity == 128
    assert agent.graphed_learning.failure is None
    # One graph, of the rows at the new capacity (header + 128 steps of
    # 2 x 3 state features, action, log-prob and value).
    (key, ) = agent.graphed_learning._graphs
    assert key[0][0][0] == (1, 3 + 128 * 9)
    for ours, theirs in zip(agent._learning_tensors(),
                            eager._learning_tensors()):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


def test_a_saved_learning_rate_does_not_follow_later_updates():
    agent = make_agent()
    data = episodes(count=3)
    for states, reward in data[:2]:
        agent.learn(agent.act(states)[1], reward)
    saved = agent.updater.state_dict()['optimizer']['param_groups'][0]['lr']
    before = float(saved)
    agent.learn(agent.act(data[2][0])[1], data[2][1])
    assert float(saved) == before
    assert float(agent.updater.actor_group['lr']) != before
