"""ImageNet-shaped ResNets on CIFAR (ResNet-18/34/50/101/152).

He et al., "Deep Residual Learning for Image Recognition", CVPR 2016,
Table 1: four stages of 64, 128, 256, 512-wide basic blocks (ResNet-18/34)
or bottlenecks (1x1 reduce, 3x3, 1x1 expand by 4; ResNet-50 and deeper) at
strides 1, 2, 2, 2. On 32x32 images the KD literature (CRD, Tian et al.,
ICLR 2020, whose ResNet-50 teacher has 23.71 M parameters on CIFAR-100)
replaces the 7x7 stride-2 stem and max-pool with a 3x3 stride-1
convolution, so the stages run at 32, 16, 8 and 4 pixels. The stride of a
bottleneck sits on its 3x3 convolution.
"""
import torch.nn as nn
import torch.nn.functional as F

from mmrlkd.registry import MODELS
from .cifar_base import DEFAULT_INIT, CIFARBackbone
from .resnet_cifar import BasicBlock, projection


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand by 4."""
    expansion = 4

    def __init__(self, in_channels, planes, stride=1):
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(
            planes, planes, 3, stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.downsample = projection(in_channels, out_channels, stride)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return F.relu(self.bn3(self.conv3(out)) + identity)


#: depth -> (block, blocks per stage), paper Table 1.
ARCH = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


@MODELS.register_module()
class FourStageResNetCIFAR(CIFARBackbone):
    """ResNet-18 to -152 with a CIFAR stem, for MMPretrain classifiers.

    Args:
        depth (int): 18, 34, 50, 101 or 152.
        in_channels (int): Input image channels. Defaults to 3.
        out_indices (Sequence[int]): Outputs returned (0: stem, 1-4:
            stages), for feature-KD methods. Defaults to (4,).
        init_cfg (dict, optional): MMEngine initialisation config.

    Examples:
        >>> backbone = dict(type='mmrlkd.FourStageResNetCIFAR', depth=50)
    """

    def __init__(self,
                 depth,
                 in_channels=3,
                 out_indices=(4, ),
                 init_cfg=DEFAULT_INIT):
        super().__init__(out_indices, 5, init_cfg)
        if depth not in ARCH:
            raise ValueError(f'depth must be one of {sorted(ARCH)}, '
                             f'got {depth}')
        block, num_blocks = ARCH[depth]
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 64, 3, padding=1, bias=False),
            nn.BatchNorm2d(64), nn.ReLU())
        self.stages = nn.ModuleList()
        channels = 64
        for i, (repeats, stride) in enumerate(zip(num_blocks, (1, 2, 2, 2))):
            planes = 64 * 2**i
            blocks = []
            for j in range(repeats):
                blocks.append(block(channels, planes, stride if j == 0 else 1))
                channels = planes * block.expansion
            self.stages.append(nn.Sequential(*blocks))
        self.out_channels = channels
