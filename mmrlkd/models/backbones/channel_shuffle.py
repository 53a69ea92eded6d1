"""Channel shuffle (Zhang et al., ShuffleNet, CVPR 2018, Sec. 3.1)."""


def channel_shuffle(x, groups):
    """Interleave the channels of ``groups`` equal groups.

    After a grouped convolution each group only sees its own channels;
    reshaping (N, g, C/g, H, W), transposing the two channel axes and
    flattening back lets the next grouped convolution mix information
    across groups, at no cost in parameters.
    """
    n, c, h, w = x.shape
    return x.reshape(n, groups, c // groups, h,
                     w).transpose(1, 2).reshape(n, c, h, w)
