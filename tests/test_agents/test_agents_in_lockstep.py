"""Two processes (gloo, CPU): agents explore apart and learn in lockstep.

Every decision that could make one process enter a collective the other
skips is tried here on purpose: episodes of unequal size, one process with
an empty or a non-finite episode. Each run
has a deadline (tests/two_processes.py), so a hang fails the test instead
of blocking CI.

``MMRLKD_LOCKSTEP_BACKEND=nccl`` runs the same on two GPUs
(tools/analysis/gpu_check.py does, where there are two).
"""
import os

import pytest
import torch
import torch.distributed as torch_dist
from two_processes import run_on_two_processes

from mmrlkd.agents import (AgentSync, Episode, PPOUpdater, RewardCorrector,
                           RLKDAgent, StateUpdater, TemperaturePolicy)

BACKEND = os.environ.get('MMRLKD_LOCKSTEP_BACKEND', 'gloo')


def device_of(rank):
    return f'cuda:{rank}' if BACKEND == 'nccl' else 'cpu'


def make_agent(rank=0, **ppo):
    torch.manual_seed(0)  # the same initial networks and seed everywhere
    policy = TemperaturePolicy(hidden_dim=16)
    agent = RLKDAgent(policy, PPOUpdater(policy, **ppo),
                      RewardCorrector(3, hidden_dim=8), StateUpdater(3))
    return agent.to(device_of(rank))


def rollout(agent, num, seed, corrupt=False):
    states = torch.rand(
        num, 3, generator=torch.Generator().manual_seed(seed)).to(agent.device)
    episode = agent.act(states)[1]
    if corrupt:
        episode.states = episode.states.clone()
        episode.states[0, 0] = float('nan')
    return episode


def parameters(agent):
    return [
        p.detach().cpu().clone() for net in agent.networks()
        for p in net.parameters()
    ]


def run(tmp_path, scenario, arg=None):
    return run_on_two_processes(tmp_path, scenario, arg, BACKEND)


