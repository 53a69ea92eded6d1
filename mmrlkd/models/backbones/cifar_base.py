"""What the CIFAR backbones share: init, ``out_indices``, layers, forward."""
import torch.nn as nn
from mmengine.model import BaseModule

#: Every CIFAR backbone's default ``init_cfg``.
DEFAULT_INIT = (dict(type='Kaiming', layer='Conv2d'),
                dict(type='Constant', val=1, layer='_BatchNorm'))


def check_out_indices(out_indices, num_outputs):
    """``out_indices`` as a tuple, each in ``0 .. num_outputs - 1``.

    Feature-KD methods pick stage outputs by index; a wrong index should fail
    when the model is built, not as a missing feature inside a loss.
    """
    out_indices = tuple(out_indices)
    if not out_indices or any(not 0 <= i < num_outputs for i in out_indices):
        raise ValueError(f'out_indices must be in 0..{num_outputs - 1}, '
                         f'got {out_indices}')
    return out_indices


def conv_bn(in_channels,
            out_channels,
            kernel_size=1,
            stride=1,
            groups=1,
            relu=True):
    """Convolution (no bias, size-keeping padding), BN, optional ReLU."""
    layers = [
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding=kernel_size // 2,
            groups=groups,
            bias=False),
        nn.BatchNorm2d(out_channels)
    ]
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def channel_shuffle(x, groups):
    """Interleave the channels of ``groups`` equal groups.

    ShuffleNet (CVPR 2018, Sec. 3.1): after a grouped convolution each group
    only sees its own channels; reshaping (N, g, C/g, H, W), transposing the
    two channel axes and flattening back lets the next grouped convolution
    mix information across groups, at no cost in parameters.
    """
    n, c, h, w = x.shape
    return x.reshape(n, groups, c // groups, h,
                     w).transpose(1, 2).reshape(n, c, h, w)


class CIFARBackbone(BaseModule):
    """A ``stem``, then ``stages``; output 0 is the stem's, i stage i's.

    Subclasses build ``stem`` and ``stages``; :meth:`finish` maps the last
    stage's output (a final norm or convolution) before it is returned.

    Args:
        out_indices (Sequence[int]): Outputs returned.
        num_outputs (int): How many outputs there are to pick from.
        init_cfg (Sequence[dict], optional): MMEngine initialisation config.
    """

    def __init__(self, out_indices, num_outputs, init_cfg=DEFAULT_INIT):
        super().__init__(init_cfg=list(init_cfg) if init_cfg else None)
        self.out_indices = check_out_indices(out_indices, num_outputs)

    def finish(self, x):
        return x

    def forward(self, x):
        outs = []
        x = self.stem(x)
        if 0 in self.out_indices:
            outs.append(x)
        for i, stage in enumerate(self.stages, start=1):
            x = stage(x)
            if i == len(self.stages):
                x = self.finish(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
