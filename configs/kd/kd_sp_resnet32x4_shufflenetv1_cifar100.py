# SP + vanilla KD, ResNet-32x4 -> ShuffleNetV1 on CIFAR-100 (RLKD paper Table
# 3: 74.97 %). The plug-in protocol of CTKD and RLKD: 0.1 * CE + 0.9 * KD at a
# fixed tau = 4, plus SP (Tung & Mori, ICCV 2019) on the last stage's output,
# weight 3000. The loss modules live in the distiller, so the student's
# optimizer trains them.
_base_ = [
    './kd_resnet32x4_shufflenetv1_cifar100.py',
    '../_base_/distill/sp_classifier.py',
]

model = dict(distiller={{_base_.sp_distiller}})
