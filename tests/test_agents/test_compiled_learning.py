"""The agent's whole learning step (reward scale, corrector, state updater,
PPO, with their backward passes and Adam steps) compiles with
``torch.compile(fullgraph=True)``: no graph break, no host read, the same
outputs and the same networks, optimizer states and statistics as eager,
for consecutive updates without recompiling (what a CUDA-graph capture of
it needs)."""
import warnings

import pytest
import torch
from in_child import run_in_child
from test_captured_learning import episodes, make_agent, snapshot

from mmrlkd.utils.host_reads import HostReads


@pytest.mark.slow
def test_learning_compiles_with_fullgraph_and_matches_eager():
    reads, differences = run_in_child(compiled_and_eager_learning)
    assert reads == []
    assert len(differences) == 3
    assert max(differences) <= 1e-5


def _largest_difference(first, second):
    largest = 0.0
    for a, b in zip(first, second, strict=True):
        both_nan = a.isnan() & b.isnan()
        diff = (a.double() - b.double()).abs().masked_fill(both_nan, 0)
        largest = max(largest, diff.max().item() if diff.numel() else 0.0)
    return largest


def compiled_and_eager_learning():
    """Host reads of the eager steps, and for each of three consecutive
    updates (after two eager ones that create the optimizers' state) the
    largest difference between the compiled and the eager step, outputs
    and tensors alike, from the same starting state."""
    torch.set_num_threads(1)
    agent = make_agent()
    step = agent.learning_step
    compiled = torch.compile(step, fullgraph=True, backend='aot_eager')
    reads, differences = [], []

    def both(rows, noise):
        tensors = agent._learning_tensors()
        start = snapshot(tensors)
        with HostReads() as counter:
            eager = step(rows, noise)
        reads.extend(counter.reads)
        if agent.updater.num_updates > 2:  # the optimizers have state
            eager_state = snapshot(tensors)
            with torch.no_grad():
                for tensor, value in zip(tensors, start):
                    tensor.copy_(value)
            ours = compiled(rows, noise)
            differences.append(
                max(_largest_difference(ours, eager),
                    _largest_difference(snapshot(tensors), eager_state)))
        return eager

    agent.graphed_learning.fn = both
    with torch._dynamo.config.patch(trace_autograd_ops=True,
                                    error_on_recompile=True), \
            warnings.catch_warnings():
        # GAE's discount matrix is cached with lru_cache; traced through.
        warnings.filterwarnings('ignore', message='.*lru_cache')
        for states, reward in episodes(count=5):
            agent.learn(agent.act(states)[1], reward)
    return reads, differences
