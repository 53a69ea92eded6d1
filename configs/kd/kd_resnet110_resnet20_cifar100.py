# Vanilla KD, ResNet-110 -> ResNet-20 on CIFAR-100 (RLKD paper Table 1: 70.66
# %; teacher 74.31 %, student 69.06 %). The recipe of
# kd_resnet56_resnet20_cifar100.py: 0.1 * CE + 0.9 * KD at a fixed tau = 4.
_base_ = [
    '../_base_/models/cifar_resnet_classifiers.py',
    '../_base_/models/cifar_zoo_classifiers.py',
    '../_base_/datasets/cifar100_bs64.py',
    '../_base_/schedules/cifar_240e.py',
    '../_base_/cifar_runtime.py',
    '../_base_/distill/instance_kd_classifier.py',
]
# Train configs/cifar100/resnet110_cifar100.py and copy its best checkpoint
# here, or convert the RepDistiller/mdistiller teacher with
# tools/model_converters/repdistiller_to_mmrlkd.py.
teacher_ckpt = 'work_dirs/cifar100/teacher_resnet110.pth'
model = dict(
    architecture={{_base_.resnet20_kd}},
    teacher={{_base_.resnet110}},
    teacher_ckpt=teacher_ckpt)
