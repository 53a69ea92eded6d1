# Vanilla KD on the RoI logits (T = 1), Faster R-CNN R50-FPN ->
# MobileNetV2-FPN, COCO, 1x. The teacher (MMDetection's multi-scale 3x
# R50-FPN, 40.3 box AP; the paper's Detectron2 teacher has 40.22) scores the
# student's sampled RoIs.
_base_ = [
    './faster-rcnn_mobilenetv2_fpn_1x_coco.py',
    '../_base_/distill/student_roi_kd.py',
]
teacher_ckpt = 'https://download.openmmlab.com/mmdetection/v2.0/faster_rcnn/faster_rcnn_r50_fpn_mstrain_3x_coco/faster_rcnn_r50_fpn_mstrain_3x_coco_20210524_110822-e10bd31c.pth'  # noqa: E501
model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='mmrlkd.StudentRoIDistill',
    architecture={{_base_.model}},
    teacher=dict(
        cfg_path='mmdet::faster_rcnn/faster-rcnn_r50_fpn_ms-3x_coco.py',
        pretrained=False),
    teacher_ckpt=teacher_ckpt,
    distiller={{_base_.student_roi_kd}})
