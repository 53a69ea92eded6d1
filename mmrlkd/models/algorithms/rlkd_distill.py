"""Single-teacher distillation with per-instance temperatures (RLKD)."""
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

    def __init__(self, distiller, **kwargs):
        super().__init__(distiller=distiller, **kwargs)
        if not isinstance(self.distiller, InstanceTemperatureDistiller):
            raise TypeError(
                'RLKDDistill needs an mmrlkd.InstanceTemperatureDistiller, '
                f'got {type(self.distiller).__name__}')

    @property
    def temperature_provider(self):
        """The distiller's temperature provider."""
        return self.distiller.temperature_provider
