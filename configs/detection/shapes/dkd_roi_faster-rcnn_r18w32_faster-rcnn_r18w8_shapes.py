# DKD on the RoI logits with mdistiller's detection setting (alpha = 1,
# beta = 0.25, T = 1), Faster R-CNN R18-w32 -> R18-w8 on Shapes.
_base_ = ['./kd_roi_faster-rcnn_r18w32_faster-rcnn_r18w8_shapes.py']
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
