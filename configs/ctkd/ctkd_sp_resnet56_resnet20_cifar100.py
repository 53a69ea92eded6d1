# SP + KD + CTKD (global), ResNet-56 -> ResNet-20 on CIFAR-100 (RLKD paper
# Table 3: 71.29 %, without CTKD 70.84 %). The SP + KD config of this pair
# (CTKD's plug-in protocol: 0.1 * CE + 0.9 * KD + the feature loss) with the KD
# term's fixed tau = 4 replaced by CTKD's learnable global temperature
# (curriculum over 10 epochs); the feature loss has no temperature.
_base_ = [
    '../kd/kd_sp_resnet56_resnet20_cifar100.py',
    '../_base_/distill/ctkd_global_temperature.py',
]

model = dict(distiller=dict(temperature_provider={{_base_.ctkd_temperature}}))

custom_hooks = [{{_base_.ctkd_curriculum_hook}}]
