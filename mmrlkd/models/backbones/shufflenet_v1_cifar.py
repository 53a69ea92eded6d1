"""ShuffleNet (V1) for CIFAR, the KD literature's ``ShuffleV1``.

Zhang et al., "ShuffleNet: An Extremely Efficient Convolutional Neural
Network for Mobile Devices", CVPR 2018, Sec. 3.2 and Table 1: three stages
of ShuffleNet units (grouped 1x1 convolution, channel shuffle, 3x3 depthwise
convolution, grouped 1x1 convolution, bottleneck width a quarter of the
output) repeated 4, 8 and 4 times; each stage's first unit halves the
resolution and concatenates a 3x3 average-pooled shortcut instead of adding
it; the first unit's first 1x1 convolution is not grouped (its input is
narrow). The CIFAR variant of CRD (Tian et al., ICLR 2020) replaces the
strided 3x3 stem and max-pool with a 1x1 convolution to 24 channels, and
applies ReLU after the depthwise convolution as well; with g = 3 it has
about 0.95 M parameters on CIFAR-100.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmrlkd.registry import MODELS
from .cifar_base import DEFAULT_INIT, CIFARBackbone, channel_shuffle

#: groups -> output channels of the three stages (paper Table 1, 1x).
STAGE_CHANNELS = {
    1: (144, 288, 576),
    2: (200, 400, 800),
    3: (240, 480, 960),
    4: (272, 544, 1088),
    8: (384, 768, 1536),
}
STEM_CHANNELS = 24


class ShuffleUnit(nn.Module):
    """One ShuffleNet unit; strided units concatenate their shortcut."""

    def __init__(self, in_channels, out_channels, stride, groups,
                 first_groups):
        super().__init__()
        self.stride = stride
        branch = out_channels - in_channels if stride == 2 else out_channels
        mid = branch // 4
        for name, channels, g in (('bottleneck', mid, first_groups),
                                  ('output', branch, groups)):
            if channels % g:
                raise ValueError(f'{name} width {channels} is not divisible '
                                 f'by {g} groups')
        self.first_groups = first_groups
        self.conv1 = nn.Conv2d(
            in_channels, mid, 1, groups=first_groups, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(
            mid, mid, 3, stride, padding=1, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, branch, 1, groups=groups, bias=False)
        self.bn3 = nn.BatchNorm2d(branch)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = channel_shuffle(out, self.first_groups)
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.stride == 2:
            shortcut = F.avg_pool2d(x, 3, stride=2, padding=1)
            return F.relu(torch.cat([out, shortcut], 1))
        return F.relu(out + x)


@MODELS.register_module()
class ShuffleNetV1CIFAR(CIFARBackbone):
    """ShuffleNet V1 backbone for MMPretrain classifiers on 32x32 images.

    Args:
        groups (int): Groups of the 1x1 convolutions: 1, 2, 3, 4 or 8 (not
            every count divides every width). Defaults to 3.
        num_blocks (Sequence[int]): Units per stage. Defaults to (4, 8, 4).
        in_channels (int): Input image channels. Defaults to 3.
        out_indices (Sequence[int]): Outputs returned (0: stem, 1-3:
            stages). Defaults to (3,).
        init_cfg (dict, optional): MMEngine initialisation config.

    Examples:
        >>> backbone = dict(type='mmrlkd.ShuffleNetV1CIFAR', groups=3)
    """

    def __init__(self,
                 groups=3,
                 num_blocks=(4, 8, 4),
                 in_channels=3,
                 out_indices=(3, ),
                 init_cfg=DEFAULT_INIT):
        super().__init__(out_indices, 4, init_cfg)
        if groups not in STAGE_CHANNELS:
            raise ValueError(f'groups must be one of {sorted(STAGE_CHANNELS)}'
                             f', got {groups}')
        if len(num_blocks) != 3 or min(num_blocks) < 1:
            raise ValueError(f'num_blocks must be 3 positive counts, got '
                             f'{num_blocks}')
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, STEM_CHANNELS, 1, bias=False),
            nn.BatchNorm2d(STEM_CHANNELS), nn.ReLU())
        self.stages = nn.ModuleList()
        channels = STEM_CHANNELS
        for out_channels, repeats in zip(STAGE_CHANNELS[groups], num_blocks):
            units = []
            for i in range(repeats):
                first_groups = 1 if channels == STEM_CHANNELS else groups
                units.append(
                    ShuffleUnit(channels, out_channels, 2 if i == 0 else 1,
                                groups, first_groups))
                channels = out_channels
            self.stages.append(nn.Sequential(*units))
        self.out_channels = channels
