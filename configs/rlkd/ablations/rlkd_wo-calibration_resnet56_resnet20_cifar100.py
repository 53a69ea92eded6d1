# RLKD ablation (Table 6), ResNet-56 -> ResNet-20: without instance reward
# calibration. The batch reward stays on the episode's last step (delayed
# reward) and GAE spreads it; no reward corrector, no state updater.
_base_ = ['../rlkd_resnet56_resnet20_cifar100.py']

model = dict(
    distiller=dict(
        temperature_provider=dict(
            reward_calibration=False, state_update=False)))
