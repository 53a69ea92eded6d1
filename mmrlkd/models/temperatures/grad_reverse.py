"""Gradient reversal (Ganin & Lempitsky, ICML 2015), as CTKD uses it.

The forward pass is the identity; the backward pass multiplies the incoming
gradient by ``-lambda``. Placed between a temperature module and the
distillation loss, it lets one optimizer step make the student descend the
loss while the temperature module ascends it (CTKD, arXiv 2211.16231).

The official CTKD code passes a negative ``lambda_`` and multiplies by it;
here the strength is non-negative and the sign flip is part of the layer, so
``lambda = 0`` blocks the gradient and ``lambda = 1`` is full reversal.
"""
import torch


class _GradientReversal(torch.autograd.Function):

    @staticmethod
    def forward(ctx, x, strength):
        ctx.strength = strength
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return -ctx.strength * grad_output, None


def grad_reverse(x, strength=1.0):
    """Identity forward; gradient times ``-strength`` backward.

    Args:
        x (Tensor): Any tensor.
        strength (float): lambda >= 0, the reversal strength.

    Returns:
        Tensor: ``x`` unchanged, joined to the graph through the reversal.
    """
    strength = float(strength)
    if strength < 0:
        raise ValueError(f'strength must be >= 0, got {strength}')
    return _GradientReversal.apply(x, strength)
