"""Probabilistic knowledge transfer (Passalis & Tefas, ECCV 2018).

Each batch's features define, for instance i, a distribution over the other
instances j of the batch from cosine similarities mapped to [0, 1]::

    K_ij = (1 + cos(f_i, f_j)) / 2        p_(j|i) = K_ij / sum_j' K_ij'

The student matches the teacher's conditional distributions::

    L_i = sum_j p^t_(j|i) * log(p^t_(j|i) / p^s_(j|i))

As in the CRD/RepDistiller implementation that the KD literature's weights
(beta = 30000) are tuned for, the loss is averaged over the N x N entries,
i.e. sum_i L_i / N^2, and ``eps`` guards the logarithm.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmrlkd.registry import MODELS
from .float32 import float32_loss


def conditional_similarities(features):
    """p_(j|i) of (N, ...) features, as an (N, N) row-stochastic matrix."""
    unit = F.normalize(features.flatten(1).float(), dim=1)
    kernel = (unit @ unit.t() + 1) / 2
    return kernel / kernel.sum(dim=1, keepdim=True)


@float32_loss
def pkt_loss(s_feature, t_feature, eps=1e-7, reduction='mean'):
    """Per-instance PKT divergences; see the module docstring.

    Args:
        s_feature (Tensor): Student features (N, ...), flattened per row.
        t_feature (Tensor): Teacher features (N, ...), any width.
        eps (float): Added inside the logarithm's ratio. Defaults to 1e-7.
        reduction (str): 'none' gives L_i (N,); 'mean' sum_i L_i / N^2.

    Returns:
        Tensor: float32 loss, under autocast too (fp16 or bf16 cosines
        lose the digits the loss is made of).
    """
    p_s = conditional_similarities(s_feature)
    p_t = conditional_similarities(t_feature.detach())
    per_instance = (p_t * torch.log((p_t + eps) / (p_s + eps))).sum(1)
    if reduction == 'none':
        return per_instance
    return per_instance.sum() / per_instance.numel()**2


@MODELS.register_module()
class PKTLoss(nn.Module):
    """PKT on penultimate (pooled) features; no learnable parameters.

    Args:
        loss_weight (float): Weight of the loss (the KD literature uses
            30000 on CIFAR-100). Defaults to 1.0.
        eps (float): Guard of the logarithm. Defaults to 1e-7.

    Examples:
        >>> loss_pkt = dict(type='mmrlkd.PKTLoss', loss_weight=30000)
        >>> # s_feature / t_feature from ModuleOutputs recorders on 'neck'
        >>> # (data_idx=0: GlobalAveragePooling returns a tuple).
    """

    def __init__(self, loss_weight=1.0, eps=1e-7):
        super().__init__()
        self.loss_weight = loss_weight
        self.eps = eps

    def forward(self, s_feature, t_feature):
        return self.loss_weight * pkt_loss(s_feature, t_feature, self.eps)
