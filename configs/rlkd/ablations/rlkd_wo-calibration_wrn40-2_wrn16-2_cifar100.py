# RLKD ablation (Table 6), WRN-40-2 -> WRN-16-2: without instance reward
# calibration. The batch reward stays on the episode's last step (delayed
# reward) and GAE spreads it; no reward corrector, no state updater.
_base_ = ['../rlkd_wrn40-2_wrn16-2_cifar100.py']

model = dict(
    distiller=dict(
        temperature_provider=dict(
            reward_calibration=False, state_update=False)))