def assert_identical(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert torch.equal(x, y)


def _unequal_episodes(rank, rollout_episodes):
    agent = make_agent(rank, actor_lr=3e-3)
    agent.rollout_episodes = rollout_episodes
    sync = AgentSync()
    agent.sync = sync
    agent.seed_for_rank(rank)
    for step in range(3):
        # Detection-like: each process has its own number of instances.
        agent.learn(
            rollout(agent, 40 if rank == 0 else 25, 10 * rank + step),
            torch.tensor(0.1 * step, device=agent.device))
    return dict(parameters=parameters(agent), collectives=sync.collectives,
                updates=agent.updater.num_updates)


@pytest.mark.parametrize('rollout_episodes', [1, 2])
def test_unequal_episodes_learn_identically(tmp_path, rollout_episodes):
    results = run(tmp_path, _unequal_episodes, rollout_episodes)
    assert_identical(results[0]['parameters'], results[1]['parameters'])
    # 3 episodes: 3 updates, or one rollout of 2 (the third waits).
    assert results[0]['updates'] == results[1]['updates'] == \
        3 // rollout_episodes


def _one_process_cannot_learn(rank, kind):
    agent = make_agent(rank)
    agent.sync = AgentSync()
    agent.seed_for_rank(rank)
    before = parameters(agent)
    bad = rank == 1
    if kind == 'empty' and bad:
        episode = Episode.empty(3, agent.device)
    else:
        episode = rollout(agent, 16, rank, corrupt=bad)
    reward = torch.tensor(0.1, device=agent.device)
    skipped = float(agent.learn(episode, reward)['skipped'])
    untouched = all(
        torch.equal(a, b) for a, b in zip(before, parameters(agent)))
    # Both learn from the next, healthy episode.
    agent.learn(rollout(agent, 16, 10 + rank), 2 * reward)
    return dict(
        skipped=skipped,
        untouched=untouched,
        skipped_updates=agent.skipped_updates,
        parameters=parameters(agent))


def test_one_process_with_a_non_finite_episode_makes_every_process_skip(
        tmp_path):
    results = run(tmp_path, _one_process_cannot_learn, 'non_finite')
    for rank in (0, 1):
        assert results[rank]['skipped'] == 1.0
        assert results[rank]['untouched']
        assert results[rank]['skipped_updates'] == 1
    assert_identical(results[0]['parameters'], results[1]['parameters'])


def test_a_process_without_instances_learns_from_the_others(tmp_path):
    results = run(tmp_path, _one_process_cannot_learn, 'empty')
    for rank in (0, 1):
        assert results[rank]['skipped'] == 0.0
        assert not results[rank]['untouched']
        assert results[rank]['skipped_updates'] == 0
    assert_identical(results[0]['parameters'], results[1]['parameters'])


def _explore_apart(rank, _):
    agent = make_agent(rank)
    sync = AgentSync()
    agent.sync = sync
    agent.seed_for_rank(rank)
    states = torch.rand(
        32, 3, generator=torch.Generator().manual_seed(0)).to(agent.device)
    actions = agent.act(states)[1].actions.cpu()
    episode = rollout(agent, 32, seed=0)  # the same states on both
    # The first update agrees on the capacity (a second gather).
    first = sync.collectives
    agent.learn(episode, torch.tensor(0.3, device=agent.device))
    first = sync.collectives - first
    counted = []
    originals = {
        name: getattr(torch_dist, name)
        for name in ('all_reduce', 'all_gather_into_tensor',
                     'all_gather_single', 'broadcast')
        if hasattr(torch_dist, name)
    }

    def counting(name):
        def call(*args, **kwargs):
            counted.append(name)
            return originals[name](*args, **kwargs)
        return call

    for name in originals:
        setattr(torch_dist, name, counting(name))
    try:
        before = sync.collectives
        agent.learn(rollout(agent, 20, seed=rank),
                    torch.tensor(0.3, device=agent.device))
        per_update = sync.collectives - before
    finally:
        for name, original in originals.items():
            setattr(torch_dist, name, original)
    return dict(
        actions=actions,
        parameters=parameters(agent),
        first=first,
        per_update=per_update,
        counted=counted)


def test_processes_explore_apart_and_learn_identically(tmp_path):
    results = run(tmp_path, _explore_apart)
    # Same policy, same states, different noise.
    assert not torch.equal(results[0]['actions'], results[1]['actions'])
    assert_identical(results[0]['parameters'], results[1]['parameters'])
    # One gather of both processes' episodes, after which each runs the
    # same update alone: no collective per optimizer step.
    for rank in (0, 1):
        assert results[rank]['first'] == 2
        assert results[rank]['per_update'] == 1
        assert len(results[rank]['counted']) == 1
        assert results[rank]['counted'][0].startswith('all_gather_')


def test_a_single_process_launches_no_collective():
    agent = make_agent()
    sync = AgentSync()
    agent.sync = sync
    assert not torch_dist.is_initialized()
    agent.learn(rollout(agent, 16, 0), torch.tensor(0.1))
    assert sync.collectives == 0


def _drifted_apart(rank, _):
    agent = make_agent(rank)
    sync = AgentSync()
    identical_before = sync.check_identical(agent.networks())
    if rank == 1:  # a kernel that rounded differently on one process
        with torch.no_grad():
            agent.policy.log_std.add_(1e-7)
    found = sync.check_identical(agent.networks())
    return dict(
        identical_before=identical_before,
        found=found,
        identical_after=sync.check_identical(agent.networks()),
        parameters=parameters(agent))


def test_agents_that_drifted_apart_are_found_and_made_identical(tmp_path):
    results = run(tmp_path, _drifted_apart)
    for rank in (0, 1):
        assert results[rank]['identical_before']
        assert not results[rank]['found']
        assert results[rank]['identical_after']
    assert_identical(results[0]['parameters'], results[1]['parameters'])
