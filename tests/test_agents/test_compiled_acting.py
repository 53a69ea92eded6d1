"""The agent's acting step compiles whole: no graph break, no host read,
the same temperatures as eager (what a CUDA-graph capture of it needs)."""
import pytest
import torch

from mmrlkd.agents import (PPOUpdater, RewardCorrector, RLKDAgent,
                           StateUpdater, TemperaturePolicy)
from mmrlkd.utils.host_reads import HostReads


@pytest.mark.slow
def test_acting_compiles_with_fullgraph_and_matches_eager():
    torch.manual_seed(0)
    policy = TemperaturePolicy(hidden_dim=32)
    agent = RLKDAgent(policy, PPOUpdater(policy), RewardCorrector(3),
                      StateUpdater(3))
    compiled = torch.compile(
        agent.acting_step, fullgraph=True, backend='aot_eager')
    for num in (64, 16):  # a full batch and the last, smaller one
        states, noise = torch.rand(num, 3), torch.randn(num)
        with HostReads() as counter:
            eager = agent.acting_step(states, noise)
        assert counter.reads == []
        ours = compiled(states, noise)
        for ours_value, eager_value in zip(ours, eager):
            torch.testing.assert_close(ours_value, eager_value, rtol=0,
                                       atol=1e-5)
