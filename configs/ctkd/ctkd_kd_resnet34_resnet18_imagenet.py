# Vanilla KD + CTKD (global), ResNet-34 -> ResNet-18 on ImageNet-1k (RLKD paper
# Table 2, top-1 / top-5: 71.28 / 90.33; without CTKD 70.83 / 90.31). The
# config ../kd/kd_resnet34_resnet18_imagenet.py with its fixed temperature
# replaced by CTKD's learnable one, tau = 1 + 20 * sigmoid(theta), trained by
# the student's SGD through a gradient-reversal layer whose strength rises from
# 0 to 1 along a cosine over the first 5 epochs (CTKD's ImageNet curriculum).
_base_ = [
    '../kd/kd_resnet34_resnet18_imagenet.py',
    '../_base_/distill/ctkd_global_temperature.py',
]

model = dict(distiller=dict(temperature_provider={{_base_.ctkd_temperature}}))

custom_hooks = [dict(type='mmrlkd.CTKDCurriculumHook', decay_epochs=5)]
