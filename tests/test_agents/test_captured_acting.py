"""The agent's acting step replayed as a CUDA graph: equal to eager, it
follows the networks as they learn and move, and a function that cannot be
captured runs eagerly after one warning. Off CUDA the agent acts eagerly.
``tools/analysis/gpu_check.py`` runs the CUDA tests."""
import copy

import pytest
import torch

from mmrlkd.agents import (PPOUpdater, RewardCorrector, RLKDAgent,
                           StateUpdater, TemperaturePolicy)
from mmrlkd.agents.capture import GraphedFunction

cuda_only = pytest.mark.skipif(
    not torch.cuda.is_available(), reason='needs CUDA')


def make_agent(device, capture=True):
    torch.manual_seed(0)
    policy = TemperaturePolicy(hidden_dim=32)
    agent = RLKDAgent(policy, PPOUpdater(policy, actor_lr=1e-2),
                      RewardCorrector(3), StateUpdater(3), seed=0,
                      capture=capture)
    return agent.to(device)


def assert_acts_alike(agent, eager, num):
    states = torch.rand(num, 3, device=agent.device)
    ours = agent.act(states, deterministic=True)
    theirs = eager.act(states, deterministic=True)
    torch.testing.assert_close(ours[0], theirs[0], rtol=0, atol=1e-5)
    for name in ('policy_states', 'actions', 'log_probs', 'values'):
        torch.testing.assert_close(
            getattr(ours[1], name), getattr(theirs[1], name), rtol=0,
            atol=1e-5, msg=name)


def test_off_cuda_the_agent_acts_eagerly():
    agent = make_agent('cpu')
    agent.act(torch.rand(8, 3))
    assert agent.graphed_acting.failure is None
    assert not agent.graphed_acting._graphs
    twin = copy.deepcopy(agent)  # the agent copies with its graphs' owner
    assert twin.graphed_acting.fn.__self__ is twin


@pytest.mark.cuda
@cuda_only
def test_captured_acting_equals_eager_as_the_agent_learns():
    agent = make_agent('cuda')
    eager = make_agent('cuda', capture=False)
    for step in range(3):
        for num in (64, 16):  # a full batch and the last, smaller one
            assert_acts_alike(agent, eager, num)
        # Both learn the same episode: the graph reads the new parameters.
        episode = eager.act(torch.rand(64, 3, device='cuda'))[1]
        agent.learn(episode, 0.1 * step)
        eager.learn(episode, 0.1 * step)
    assert agent.graphed_acting.failure is None
    assert len(agent.graphed_acting._graphs) == 2


@pytest.mark.cuda
@cuda_only
def test_a_moved_agent_is_captured_again():
    agent = make_agent('cuda')
    eager = make_agent('cuda', capture=False)
    assert_acts_alike(agent, eager, 32)
    agent.to('cpu').to('cuda')  # new parameter tensors
    assert_acts_alike(agent, eager, 32)
    assert agent.graphed_acting.failure is None


@pytest.mark.cuda
@cuda_only
def test_a_function_that_cannot_be_captured_runs_eagerly_with_a_warning():
    weight = torch.ones(3, device='cuda')

    def reads_the_host(x):
        return (x * weight * float(x.sum().item()), )  # a sync: no capture

    graphed = GraphedFunction(reads_the_host, lambda: [weight])
    x = torch.rand(3, device='cuda')
    with pytest.warns(RuntimeWarning, match='runs eagerly'):
        result = graphed(x)
    torch.testing.assert_close(result[0], reads_the_host(x)[0])
    assert graphed.failure
    graphed(x)  # no second warning: it stays eager
