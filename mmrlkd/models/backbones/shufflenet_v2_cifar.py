"""ShuffleNet V2 for CIFAR, the KD literature's ``ShuffleV2``.

Ma et al., "ShuffleNet V2: Practical Guidelines for Efficient CNN
Architecture Design", ECCV 2018, Fig. 3(c, d) and Table 5. A basic unit
splits the channels in two halves, keeps one and runs the other through
1x1 conv-BN-ReLU, 3x3 depthwise conv-BN and 1x1 conv-BN-ReLU, concatenates
and shuffles the two halves. A down-sampling unit runs two strided branches
on the whole input (depthwise 3x3 then 1x1; 1x1, depthwise 3x3, 1x1), each
giving half of the output. Three stages of 1 + 3, 1 + 7, 1 + 3 units and a
final 1x1 convolution. The CIFAR variant of CRD (Tian et al., ICLR 2020)
replaces the strided 3x3 stem and max-pool with a 1x1 convolution to 24
channels; at 1x it has about 1.36 M parameters on CIFAR-100.
"""
import torch
import torch.nn as nn

from mmrlkd.registry import MODELS
from .cifar_base import DEFAULT_INIT, CIFARBackbone, channel_shuffle, conv_bn

#: widen factor -> channels of the three stages and of the last convolution
#: (paper Table 5).
ARCH_CHANNELS = {
    0.5: (48, 96, 192, 1024),
    1.0: (116, 232, 464, 1024),
    1.5: (176, 352, 704, 1024),
    2.0: (244, 488, 976, 2048),
}
STEM_CHANNELS = 24


def depthwise_bn(channels, stride):
    """3x3 depthwise convolution with BN and no activation (paper Fig. 3)."""
    return conv_bn(channels, channels, 3, stride, groups=channels, relu=False)


class BasicUnit(nn.Module):
    """Split the channels, transform one half, concatenate, shuffle."""

    def __init__(self, channels):
        super().__init__()
        half = channels // 2
        self.branch = nn.Sequential(
            conv_bn(half, half), depthwise_bn(half, 1), conv_bn(half, half))

    def forward(self, x):
        kept, transformed = x.chunk(2, dim=1)
        out = torch.cat([kept, self.branch(transformed)], 1)
        return channel_shuffle(out, 2)


class DownUnit(nn.Module):
    """Two strided branches on the whole input, each half of the output."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        half = out_channels // 2
        self.left = nn.Sequential(
            depthwise_bn(in_channels, 2), conv_bn(in_channels, half))
        self.right = nn.Sequential(
            conv_bn(in_channels, half), depthwise_bn(half, 2),
            conv_bn(half, half))

    def forward(self, x):
        out = torch.cat([self.left(x), self.right(x)], 1)
        return channel_shuffle(out, 2)


@MODELS.register_module()
class ShuffleNetV2CIFAR(CIFARBackbone):
    """ShuffleNet V2 backbone for MMPretrain classifiers on 32x32 images.

    Args:
        widen_factor (float): 0.5, 1.0, 1.5 or 2.0. Defaults to 1.0.
        num_blocks (Sequence[int]): Basic units per stage, after its
            down-sampling unit. Defaults to (3, 7, 3).
        in_channels (int): Input image channels. Defaults to 3.
        out_indices (Sequence[int]): Outputs returned (0: stem, 1-3:
            stages; 3 includes the final 1x1 convolution). Defaults to (3,).
        init_cfg (dict, optional): MMEngine initialisation config.

    Examples:
        >>> backbone = dict(type='mmrlkd.ShuffleNetV2CIFAR')
    """

    def __init__(self,
                 widen_factor=1.0,
                 num_blocks=(3, 7, 3),
                 in_channels=3,
                 out_indices=(3, ),
                 init_cfg=DEFAULT_INIT):
        super().__init__(out_indices, 4, init_cfg)
        if float(widen_factor) not in ARCH_CHANNELS:
            raise ValueError(f'widen_factor must be one of '
                             f'{sorted(ARCH_CHANNELS)}, got {widen_factor}')
        if len(num_blocks) != 3 or min(num_blocks) < 0:
            raise ValueError(f'num_blocks must be 3 counts, got {num_blocks}')
        *stage_channels, last = ARCH_CHANNELS[float(widen_factor)]
        self.stem = conv_bn(in_channels, STEM_CHANNELS)
        self.stages = nn.ModuleList()
        channels = STEM_CHANNELS
        for out_channels, repeats in zip(stage_channels, num_blocks):
            units = [DownUnit(channels, out_channels)]
            units += [BasicUnit(out_channels) for _ in range(repeats)]
            self.stages.append(nn.Sequential(*units))
            channels = out_channels
        self.conv_last = conv_bn(channels, last)
        self.out_channels = last

    def finish(self, x):
        return self.conv_last(x)
