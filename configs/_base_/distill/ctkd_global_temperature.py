# CTKD's global temperature (Li et al., AAAI 2023) in place of a config's
# fixed one: tau = t_start + t_range * sigmoid(theta) with theta = 1 at the
# start, trained by the student's optimizer through a gradient-reversal layer
# whose strength rises from 0 to 1 along a cosine over the hook's
# `decay_epochs` (10 of CIFAR-100's 240 epochs, as the official script; the
# ImageNet configs set 5). A CTKD config swaps it into a fixed-temperature
# config:
#
#   _base_ = ['../kd/kd_<pair>.py',
#             '../_base_/distill/ctkd_global_temperature.py']
#   model = dict(
#       distiller=dict(temperature_provider={{_base_.ctkd_temperature}}))
#   custom_hooks = [{{_base_.ctkd_curriculum_hook}}]
ctkd_temperature = dict(
    _delete_=True,  # the fixed temperature's arguments go with it
    type='mmrlkd.CTKDGlobalTemperature',
    t_start=1.0,
    t_range=20.0,
    init=1.0)
ctkd_curriculum_hook = dict(type='mmrlkd.CTKDCurriculumHook', decay_epochs=10)
