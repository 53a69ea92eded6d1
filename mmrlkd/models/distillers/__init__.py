from .instance_temperature_distiller import InstanceTemperatureDistiller

__all__ = ['InstanceTemperatureDistiller']
