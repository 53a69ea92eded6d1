# Student alone: CIFAR ResNet-8 of base width 4 trained on DigitPairs.
_base_ = [
    '../_base_/models/cifar_resnet_classifiers.py',
    '../_base_/datasets/digit_pairs.py',
    '../_base_/schedules/digit_pairs_student_sgd.py',
    '../_base_/digit_pairs_runtime.py',
]
model = {{_base_.resnet8_w4}}
