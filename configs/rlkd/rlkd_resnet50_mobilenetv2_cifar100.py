# RLKD, ResNet-50 -> MobileNetV2 (x0.5 width) on CIFAR-100 (RLKD paper Table 1:
# 68.75 %; vanilla KD 67.35 %, +CTKD 68.51 %). The vanilla KD config of this
# pair with the RLKD recipe of rlkd_resnet56_resnet20_cifar100.py: a fixed tau
# = 4 for the first 20 epochs, then per-instance temperatures in (0, 10) from
# the PPO agent.
_base_ = [
    '../kd/kd_resnet50_mobilenetv2_cifar100.py',
    '../_base_/exploration/efficient_exploration.py',
    '../_base_/distill/rlkd_temperature.py',
]

# Efficient exploration needs the training set wrapped (it serves the mixed
# images) and its hook (it ranks the instances and plans the mixing).
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='mmrlkd.EfficientExplorationDataset',
        dataset={{_base_.train_dataloader.dataset}}))

model = dict(distiller=dict(temperature_provider={{_base_.rlkd_temperature}}))

custom_hooks = [
    {{_base_.rlkd_agent_hook}},
    {{_base_.efficient_exploration_hook}},
]
