"""Two processes (gloo): a batch the provider never saw on one process.

When every instance of one process's batch is skipped (non-finite logits,
no RoI), that process has no performance and no episode while the other
has both. The hook's reward and the agent's update must still enter the
same collectives everywhere: the performance is averaged over the processes
that measured one, and the agent skips the update on every process.
"""
import datetime
import time

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp

from mmrlkd.agents import AgentSync
from mmrlkd.engine.hooks.rlkd_agent_hook import agreed_performance, to_host
from mmrlkd.models import RLKDTemperature

DEADLINE_S = 60


def batch(seed, num=16, classes=5):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(num, classes,
                        generator=g), torch.randn(num, classes, generator=g),
            torch.randint(0, classes, (num, ), generator=g))


def _iterations(rank, init_file, results):
    torch.set_num_threads(1)
    torch_dist.init_process_group(
        'gloo',
        init_method=f'file://{init_file}',
        rank=rank,
        world_size=2,
        timeout=datetime.timedelta(seconds=DEADLINE_S))
    torch.manual_seed(0)
    provider = RLKDTemperature(policy=dict(hidden_dim=16))
    sync = AgentSync()
    sync.broadcast_(provider.agent.networks())
    provider.agent.sync = sync
    provider.agent.seed_for_rank(rank)
    provider.acting = True
    log = []
    for step in range(5):
        # Iteration 2 of process 1: every instance was skipped.
        if not (rank == 1 and step == 2):
            provider(*batch(10 * step + rank))
        performance = agreed_performance(sync, provider.last_performance,
                                         provider.device)
        log.append(to_host(provider.finish_iteration(1.0, True, performance)))
    results[rank] = dict(
        log=log,
        skipped=provider.agent.skipped_updates,
        parameters=[
            p.detach().clone() for net in provider.agent.networks()
            for p in net.parameters()
        ])
    torch_dist.destroy_process_group()


def test_a_batch_one_process_never_saw_does_not_split_the_agents(tmp_path):
    results = mp.Manager().dict()
    context = mp.start_processes(
        _iterations,
        args=(str(tmp_path / 'init'), results),
        nprocs=2,
        join=False,
        start_method='fork')
    deadline = time.monotonic() + DEADLINE_S
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail('a collective was entered by one process only')
    first, second = results[0], results[1]
    # Step 1's episode (rewarded at step 2) is rank 1's last full one; at
    # step 2 rank 1 stored nothing, so the update rewarded at step 3 is
    # skipped on both processes, and the others learn on both.
    assert first['skipped'] == second['skipped'] == 1
    assert [row.get('skipped') for row in first['log']] == \
        [row.get('skipped') for row in second['log']] == \
        [None, 0.0, 0.0, 1.0, 0.0]
    for a, b in zip(first['parameters'], second['parameters']):
        assert torch.equal(a, b)
    # The rewards are the processes' mean performance gains: the same.
    assert [row.get('reward') for row in first['log']] == \
        [row.get('reward') for row in second['log']]
