# Student alone: Faster R-CNN ResNet-18 FPN, MMDetection's 1x COCO recipe
# (ImageNet-initialised backbone). Also the student of the R101 -> R18
# distillation configs of this folder.
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
model = dict(
    # Explicit scope: the distillation configs build this dict from inside
    # scope mmrazor.
    _scope_='mmdet',
    backbone=dict(
        depth=18,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet18')),
    neck=dict(in_channels=[64, 128, 256, 512]))
# Random states in every checkpoint, so --resume continues exactly; checks
# before and during the run (docs/en/troubleshooting.md).
default_hooks = dict(
    random_state=dict(type='mmrlkd.RandomStateHook'),
    label_range=dict(type='mmrlkd.LabelRangeHook'),
    teacher_check=dict(type='mmrlkd.TeacherCheckHook'),
    finite_loss=dict(type='mmrlkd.FiniteLossHook'))
