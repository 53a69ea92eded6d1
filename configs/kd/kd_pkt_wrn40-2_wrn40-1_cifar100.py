# PKT + vanilla KD, WRN-40-2 -> WRN-40-1 on CIFAR-100 (RLKD paper Table 3:
# 74.01 %). The plug-in protocol of CTKD and RLKD: 0.1 * CE + 0.9 * KD at a
# fixed tau = 4, plus PKT (Passalis & Tefas, ECCV 2018) on the pooled features,
# weight 30000. The loss modules live in the distiller, so the student's
# optimizer trains them.
_base_ = [
    './kd_wrn40-2_wrn40-1_cifar100.py',
    '../_base_/distill/pkt_classifier.py',
]

model = dict(distiller={{_base_.pkt_distiller}})
