# Student alone: Faster R-CNN MobileNetV2 FPN (stride 4/8/16/32 outputs of
# 24/32/96/1280 channels), MMDetection's 1x COCO recipe, ImageNet-initialised
# backbone with frozen BN statistics (mdistiller uses FrozenBN for its MV2
# student). Also the student of the R50 -> MobileNetV2 distillation configs.
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
model = dict(
    _scope_='mmdet',
    backbone=dict(
        _delete_=True,
        type='MobileNetV2',
        out_indices=(1, 2, 4, 7),
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint='open-mmlab://mmdet/mobilenet_v2')),
    neck=dict(in_channels=[24, 32, 96, 1280]))
# Random states in every checkpoint, so --resume continues exactly.
default_hooks = dict(random_state=dict(type='mmrlkd.RandomStateHook'))
