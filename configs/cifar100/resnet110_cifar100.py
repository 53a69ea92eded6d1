# CIFAR-100 teacher: ResNet-110 trained from scratch (paper: 74.31 %).
_base_ = [
    '../_base_/models/cifar_resnet_classifiers.py',
    '../_base_/models/cifar_zoo_classifiers.py',
    '../_base_/datasets/cifar100_bs64.py',
    '../_base_/schedules/cifar_240e.py',
    '../_base_/cifar_runtime.py',
]
model = {{_base_.resnet110}}
