"""CIFAR ResNets of the KD literature (ResNet-8 to -110, ResNet-8x4/32x4).

He et al., "Deep Residual Learning for Image Recognition", CVPR 2016, 4.2:
a 3x3 stem, then three stages of ``n`` basic blocks at strides 1, 2, 2, so
depth = 6n + 2. The KD literature's "x4" variants widen the stem to 32 and the
stages to 64/128/256.
"""
import torch.nn as nn
import torch.nn.functional as F

from mmrlkd.registry import MODELS
from .cifar_base import DEFAULT_INIT, CIFARBackbone


def projection(in_channels, out_channels, stride):
    """1x1 conv-BN shortcut when the shape changes, else None."""
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
        nn.BatchNorm2d(out_channels))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a (projected when needed) shortcut."""
    expansion = 1

    def __init__(self, in_channels, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(
            in_channels, planes, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = projection(in_channels, planes, stride)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + identity)


@MODELS.register_module()
class ResNetCIFAR(CIFARBackbone):
    """CIFAR-style ResNet backbone for MMPretrain classifiers.

    Args:
        depth (int): 6n + 2, e.g. 8, 14, 20, 32, 44, 56, 110.
        stem_channels (int): Width of the 3x3 stem. Defaults to 16.
        base_channels (int): Width of the first stage; the next two are 2x
            and 4x. Defaults to 16 (ResNet-8x4/32x4 use stem 32, base 64).
        in_channels (int): Input image channels. Defaults to 3.
        out_indices (Sequence[int]): Stages whose outputs are returned
            (0: stem, 1-3: stages), for feature-KD methods. Defaults to (3,).
        init_cfg (dict, optional): MMEngine initialisation config.

    Examples:
        >>> backbone = dict(type='mmrlkd.ResNetCIFAR', depth=20)
    """

    def __init__(self,
                 depth,
                 stem_channels=16,
                 base_channels=16,
                 in_channels=3,
                 out_indices=(3, ),
                 init_cfg=DEFAULT_INIT):
        super().__init__(out_indices, 4, init_cfg)
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f'depth must be 6n + 2 with n >= 1, got {depth}')
        blocks_per_stage = (depth - 2) // 6
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(stem_channels), nn.ReLU())
        self.stages = nn.ModuleList()
        channels = stem_channels
        for i, stride in enumerate((1, 2, 2)):
            out_channels = base_channels * 2**i
            blocks = [BasicBlock(channels, out_channels, stride)]
            blocks += [
                BasicBlock(out_channels, out_channels)
                for _ in range(blocks_per_stage - 1)
            ]
            self.stages.append(nn.Sequential(*blocks))
            channels = out_channels
        self.out_channels = channels
