"""The CIFAR KD zoo: published sizes, stage shapes, out_indices."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS

from mmrlkd.models.backbones import (VGGCIFAR, FourStageResNetCIFAR,
                                     MobileNetV2CIFAR, ShuffleNetV1CIFAR,
                                     ShuffleNetV2CIFAR, WideResNetCIFAR)
from mmrlkd.models.backbones.cifar_base import channel_shuffle

ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
MODEL_BASES = [
    osp.join(ROOT, 'configs/_base_/models', name)
    for name in ('cifar_resnet_classifiers.py', 'cifar_zoo_classifiers.py')
]

# Parameters (millions) of the CIFAR-100 classifiers of the RepDistiller
# zoo, as tabulated by CRD (Tian et al., ICLR 2020) and its successors.
PUBLISHED_MILLIONS = {
    'resnet20': 0.28,
    'resnet32': 0.47,
    'resnet56': 0.86,
    'resnet110': 1.73,
    'resnet8x4': 1.23,
    'resnet32x4': 7.43,
    'wrn_16_2': 0.70,
    'wrn_40_1': 0.57,
    'wrn_40_2': 2.26,
    'vgg8': 3.96,
    'vgg13': 9.46,
    'mobilenetv2': 0.81,
    'shufflenetv1': 0.95,
    'shufflenetv2': 1.36,
    'resnet50': 23.71,
}


def classifier_configs():
    configs = {}
    for path in MODEL_BASES:
        configs.update(Config.fromfile(path).to_dict())
    return configs


def build_classifier(name):
    return MODELS.build(classifier_configs()[name])


def count(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize('name,millions', sorted(PUBLISHED_MILLIONS.items()))
def test_classifiers_have_the_published_size(name, millions):
    model = build_classifier(name)
    assert count(model) / 1e6 == pytest.approx(millions, rel=0.02)


def test_every_kd_student_matches_its_plain_classifier():
    configs = classifier_configs()
    for name, cfg in configs.items():
        if name.endswith('_kd'):
            plain = dict(configs[name[:-3]])
            assert cfg['backbone'] == plain['backbone']
            assert cfg['head']['loss']['loss_weight'] == 0.1


@pytest.mark.parametrize('name', ['wrn_16_2', 'mobilenetv2', 'shufflenetv1'])
def test_classifier_gives_100_logits_on_32x32(name):
    model = build_classifier(name).eval()
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 32, 32), mode='tensor')
    assert logits.shape == (2, 100)


# backbone, out_indices -> (channels, side) of each output on 32x32 inputs.
STAGE_SHAPES = [
    (lambda idx: WideResNetCIFAR(16, 2, out_indices=idx), [(16, 32), (32, 32),
                                                           (64, 16),
                                                           (128, 8)]),
    (lambda idx: WideResNetCIFAR(40, 1, out_indices=idx), [(16, 32), (16, 32),
                                                           (32, 16), (64, 8)]),
    (lambda idx: VGGCIFAR(8, out_indices=idx), [(64, 32), (128, 16), (256, 8),
                                                (512, 4), (512, 4)]),
    (lambda idx: VGGCIFAR(13, out_indices=idx), [(64, 32), (128, 16), (256, 8),
                                                 (512, 4), (512, 4)]),
    (lambda idx: MobileNetV2CIFAR(out_indices=idx), [(16, 16), (12, 16),
                                                     (16, 8), (48, 4),
                                                     (1280, 2)]),
    (lambda idx: ShuffleNetV1CIFAR(out_indices=idx), [(24, 32), (240, 16),
                                                      (480, 8), (960, 4)]),
    (lambda idx: ShuffleNetV2CIFAR(out_indices=idx), [(24, 32), (116, 16),
                                                      (232, 8), (1024, 4)]),
    (lambda idx: FourStageResNetCIFAR(18, out_indices=idx),
     [(64, 32), (64, 32), (128, 16), (256, 8), (512, 4)]),
    (lambda idx: FourStageResNetCIFAR(50, out_indices=idx), [(64, 32),
                                                             (256, 32),
                                                             (512, 16),
                                                             (1024, 8),
                                                             (2048, 4)]),
]


@pytest.mark.parametrize('make,shapes', STAGE_SHAPES)
def test_every_stage_output_has_the_expected_shape(make, shapes):
    torch.manual_seed(0)
    everything = tuple(range(len(shapes)))
    backbone = make(everything).eval()
    with torch.no_grad():
        outs = backbone(torch.randn(1, 3, 32, 32))
    assert [(o.shape[1], o.shape[2]) for o in outs] == shapes
    assert all(o.shape[0] == 1 and o.shape[2] == o.shape[3] for o in outs)
    assert backbone.out_channels == shapes[-1][0]
    # A subset of indices returns exactly those outputs, in order.
    subset = (0, len(shapes) - 1)
    picked = make(subset)
    picked.load_state_dict(backbone.state_dict())
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        some = picked.eval()(x)
        full = backbone(x)
    assert len(some) == 2
    torch.testing.assert_close(some[0], full[0])
    torch.testing.assert_close(some[1], full[-1])


@pytest.mark.parametrize('make,shapes', STAGE_SHAPES)
def test_default_output_is_what_the_classifier_pools(make, shapes):
    backbone = make((len(shapes) - 1, )).eval()
    with torch.no_grad():
        outs = backbone(torch.randn(1, 3, 16, 16))
    assert len(outs) == 1 and outs[0].shape[1] == backbone.out_channels


def test_wide_resnet_blocks_are_pre_activation_with_projections():
    backbone = WideResNetCIFAR(40, 2)
    assert [len(stage) for stage in backbone.stages] == [6, 6, 6]
    projections = [
        block.shortcut is not None for stage in backbone.stages
        for block in stage
    ]
    # Only the first block of each group changes the width (16 -> 32...).
    assert projections == ([True] + [False] * 5) * 3
    # WRN-40-1's first group keeps width 16: no projection there.
    assert WideResNetCIFAR(40, 1).stages[0][0].shortcut is None


def test_wide_resnet_identity_block_adds_its_raw_input():
    block = WideResNetCIFAR(10, 1).stages[0][0].eval()
    x = torch.randn(2, 16, 8, 8)
    branch = block.conv2(
        torch.relu(block.bn2(block.conv1(torch.relu(block.bn1(x))))))
    torch.testing.assert_close(block(x), x + branch)


def test_vgg_depth_counts_convolutions_plus_three():
    for depth in (8, 11, 13, 16, 19):
        convs = [
            m for m in VGGCIFAR(depth).modules()
            if isinstance(m, torch.nn.Conv2d)
        ]
        assert len(convs) + 3 == depth


def test_mobilenet_v2_rows_and_expansions():
    backbone = MobileNetV2CIFAR()
    assert [len(row) for row in backbone.layers] == [1, 2, 3, 4, 3, 3, 1]
    first = backbone.layers[0][0]
    assert first.expand[0].out_channels == 16  # t = 1 keeps its 1x1 conv
    assert backbone.layers[1][0].expand[0].out_channels == 8 * 6
    identities = [b.use_identity for row in backbone.layers for b in row]
    assert sum(identities) == 10  # every repeated block of a row


def test_shufflenet_v1_first_pointwise_conv_is_not_grouped():
    backbone = ShuffleNetV1CIFAR(groups=3)
    assert backbone.stages[0][0].conv1.groups == 1
    assert backbone.stages[0][1].conv1.groups == 3
    assert backbone.stages[1][0].conv1.groups == 3
    assert [len(s) for s in backbone.stages] == [4, 8, 4]


def test_channel_shuffle_interleaves_groups():
    x = torch.arange(6.).view(1, 6, 1, 1)
    shuffled = channel_shuffle(x, 3).flatten().tolist()
    assert shuffled == [0., 2., 4., 1., 3., 5.]


def test_shufflenet_v2_units_keep_half_of_the_channels():
    unit = ShuffleNetV2CIFAR().stages[0][1].eval()
    x = torch.randn(1, 116, 4, 4)
    out = unit(x)
    # After the shuffle, even channels are the untouched first half.
    torch.testing.assert_close(out[:, 0::2], x[:, :58])


@pytest.mark.parametrize(
    'build',
    [
        lambda: WideResNetCIFAR(15, 2),
        lambda: WideResNetCIFAR(16, 0),
        lambda: WideResNetCIFAR(16, 2, out_indices=(4, )),
        lambda: VGGCIFAR(10),
        lambda: VGGCIFAR(8, out_indices=(5, )),
        lambda: MobileNetV2CIFAR(widen_factor=0),
        lambda: MobileNetV2CIFAR(out_indices=()),
        lambda: ShuffleNetV1CIFAR(groups=5),
        lambda: ShuffleNetV1CIFAR(groups=8),  # 90 channels in 8 groups
        lambda: ShuffleNetV2CIFAR(widen_factor=0.75),
        lambda: FourStageResNetCIFAR(20),
        lambda: FourStageResNetCIFAR(18, out_indices=(-1, )),
    ])
def test_invalid_arguments_fail_at_build_time(build):
    with pytest.raises(ValueError):
        build()
