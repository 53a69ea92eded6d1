from .base import BaseTemperatureProvider, TemperatureOutput
from .fixed import FixedTemperature
from .rlkd import RLKDTemperature

__all__ = [
    'BaseTemperatureProvider', 'FixedTemperature', 'RLKDTemperature',
    'TemperatureOutput'
]
