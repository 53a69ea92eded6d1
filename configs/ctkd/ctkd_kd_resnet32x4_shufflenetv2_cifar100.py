# KD + CTKD (global), ResNet-32x4 -> ShuffleNetV2 on CIFAR-100 (RLKD paper
# Table 1: 75.26 %, vanilla KD 74.45 %; the CTKD paper: 75.31 %). The vanilla
# KD config of this pair (0.1 * CE + 0.9 * KD) with the fixed tau = 4 replaced
# by one learnable temperature tau = 1 + 20 * sigmoid(theta), theta = 1 at the
# start, trained by the student's SGD through a gradient-reversal layer whose
# strength rises from 0 to 1 along a cosine over the first 10 epochs.
_base_ = [
    '../kd/kd_resnet32x4_shufflenetv2_cifar100.py',
    '../_base_/distill/ctkd_global_temperature.py',
]

model = dict(distiller=dict(temperature_provider={{_base_.ctkd_temperature}}))

custom_hooks = [{{_base_.ctkd_curriculum_hook}}]
