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
from mmengine.logging import MessageHub, print_log

from mmrlkd.registry import MODELS
from .base import BaseTemperatureProvider, TemperatureOutput

SHARPNESS = ('max_logit', 'logsumexp')
#: Training forwards between two reads of the fallback count (besides the
#: first forward of every epoch): a read makes the host wait for the device.
CHECK_EVERY = 1000


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
    and warned about once. The count stays on the device: the warning
    reads it at the first training forward of each epoch (MMEngine's
    ``MessageHub``) and every ``CHECK_EVERY`` training forwards, not in
    every iteration, so it may come up to an epoch after the first
    fallback.

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
        self._checked_epoch = None
        self._forwards_since_check = None  # None: never checked

    def _maybe_warn(self):
        """Warn once about fallbacks, reading the count once per epoch."""
        if self._warned:
            return
        epoch = MessageHub.get_current_instance().get_info('epoch')
        since = self._forwards_since_check
        if since is not None and epoch == self._checked_epoch and \
                since + 1 < CHECK_EVERY:
            self._forwards_since_check = since + 1
            return
        self._checked_epoch = epoch
        self._forwards_since_check = 0
        count = int(self.fallback_count)
        if count > 0:
            self._warned = True
            print_log(
                f'DTKDTemperature: {count} instance(s) so far with '
                f'{self.sharpness} sharpness of mixed signs (or 0) use '
                f'tau={self.tau} for teacher and student (counted in '
                'temperature_fallbacks; warned once)',
                logger='current',
                level=logging.WARNING)

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
        if self.training:
            self.fallback_count += (~valid).sum()
            self._maybe_warn()
        return DTKDTemperatureOutput(t_tea, t_stu, self.fallback_count.float())
