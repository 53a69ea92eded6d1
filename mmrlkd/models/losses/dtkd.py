"""The DTKD loss (Wei & Bai, arXiv 2404.12711), as the official code runs it.

With per-instance temperatures T_tea,i and T_stu,i (from
:class:`DTKDTemperature`), a reference temperature tau and a warm-up
factor w = min(e / W, 1) (e the 1-based epoch)::

    L_DTKD = mean_i T_tea,i T_stu,i KL(softmax(v_i / T_tea,i)
                                       || softmax(u_i / T_stu,i))
    L_KD   = mean_i tau^2 KL(softmax(v_i / tau) || softmax(u_i / tau))
    L      = w * (alpha * L_DTKD + beta * L_KD)

The cross-entropy term (gamma = 1 upstream) is the student head's own loss.
"""
import torch.nn as nn

from mmrlkd.registry import MODELS
from .float32 import float32_loss
from .instance_kd import (INSTANCE_REDUCTIONS, check_reduction,
                          instance_kd_loss, reduce_instances)
from .temperature import split_temperature
from .warmup import check_warmup, linear_warmup_factor


@float32_loss
def dtkd_loss(preds_S,
              preds_T,
              temp_T,
              temp_S,
              tau=4.0,
              alpha=1.0,
              beta=1.0,
              reduction='batchmean'):
    """alpha * L_DTKD + beta * L_KD per instance, then reduced.

    Args:
        preds_S (Tensor): Student logits, (N, C).
        preds_T (Tensor): Teacher logits, (N, C).
        temp_T (float | Tensor): Teacher temperature(s): scalar or (N,).
        temp_S (float | Tensor): Student temperature(s): scalar or (N,).
        tau (float): Reference temperature of the vanilla KD term.
        alpha (float): Weight of the dynamic-temperature term.
        beta (float): Weight of the vanilla KD term.
        reduction (str): 'none' (N,), 'batchmean' (mean over instances, as
            upstream) or 'sum'.
    """
    dynamic = instance_kd_loss(preds_S, preds_T, temp_T, temp_S, 'none')
    vanilla = instance_kd_loss(preds_S, preds_T, tau, tau, 'none')
    return reduce_instances(alpha * dynamic.sum(1) + beta * vanilla.sum(1),
                            reduction)


@MODELS.register_module()
class DTKDLoss(nn.Module):
    """DTKD: a dynamic-temperature KD term plus a vanilla KD term.

    Takes the temperatures of a :class:`DTKDTemperature` through the
    distiller's ``temperature`` argument (any provider works: with one
    shared temperature T the first term is KD at T).

    Args:
        alpha (float): Weight of L_DTKD. Defaults to 3.0 (upstream default;
            the per-pair values are in ``configs/dtkd/README.md``).
        beta (float): Weight of L_KD. Defaults to 1.0.
        tau (float): Reference temperature of L_KD (keep it equal to the
            provider's ``tau``). Defaults to 4.0.
        warmup (int): W, the length of the linear warm-up of the whole
            loss; 0 disables it. Defaults to 20.
        warmup_by_epoch (bool): Count W in epochs (else iterations).
            Defaults to True.
        reduction (str): 'none' | 'batchmean' | 'sum'.
            Defaults to 'batchmean'.
        loss_weight (float): Weight of the loss. Defaults to 1.0.

    Note:
        The warm-up reads the current epoch (or iteration) that MMEngine's
        ``RuntimeInfoHook`` puts in the ``MessageHub``; outside a training
        loop there is none and the factor is 1.

    Examples:
        >>> loss_dtkd = dict(type='mmrlkd.DTKDLoss', alpha=1.0, beta=0.5,
        ...                  tau=4.0, warmup=20)
    """

    def __init__(self,
                 alpha=3.0,
                 beta=1.0,
                 tau=4.0,
                 warmup=20,
                 warmup_by_epoch=True,
                 reduction='batchmean',
                 loss_weight=1.0):
        super().__init__()
        check_reduction(reduction, INSTANCE_REDUCTIONS)
        if not tau > 0:
            raise ValueError(f'tau must be positive, got {tau}')
        check_warmup(warmup)
        self.alpha = alpha
        self.beta = beta
        self.tau = float(tau)
        self.warmup = warmup
        self.warmup_by_epoch = warmup_by_epoch
        self.reduction = reduction
        self.loss_weight = loss_weight

    def warmup_factor(self):
        """min(e / W, 1) for the current 1-based epoch e (1 outside a run)."""
        return linear_warmup_factor(self.warmup, self.warmup_by_epoch)

    def forward(self, preds_S, preds_T, temperature=None):
        """Args: logits (N, C) and a temperature (see ``split_temperature``).
        """
        temp_T, temp_S = split_temperature(temperature, self.tau)
        loss = dtkd_loss(preds_S, preds_T.detach(), temp_T, temp_S, self.tau,
                         self.alpha, self.beta, self.reduction)
        return self.loss_weight * self.warmup_factor() * loss
