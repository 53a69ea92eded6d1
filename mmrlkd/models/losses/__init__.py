from .crd_from_data_samples import MMPretrainCRDLoss
from .dtkd import DTKDLoss, dtkd_loss
from .instance_dkd import InstanceDKDLoss, instance_dkd_loss
from .instance_kd import InstanceKDLoss, instance_kd_loss
from .pkt import PKTLoss, pkt_loss
from .similarity_preserving import SPLoss, sp_loss
from .srrl import SRRLLoss
from .vid import VIDLoss

__all__ = [
    'DTKDLoss', 'dtkd_loss', 'InstanceDKDLoss', 'InstanceKDLoss',
    'instance_dkd_loss', 'instance_kd_loss', 'MMPretrainCRDLoss', 'PKTLoss',
    'pkt_loss', 'SPLoss', 'sp_loss', 'SRRLLoss', 'VIDLoss'
]
