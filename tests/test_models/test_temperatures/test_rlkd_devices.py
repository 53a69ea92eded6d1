"""RLKDTemperature's state follows the model to any device and precision.

The bug this guards against: a provider moved to a GPU that loads a
CPU-saved agent (``--resume``, ``load_from``) kept its pending episode on
the CPU and handed it to the agent at the first iteration. 'meta' is the
second device every machine has; 'cuda' runs where a GPU is present.
"""
import pytest
import torch
from held_tensors import misplaced_tensors

from mmrlkd.models import RLKDTemperature

DEVICES = ['meta'] + (['cuda'] if torch.cuda.is_available() else [])


def batch(num=8, classes=5, device='cpu', seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (num, ), generator=g)
    student = torch.randn(num, classes, generator=g)
    teacher = torch.randn(num, classes, generator=g)
    return student.to(device), teacher.to(device), labels.to(device)


def iterate(provider, seed, device='cpu', update=True):
    provider(*batch(device=device, seed=seed))
    return provider.finish_iteration(learn=update)


def trained_on_cpu():
    provider = RLKDTemperature(policy=dict(hidden_dim=16))
    provider.acting = True
    for seed in range(4):
        iterate(provider, seed)
    assert len(provider.reward.pending.episode)
    assert provider.agent.reward_corrector.replay
    return provider.agent_state_dict()


@pytest.mark.parametrize('device', DEVICES)
def test_resumed_on_another_device_everything_follows(device):
    state = trained_on_cpu()
    provider = RLKDTemperature(policy=dict(hidden_dim=16)).to(device)
    provider.load_agent_state_dict(state)
    assert misplaced_tensors(provider, device) == []
    # Every method keeps it so; learning needs values ('meta' has none).
    iterate(provider, 10, device, update=device != 'meta')
    assert misplaced_tensors(provider, device) == []
    iterate(provider, 11, device, update=device != 'meta')
    assert misplaced_tensors(provider, device) == []


@pytest.mark.parametrize('device', DEVICES)
def test_a_provider_moved_mid_training_takes_its_pending_episode(device):
    provider = RLKDTemperature(policy=dict(hidden_dim=16))
    provider.acting = True
    for seed in range(2):
        iterate(provider, seed)
    provider.to(device)
    assert misplaced_tensors(provider, device) == []


def test_half_precision_models_keep_a_float32_agent():
    provider = RLKDTemperature(policy=dict(hidden_dim=16)).half()
    assert all(p.dtype == torch.float32 for net in provider.agent.networks()
               for p in net.parameters())
    provider.acting = True
    student, teacher, labels = batch()
    out = provider(student.half(), teacher.half(), labels)
    assert out.student.dtype == torch.float32
