# Vanilla KD on the RoI logits (T = 1), Faster R-CNN R18-w32 -> R18-w8 on
# Shapes: the teacher scores the student's sampled RoIs.
_base_ = [
    '../../_base_/models/faster_rcnn_shapes.py',
    '../../_base_/datasets/shapes_coco.py',
    '../../_base_/schedules/shapes_det_adamw.py',
    '../../_base_/shapes_det_runtime.py',
    '../../_base_/distill/student_roi_kd.py',
]
teacher_ckpt = 'work_dirs/shapes_det/teacher_r18w32.pth'
model = dict(
    _scope_='mmrazor',
    type='mmrlkd.StudentRoIDistill',
    architecture={{_base_.faster_rcnn_r18w8_shapes}},
    teacher={{_base_.faster_rcnn_r18w32_shapes}},
    teacher_ckpt=teacher_ckpt,
    distiller={{_base_.student_roi_kd}})
