# Teacher: CIFAR ResNet-56 trained on DigitPairs from scratch.
_base_ = [
    '../_base_/models/cifar_resnet_classifiers.py',
    '../_base_/datasets/digit_pairs.py',
    '../_base_/schedules/digit_pairs_sgd.py',
    '../_base_/digit_pairs_runtime.py',
]
model = {{_base_.resnet56}}
