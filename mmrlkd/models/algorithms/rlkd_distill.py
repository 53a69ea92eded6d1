"""Single-teacher distillation with per-instance temperatures (RLKD)."""
import os.path as osp
import pickle

from mmengine.runner import load_checkpoint
from mmrazor.models import SingleTeacherDistill

from mmrlkd.registry import MODELS
from ..distillers import InstanceTemperatureDistiller


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

    Args:
        distiller (dict): An :class:`InstanceTemperatureDistiller` config.
        **kwargs: :class:`mmrazor.models.SingleTeacherDistill` arguments
            (``architecture``, ``teacher``, ``teacher_ckpt``, ...).
    """

    def __init__(self, distiller, teacher_ckpt=None, **kwargs):
        super().__init__(distiller=distiller, **kwargs)
        if not isinstance(self.distiller, InstanceTemperatureDistiller):
            raise TypeError(
                'RLKDDistill needs an mmrlkd.InstanceTemperatureDistiller, '
                f'got {type(self.distiller).__name__}')
        check_class_counts(self.student, self.teacher)
        if teacher_ckpt:
            load_teacher_checkpoint(self.teacher, teacher_ckpt)

    @property
    def temperature_provider(self):
        """The distiller's temperature provider."""
        return self.distiller.temperature_provider


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


def load_teacher_checkpoint(teacher, path):
    """Load the teacher's weights; errors name the checkpoint's path."""
    if '://' not in path and not osp.isfile(path):
        raise FileNotFoundError(
            f'teacher_ckpt {path!r} does not exist (train the teacher '
            'first, or fix the path in the config)')
    try:
        load_checkpoint(teacher, path, map_location='cpu')
    except (OSError, RuntimeError, EOFError, ValueError,
            pickle.UnpicklingError) as error:
        raise RuntimeError(
            f'teacher_ckpt {path!r} could not be read: {error}') from error
    teacher._is_init = True  # keep init_weights from overwriting it
