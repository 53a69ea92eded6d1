"""MMRazor's ConfigurableDistiller plus a temperature provider."""
import inspect

import torch
from mmrazor.models import ConfigurableDistiller

from mmrlkd.registry import MODELS


@MODELS.register_module()
class InstanceTemperatureDistiller(ConfigurableDistiller):
    """Feeds a provider's (per-instance) temperatures to the logit losses.

    Works like MMRazor's ``ConfigurableDistiller`` (recorders, connectors,
    ``loss_forward_mappings``), and before the losses are computed asks
    ``temperature_provider`` for temperatures from the recorded student and
    teacher logits. Every loss whose ``forward`` has a ``temperature``
    argument receives them (:class:`InstanceKDLoss`,
    :class:`InstanceDKDLoss`); feature losses in the same distiller are
    untouched. Temperature statistics are returned as non-loss entries, so
    they are logged but not optimised.

    Args:
        temperature_provider (dict): Config of a temperature provider, e.g.
            ``dict(type='mmrlkd.RLKDTemperature')``.
        logits (dict): Where the logits are: ``dict(student=dict(
            recorder='fc'), teacher=dict(recorder='fc'))``; each entry takes
            the keys of a ``loss_forward_mappings`` entry except
            ``from_student``.
        gt_labels (dict, optional): Where the labels are, from the student's
            recorders, e.g. ``dict(recorder='gt_labels', data_idx=1)`` with a
            ``ModuleInputs`` recorder on ``head.loss_module``.
        **kwargs: :class:`mmrazor.models.ConfigurableDistiller` arguments.

    Examples:
        >>> distiller = dict(
        ...     type='mmrlkd.InstanceTemperatureDistiller',
        ...     temperature_provider=dict(type='mmrlkd.FixedTemperature'),
        ...     logits=dict(student=dict(recorder='fc'),
        ...                 teacher=dict(recorder='fc')),
        ...     student_recorders=dict(
        ...         fc=dict(type='ModuleOutputs', source='head.fc')),
        ...     teacher_recorders=dict(
        ...         fc=dict(type='ModuleOutputs', source='head.fc')),
        ...     distill_losses=dict(
        ...         loss_kd=dict(type='mmrlkd.InstanceKDLoss')),
        ...     loss_forward_mappings=dict(loss_kd=dict(
        ...         preds_S=dict(from_student=True, recorder='fc'),
        ...         preds_T=dict(from_student=False, recorder='fc'))))
    """

    def __init__(self, temperature_provider, logits, gt_labels=None, **kwargs):
        super().__init__(**kwargs)
        self.temperature_provider = MODELS.build(temperature_provider)
        for side in ('student', 'teacher'):
            if 'recorder' not in logits.get(side, {}):
                raise ValueError(
                    f'logits must name a {side} recorder, e.g. '
                    f"logits=dict({side}=dict(recorder='fc')), got {logits}")
        self.logits = logits
        self.gt_labels = gt_labels
        self.last_kept = None
        if gt_labels is None and getattr(self.temperature_provider,
                                         'requires_labels', False):
            raise ValueError(
                f'{type(self.temperature_provider).__name__} needs '
                'gt_labels=dict(recorder=...) in the distiller')
        self.temperature_losses = [
            name for name, loss in self.distill_losses.items()
            if 'temperature' in inspect.signature(loss.forward).parameters
        ]
        if not self.temperature_losses:
            raise ValueError('no distill loss takes a `temperature` argument;'
                             ' use e.g. mmrlkd.InstanceKDLoss')

    def _records(self):
        """The recorded student and teacher logits and the labels."""
        preds_S = self.get_record(from_student=True, **self.logits['student'])
        preds_T = self.get_record(from_student=False, **self.logits['teacher'])
        gt_labels = None
        if self.gt_labels is not None:
            gt_labels = self.get_record(from_student=True, **self.gt_labels)
        return preds_S, preds_T, gt_labels

    def compute_distill_losses(self):
        """Distill losses with temperatures, plus temperature statistics.

        Instances whose student or teacher logits are not finite (an fp16
        overflow, a diverging teacher) are left out of the provider and of
        the temperature losses, and counted in ``skipped_instances``: one
        bad row must not turn the whole distillation loss into NaN.
        """
        preds_S, preds_T, gt_labels = self._records()
        num_instances = len(preds_S)
        finite = torch.isfinite(preds_S).flatten(1).all(1) \
            & torch.isfinite(preds_T).flatten(1).all(1)
        skipped = num_instances - finite.sum()
        keep = None
        if not bool(finite.all()):  # the one host sync of this step
            keep = finite
            preds_S, preds_T = preds_S[keep], preds_T[keep]
            if gt_labels is not None:
                gt_labels = gt_labels[keep]
        # The instances the provider saw (None: all), for a re-measure.
        self.last_kept = keep
        temperature = None
        if len(preds_S):
            temperature = self.temperature_provider(preds_S, preds_T,
                                                    gt_labels)
        losses = dict()
        for loss_name, forward_mappings in self.loss_forward_mappings.items():
            kwargs = {
                key: self.get_record(**record)
                for key, record in forward_mappings.items()
            }
            if loss_name in self.temperature_losses:
                if temperature is None:  # every instance was skipped
                    losses[loss_name] = \
                        self.temperature_provider.skipped_loss(finite)
                    continue
                if keep is not None:
                    kwargs = {
                        key: _select_instances(value, keep, num_instances)
                        for key, value in kwargs.items()
                    }
                kwargs['temperature'] = temperature
            losses[loss_name] = self.distill_losses[loss_name](**kwargs)
        if temperature is not None:
            for key, value in temperature.statistics(len(preds_S)).items():
                losses[f'temperature_{key}'] = value
        losses['skipped_instances'] = skipped.float()
        return losses


def _select_instances(value, keep, num_instances):
    """Rows ``keep`` of a per-instance tensor; anything else unchanged."""
    if torch.is_tensor(value) and value.dim() and \
            value.shape[0] == num_instances:
        return value[keep]
    return value
