# DKD + CTKD (global), WRN-40-2 -> WRN-16-2 on CIFAR-100 (RLKD paper Table 3:
# 75.85 %, DKD 75.70 %). The DKD config of this pair (1.0 * CE + DKD,
# alpha = 1, beta = 2; no warm-up, as the official CTKD script's DKD) with
# the fixed T = 4 replaced by CTKD's learnable global temperature (curriculum
# over 10 epochs), which DKD uses for both parts.
_base_ = [
    '../kd/dkd_wrn40-2_wrn16-2_cifar100.py',
    '../_base_/distill/ctkd_global_temperature.py',
]

model = dict(distiller=dict(temperature_provider={{_base_.ctkd_temperature}}))

custom_hooks = [{{_base_.ctkd_curriculum_hook}}]
