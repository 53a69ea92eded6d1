# Vanilla KD + RLKD, ResNet-34 -> ResNet-18 on ImageNet-1k (RLKD paper Table 2,
# top-1 / top-5: 71.39 / 90.51; without RLKD 70.83 / 90.31, with CTKD 71.28 /
# 90.33). The config ../kd/kd_resnet34_resnet18_imagenet.py with per-instance
# temperatures from the PPO agent: tau = 4 for the first 20 epochs (the
# official ImageNet configs' warmup_epoch), then T in (0, 10), updated after
# every iteration with the batch-accuracy gain, warmed up over 20 epochs.
_base_ = ['../kd/kd_resnet34_resnet18_imagenet.py']

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
        update_interval=1)
]
