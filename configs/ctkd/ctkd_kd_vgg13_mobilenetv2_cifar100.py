# KD + CTKD (global), VGG-13 -> MobileNetV2 on CIFAR-100 (RLKD paper Table 1:
# 68.42 %, vanilla KD 67.37 %; the CTKD paper: 68.46 %). The vanilla KD config
# of this pair (0.1 * CE + 0.9 * KD) with the fixed tau = 4 replaced by one
# learnable temperature tau = 1 + 20 * sigmoid(theta), theta = 1 at the start,
# trained by the student's SGD through a gradient-reversal layer whose strength
# rises from 0 to 1 along a cosine over the first 10 epochs.
_base_ = [
    '../kd/kd_vgg13_mobilenetv2_cifar100.py',
    '../_base_/distill/ctkd_global_temperature.py',
]

model = dict(distiller=dict(temperature_provider={{_base_.ctkd_temperature}}))

custom_hooks = [{{_base_.ctkd_curriculum_hook}}]
