import pytest
import torch

from mmrlkd.models import ResNetCIFAR

# Parameter counts of the RepDistiller CIFAR-100 zoo (backbone + 100-way fc),
# as published in the CRD paper (Tian et al., ICLR 2020), in millions.
PUBLISHED = [
    (dict(depth=20), 0.28),
    (dict(depth=32), 0.47),
    (dict(depth=56), 0.86),
    (dict(depth=110), 1.74),
    (dict(depth=8, stem_channels=32, base_channels=64), 1.23),
    (dict(depth=32, stem_channels=32, base_channels=64), 7.43),
]


def count_params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize('kwargs,millions', PUBLISHED)
def test_parameter_counts_match_the_published_zoo(kwargs, millions):
    backbone = ResNetCIFAR(**kwargs)
    fc = torch.nn.Linear(backbone.out_channels, 100)
    total = (count_params(backbone) + count_params(fc)) / 1e6
    assert total == pytest.approx(millions, rel=0.02)


def test_depth_and_stages():
    backbone = ResNetCIFAR(depth=20)
    assert [len(stage) for stage in backbone.stages] == [3, 3, 3]
    convs = [
        m for m in backbone.modules()
        if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)
    ]
    assert len(convs) + 1 == 20  # 19 3x3 convolutions + the fc layer


def test_feature_shapes_for_kd():
    backbone = ResNetCIFAR(
        depth=8, stem_channels=4, base_channels=4, out_indices=(0, 1, 2, 3))
    feats = backbone(torch.randn(2, 3, 16, 32))
    assert [tuple(f.shape) for f in feats] == [(2, 4, 16, 32), (2, 4, 16, 32),
                                               (2, 8, 8, 16), (2, 16, 4, 8)]
    assert backbone.out_channels == 16


@pytest.mark.parametrize('kwargs', [
    dict(depth=9),
    dict(depth=2),
    dict(depth=20, out_indices=(4, )),
    dict(depth=20, out_indices=())
])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        ResNetCIFAR(**kwargs)
