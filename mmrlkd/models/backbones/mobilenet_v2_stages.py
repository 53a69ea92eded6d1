"""MMDetection's MobileNetV2 that stops at its last requested stage.

mdistiller's detection MobileNetV2 (the student of the RLKD paper's COCO
R50 -> MobileNetV2 pair) feeds the FPN from the last blocks of the stride
4/8/16/32 stages and has no 1,280-channel conv. MMDetection's MobileNetV2
always builds and runs that conv, so with ``out_indices=(1, 2, 4, 6)`` its
parameters would get no gradient (and DDP without
``find_unused_parameters`` would stop). This subclass drops every layer
after the last of ``out_indices``; the remaining weights and checkpoint
keys are MMDetection's.
"""
from mmdet.models.backbones import MobileNetV2

from mmrlkd.registry import MODELS


@MODELS.register_module()
class MobileNetV2Stages(MobileNetV2):
    """MobileNetV2 without the layers its ``out_indices`` do not reach.

    ``out_indices`` index ``layer1`` .. ``layer7`` (0 .. 6: 16, 24, 32, 64,
    96, 160, 320 channels at strides 2, 4, 8, 16, 16, 32, 32) and ``conv2``
    (7: 1,280 channels, stride 32), as in MMDetection.

    Args:
        out_indices (Sequence[int]): Outputs, in 0 .. 7. Defaults to
            (1, 2, 4, 6), mdistiller's m2 .. m5 (24, 32, 96, 320 channels).
        frozen_stages (int): As MMDetection's; at most the last kept layer.
            Defaults to -1.
        **kwargs: Other ``mmdet.MobileNetV2`` arguments.

    Examples:
        >>> backbone = dict(type='mmrlkd.MobileNetV2Stages',
        ...                 out_indices=(1, 2, 4, 6),
        ...                 norm_cfg=dict(type='BN', requires_grad=False),
        ...                 norm_eval=True)
    """

    def __init__(self, out_indices=(1, 2, 4, 6), frozen_stages=-1, **kwargs):
        out_indices = tuple(out_indices)
        if not out_indices:
            raise ValueError('out_indices must not be empty')
        super().__init__(
            out_indices=out_indices, frozen_stages=frozen_stages, **kwargs)
        last = max(out_indices)
        if frozen_stages > last + 1:
            raise ValueError(
                f'frozen_stages={frozen_stages} freezes layer{frozen_stages}'
                f', which out_indices={out_indices} drop (the last kept is '
                f'{self.layers[last]})')
        for name in self.layers[last + 1:]:
            delattr(self, name)
        self.layers = self.layers[:last + 1]
