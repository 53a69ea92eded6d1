# Vanilla KD + CTKD on the RoI logits (the paper's Table 4 "+CTKD" column:
# 31.21 mAP), Faster R-CNN R50-FPN -> MobileNetV2-FPN, COCO, 1x. The KD
# config's fixed T = 1 is replaced by CTKD's learnable global temperature
# (tau in (1, 21), CTKD's defaults), trained by the student's optimizer
# through gradient reversal. As in the R101 -> R18 CTKD config, lambda rises
# from 0 to 1 over the first epoch of 12, every iteration: iteration k of
# that epoch trains with lambda = (1 - cos(pi * k / K)) / 2, K the
# iterations per epoch, and lambda is 1 from the epoch's last iteration on.
_base_ = ['./kd_roi_faster-rcnn_r50_faster-rcnn_mobilenetv2_1x_coco.py']
model = dict(
    distiller=dict(
        temperature_provider=dict(
            _delete_=True,
            type='mmrlkd.CTKDGlobalTemperature',
            t_start=1.0,
            t_range=20.0,
            init=1.0)))
custom_hooks = [
    dict(
        type='mmrlkd.CTKDCurriculumHook',
        decay_epochs=1,
        convert_to_iter_based=True)
]
