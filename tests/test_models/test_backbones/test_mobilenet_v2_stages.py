"""MobileNetV2Stages: MMDetection's MobileNetV2 cut after its last output."""
import pytest
import torch
from mmdet.models.backbones import MobileNetV2

from mmrlkd.models import MobileNetV2Stages


@pytest.mark.parametrize('out_indices', [(1, 2, 4, 6), (0, 3), (1, 2, 4, 7)])
def test_outputs_and_weights_are_mmdetections(out_indices):
    torch.manual_seed(0)
    full = MobileNetV2(out_indices=out_indices)
    full.init_weights()
    cut = MobileNetV2Stages(out_indices=out_indices)
    # Its state dict is MMDetection's minus the dropped layers, so the
    # same checkpoints load.
    last = max(out_indices)
    kept = [f'layer{i + 1}.' for i in range(min(last + 1, 7))] + ['conv1.']
    if last == 7:
        kept.append('conv2.')
    expected = {k for k in full.state_dict() if k.startswith(tuple(kept))}
    assert set(cut.state_dict()) == expected
    cut.load_state_dict({
        k: v
        for k, v in full.state_dict().items() if k in expected
    })
    full.eval(), cut.eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(full(x), cut(x), strict=True):
            torch.testing.assert_close(a, b)


def test_frozen_stages_must_be_kept():
    MobileNetV2Stages(out_indices=(1, 2), frozen_stages=3)
    with pytest.raises(ValueError, match='frozen_stages'):
        MobileNetV2Stages(out_indices=(1, 2), frozen_stages=4)
    with pytest.raises(ValueError, match='out_indices'):
        MobileNetV2Stages(out_indices=())
