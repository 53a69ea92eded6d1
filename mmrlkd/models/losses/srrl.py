"""Softmax regression representation learning (Yang et al., ICLR 2021).

A connector r (1x1 conv, BN, ReLU) maps the student's penultimate
representation h_s to the teacher's width. Two L2 terms train the student
and the connector: feature matching, and "softmax regression": r(h_s) fed
to the teacher's own (frozen) linear classifier (W_t, b_t) must give the
teacher's logits z_t::

    L_fm = MSE(r(h_s), h_t)
    L_sr = MSE(W_t r(h_s) + b_t, z_t)
    L = fm_weight * L_fm + sr_weight * L_sr

MSE averages over all elements. The connector lives in this loss, so in the
distiller, so the student's optimizer trains it. Representations are the
pooled (N, C) features that enter the classifiers; (N, C, H, W) maps are
accepted too and average-pooled before the teacher's classifier.
"""
import torch.nn as nn
import torch.nn.functional as F

from mmrlkd.registry import MODELS


@MODELS.register_module()
class SRRLLoss(nn.Module):
    """SRRL's feature-matching and softmax-regression terms.

    Args:
        student_channels (int): Width of the student representation.
        teacher_channels (int): Width of the teacher representation.
        fm_weight (float): Weight of L_fm. Defaults to 1.0.
        sr_weight (float): Weight of L_sr. Defaults to 1.0.
        loss_weight (float): Weight of the sum. Defaults to 1.0.

    Examples:
        >>> loss_srrl = dict(type='mmrlkd.SRRLLoss', student_channels=64,
        ...                  teacher_channels=256)
        >>> # map t_fc_weight / t_fc_bias from ``Parameter`` recorders on
        >>> # the teacher's head.fc.weight / head.fc.bias.
    """

    def __init__(self,
                 student_channels,
                 teacher_channels,
                 fm_weight=1.0,
                 sr_weight=1.0,
                 loss_weight=1.0):
        super().__init__()
        self.connector = nn.Sequential(
            nn.Conv2d(student_channels, teacher_channels, 1, bias=False),
            nn.BatchNorm2d(teacher_channels), nn.ReLU())
        self.fm_weight = fm_weight
        self.sr_weight = sr_weight
        self.loss_weight = loss_weight

    def forward(self,
                s_feature,
                t_feature,
                t_logits,
                t_fc_weight,
                t_fc_bias=None):
        """Args: representations, teacher logits, teacher fc parameters."""
        pooled_input = s_feature.dim() == 2
        if pooled_input:
            s_feature = s_feature[:, :, None, None]
        transferred = self.connector(s_feature)
        if pooled_input:
            transferred = transferred.flatten(1)
        t_feature = t_feature.detach()
        loss_fm = F.mse_loss(transferred.float(), t_feature.float())
        pooled = transferred.flatten(2).mean(
            2) if transferred.dim() == 4 else transferred
        bias = None if t_fc_bias is None else t_fc_bias.detach()
        regressed = F.linear(pooled, t_fc_weight.detach(), bias)
        loss_sr = F.mse_loss(regressed.float(), t_logits.detach().float())
        return self.loss_weight * (
            self.fm_weight * loss_fm + self.sr_weight * loss_sr)
