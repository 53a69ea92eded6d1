# Vanilla KD + CTKD on the RoI logits (the paper's Table 4 "+CTKD" column),
# Faster R-CNN R101-FPN -> R18-FPN, COCO, 1x. The KD config's fixed T = 1 is
# replaced by CTKD's learnable global temperature (tau in (1, 21), CTKD's
# defaults), trained by the student's optimizer through gradient reversal.
# The curriculum raises lambda from 0 to 1 over the first epoch of 12 (CTKD
# uses 10 of 240 epochs on CIFAR and 5 of 120 on ImageNet: the same short
# fraction of the schedule, rounded up to whole epochs).
_base_ = ['./kd_roi_faster-rcnn_r101_faster-rcnn_r18_1x_coco.py']
model = dict(
    distiller=dict(
        temperature_provider=dict(
            _delete_=True,
            type='mmrlkd.CTKDGlobalTemperature',
            t_start=1.0,
            t_range=20.0,
            init=1.0)))
custom_hooks = [dict(type='mmrlkd.CTKDCurriculumHook', decay_epochs=1)]
