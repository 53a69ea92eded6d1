# RLKD, ResNet-50 -> MobileNetV2 (x0.5 width) on CIFAR-100 (RLKD paper Table 1:
# 68.75 %; vanilla KD 67.35 %, +CTKD 68.51 %). The vanilla KD config of this
# pair with the RLKD recipe of rlkd_resnet56_resnet20_cifar100.py: a fixed tau
# = 4 for the first 20 epochs, then per-instance temperatures in (0, 10) from
# the PPO agent.
_base_ = [
    '../kd/kd_resnet50_mobilenetv2_cifar100.py',
    '../_base_/exploration/efficient_exploration.py',
]

# Efficient exploration needs the training set wrapped (it serves the mixed
# images) and its hook (it ranks the instances and plans the mixing).
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='mmrlkd.EfficientExplorationDataset',
        dataset={{_base_.train_dataloader.dataset}}))

model = dict(
    distiller=dict(
        temperature_provider=dict(
            _delete_=True,
            type='mmrlkd.RLKDTemperature',
            t_min=0.0,
            t_max=10.0,
            warmup_temperature=4.0,
            performance='accuracy')))

custom_hooks = [
    dict(
        type='mmrlkd.RLKDAgentHook',
        agent_warmup=20,
        reward_warmup=20,
        update_interval=1),
    {{_base_.efficient_exploration_hook}},
]
