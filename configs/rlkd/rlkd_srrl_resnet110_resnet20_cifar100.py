# SRRL + RLKD, ResNet-110 -> ResNet-20 on CIFAR-100 (RLKD paper Table 3: 71.81
# %; SRRL 71.09 %, +CTKD 71.52 %). The SRRL + KD config of this pair with the
# RLKD recipe of rlkd_resnet56_resnet20_cifar100.py: a fixed tau = 8 for the
# first 20 epochs, then per-instance temperatures in (0, 10) from the PPO agent
# for the KD term.
_base_ = [
    '../kd/kd_srrl_resnet110_resnet20_cifar100.py',
    '../_base_/distill/rlkd_temperature.py',
]

model = dict(
    distiller=dict(
        temperature_provider=dict(
            _base_.rlkd_temperature, warmup_temperature=8.0)))

custom_hooks = [{{_base_.rlkd_agent_hook}}]
