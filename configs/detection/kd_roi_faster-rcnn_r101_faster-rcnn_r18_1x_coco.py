# Vanilla KD on the RoI logits (T = 1), Faster R-CNN R101-FPN -> R18-FPN,
# COCO, 1x. The teacher (MMDetection's multi-scale 3x R101-FPN, 41.8 box AP;
# the paper's Detectron2 teacher has 42.04) scores the student's sampled RoIs.
_base_ = [
    './faster-rcnn_r18_fpn_1x_coco.py',
    '../_base_/distill/student_roi_kd.py',
]
teacher_ckpt = 'https://download.openmmlab.com/mmdetection/v2.0/faster_rcnn/faster_rcnn_r101_fpn_mstrain_3x_coco/faster_rcnn_r101_fpn_mstrain_3x_coco_20210524_110822-4d4d2ca8.pth'  # noqa: E501
model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='mmrlkd.StudentRoIDistill',
    architecture={{_base_.model}},
    teacher=dict(
        cfg_path='mmdet::faster_rcnn/faster-rcnn_r101_fpn_ms-3x_coco.py',
        pretrained=False),
    teacher_ckpt=teacher_ckpt,
    distiller={{_base_.student_roi_kd}})
