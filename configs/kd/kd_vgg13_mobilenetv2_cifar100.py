# Vanilla KD, VGG-13 -> MobileNetV2 (x0.5 width) on CIFAR-100 (RLKD paper Table
# 1: 67.37 %; teacher 74.64 %, student 64.60 %). The recipe of
# kd_resnet56_resnet20_cifar100.py: 0.1 * CE + 0.9 * KD at a fixed tau = 4.
_base_ = [
    '../_base_/models/cifar_resnet_classifiers.py',
    '../_base_/models/cifar_zoo_classifiers.py',
    '../_base_/datasets/cifar100_bs64.py',
    '../_base_/schedules/cifar_240e.py',
    '../_base_/cifar_runtime.py',
    '../_base_/distill/instance_kd_classifier.py',
]
# Train configs/cifar100/vgg13_cifar100.py and copy its best checkpoint
# here, or convert the RepDistiller/mdistiller teacher with
# tools/model_converters/repdistiller_to_mmrlkd.py.
teacher_ckpt = 'work_dirs/cifar100/teacher_vgg13.pth'
model = dict(
    architecture={{_base_.mobilenetv2_kd}},
    teacher={{_base_.vgg13}},
    teacher_ckpt=teacher_ckpt)
# MobileNet/ShuffleNet students: lr 0.01 (CRD/RepDistiller, CTKD).
optim_wrapper = dict(optimizer=dict(lr=0.01))
