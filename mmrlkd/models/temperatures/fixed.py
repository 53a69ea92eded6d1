"""One fixed temperature for every instance: vanilla KD (Hinton et al.)."""
import torch

from mmrlkd.registry import MODELS
from .base import BaseTemperatureProvider, TemperatureOutput


@MODELS.register_module()
class FixedTemperature(BaseTemperatureProvider):
    """The same temperature for every instance and both models.

    With :class:`InstanceKDLoss` it reproduces MMRazor's ``KLDivergence``.

    Args:
        temperature (float): The temperature, > 0. Defaults to 4.0.

    Examples:
        >>> provider = dict(type='mmrlkd.FixedTemperature', temperature=4)
    """

    def __init__(self, temperature=4.0):
        super().__init__()
        if not temperature > 0:
            raise ValueError(
                f'temperature must be positive, got {temperature}')
        self.temperature = float(temperature)

    def forward(self, preds_S, preds_T, gt_labels=None):
        t = torch.tensor(self.temperature, device=preds_S.device)
        return TemperatureOutput.shared(t)
