"""Two processes (gloo): a batch the provider never saw on one process.

When every instance of one process's batch is skipped (non-finite logits,
no RoI), that process has no performance and no episode while the other
has both. The hook's reward and the agent's update must still enter the
same collectives everywhere: the performance is averaged over the processes
that measured one, and both agents learn the same update from the episode
the other process has.
"""
import torch
from two_processes import run_on_two_processes

from mmrlkd.agents import AgentSync
from mmrlkd.engine.hooks.rlkd_agent_hook import to_host
from mmrlkd.models import RLKDTemperature


def batch(seed, num=16, classes=5):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(num, classes,
                        generator=g), torch.randn(num, classes, generator=g),
            torch.randint(0, classes, (num, ), generator=g))


def acting_provider(rank, **options):
    """A provider whose agent is synchronised across the processes."""
    torch.manual_seed(0)
    provider = RLKDTemperature(policy=dict(hidden_dim=16), **options)
    sync = AgentSync()
    sync.broadcast_(provider.agent.networks())
    provider.agent.sync = sync
    provider.agent.seed_for_rank(rank)
    provider.acting = True
    return provider, sync


def _iterations(rank, _):
    provider, sync = acting_provider(rank)
    log = []
    for step in range(5):
        # Iteration 2 of process 1: every instance was skipped.
        if not (rank == 1 and step == 2):
            provider(*batch(10 * step + rank))
        log.append(to_host(provider.finish_iteration(1.0, True, sync)))
    return dict(
        log=log,
        skipped=provider.agent.skipped_updates,
        parameters=[
            p.detach().clone() for net in provider.agent.networks()
            for p in net.parameters()
        ])


def test_a_batch_one_process_never_saw_does_not_split_the_agents(tmp_path):
    results = run_on_two_processes(tmp_path, _iterations)
    first, second = results[0], results[1]
    # At step 2 rank 1 stored nothing: the update rewarded at step 3 learns
    # from rank 0's episode alone, on both processes.
    assert first['skipped'] == second['skipped'] == 0
    assert [row.get('skipped') for row in first['log']] == \
        [row.get('skipped') for row in second['log']] == \
        [None, 0.0, 0.0, 0.0, 0.0]
    for a, b in zip(first['parameters'], second['parameters']):
        assert torch.equal(a, b)
    # The rewards are the processes' mean performance gains: the same.
    assert [row.get('reward') for row in first['log']] == \
        [row.get('reward') for row in second['log']]


def _same_batch_iterations(rank, _):
    provider, sync = acting_provider(
        rank, reward='same_batch', performance='neg_ce')
    log = []
    for step in range(4):
        preds_S, preds_T, labels = batch(10 * step + rank)
        # Iteration 2 of process 1: every instance was skipped.
        if not (rank == 1 and step == 2):
            provider(preds_S, preds_T, labels)

        def rerun():
            # The student after its step, as the algorithm re-measures it.
            return provider.performance_of_last_batch(preds_S * 1.1)

        log.append(to_host(provider.finish_iteration(1.0, True, sync, rerun)))
    return dict(
        log=log,
        parameters=[
            p.detach().clone() for net in provider.agent.networks()
            for p in net.parameters()
        ])


def test_same_batch_reward_with_a_batch_one_process_never_saw(tmp_path):
    """reward='same_batch': each iteration's own episode is rewarded with
    the mean gain; where one process saw nothing, both learn from the
    other's episode."""
    results = run_on_two_processes(tmp_path, _same_batch_iterations)
    first, second = results[0], results[1]
    assert [row.get('skipped') for row in first['log']] == \
        [row.get('skipped') for row in second['log']] == \
        [0.0, 0.0, 0.0, 0.0]
    assert [row['reward'] for row in first['log']] == \
        [row['reward'] for row in second['log']]
    for a, b in zip(first['parameters'], second['parameters']):
        assert torch.equal(a, b)
