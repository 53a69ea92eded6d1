# DKD + RLKD, WRN-40-2 -> WRN-16-2 on CIFAR-100 (RLKD paper Table 3: 76.02 %;
# DKD 75.70 %, +CTKD 75.85 %). The DKD config of this pair (beta = 2) with
# the RLKD recipe of rlkd_wrn40-2_wrn16-2_cifar100.py: a fixed T = 4 for the
# first 20 epochs, then per-instance temperatures in (0, 10) from the PPO
# agent, used inside DKD with a per-instance T_i^2 scale (the official code's
# broadcast loses it).
_base_ = [
    '../kd/dkd_wrn40-2_wrn16-2_cifar100.py',
    '../_base_/distill/rlkd_temperature.py',
]

model = dict(distiller=dict(temperature_provider={{_base_.rlkd_temperature}}))

custom_hooks = [{{_base_.rlkd_agent_hook}}]
