# SRRL + RLKD, ResNet-32x4 -> ShuffleNetV2 on CIFAR-100 (RLKD paper Table 3:
# 76.06 %; SRRL 75.90 %, +CTKD 75.97 %). The SRRL + KD config of this pair with
# the RLKD recipe of rlkd_resnet56_resnet20_cifar100.py: a fixed tau = 4 for
# the first 20 epochs, then per-instance temperatures in (0, 10) from the PPO
# agent for the KD term.
_base_ = [
    '../kd/kd_srrl_resnet32x4_shufflenetv2_cifar100.py',
    '../_base_/distill/rlkd_temperature.py',
]

model = dict(distiller=dict(temperature_provider={{_base_.rlkd_temperature}}))

custom_hooks = [{{_base_.rlkd_agent_hook}}]
