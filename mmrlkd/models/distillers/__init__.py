from .instance_temperature_distiller import InstanceTemperatureDistiller
from .roi_temperature_distiller import RoITemperatureDistiller

__all__ = ['InstanceTemperatureDistiller', 'RoITemperatureDistiller']
