# The Shapes teacher: Faster R-CNN ResNet-18 (width 32) FPN, trained alone
# for 36 epochs (3x the students' schedule, as COCO teachers are trained
# longer than their students). demo/shapes_detection_demo.py trains it once
# and keeps its checkpoint where the distillation configs of this folder
# read it.
_base_ = [
    '../../_base_/models/faster_rcnn_shapes.py',
    '../../_base_/datasets/shapes_coco.py',
    '../../_base_/schedules/shapes_det_adamw.py',
    '../../_base_/shapes_det_runtime.py',
]
model = {{_base_.faster_rcnn_r18w32_shapes}}
train_cfg = dict(max_epochs=36, val_interval=12)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(
        type='MultiStepLR',
        begin=0,
        end=36,
        by_epoch=True,
        milestones=[24, 33],
        gamma=0.1)
]
