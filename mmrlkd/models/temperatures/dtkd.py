"""DTKD: sharpness-matched teacher and student temperatures (arXiv 2404.12711).

For instance i with teacher sharpness x_i and student sharpness y_i and a
reference temperature tau::

    T_tea,i = 2 x_i / (x_i + y_i) * tau     T_stu,i = 2 y_i / (x_i + y_i) * tau

so that x_i / T_tea,i = y_i / T_stu,i (equal sharpness after scaling) and
T_tea,i + T_stu,i = 2 tau. Sharpness is the max logit, as the official code
computes it; the paper's log-sum-exp is a switch. The authors' README errata
(2025) says the paper's Eqs. 4-5 derivation is wrong and all results use
this code formula.
"""
import logging

import torch
from mmengine.logging import print_log

from mmrlkd.registry import MODELS
from .base import BaseTemperatureProvider, TemperatureOutput

SHARPNESS = ('max_logit', 'logsumexp')


class DTKDTemperatureOutput(TemperatureOutput):
    """Adds teacher-side statistics and the fallback count to the logs."""

    def __init__(self, teacher, student, fallbacks):
        super().__init__(teacher=teacher, student=student)
        self.fallbacks = fallbacks

    def statistics(self, num_instances):
        stats = super().statistics(num_instances)
        teacher = TemperatureOutput.shared(self.teacher)
        for key, value in teacher.statistics(num_instances).items():
            stats[f'teacher_{key}'] = value
        stats['fallbacks'] = self.fallbacks
        return stats


@MODELS.register_module()
class DTKDTemperature(BaseTemperatureProvider):
    """Per-instance teacher and student temperatures of equal sharpness.

    Both temperatures lie in (0, 2 tau) whenever the two sharpnesses have
    the same sign: both negative is fine (x + y < 0 too, so both ratios are
    positive). The official formula breaks only where the signs differ (one
    temperature negative), where a sharpness is 0 (a zero temperature) or
    where x + y = 0 (division by zero); such an instance falls back to
    ``tau`` for both models, i.e. vanilla KD. Fallbacks are counted
    (``fallback_count``, logged as ``temperature_fallbacks``, cumulative)
    and the first one is warned about.

    Args:
        tau (float): Reference temperature. Defaults to 4.0.
        sharpness (str): 'max_logit' (the official code) or 'logsumexp'
            (the paper). Defaults to 'max_logit'.
        detach_temperature (bool): Stop gradients through the temperatures.
            The official code does not: the student's sharpness carries
            gradient into both temperatures. Defaults to False.

    Examples:
        >>> provider = dict(type='mmrlkd.DTKDTemperature', tau=4.0)
        >>> loss_dtkd = dict(type='mmrlkd.DTKDLoss', alpha=1.0, beta=0.5)
    """

    def __init__(self,
                 tau=4.0,
                 sharpness='max_logit',
                 detach_temperature=False):
        super().__init__()
        if not tau > 0:
            raise ValueError(f'tau must be positive, got {tau}')
        if sharpness not in SHARPNESS:
            raise ValueError(
                f'sharpness must be one of {SHARPNESS}, got {sharpness!r}')
        self.tau = float(tau)
        self.sharpness = sharpness
        self.detach_temperature = detach_temperature
        self.register_buffer(
            'fallback_count',
            torch.zeros((), dtype=torch.long),
            persistent=False)
        self._warned = False

    def _sharpness(self, logits):
        logits = logits.float()
        if self.sharpness == 'logsumexp':
            return logits.logsumexp(1)
        return logits.max(1).values

    def forward(self, preds_S, preds_T, gt_labels=None):
        if self.detach_temperature:
            preds_S = preds_S.detach()
        x = self._sharpness(preds_T.detach())
        y = self._sharpness(preds_S)
        # Same strict sign on both sides (not x * y > 0, which underflows).
        valid = ((x > 0) & (y > 0)) | ((x < 0) & (y < 0))
        total = torch.where(valid, x + y, torch.ones_like(x))
        t_tea = torch.where(valid, 2 * self.tau * x / total,
                            torch.full_like(x, self.tau))
        t_stu = torch.where(valid, 2 * self.tau * y / total,
                            torch.full_like(y, self.tau))
        num_fallbacks = (~valid).sum()
        if self.training:
            self.fallback_count += num_fallbacks
            if not self._warned and num_fallbacks.item() > 0:
                self._warned = True
                print_log(
                    f'DTKDTemperature: {num_fallbacks.item()} instance(s) '
                    f'with {self.sharpness} sharpness of mixed signs (or '
                    f'0) use tau={self.tau} for teacher and student '
                    '(counted in temperature_fallbacks; warned once)',
                    logger='current',
                    level=logging.WARNING)
        return DTKDTemperatureOutput(t_tea, t_stu, self.fallback_count.float())
