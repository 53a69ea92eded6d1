"""Per-RoI temperature distillation of a two-stage detector's RoI logits."""
import inspect
import logging

import torch
from mmengine.logging import print_log
from mmrazor.models import ConfigurableDistiller

from mmrlkd.registry import MODELS


@MODELS.register_module()
class RoITemperatureDistiller(ConfigurableDistiller):
    """Distils (C + 1)-way RoI logits with one temperature per RoI.

    :class:`StudentRoIDistill` hands it, row-aligned, the student's RoI
    logits, the teacher's logits for the same boxes and the RoI labels
    (background = C). Each RoI is an instance for the temperature provider
    (fixed, CTKD, DTKD, RLKD: the labels are what RLKD's reward measures),
    and every ``roi_losses`` entry gets ``preds_S``, ``preds_T``, the
    provider's ``temperature`` and, if its ``forward`` takes them,
    ``gt_labels`` (DKD). Box regression is not distilled, as in mdistiller.

    RoIs whose student or teacher logits are not finite are left out of the
    provider and the losses (counted in ``roi_skipped`` and warned about), so
    one bad row cannot put NaN into the student. With no usable RoI the RoI
    losses are zero and the provider is not called.

    MMRazor recorders and losses (``student_recorders``, ``distill_losses``,
    ...) work as in ``ConfigurableDistiller``, e.g. for FPN feature losses
    next to the RoI logit loss.

    Args:
        temperature_provider (dict): Config of a temperature provider.
        roi_losses (dict): Name -> config of logit losses with a
            ``temperature`` argument (:class:`InstanceKDLoss`,
            :class:`InstanceDKDLoss`). Names must contain ``loss``.
        **kwargs: :class:`mmrazor.models.ConfigurableDistiller` arguments.

    Examples:
        >>> distiller = dict(
        ...     type='mmrlkd.RoITemperatureDistiller',
        ...     temperature_provider=dict(type='mmrlkd.FixedTemperature',
        ...                               temperature=1.0),
        ...     roi_losses=dict(loss_dkd=dict(type='mmrlkd.InstanceDKDLoss',
        ...                                   alpha=1.0, beta=0.25)))
    """

    def __init__(self, temperature_provider, roi_losses, **kwargs):
        super().__init__(**kwargs)
        self.temperature_provider = MODELS.build(temperature_provider)
        if not roi_losses:
            raise ValueError('roi_losses is empty: give at least one logit '
                             "loss, e.g. dict(loss_kd=dict(type="
                             "'mmrlkd.InstanceKDLoss', tau=1.0))")
        self.roi_losses = torch.nn.ModuleDict()
        self.roi_losses_take_labels = {}
        for name, cfg in roi_losses.items():
            if 'loss' not in name:
                raise ValueError(f'RoI loss names must contain "loss" '
                                 f'(MMEngine only optimises those), got '
                                 f'{name!r}')
            if name in self.distill_losses:
                raise ValueError(f'{name!r} is both a roi_losses and a '
                                 'distill_losses entry')
            loss = MODELS.build(cfg)
            parameters = inspect.signature(loss.forward).parameters
            if 'temperature' not in parameters:
                raise ValueError(
                    f'RoI loss {name!r} ({type(loss).__name__}) has no '
                    '`temperature` argument; use mmrlkd.InstanceKDLoss or '
                    'mmrlkd.InstanceDKDLoss')
            self.roi_losses[name] = loss
            self.roi_losses_take_labels[name] = 'gt_labels' in parameters

    def compute_roi_losses(self, preds_S, preds_T, gt_labels):
        """RoI logit losses, temperature statistics and RoI counts.

        Args:
            preds_S (Tensor): Student RoI logits (N, C + 1), with gradients.
            preds_T (Tensor): Teacher logits of the same RoIs (N, C + 1).
            gt_labels (Tensor): RoI labels (N,), background = C.

        Returns:
            dict[str, Tensor]: The ``roi_losses`` (each a scalar), and the
            non-loss entries ``temperature_{mean,std,min,max}`` (when the
            provider ran), ``roi_count`` and ``roi_skipped``.
        """
        if preds_S.shape != preds_T.shape or preds_S.dim() != 2:
            raise ValueError('student and teacher RoI logits must be (N, C+1)'
                             f' of one shape, got {tuple(preds_S.shape)} and '
                             f'{tuple(preds_T.shape)}')
        preds_T = preds_T.detach()
        finite = torch.isfinite(preds_S).all(1) & torch.isfinite(preds_T).all(
            1)
        num_rois = preds_S.shape[0]
        num_finite = int(finite.sum())
        if num_finite < num_rois:
            print_log(
                f'RoITemperatureDistiller: skipped {num_rois - num_finite} '
                f'of {num_rois} RoIs with non-finite logits',
                logger='current',
                level=logging.WARNING)
            preds_S, preds_T = preds_S[finite], preds_T[finite]
            gt_labels = gt_labels[finite]
        results = dict()
        if num_finite == 0:
            for name in self.roi_losses:
                results[name] = self.temperature_provider.skipped_loss(preds_S)
        else:
            temperature = self.temperature_provider(preds_S, preds_T,
                                                    gt_labels)
            for name, loss in self.roi_losses.items():
                kwargs = dict(temperature=temperature)
                if self.roi_losses_take_labels[name]:
                    kwargs['gt_labels'] = gt_labels
                results[name] = loss(preds_S, preds_T, **kwargs)
            for key, value in temperature.statistics(num_finite).items():
                results[f'temperature_{key}'] = value
        results['roi_count'] = preds_S.new_full((),
                                                float(num_rois),
                                                dtype=torch.float32)
        results['roi_skipped'] = preds_S.new_full((),
                                                  float(num_rois - num_finite),
                                                  dtype=torch.float32)
        return results
