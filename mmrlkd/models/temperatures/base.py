"""The one interface every temperature provider implements.

A provider is an ``nn.Module`` called as
``provider(preds_S, preds_T, gt_labels=None) -> TemperatureOutput``: it sees
the student and teacher logits of a batch (N instances) and returns the
temperature applied to each side, a scalar or one per instance.
"""
from dataclasses import dataclass

import torch
import torch.nn as nn


@dataclass
class TemperatureOutput:
    """Temperatures for one batch.

    Attributes:
        teacher (Tensor): Scalar or (N,): divides the teacher logits.
        student (Tensor): Scalar or (N,): divides the student logits.
    """
    teacher: torch.Tensor
    student: torch.Tensor

    @classmethod
    def shared(cls, temperature):
        """The same temperature(s) for teacher and student."""
        return cls(teacher=temperature, student=temperature)

    def statistics(self, num_instances):
        """Mean/std/min/max of the student-side temperatures, for logs."""
        t = self.student.detach().float().reshape(-1)
        if t.numel() == 1:
            t = t.expand(max(num_instances, 1))
        std = t.std(unbiased=False)
        return dict(mean=t.mean(), std=std, min=t.min(), max=t.max())


class BaseTemperatureProvider(nn.Module):
    """Base class: subclasses implement :meth:`forward`.

    ``forward(preds_S, preds_T, gt_labels=None)`` takes logits (N, C) and
    optional labels (N,) and returns a :class:`TemperatureOutput`. Providers
    must not let gradients reach the teacher; gradients reaching the
    temperatures are the provider's choice (CTKD learns through them, RLKD
    does not).
    """

    def forward(self, preds_S, preds_T, gt_labels=None):
        raise NotImplementedError

    def skipped_loss(self, reference):
        """The loss of a batch whose provider did not run: a zero that
        touches every trainable parameter of the provider.

        With DDP (``find_unused_parameters=False``) every process must
        produce a gradient for every parameter in every iteration; a CTKD
        provider skipped on one process only (no finite instance, no RoI)
        would leave its temperature without one, and the all-reduce would
        wait for it. The zero gradient keeps the processes in step.

        Args:
            reference (Tensor): Any tensor on the loss's device.

        Returns:
            Tensor: A float32 zero, with a graph through the parameters.
        """
        zero = reference.new_zeros((), dtype=torch.float32)
        for param in self.parameters():
            if param.requires_grad:
                zero = zero + 0 * param.float().sum()
        return zero
