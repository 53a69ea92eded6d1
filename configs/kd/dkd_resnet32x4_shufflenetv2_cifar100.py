# DKD, ResNet-32x4 -> ShuffleNetV2 on CIFAR-100 (RLKD paper Table 3: 76.48 %,
# the CTKD paper's re-run). DKD (Zhao et al., CVPR 2022) replaces the KD term
# of the vanilla KD config of this pair: 1.0 * CE + 1.0 * DKD at a fixed
# T = 4, alpha = 1, beta = 8, the official RLKD code's DKD setting for
# the ResNet-32x4 students (mdistiller's too). No warm-up of the DKD term, as
# in CTKD's DKD runs (mdistiller and the official RLKD code ramp it in over 20
# epochs). The +CTKD and +RLKD configs of this pair inherit this one and swap
# only the temperature.
_base_ = [
    './kd_resnet32x4_shufflenetv2_cifar100.py',
    '../_base_/distill/dkd_classifier.py',
]

model = dict(
    architecture=dict(head=dict(loss=dict(loss_weight=1.0))),
    distiller=dict(
        distill_losses=dict(
            _delete_=True,
            loss_dkd=dict(type='mmrlkd.InstanceDKDLoss', alpha=1.0, beta=8.0)),
        loss_forward_mappings={{_base_.dkd_loss_forward_mappings}}))
