"""Two-stage detector distillation where the teacher scores the student's RoIs.

MMRazor's ``SingleTeacherDistill`` runs a detector teacher's full loss pass:
its own RPN, its own sampled RoIs, so row i of its RoI logits is another
box than row i of the student's. mdistiller's detection recipe (the one the
RLKD paper's COCO table follows) instead scores the student's sampled
proposals with both RoI heads, as :class:`StudentRoIDistill` does.
"""
import logging

import torch
from mmengine.logging import print_log
from mmrazor.models import SingleTeacherDistill
from mmrazor.models.utils import add_prefix

from mmrlkd.registry import MODELS
from ..distillers import RoITemperatureDistiller
from .sampled_roi_capture import SampledRoICapture
from .teacher_checkpoint import load_teacher


def _build(model):
    return MODELS.build(model) if isinstance(model, dict) else model


def _roi_classes(detector, role):
    """Number of object classes of a detector's single box head."""
    roi_head = getattr(detector, 'roi_head', None)
    bbox_head = getattr(roi_head, 'bbox_head', None)
    if not (hasattr(detector, 'extract_feat')
            and hasattr(roi_head, '_bbox_forward')
            and hasattr(bbox_head, 'loss_and_target')):
        raise TypeError(
            'StudentRoIDistill needs two-stage detectors with one box head '
            '(e.g. mmdet FasterRCNN with StandardRoIHead); the '
            f'{role} is a {type(detector).__name__} with roi_head '
            f'{type(roi_head).__name__} and bbox_head '
            f'{type(bbox_head).__name__}')
    if getattr(bbox_head, 'custom_cls_channels', False):
        raise TypeError(f'the {role} box head has custom class channels '
                        f'({type(bbox_head.loss_cls).__name__}): its scores '
                        'are not (C + 1)-way softmax logits')
    return bbox_head.num_classes


def _normalisation(detector):
    pre = detector.data_preprocessor
    return [
        getattr(pre, name, None)
        for name in ('mean', 'std', '_channel_conversion')
    ]


def _same_normalisation(student, teacher):
    pairs = zip(_normalisation(student), _normalisation(teacher))
    return all(
        torch.equal(torch.as_tensor(s), torch.as_tensor(t)) if (
            s is not None and t is not None) else s is t for s, t in pairs)


