"""Decoupled KD with a temperature per instance (Zhao et al., CVPR 2022).

For instance i with target class g, temperatures T_i^t (teacher) and T_i^s
(student), binary distributions b = [p_g, 1 - p_g] and the distributions
p^(-g) over the non-target classes (each softmax taken at that model's
temperature)::

    TCKD_i = KL(b_i^t || b_i^s)        NCKD_i = KL(p_i^(-g),t || p_i^(-g),s)
    L_i = T_i^t * T_i^s * (alpha * TCKD_i + beta * NCKD_i)

The scale is kept per instance (the official RLKD code multiplies a (B, 1)
temperature into a (B,) loss and loses it to broadcasting). log(1 - p_g) is
computed as a log-sum-exp over the non-target logits, so it stays finite
when p_g rounds to 1.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmrlkd.registry import MODELS
from .float32 import float32_loss
from .instance_kd import INSTANCE_REDUCTIONS, check_reduction, reduce_instances
from .temperature import as_instance_temperature, split_temperature
from .warmup import check_warmup, linear_warmup_factor

# Stands in for the target logit when it must vanish from a softmax. Finite,
# because with -inf the masked terms' backward computes 0 * nan = nan (that
# matters for temperatures learned through the loss, as in CTKD).
_EXCLUDED = -1e30


def _target_and_rest(logits, target):
    """log [p_g, 1 - p_g] (N, 2) and log p^(-g) (N, C) of tempered logits.

    ``target`` is the (N, 1) column of target classes. Gather and scatter
    keep every shape static: no boolean-mask indexing, whose ``nonzero``
    would make the host wait for the device.
    """
    log_p_gt = F.log_softmax(logits, dim=1).gather(1, target).squeeze(1)
    rest = logits.scatter(1, target, _EXCLUDED)
    log_not_gt = rest.logsumexp(1) - logits.logsumexp(1)
    return torch.stack([log_p_gt, log_not_gt], 1), F.log_softmax(rest, 1)


@float32_loss
def instance_dkd_loss(preds_S,
                      preds_T,
                      gt_labels,
                      temp_T,
                      temp_S,
                      alpha=1.0,
                      beta=1.0,
                      reduction='batchmean'):
    """Per-instance DKD; see the module docstring.

    Args:
        preds_S (Tensor): Student logits, (N, C).
        preds_T (Tensor): Teacher logits, (N, C).
        gt_labels (Tensor): Target classes, (N,) long.
        temp_T (float | Tensor): Teacher temperature(s): scalar or (N,).
        temp_S (float | Tensor): Student temperature(s): scalar or (N,).
        alpha (float): Weight of TCKD. Defaults to 1.0.
        beta (float): Weight of NCKD. Defaults to 1.0.
        reduction (str): 'none' (N,), 'batchmean' or 'sum'.

    Returns:
        Tensor: The loss in float32, under autocast too.
    """
    n = preds_S.shape[0]
    t_T = as_instance_temperature(temp_T, n, preds_S)
    t_S = as_instance_temperature(temp_S, n, preds_S)
    target = gt_labels.reshape(-1, 1).long()
    bin_T, rest_T = _target_and_rest(preds_T.float() / t_T, target)
    bin_S, rest_S = _target_and_rest(preds_S.float() / t_S, target)
    tckd = (bin_T.exp() * (bin_T - bin_S)).sum(1)
    nckd = (rest_T.exp() * (rest_T - rest_S)).sum(1)
    loss = (alpha * tckd + beta * nckd) * (t_T * t_S).squeeze(1)
    return reduce_instances(loss, reduction)


@MODELS.register_module()
class InstanceDKDLoss(nn.Module):
    """DKD loss that takes one temperature per instance (or one for all).

    Args:
        tau (float): Temperature used when ``forward`` gets none.
            Defaults to 1.0.
        alpha (float): Weight of TCKD. Defaults to 1.0.
        beta (float): Weight of NCKD. Defaults to 1.0.
        reduction (str): 'none' (per instance), 'batchmean' (mean over
            instances, as mdistiller and MMRazor's ``DKDLoss``) or 'sum'.
            Defaults to 'batchmean'.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
        warmup (int): W of the linear warm-up min(e / W, 1) of the loss, e
            the 1-based epoch (mdistiller's and the official RLKD code's
            DKD use 20); 0 (default, as MMRazor's ``DKDLoss``) disables it.
        warmup_by_epoch (bool): Count W in epochs (else iterations).
            Defaults to True.

    Examples:
        >>> loss_dkd = dict(type='mmrlkd.InstanceDKDLoss', alpha=1, beta=2,
        ...                 warmup=20)
        >>> # gt_labels mapped from a ModuleInputs recorder on
        >>> # head.loss_module with data_idx=1, as in MMRazor's DKD configs.
    """

    def __init__(self,
                 tau=1.0,
                 alpha=1.0,
                 beta=1.0,
                 reduction='batchmean',
                 loss_weight=1.0,
                 warmup=0,
                 warmup_by_epoch=True):
        super().__init__()
        check_reduction(reduction, INSTANCE_REDUCTIONS)
        if tau <= 0:
            raise ValueError(f'tau must be positive, got {tau}')
        check_warmup(warmup)
        self.warmup = warmup
        self.warmup_by_epoch = warmup_by_epoch
        self.tau = tau
        self.alpha = alpha
        self.beta = beta
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self, preds_S, preds_T, gt_labels, temperature=None):
        """Args: logits (N, C), labels (N,), an optional temperature."""
        temp_T, temp_S = split_temperature(temperature, self.tau)
        loss = instance_dkd_loss(preds_S, preds_T.detach(), gt_labels, temp_T,
                                 temp_S, self.alpha, self.beta, self.reduction)
        return self.loss_weight * self.warmup_factor() * loss

    def warmup_factor(self):
        """min(e / W, 1) for the current 1-based epoch e (1 outside a run)."""
        return linear_warmup_factor(self.warmup, self.warmup_by_epoch)
