# Vanilla KD, ResNet-56 -> ResNet-20 on CIFAR-100 (paper: 70.66 %), through
# mmrlkd's instance-temperature losses with a fixed tau = 4: the same
# numbers as MMRazor's KLDivergence (a tested equivalence) and the same
# pipeline as the RLKD config, so the two differ only in the provider.
_base_ = [
    '../_base_/models/cifar_resnet_classifiers.py',
    '../_base_/datasets/cifar100_bs64.py',
    '../_base_/schedules/cifar_240e.py',
    '../_base_/cifar_runtime.py',
    '../_base_/distill/instance_kd_classifier.py',
]
# Train configs/cifar100/resnet56_cifar100.py and copy its best checkpoint
# here, or convert a RepDistiller/mdistiller teacher.
teacher_ckpt = 'work_dirs/cifar100/teacher_resnet56.pth'
model = dict(
    architecture={{_base_.resnet20_kd}},
    teacher={{_base_.resnet56}},
    teacher_ckpt=teacher_ckpt)
