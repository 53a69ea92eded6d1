# DKD on the RoI logits with mdistiller's detection setting (alpha = 1,
# beta = 0.25, T = 1; background is an ordinary class), otherwise as the KD
# config.
_base_ = ['./kd_roi_faster-rcnn_r50_faster-rcnn_mobilenetv2_1x_coco.py']
model = dict(
    distiller=dict(
        roi_losses=dict(
            _delete_=True,
            loss_dkd=dict(
                type='mmrlkd.InstanceDKDLoss',
                tau=1.0,
                alpha=1.0,
                beta=0.25,
                loss_weight=1.0))))
