"""The agent's acting step compiles whole: no graph break, no host read,
the same temperatures as eager (what a CUDA-graph capture of it needs)."""
import pytest
import torch
from in_child import run_in_child

from mmrlkd.agents import (PPOUpdater, RewardCorrector, RLKDAgent,
                           StateUpdater, TemperaturePolicy)
from mmrlkd.utils.host_reads import HostReads


@pytest.mark.slow
def test_acting_compiles_with_fullgraph_and_matches_eager():
    reads, differences = run_in_child(compiled_and_eager_acting)
    assert reads == []
    assert max(differences) <= 1e-5


def compiled_and_eager_acting():
    """Host reads of eager acting, and the largest difference between the
    compiled and the eager step's outputs at 64 and 16 instances."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    policy = TemperaturePolicy(hidden_dim=32)
    agent = RLKDAgent(policy, PPOUpdater(policy), RewardCorrector(3),
                      StateUpdater(3))
    compiled = torch.compile(
        agent.acting_step, fullgraph=True, backend='aot_eager')
    reads, differences = [], []
    for num in (64, 16):  # a full batch and the last, smaller one
        states, noise = torch.rand(num, 3), torch.randn(num)
        with HostReads() as counter:
            eager = agent.acting_step(states, noise)
        reads += counter.reads
        ours = compiled(states, noise)
        differences += [(a - b).abs().max().item()
                        for a, b in zip(ours, eager)]
    return reads, differences
