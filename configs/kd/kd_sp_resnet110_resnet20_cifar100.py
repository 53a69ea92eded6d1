# SP + vanilla KD, ResNet-110 -> ResNet-20 on CIFAR-100 (RLKD paper Table 3:
# 70.74 %). The plug-in protocol of CTKD and RLKD: 0.1 * CE + 0.9 * KD at a
# fixed tau = 4, plus SP (Tung & Mori, ICCV 2019) on the last stage's output,
# weight 3000. The loss modules live in the distiller, so the student's
# optimizer trains them.
_base_ = [
    './kd_resnet110_resnet20_cifar100.py',
    '../_base_/distill/sp_classifier.py',
]

model = dict(distiller={{_base_.sp_distiller}})
