"""CIFAR ResNets of the KD literature (ResNet-8 to -110, ResNet-8x4/32x4).

He et al., "Deep Residual Learning for Image Recognition", CVPR 2016, 4.2:
a 3x3 stem, then three stages of ``n`` basic blocks at strides 1, 2, 2, so
depth = 6n + 2. The KD literature's "x4" variants widen the stem to 32 and the
stages to 64/128/256.
"""
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmrlkd.registry import MODELS


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a (projected when needed) shortcut."""

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(
            in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(
            out_channels, out_channels, 3, 1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity)


@MODELS.register_module()
class ResNetCIFAR(BaseModule):
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
                 init_cfg=(dict(type='Kaiming', layer='Conv2d'),
                           dict(type='Constant', val=1, layer='_BatchNorm'))):
        super().__init__(init_cfg=list(init_cfg) if init_cfg else None)
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f'depth must be 6n + 2 with n >= 1, got {depth}')
        out_indices = tuple(out_indices)
        if not out_indices or any(not 0 <= i <= 3 for i in out_indices):
            raise ValueError(f'out_indices must be in 0..3, got {out_indices}')
        self.out_indices = out_indices
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

    def forward(self, x):
        outs = []
        x = self.stem(x)
        if 0 in self.out_indices:
            outs.append(x)
        for i, stage in enumerate(self.stages, start=1):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
