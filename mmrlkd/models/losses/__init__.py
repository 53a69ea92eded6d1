from .instance_dkd import InstanceDKDLoss, instance_dkd_loss
from .instance_kd import InstanceKDLoss, instance_kd_loss

__all__ = [
    'InstanceDKDLoss', 'InstanceKDLoss', 'instance_dkd_loss',
    'instance_kd_loss'
]