@MODELS.register_module()
class StudentRoIDistill(SingleTeacherDistill):
    """RoI-logit distillation between two two-stage detectors.

    One training step:

    1. the student's normal ``loss`` (RPN, proposals, RoI sampling, RoI
       head; its losses are prefixed ``student.``), while its sampled RoIs,
       RoI logits and RoI labels are captured;
    2. under ``no_grad``, ``teacher.extract_feat`` on the same (student-
       preprocessed) images, then ``teacher.roi_head._bbox_forward`` on the
       student's RoIs: the teacher never runs its RPN or sampler, and row i
       of both logit matrices is the same box;
    3. the distiller's per-RoI temperature losses (prefix ``distill.``),
       plus any MMRazor feature losses it is configured with.

    Teacher and student must have the same number of classes: the check
    runs at build time, before the teacher checkpoint is loaded. The
    teacher sees the student's normalisation (a warning says when their
    data preprocessors differ). With :class:`RLKDTemperature` add
    :class:`RLKDAgentHook`: the reward is the change of the student's RoI
    classification accuracy (or ``performance='neg_ce'``: of minus its RoI
    cross-entropy) between iterations.

    Args:
        distiller (dict): A :class:`RoITemperatureDistiller` config.
        architecture (dict | BaseModel): The student detector.
        teacher (dict | BaseModel): The teacher detector.
        teacher_ckpt (str, optional): The teacher's checkpoint.
        teacher_ckpt_strict (bool): As in :class:`RLKDDistill`.
        teacher_ckpt_part (str): As in :class:`RLKDDistill`.
        teacher_ckpt_ema (bool): As in :class:`RLKDDistill`.
        **kwargs: Other :class:`mmrazor.models.SingleTeacherDistill`
            arguments (``teacher_norm_eval``, ...).
            ``teacher_trainable`` is not supported.
    """

    def __init__(self,
                 distiller,
                 architecture,
                 teacher,
                 teacher_ckpt=None,
                 teacher_ckpt_strict=True,
                 teacher_ckpt_part='teacher',
                 teacher_ckpt_ema=False,
                 **kwargs):
        if kwargs.get('teacher_trainable', False):
            raise ValueError('StudentRoIDistill does not train the teacher '
                             '(it never computes the teacher\'s losses)')
        student = _build(architecture)
        teacher = _build(teacher)
        num_student = _roi_classes(student, 'student')
        num_teacher = _roi_classes(teacher, 'teacher')
        if num_student != num_teacher:
            raise ValueError(
                f'the teacher detector has {num_teacher} classes and the '
                f'student has {num_student}: RoI logit distillation needs '
                'the same classes (the same C + 1 logit columns)')
        super().__init__(
            distiller=distiller,
            architecture=student,
            teacher=teacher,
            **kwargs)
        if not isinstance(self.distiller, RoITemperatureDistiller):
            raise TypeError('StudentRoIDistill needs an '
                            'mmrlkd.RoITemperatureDistiller, got '
                            f'{type(self.distiller).__name__}')
        if getattr(getattr(self.temperature_provider, 'reward', None),
                   'rerun', False):
            raise ValueError(
                "RLKDTemperature(reward='same_batch') is for classification:"
                ' re-running a detector would sample other RoIs; use '
                "reward='next_batch'")
        if self.distiller.deliveries.deliveries:
            raise ValueError('StudentRoIDistill does not run MMRazor '
                             'deliveries: the teacher already scores the '
                             "student's RoIs")
        if teacher_ckpt:  # strictly, not MMRazor's lenient loading
            load_teacher(self.teacher, teacher_ckpt,
                         strict=teacher_ckpt_strict,
                         part=teacher_ckpt_part,
                         ema=teacher_ckpt_ema)
        if not _same_normalisation(self.student, self.teacher):
            print_log(
                'StudentRoIDistill: the teacher\'s data preprocessor '
                'normalises differently from the student\'s; the teacher '
                'gets the student\'s inputs',
                logger='current',
                level=logging.WARNING)

    @property
    def temperature_provider(self):
        """The distiller's temperature provider (read by RLKDAgentHook)."""
        return self.distiller.temperature_provider

    def teacher_roi_logits(self, batch_inputs, rois):
        """Teacher (C + 1)-way logits of ``rois`` (N, 5), no RPN or sampler.

        The teacher's recorders are active, so MMRazor feature losses can
        record its FPN outputs here.
        """
        with torch.no_grad(), self.distiller.teacher_recorders:
            feats = self.teacher.extract_feat(batch_inputs)
            roi_head = self.teacher.roi_head
            return roi_head._bbox_forward(feats, rois)['cls_score']

    def loss(self, batch_inputs, data_samples=None):
        """Student losses, then RoI (and feature) distillation losses."""
        capture = SampledRoICapture(self.student.roi_head.bbox_head)
        with self.distiller.student_recorders, capture:
            if self.student_trainable:
                student_losses = self.student(
                    batch_inputs, data_samples, mode='loss')
            else:
                with torch.no_grad():
                    student_losses = self.student(
                        batch_inputs, data_samples, mode='loss')
        losses = dict()
        if self.calculate_student_loss:
            losses.update(add_prefix(student_losses, 'student'))
        if self.distillation_stopped:
            return losses
        teacher_logits = self.teacher_roi_logits(batch_inputs, capture.rois)
        distill_losses = self.distiller.compute_distill_losses()
        distill_losses.update(
            self.distiller.compute_roi_losses(capture.cls_score,
                                              teacher_logits, capture.labels))
        losses.update(add_prefix(distill_losses, 'distill'))
        return losses
