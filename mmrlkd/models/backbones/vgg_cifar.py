"""VGG with batch normalisation for CIFAR (VGG-8, -11, -13, -16, -19).

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale
Image Recognition", ICLR 2015, Table 1: five groups of 3x3 convolutions of
width 64, 128, 256, 512, 512 separated by 2x2 max-pooling. The CIFAR
variant of the KD literature (CRD, Tian et al., ICLR 2020) adds BN after each
convolution, drops the fully connected layers for global average pooling
and one linear classifier, skips the last max-pool on 32x32 inputs (so the
last group runs at 4x4), and adds VGG-8: one convolution per group.
"""
import torch.nn as nn
import torch.nn.functional as F

from mmrlkd.registry import MODELS
from .cifar_base import DEFAULT_INIT, CIFARBackbone

#: depth -> convolutions in each of the five groups. The name counts the
#: convolutions plus the paper's three fully connected layers (VGG-8: 5 + 3),
#: although the CIFAR variant has a single linear classifier.
CONVS_PER_GROUP = {
    8: (1, 1, 1, 1, 1),
    11: (1, 1, 2, 2, 2),
    13: (2, 2, 2, 2, 2),
    16: (2, 2, 3, 3, 3),
    19: (2, 2, 4, 4, 4),
}
GROUP_WIDTHS = (64, 128, 256, 512, 512)


@MODELS.register_module()
class VGGCIFAR(CIFARBackbone):
    """VGG-BN backbone for MMPretrain classifiers on 32x32 images.

    Args:
        depth (int): 8, 11, 13, 16 or 19.
        in_channels (int): Input image channels. Defaults to 3.
        out_indices (Sequence[int]): Groups whose (post-ReLU) outputs are
            returned, 0-4; groups 1-3 start with a 2x2 max-pool. Defaults to
            (4,).
        init_cfg (dict, optional): MMEngine initialisation config.

    Examples:
        >>> backbone = dict(type='mmrlkd.VGGCIFAR', depth=13)
    """

    def __init__(self,
                 depth,
                 in_channels=3,
                 out_indices=(4, ),
                 init_cfg=DEFAULT_INIT):
        super().__init__(out_indices, 5, init_cfg)
        if depth not in CONVS_PER_GROUP:
            raise ValueError(f'depth must be one of {sorted(CONVS_PER_GROUP)}'
                             f', got {depth}')
        self.stages = nn.ModuleList()
        channels = in_channels
        for num_convs, width in zip(CONVS_PER_GROUP[depth], GROUP_WIDTHS):
            layers = []
            for _ in range(num_convs):
                layers += [
                    nn.Conv2d(channels, width, 3, padding=1),
                    nn.BatchNorm2d(width),
                    nn.ReLU()
                ]
                channels = width
            self.stages.append(nn.Sequential(*layers))
        self.out_channels = channels

    def forward(self, x):
        outs = []
        for i, stage in enumerate(self.stages):
            if 1 <= i <= 3:
                x = F.max_pool2d(x, 2)
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
