"""MobileNetV2 for CIFAR, the KD literature's ``mobile_half``.

Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
CVPR 2018, Table 2: a strided 3x3 stem, seven rows of inverted residual
blocks (1x1 expansion by t, 3x3 depthwise, linear 1x1 projection; identity
shortcut when shape allows), a 1x1 convolution to 1280 channels, pooling and
a classifier. The CIFAR variant used as a student in CRD and its successors
(Tian et al., ICLR 2020) keeps the stem's stride 2 but gives the second row
stride 1 (32x32 -> 2x2 overall), uses ReLU instead of ReLU6, keeps the
expansion convolution in the t = 1 row, and scales the widths by 0.5
(``int(c * widen_factor)``; the last 1280 is kept for factors <= 1).
"""
import torch.nn as nn

from mmrlkd.registry import MODELS
from .cifar_base import DEFAULT_INIT, CIFARBackbone, conv_bn

#: (expansion t or None for ``expand_ratio``, channels c, repeats n,
#: stride s) of the seven rows; the second row's stride is 1 on CIFAR.
ARCH = ((1, 16, 1, 1), (None, 24, 2, 1), (None, 32, 3, 2), (None, 64, 4, 2),
        (None, 96, 3, 1), (None, 160, 3, 2), (None, 320, 1, 1))
#: Rows ending each returned stage (after the stem): 16x16, 8x8, 4x4 and
#: the last one, which also runs the 1x1 convolution to 1280 channels.
STAGE_ENDS = (2, 3, 5, 7)


class InvertedResidual(nn.Module):
    """Expand (1x1), filter (3x3 depthwise), project linearly (1x1)."""

    def __init__(self, in_channels, out_channels, stride, expand_ratio):
        super().__init__()
        hidden = in_channels * expand_ratio
        self.use_identity = stride == 1 and in_channels == out_channels
        self.expand = conv_bn(in_channels, hidden, 1)
        self.depthwise = conv_bn(hidden, hidden, 3, stride, groups=hidden)
        self.project = conv_bn(hidden, out_channels, 1, relu=False)

    def forward(self, x):
        out = self.project(self.depthwise(self.expand(x)))
        return x + out if self.use_identity else out


@MODELS.register_module()
class MobileNetV2CIFAR(CIFARBackbone):
    """MobileNetV2 backbone for MMPretrain classifiers on 32x32 images.

    Args:
        widen_factor (float): Width multiplier. Defaults to 0.5 (the KD
            literature's "MobileNetV2").
        expand_ratio (int): Expansion t of rows 2-7. Defaults to 6.
        in_channels (int): Input image channels. Defaults to 3.
        out_indices (Sequence[int]): Outputs returned: 0 stem (16x16), 1-3
            the last block at 16x16, 8x8 and 4x4, 4 the final 1x1
            convolution (2x2). Defaults to (4,).
        init_cfg (dict, optional): MMEngine initialisation config.

    Examples:
        >>> backbone = dict(type='mmrlkd.MobileNetV2CIFAR')
    """

    def __init__(self,
                 widen_factor=0.5,
                 expand_ratio=6,
                 in_channels=3,
                 out_indices=(4, ),
                 init_cfg=DEFAULT_INIT):
        super().__init__(out_indices, 5, init_cfg)
        if widen_factor <= 0 or expand_ratio < 1:
            raise ValueError('widen_factor must be > 0 and expand_ratio >= 1,'
                             f' got {widen_factor}, {expand_ratio}')
        channels = int(32 * widen_factor)
        self.stem = conv_bn(in_channels, channels, 3, stride=2)
        self.layers = nn.ModuleList()
        for t, c, n, s in ARCH:
            out_channels = int(c * widen_factor)
            blocks = []
            for i in range(n):
                blocks.append(
                    InvertedResidual(channels, out_channels,
                                     s if i == 0 else 1, t or expand_ratio))
                channels = out_channels
            self.layers.append(nn.Sequential(*blocks))
        last = 1280 if widen_factor <= 1 else int(1280 * widen_factor)
        self.conv_last = conv_bn(channels, last, 1)
        self.out_channels = last

    def forward(self, x):
        outs = []
        x = self.stem(x)
        if 0 in self.out_indices:
            outs.append(x)
        start = 0
        for i, end in enumerate(STAGE_ENDS, start=1):
            for layer in self.layers[start:end]:
                x = layer(x)
            if i == len(STAGE_ENDS):
                x = self.conv_last(x)
            if i in self.out_indices:
                outs.append(x)
            start = end
        return tuple(outs)
