from .four_stage_resnet_cifar import FourStageResNetCIFAR
from .mobilenet_v2_cifar import MobileNetV2CIFAR
from .mobilenet_v2_stages import MobileNetV2Stages
from .resnet_cifar import ResNetCIFAR
from .shufflenet_v1_cifar import ShuffleNetV1CIFAR
from .shufflenet_v2_cifar import ShuffleNetV2CIFAR
from .vgg_cifar import VGGCIFAR
from .wide_resnet_cifar import WideResNetCIFAR

__all__ = [
    'ResNetCIFAR', 'FourStageResNetCIFAR', 'MobileNetV2CIFAR',
    'MobileNetV2Stages', 'ShuffleNetV1CIFAR', 'ShuffleNetV2CIFAR', 'VGGCIFAR',
    'WideResNetCIFAR'
]
