"""The agent on other devices and under autocast, tested without a GPU.

PyTorch's 'meta' device is a second device on every machine: a tensor left
on the CPU by ``.to()`` or by loading a checkpoint shows up there exactly as
it would on CUDA. The CUDA cases run where a GPU is present (and in
tools/analysis/gpu_check.py).
"""
import pytest
import torch
from held_tensors import held_tensors, misplaced_tensors

from mmrlkd.agents import (MTKDAgent, PPOUpdater, RewardCorrector, RLKDAgent,
                           StateUpdater, TemperaturePolicy)
from mmrlkd.utils.host_reads import HostReads

DEVICES = ['meta'] + (['cuda'] if torch.cuda.is_available() else [])


def make_agent(**ppo):
    torch.manual_seed(0)
    policy = TemperaturePolicy(hidden_dim=16)
    return RLKDAgent(policy, PPOUpdater(policy, **ppo),
                     RewardCorrector(3, hidden_dim=8), StateUpdater(3))


def rollout(agent, num=16, device='cpu'):
    return agent.act(torch.rand(num, 3, device=device))[1]


def trained_on_cpu():
    agent = make_agent()
    for step in range(3):
        agent.learn(rollout(agent), torch.tensor(0.1 * step))
    return agent


def test_the_walk_finds_tensors_everywhere_the_agent_keeps_them():
    paths = [path for path, _ in held_tensors(trained_on_cpu())]
    for expected in ('policy', 'optimizer.state', 'ring',
                     'reward_scale', 'state_updater.network'):
        assert any(expected in path for path in paths), expected


def test_a_cpu_state_loads_whole_on_the_cpu():
    state = trained_on_cpu().state_dict()
    agent = make_agent()
    assert agent.load_state_dict(state) == []
    assert torch.equal(agent.get_rng_state(), state['rng_state'])


@pytest.mark.parametrize('device', DEVICES)
def test_a_moved_agent_that_loads_a_cpu_state_holds_nothing_elsewhere(device):
    state = trained_on_cpu().state_dict()
    agent = make_agent().to(device)
    assert agent.device.type == device
    # A CPU generator's state (5,056 bytes) does not fit a CUDA or meta
    # generator (16 bytes, or none): the agent keeps the generator seeded
    # from the saved seed and reports the state missing; the rest loads.
    assert agent.load_state_dict(state) == ['rng_state']
    assert misplaced_tensors(agent, device) == []
    episode = rollout(agent, device=device)
    assert misplaced_tensors(agent, device) == []
    assert episode.actions.device.type == device
    if device != 'meta':  # learning reads values: not on 'meta'
        agent.learn(episode, torch.tensor(0.2, device=device))
        assert misplaced_tensors(agent, device) == []


@pytest.mark.parametrize('device', DEVICES)
def test_a_trained_agent_moved_away_takes_everything_along(device):
    agent = trained_on_cpu().to(device)
    assert misplaced_tensors(agent, device) == []


@pytest.mark.parametrize('device', DEVICES)
def test_mtkd_agent_follows_its_policy(device):
    agent = MTKDAgent([6, 6], hidden_dim=8, momentum=0.9)
    for _ in range(2):
        agent.store(torch.rand(4, 18), torch.rand(4))
    agent.update()
    agent.store(torch.rand(4, 18), torch.rand(4))
    state = agent.state_dict()
    moved = MTKDAgent([6, 6], hidden_dim=8, momentum=0.9).to(device)
    moved.load_state_dict(state)
    assert misplaced_tensors(moved, device) == []


def test_the_agent_acts_and_learns_in_float32_under_autocast():
    """Under bf16 autocast an unprotected policy acts in bf16 while PPO
    recomputes the log-probabilities in float32: the first ratio is not 1
    (measured: old_approx_kl ~ 1e-3). In float32 it is 1 exactly."""
    agent = make_agent(actor_epochs=1, critic_epochs=1)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        episode = rollout(agent, num=64)
        assert all(
            getattr(episode, name).dtype == torch.float32
            for name in ('states', 'policy_states', 'actions', 'log_probs',
                         'values'))
        diagnostics = agent.learn(episode, torch.tensor(0.1))
    assert float(diagnostics['skipped']) == 0
    assert abs(float(diagnostics['old_approx_kl'])) < 1e-7


def test_an_update_reads_the_device_once():
    agent = make_agent()
    agent.max_episode_length = 10
    episode = rollout(agent, num=32)
    with HostReads() as counter:
        diagnostics = agent.learn(episode, torch.tensor(0.1))
    assert float(diagnostics['skipped']) == 0
    # The one agreed decision: learn or skip (read from the gathered
    # episodes' headers).
    assert counter.reads == ['Tensor.tolist']


def test_the_counter_sees_every_kind_of_host_read():
    x = torch.arange(4.0)
    with HostReads() as counter:
        float(x.sum())
        x[x > 1].sum()
        x.tolist()
        (x + 1).mul(2)  # stays on the device
    assert counter.reads == [
        'aten._local_scalar_dense.default', 'aten.index.Tensor',
        'Tensor.tolist'
    ]


def test_learning_after_the_gather_reads_nothing_and_keeps_its_shapes():
    """What a captured update needs: after the one gather (and its header
    read), the whole learning step runs without a host read, on batches of
    the same shape whatever the episode's length (the last, smaller batch;
    detection's varying RoI counts)."""
    agent = make_agent()
    shapes = []
    learning_step = agent.learning_step

    def checked(rows, noise):
        with HostReads() as counter:
            values = learning_step(rows, noise)
        assert counter.reads == []
        shapes.append([tuple(t.shape) for t in (rows, noise, *values)])
        return values

    agent.learning_step = checked
    agent.graphed_learning.fn = checked
    for num in (50, 64, 16, 37, 1):
        diagnostics = agent.learn(rollout(agent, num=num), torch.tensor(0.1))
        assert float(diagnostics['skipped']) == 0
    assert agent.capacity == 64
    # The first episode (50 steps) sets a capacity of 64; it never changes.
    assert all(shape == shapes[0] for shape in shapes)
