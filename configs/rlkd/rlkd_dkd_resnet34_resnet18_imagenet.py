# DKD + RLKD, ResNet-34 -> ResNet-18 on ImageNet-1k (RLKD paper Table 2, top-1
# / top-5: 71.62 / 90.56; without RLKD 71.13 / 90.31, with CTKD 71.47 / 90.44).
# The config ../kd/dkd_resnet34_resnet18_imagenet.py with per-instance
# temperatures from the PPO agent: T = 1 (the DKD config's) for the first
# epoch, then T in (0, 2), whose middle (the untrained policy's) is that T = 1
# (our choice, as for detection; the official ImageNet DKD config also starts
# the agent after 1 epoch).
_base_ = ['../kd/dkd_resnet34_resnet18_imagenet.py']

model = dict(
    distiller=dict(
        temperature_provider=dict(
            _delete_=True,
            type='mmrlkd.RLKDTemperature',
            t_min=0.0,
            t_max=2.0,
            warmup_temperature=1.0,
            performance='accuracy')))

custom_hooks = [
    dict(
        type='mmrlkd.RLKDAgentHook',
        agent_warmup=1,
        reward_warmup=1,
        update_interval=1)
]
