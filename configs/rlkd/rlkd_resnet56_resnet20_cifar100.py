# RLKD, ResNet-56 -> ResNet-20 on CIFAR-100 (paper Table 1: 71.40 %), the full
# method: the vanilla KD config (240 epochs, SGD 0.05, batch 64, 0.1 * CE +
# 0.9 * KD) with tau = 4 for the first 20 epochs, then per-instance
# temperatures in (0, 10) from the PPO agent, updated after every iteration
# with the batch-accuracy gain (warmed up over 20 epochs) spread over the
# instances by the reward corrector (RLKDTemperature's defaults), and
# efficient exploration in the 20 epochs after the agent's warm-up.
# Ablations (paper Tables 5-8): configs/rlkd/ablations/.
_base_ = [
    '../kd/kd_resnet56_resnet20_cifar100.py',
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
