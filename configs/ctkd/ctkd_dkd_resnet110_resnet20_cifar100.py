# DKD + CTKD (global), ResNet-110 -> ResNet-20 on CIFAR-100 (RLKD paper Table
# 3: 71.65 %, DKD 71.28 %). The DKD config of this pair (1.0 * CE + DKD,
# alpha = 1, beta = 2; no warm-up, as the official CTKD script's DKD) with
# the fixed T = 4 replaced by CTKD's learnable global temperature (curriculum
# over 10 epochs), which DKD uses for both parts.
_base_ = [
    '../kd/dkd_resnet110_resnet20_cifar100.py',
    '../_base_/distill/ctkd_global_temperature.py',
]

model = dict(distiller=dict(temperature_provider={{_base_.ctkd_temperature}}))

custom_hooks = [{{_base_.ctkd_curriculum_hook}}]
