"""A provider skipped on one process still hands DDP every gradient.

With ``find_unused_parameters=False`` DDP expects a gradient for every
parameter from every process in every iteration. A CTKD provider whose
batch had no finite instance (or no RoI) on one process only would leave
its temperature without one there, and the gradient all-reduce would
wait for it; ``skipped_loss`` is a zero with a graph through the
provider's parameters.
"""
import pytest
import torch
from torch.nn.parallel import DistributedDataParallel
from two_processes import run_on_two_processes

from mmrlkd.models import (CTKDGlobalTemperature, CTKDInstanceTemperature,
                           InstanceKDLoss, RLKDTemperature)


@pytest.mark.parametrize('provider', [
    CTKDGlobalTemperature(),
    CTKDInstanceTemperature(num_classes=5),
])
def test_skipped_loss_is_a_zero_that_reaches_every_parameter(provider):
    loss = provider.skipped_loss(torch.ones(3))
    assert loss.dtype == torch.float32 and loss.item() == 0
    loss.backward()
    for param in provider.parameters():
        assert param.grad is not None and not param.grad.any()


def test_a_provider_without_parameters_gives_a_plain_zero():
    loss = RLKDTemperature(policy=dict(hidden_dim=8)).skipped_loss(
        torch.ones(3))
    assert loss.item() == 0 and not loss.requires_grad


class Distilled(torch.nn.Module):
    """A student, a CTKD provider and a KD loss, as a distiller holds them.
    """

    def __init__(self):
        super().__init__()
        self.student = torch.nn.Linear(4, 5)
        self.provider = CTKDGlobalTemperature()
        self.loss = InstanceKDLoss()

    def forward(self, inputs, teacher, skip):
        logits = self.student(inputs)
        task = logits.square().mean()
        if skip:  # every instance of this batch was skipped
            return task + self.provider.skipped_loss(logits)
        temperature = self.provider(logits, teacher)
        return task + self.loss(logits, teacher, temperature=temperature)


def _train(rank, _):
    torch.manual_seed(0)
    model = DistributedDataParallel(
        Distilled(), device_ids=None, find_unused_parameters=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(rank)
    for step in range(3):
        optimizer.zero_grad()
        loss = model(
            torch.randn(8, 4, generator=g),
            torch.randn(8, 5, generator=g),
            skip=rank == 1 and step == 1)
        loss.backward()
        optimizer.step()
    return [p.detach().clone() for p in model.parameters()]


def test_ddp_steps_when_one_process_skipped_its_provider(tmp_path):
    # Without skipped_loss DDP waits for the provider's gradient.
    results = run_on_two_processes(tmp_path, _train)
    for a, b in zip(results[0], results[1]):
        assert torch.equal(a, b)
