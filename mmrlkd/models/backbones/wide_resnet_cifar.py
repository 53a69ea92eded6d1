"""Wide residual networks for CIFAR (WRN-16-2, WRN-40-1, WRN-40-2, ...).

Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016, Table 1: a 3x3
stem of 16 channels, then three groups of ``n`` pre-activation basic blocks
(BN-ReLU-conv3x3, twice) of width 16k, 32k and 64k at strides 1, 2, 2, so
depth = 6n + 4; a final BN-ReLU feeds the classifier. Where a block changes
the width, the pre-activated input feeds both the residual branch and the
1x1 projection shortcut (the authors' and the KD zoo's arrangement, which the
RepDistiller teacher checkpoints assume).
"""
import torch.nn as nn
import torch.nn.functional as F

from mmrlkd.registry import MODELS
from .cifar_base import DEFAULT_INIT, CIFARBackbone


class PreActBlock(nn.Module):
    """BN-ReLU-conv3x3 twice; identity or 1x1-projection shortcut."""

    def __init__(self, in_channels, out_channels, stride=1, drop_rate=0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(
            in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(
            out_channels, out_channels, 3, 1, padding=1, bias=False)
        self.drop_rate = drop_rate
        self.shortcut = None
        if in_channels != out_channels:
            self.shortcut = nn.Conv2d(
                in_channels, out_channels, 1, stride, bias=False)

    def forward(self, x):
        activated = F.relu(self.bn1(x))
        out = F.relu(self.bn2(self.conv1(activated)))
        if self.drop_rate > 0:
            out = F.dropout(out, p=self.drop_rate, training=self.training)
        out = self.conv2(out)
        identity = x if self.shortcut is None else self.shortcut(activated)
        return out + identity


@MODELS.register_module()
class WideResNetCIFAR(CIFARBackbone):
    """WRN-d-k backbone for MMPretrain classifiers.

    Args:
        depth (int): 6n + 4, e.g. 16, 28, 40.
        widen_factor (int): k; the groups are 16k, 32k and 64k wide.
            Defaults to 1.
        drop_rate (float): Dropout between a block's two convolutions.
            Defaults to 0 (the KD zoo trains without it).
        in_channels (int): Input image channels. Defaults to 3.
        out_indices (Sequence[int]): Outputs returned (0: stem, 1-3:
            groups), for feature-KD methods. Output 3 is taken after the
            final BN-ReLU, i.e. it is what the classifier sees. Defaults to
            (3,).
        init_cfg (dict, optional): MMEngine initialisation config.

    Examples:
        >>> backbone = dict(type='mmrlkd.WideResNetCIFAR', depth=40,
        ...                 widen_factor=2)
    """

    def __init__(self,
                 depth,
                 widen_factor=1,
                 drop_rate=0.0,
                 in_channels=3,
                 out_indices=(3, ),
                 init_cfg=DEFAULT_INIT):
        super().__init__(out_indices, 4, init_cfg)
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f'depth must be 6n + 4 with n >= 1, got {depth}')
        if widen_factor < 1:
            raise ValueError(f'widen_factor must be >= 1, got {widen_factor}')
        blocks_per_group = (depth - 4) // 6
        self.stem = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.stages = nn.ModuleList()
        channels = 16
        for i, stride in enumerate((1, 2, 2)):
            out_channels = 16 * widen_factor * 2**i
            blocks = [PreActBlock(channels, out_channels, stride, drop_rate)]
            blocks += [
                PreActBlock(out_channels, out_channels, 1, drop_rate)
                for _ in range(blocks_per_group - 1)
            ]
            self.stages.append(nn.Sequential(*blocks))
            channels = out_channels
        self.final_norm = nn.BatchNorm2d(channels)
        self.out_channels = channels

    def finish(self, x):
        return F.relu(self.final_norm(x))
