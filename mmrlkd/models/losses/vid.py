"""Variational information distillation (Ahn et al., CVPR 2019).

The student maximises a variational lower bound on the mutual information
between a teacher feature map t and a student feature map s, modelling t
given s as a Gaussian whose mean a small network regresses from s and whose
variance is one learned value per channel c (paper Eq. 2 and 5)::

    mu = regressor(s)          sigma_c^2 = softplus(alpha_c) + eps
    L = mean over n, c, h, w of  log(sigma_c) + (t - mu)^2 / (2 sigma_c^2)

(the Gaussian negative log-likelihood without its constant). The regressor
(1x1 conv, ReLU, 1x1 conv, ReLU, 1x1 conv) and alpha are trained with the
student; they live in this loss, so in the distiller, so the student's
optimizer sees them. When the resolutions differ, the larger map is
average-pooled to the smaller one.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmrlkd.registry import MODELS


def match_resolution(s_feature, t_feature):
    """Average-pool the larger map to the smaller one's size."""
    s_size, t_size = s_feature.shape[2:], t_feature.shape[2:]
    if s_size == t_size:
        return s_feature, t_feature
    if s_size[0] * s_size[1] > t_size[0] * t_size[1]:
        return F.adaptive_avg_pool2d(s_feature, t_size), t_feature
    return s_feature, F.adaptive_avg_pool2d(t_feature, s_size)


@MODELS.register_module()
class VIDLoss(nn.Module):
    """VID between one student and one teacher feature map.

    Args:
        student_channels (int): Channels of the student feature.
        teacher_channels (int): Channels of the teacher feature.
        mid_channels (int, optional): Hidden width of the regressor.
            Defaults to ``teacher_channels`` (as in the CRD benchmark).
        init_pred_var (float): Initial variance sigma^2. Defaults to 5.0.
        eps (float): Lower bound of the variance. Defaults to 1e-5.
        loss_weight (float): Weight of the loss. Defaults to 1.0.

    Examples:
        >>> # one VIDLoss per pair of stage outputs, e.g. stage 1:
        >>> loss_vid_1 = dict(type='mmrlkd.VIDLoss', student_channels=16,
        ...                   teacher_channels=16)
    """

    def __init__(self,
                 student_channels,
                 teacher_channels,
                 mid_channels=None,
                 init_pred_var=5.0,
                 eps=1e-5,
                 loss_weight=1.0):
        super().__init__()
        if init_pred_var <= eps:
            raise ValueError(f'init_pred_var must exceed eps={eps}, got '
                             f'{init_pred_var}')
        mid_channels = mid_channels or teacher_channels
        self.regressor = nn.Sequential(
            nn.Conv2d(student_channels, mid_channels, 1,
                      bias=False), nn.ReLU(),
            nn.Conv2d(mid_channels, mid_channels, 1, bias=False), nn.ReLU(),
            nn.Conv2d(mid_channels, teacher_channels, 1, bias=False))
        # softplus(alpha) + eps == init_pred_var at the start.
        alpha = math.log(math.expm1(init_pred_var - eps))
        self.alpha = nn.Parameter(torch.full((teacher_channels, ), alpha))
        self.eps = eps
        self.loss_weight = loss_weight

    def variance(self):
        """sigma_c^2, (C_t,)."""
        return F.softplus(self.alpha) + self.eps

    def forward(self, s_feature, t_feature):
        s_feature, t_feature = match_resolution(s_feature, t_feature.detach())
        mean = self.regressor(s_feature).float()
        var = self.variance().view(1, -1, 1, 1)
        nll = 0.5 * ((mean - t_feature.float())**2 / var + torch.log(var))
        return self.loss_weight * nll.mean()
