# Student alone: Faster R-CNN MobileNetV2 FPN as mdistiller builds it
# (Detectron2; detection/configs/DKD/DKD-MV2-R50.yaml): the FPN takes the
# last blocks of the stride 4/8/16/32 stages (24/32/96/320 channels, no
# 1,280-channel conv) and every BN is frozen, statistics and affine
# parameters (Detectron2's FrozenBN; all convs train, FREEZE_AT 0).
# ImageNet-initialised backbone, MMDetection's 1x COCO recipe. Also the
# student of the R50 -> MobileNetV2 distillation configs.
# MMDetection's own MobileNetV2-FPN (the 1,280-channel conv into the FPN,
# trained BN affine parameters) is a switch away: out_indices=(1, 2, 4, 7),
# neck in_channels [24, 32, 96, 1280], norm_cfg requires_grad=True (see
# docs/en/user_guides/detection.md).
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
model = dict(
    _scope_='mmdet',
    backbone=dict(
        _delete_=True,
        type='mmrlkd.MobileNetV2Stages',
        out_indices=(1, 2, 4, 6),
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint='open-mmlab://mmdet/mobilenet_v2')),
    neck=dict(in_channels=[24, 32, 96, 320]))
# Random states in every checkpoint, so --resume continues exactly; checks
# before and during the run (docs/en/troubleshooting.md).
default_hooks = dict(
    random_state=dict(type='mmrlkd.RandomStateHook'),
    label_range=dict(type='mmrlkd.LabelRangeHook'),
    teacher_check=dict(type='mmrlkd.TeacherCheckHook'),
    finite_loss=dict(type='mmrlkd.FiniteLossHook'))
