# CIFAR-100 teacher: VGG-13 trained from scratch (paper: 74.64 %).
_base_ = [
    '../_base_/models/cifar_resnet_classifiers.py',
    '../_base_/models/cifar_zoo_classifiers.py',
    '../_base_/datasets/cifar100_bs64.py',
    '../_base_/schedules/cifar_240e.py',
    '../_base_/cifar_runtime.py',
]
model = {{_base_.vgg13}}
