# DKD, WRN-40-2 -> WRN-40-1 on CIFAR-100 (RLKD paper Table 3: 74.54 %, the
# CTKD paper's re-run). DKD (Zhao et al., CVPR 2022) replaces the KD term of
# the vanilla KD config of this pair: 1.0 * CE + 1.0 * DKD at a fixed T = 4,
# alpha = 1, beta = 2, the official RLKD code's DKD setting for this pair
# (and the CTKD script's); mdistiller tunes beta = 6 for the WRN pairs. No
# warm-up of the DKD term, as in CTKD's DKD runs (mdistiller and the official
# RLKD code ramp it in over 20 epochs). The +CTKD and +RLKD configs of this
# pair inherit this one and swap only the temperature.
_base_ = [
    './kd_wrn40-2_wrn40-1_cifar100.py',
    '../_base_/distill/dkd_classifier.py',
]

model = dict(
    architecture=dict(head=dict(loss=dict(loss_weight=1.0))),
    distiller=dict(
        distill_losses=dict(
            _delete_=True,
            loss_dkd=dict(type='mmrlkd.InstanceDKDLoss', alpha=1.0, beta=2.0)),
        loss_forward_mappings={{_base_.dkd_loss_forward_mappings}}))
