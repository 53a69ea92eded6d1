# DKD, ResNet-34 -> ResNet-18 on ImageNet-1k (RLKD paper Table 2: 71.13 %
# top-1, 90.31 % top-5, the CTKD paper's DKD run). DKD (Zhao et al., CVPR
# 2022) replaces the KD term: 1.0 * CE + 1.0 * DKD with mdistiller's
# ImageNet setting alpha = 1, beta = 0.5, T = 1 (mdistiller also ramps DKD
# in over the first epoch; we do not, as in CTKD's DKD). Same 120-epoch
# recipe as the KD config.
_base_ = [
    './kd_resnet34_resnet18_imagenet.py',
    '../_base_/distill/dkd_classifier.py',
]

model = dict(
    distiller=dict(
        temperature_provider=dict(
            _delete_=True, type='mmrlkd.FixedTemperature', temperature=1.0),
        distill_losses=dict(
            _delete_=True,
            loss_dkd=dict(
                type='mmrlkd.InstanceDKDLoss',
                alpha=1.0,
                beta=0.5,
                loss_weight=1.0)),
        loss_forward_mappings={{_base_.dkd_loss_forward_mappings}}))
