"""Similarity-preserving KD (Tung & Mori, ICCV 2019).

With Q the batch's (N, C*H*W) flattened activations of one layer, the
pairwise similarities G = Q Q^T are L2-normalised row by row,
G~_i = G_i / ||G_i||_2, and the student matches the teacher's (paper Eq. 4)::

    L = 1 / N^2 * sum_i L_i,        L_i = sum_j (G~^t_ij - G~^s_ij)^2

Student and teacher may differ in width and resolution: only the N x N
similarities are compared.
"""
import torch.nn as nn
import torch.nn.functional as F

from mmrlkd.registry import MODELS
from .float32 import float32_loss


def normalized_similarities(features):
    """G~ of (N, ...) activations: row-normalised (N, N) Gram matrix."""
    flat = features.flatten(1).float()
    return F.normalize(flat @ flat.t(), dim=1)


@float32_loss
def sp_loss(s_feature, t_feature, reduction='mean'):
    """Per-instance SP terms L_i (N,) or their sum over N^2 ('mean').

    In float32 under autocast too: the Gram matrix overflows fp16.
    """
    diff = normalized_similarities(s_feature) - normalized_similarities(
        t_feature.detach())
    per_instance = diff.pow(2).sum(1)
    if reduction == 'none':
        return per_instance
    return per_instance.sum() / per_instance.numel()**2


@MODELS.register_module()
class SPLoss(nn.Module):
    """SP on one pair of feature maps; no learnable parameters.

    Args:
        loss_weight (float): Weight of the loss (the KD literature uses
            3000 on CIFAR-100, on the last stage's output). Defaults to 1.0.

    Examples:
        >>> loss_sp = dict(type='mmrlkd.SPLoss', loss_weight=3000)
    """

    def __init__(self, loss_weight=1.0):
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, s_feature, t_feature):
        return self.loss_weight * sp_loss(s_feature, t_feature)
