# The Shapes student trained alone: Faster R-CNN ResNet-18 (width 8) FPN.
_base_ = [
    '../../_base_/models/faster_rcnn_shapes.py',
    '../../_base_/datasets/shapes_coco.py',
    '../../_base_/schedules/shapes_det_adamw.py',
    '../../_base_/shapes_det_runtime.py',
]
model = {{_base_.faster_rcnn_r18w8_shapes}}
