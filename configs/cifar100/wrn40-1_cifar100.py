# CIFAR-100 student alone: WRN-40-1 without KD (paper: 71.98 %).
_base_ = [
    '../_base_/models/cifar_resnet_classifiers.py',
    '../_base_/models/cifar_zoo_classifiers.py',
    '../_base_/datasets/cifar100_bs64.py',
    '../_base_/schedules/cifar_240e.py',
    '../_base_/cifar_runtime.py',
]
model = {{_base_.wrn_40_1}}
