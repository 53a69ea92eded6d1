"""KD with a temperature per instance (Hinton et al., arXiv 1503.02531).

For instance i with teacher/student temperatures T_i^t, T_i^s::

    L_i = T_i^t * T_i^s * KL(softmax(z_i^t / T_i^t) || softmax(z_i^s / T_i^s))

With T_i^t = T_i^s = T this is the T^2-scaled KD loss of MMRazor's
``KLDivergence``; RLKD (arXiv 2407.00115) and instance-wise CTKD choose T_i
per instance, DTKD chooses T_i^t != T_i^s.
"""
import torch.nn as nn
import torch.nn.functional as F

from mmrlkd.registry import MODELS
from .float32 import float32_loss
from .temperature import as_instance_temperature, split_temperature

REDUCTIONS = ('none', 'batchmean', 'sum', 'mean')
#: Reductions of a loss with one term per instance (DKD, DTKD).
INSTANCE_REDUCTIONS = ('none', 'batchmean', 'sum')


def check_reduction(reduction, choices=REDUCTIONS):
    if reduction not in choices:
        raise ValueError(
            f'reduction must be one of {choices}, got {reduction!r}')


def reduce_instances(loss, reduction):
    """'none' (N,), 'sum' or 'batchmean' (the mean) of a per-instance loss."""
    if reduction == 'none':
        return loss
    return loss.sum() if reduction == 'sum' else loss.mean()


def reduce_elementwise(loss, reduction):
    """MMRazor's reductions of an (N, C) element-wise loss."""
    if reduction == 'none':
        return loss
    if reduction == 'sum':
        return loss.sum()
    if reduction == 'mean':
        return loss.mean()
    return loss.sum() / loss.shape[0]  # batchmean


@float32_loss
def instance_kd_loss(preds_S, preds_T, temp_T, temp_S, reduction='batchmean'):
    """Element-wise T^t * T^s * KL terms, reduced like MMRazor's losses.

    Args:
        preds_S (Tensor): Student logits, (N, C).
        preds_T (Tensor): Teacher logits, (N, C).
        temp_T (float | Tensor): Teacher temperature(s): scalar or (N,).
        temp_S (float | Tensor): Student temperature(s): scalar or (N,).
        reduction (str): 'none' gives (N, C); 'batchmean' (sum / N), 'sum'
            and 'mean' (sum / (N * C)) give a scalar.

    Returns:
        Tensor: The loss, computed in float32 whatever the logits' dtype
        (and under autocast: z / T overflows fp16 for small T).
    """
    n = preds_S.shape[0]
    t_T = as_instance_temperature(temp_T, n, preds_S)
    t_S = as_instance_temperature(temp_S, n, preds_S)
    log_p_T = F.log_softmax(preds_T.float() / t_T, dim=1)
    log_p_S = F.log_softmax(preds_S.float() / t_S, dim=1)
    kl = F.kl_div(log_p_S, log_p_T, reduction='none', log_target=True)
    return reduce_elementwise(kl * (t_T * t_S), reduction)


@MODELS.register_module()
class InstanceKDLoss(nn.Module):
    """KD loss that takes one temperature per instance (or one for all).

    Args:
        tau (float): Temperature used when ``forward`` gets none.
            Defaults to 4.0.
        reduction (str): 'none' | 'batchmean' | 'sum' | 'mean', as in
            MMRazor's ``KLDivergence``. Defaults to 'batchmean'.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
        teacher_detach (bool): Stop gradients into the teacher logits.
            Defaults to True.

    Note:
        ``temperature`` is a defaulted ``forward`` argument, so MMRazor's
        ``ConfigurableDistiller`` does not ask for a recorder for it;
        :class:`InstanceTemperatureDistiller` fills it from its provider.

    Examples:
        >>> loss_kd = dict(type='mmrlkd.InstanceKDLoss', loss_weight=0.9)
    """

    def __init__(self,
                 tau=4.0,
                 reduction='batchmean',
                 loss_weight=1.0,
                 teacher_detach=True):
        super().__init__()
        check_reduction(reduction)
        if tau <= 0:
            raise ValueError(f'tau must be positive, got {tau}')
        self.tau = tau
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.teacher_detach = teacher_detach

    def forward(self, preds_S, preds_T, temperature=None):
        """Args: logits (N, C) and a temperature (see ``split_temperature``).
        """
        if self.teacher_detach:
            preds_T = preds_T.detach()
        temp_T, temp_S = split_temperature(temperature, self.tau)
        loss = instance_kd_loss(preds_S, preds_T, temp_T, temp_S,
                                self.reduction)
        return self.loss_weight * loss
