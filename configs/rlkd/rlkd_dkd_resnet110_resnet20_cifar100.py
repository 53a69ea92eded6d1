# DKD + RLKD, ResNet-110 -> ResNet-20 on CIFAR-100 (RLKD paper Table 3:
# 71.91 %; DKD 71.28 %, +CTKD 71.65 %). The DKD config of this pair
# (beta = 2) with the RLKD recipe of rlkd_resnet110_resnet20_cifar100.py: a
# fixed T = 8 for the first 20 epochs (the warm-up temperature of the
# official configs of this pair), then per-instance temperatures in (0, 10)
# from the PPO agent, used inside DKD with a per-instance T_i^2 scale (the
# official code's broadcast loses it).
_base_ = [
    '../kd/dkd_resnet110_resnet20_cifar100.py',
    '../_base_/distill/rlkd_temperature.py',
]

model = dict(
    distiller=dict(
        temperature_provider=dict(
            _base_.rlkd_temperature, warmup_temperature=8.0)))

custom_hooks = [{{_base_.rlkd_agent_hook}}]
