# SRRL + KD + RLKD, ResNet-34 -> ResNet-18 on ImageNet-1k (RLKD paper Table 2,
# top-1 / top-5: 71.38 / 90.52; without RLKD 71.01 / 90.41, with CTKD 71.25 /
# 90.42). The config ../kd/kd_srrl_resnet34_resnet18_imagenet.py with
# per-instance temperatures from the PPO agent: tau = 4 for the first 20 epochs
# (the official ImageNet configs' warmup_epoch), then T in (0, 10), updated
# after every iteration with the batch-accuracy gain, warmed up over 20 epochs.
_base_ = [
    '../kd/kd_srrl_resnet34_resnet18_imagenet.py',
    '../_base_/distill/rlkd_temperature.py',
]

model = dict(distiller=dict(temperature_provider={{_base_.rlkd_temperature}}))

custom_hooks = [{{_base_.rlkd_agent_hook}}]
