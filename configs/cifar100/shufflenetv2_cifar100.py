# CIFAR-100 student alone: ShuffleNetV2 (1x) without KD (paper: 71.82 %).
_base_ = [
    '../_base_/models/cifar_resnet_classifiers.py',
    '../_base_/models/cifar_zoo_classifiers.py',
    '../_base_/datasets/cifar100_bs64.py',
    '../_base_/schedules/cifar_240e.py',
    '../_base_/cifar_runtime.py',
]
model = {{_base_.shufflenetv2}}
# MobileNet/ShuffleNet students: lr 0.01 (CRD/RepDistiller, CTKD).
optim_wrapper = dict(optimizer=dict(lr=0.01))
