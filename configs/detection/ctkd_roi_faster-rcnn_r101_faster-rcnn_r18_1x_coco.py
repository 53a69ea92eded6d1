# Vanilla KD + CTKD on the RoI logits (the paper's Table 4 "+CTKD" column),
# Faster R-CNN R101-FPN -> R18-FPN, COCO, 1x. The KD config's fixed T = 1 is
# replaced by CTKD's learnable global temperature (tau in (1, 21), CTKD's
# defaults), trained by the student's optimizer through gradient reversal.
# The curriculum raises lambda from 0 to 1 over the first epoch of 12 (CTKD
# uses 10 of 240 epochs on CIFAR and 5 of 120 on ImageNet: the same short
# fraction of the schedule, rounded up to a whole epoch). One epoch would be
# a single step of CTKD's epoch-wise curriculum (lambda_1 = 1 at once), so
# lambda moves every iteration: iteration k of the first epoch trains with
# lambda = (1 - cos(pi * k / K)) / 2, K the iterations per epoch, and lambda
# is 1 from the epoch's last iteration on.
_base_ = ['./kd_roi_faster-rcnn_r101_faster-rcnn_r18_1x_coco.py']
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
