from .base import BaseTemperatureProvider, TemperatureOutput
from .ctkd import CTKDGlobalTemperature, CTKDInstanceTemperature
from .dtkd import DTKDTemperature, DTKDTemperatureOutput
from .fixed import FixedTemperature
from .rlkd import RLKDTemperature

__all__ = [
    'CTKDGlobalTemperature', 'CTKDInstanceTemperature', 'DTKDTemperature',
    'DTKDTemperatureOutput',
    'BaseTemperatureProvider', 'FixedTemperature', 'RLKDTemperature',
    'TemperatureOutput'
]
