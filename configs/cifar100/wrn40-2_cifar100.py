# CIFAR-100 teacher: WRN-40-2 trained from scratch (paper: 75.61 %).
_base_ = [
    '../_base_/models/cifar_resnet_classifiers.py',
    '../_base_/models/cifar_zoo_classifiers.py',
    '../_base_/datasets/cifar100_bs64.py',
    '../_base_/schedules/cifar_240e.py',
    '../_base_/cifar_runtime.py',
]
model = {{_base_.wrn_40_2}}
