# DKD + CTKD (global), ResNet-32x4 -> ShuffleNetV1 on CIFAR-100 (RLKD paper
# Table 3: 75.88 %, DKD 75.44 %). The DKD config of this pair (1.0 * CE +
# DKD, alpha = 1, beta = 8; no warm-up, as the official CTKD script's DKD)
# with the fixed T = 4 replaced by CTKD's learnable global temperature
# (curriculum over 10 epochs), which DKD uses for both parts.
_base_ = [
    '../kd/dkd_resnet32x4_shufflenetv1_cifar100.py',
    '../_base_/distill/ctkd_global_temperature.py',
]

model = dict(distiller=dict(temperature_provider={{_base_.ctkd_temperature}}))

custom_hooks = [{{_base_.ctkd_curriculum_hook}}]
