"""Single-teacher distillation with per-instance temperatures (RLKD)."""
from contextlib import contextmanager, nullcontext

import torch
from mmrazor.models import SingleTeacherDistill

from mmrlkd.registry import MODELS
from ..distillers import InstanceTemperatureDistiller
from .teacher_checkpoint import load_teacher


@MODELS.register_module()
class RLKDDistill(SingleTeacherDistill):
    """MMRazor's ``SingleTeacherDistill`` whose logit losses get temperatures.

    The training step is MMRazor's (teacher under ``no_grad``, student,
    distill losses prefixed ``student.`` / ``distill.``); the distiller, an
    :class:`InstanceTemperatureDistiller`, asks its temperature provider
    (fixed, CTKD, DTKD or RLKD) for the temperatures of the recorded logits.
    Any MMRazor feature loss can sit next to the logit loss in the same
    distiller. With :class:`RLKDTemperature`, add :class:`RLKDAgentHook` to
    ``custom_hooks``: it trains the agent after every iteration.

    A provider with ``reward='same_batch'`` is rewarded with the student's
    gain on the training batch over its own step: the algorithm keeps the
    batch's inputs until the hook asks for :meth:`performance_after_step`.

    Args:
        distiller (dict): An :class:`InstanceTemperatureDistiller` config.
        teacher_ckpt (str, optional): The teacher's checkpoint, read by
            :func:`load_teacher`. Defaults to None.
        teacher_ckpt_strict (bool): Stop when a teacher parameter or buffer
            is missing or has another shape. Defaults to True.
        teacher_ckpt_part (str): From a distiller's checkpoint, take the
            ``'teacher'`` or the distilled ``'architecture'``.
        teacher_ckpt_ema (bool): Take the checkpoint's EMA weights.
        **kwargs: :class:`mmrazor.models.SingleTeacherDistill` arguments
            (``architecture``, ``teacher``, ...).
    """

    def __init__(self,
                 distiller,
                 teacher_ckpt=None,
                 teacher_ckpt_strict=True,
                 teacher_ckpt_part='teacher',
                 teacher_ckpt_ema=False,
                 **kwargs):
        super().__init__(distiller=distiller, **kwargs)
        if not isinstance(self.distiller, InstanceTemperatureDistiller):
            raise TypeError(
                'RLKDDistill needs an mmrlkd.InstanceTemperatureDistiller, '
                f'got {type(self.distiller).__name__}')
        check_class_counts(self.student, self.teacher)
        if teacher_ckpt:
            load_teacher(self.teacher, teacher_ckpt,
                         strict=teacher_ckpt_strict,
                         part=teacher_ckpt_part,
                         ema=teacher_ckpt_ema)
        self._reward_batch = None

    def loss(self, batch_inputs, data_samples=None):
        """MMRazor's training step; keeps the batch for a same-batch reward.

        The kept inputs are the preprocessed (augmented, mixed) ones the
        student was trained on, so the re-measured instances are the same.
        They are kept only while the agent acts.
        """
        provider = self.temperature_provider
        self._reward_batch = None
        if getattr(getattr(provider, 'reward', None), 'rerun', False) \
                and provider.acting:
            self._reward_batch = (batch_inputs, data_samples,
                                  autocast_state(batch_inputs))
        return super().loss(batch_inputs, data_samples)

    @property
    def temperature_provider(self):
        """The distiller's temperature provider."""
        return self.distiller.temperature_provider

    @torch.no_grad()
    def performance_after_step(self):
        """The student's performance on the latest training batch, re-run
        after the optimizer's step (``reward='same_batch'``), or None.

        The student runs as it was trained (same mode, so BN normalises
        with the batch's own statistics; same autocast precision) but
        leaves no trace: its buffers (BN running statistics) are put back.
        Only the instances the provider saw count. The kept batch is
        released.
        """
        batch, self._reward_batch = self._reward_batch, None
        if batch is None:
            return None
        inputs, data_samples, (device_type, enabled, dtype) = batch
        precision = torch.autocast(device_type, dtype) if enabled \
            else nullcontext()
        distiller = self.distiller
        with unchanged_buffers(self.student), distiller.student_recorders, \
                precision:
            self.student(inputs, data_samples, mode='tensor')
            preds_S = distiller.get_record(
                from_student=True, **distiller.logits['student'])
        kept = distiller.last_kept
        if kept is not None:
            preds_S = preds_S[kept]
        return self.temperature_provider.performance_of_last_batch(preds_S)


def autocast_state(inputs):
    """(device type, enabled, dtype) of autocast where ``inputs`` live."""
    device_type = inputs.device.type if torch.is_tensor(inputs) else 'cpu'
    return (device_type, torch.is_autocast_enabled(device_type),
            torch.get_autocast_dtype(device_type))


@contextmanager
def unchanged_buffers(module):
    """Run ``module`` and restore its buffers (BN statistics) afterwards."""
    saved = [(buffer, buffer.clone()) for buffer in module.buffers()]
    try:
        yield
    finally:
        for buffer, value in saved:
            buffer.copy_(value)


def num_classes_of(model):
    """The classifier's class count, or None when it has no ``head``."""
    head = getattr(model, 'head', None)
    return getattr(head, 'num_classes', None)


def check_class_counts(student, teacher):
    """Logit KD compares class by class: the counts must agree."""
    num_S, num_T = num_classes_of(student), num_classes_of(teacher)
    if num_S is not None and num_T is not None and num_S != num_T:
        raise ValueError(
            f'the teacher predicts {num_T} classes and the student '
            f'{num_S}; logit distillation needs the same classes')
