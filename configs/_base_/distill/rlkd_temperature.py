# RLKD's per-instance temperatures (arXiv 2407.00115) in place of a config's
# fixed one, with the official recipe: the fixed warm-up temperature
# (tau = 4) for the first 20 epochs, then temperatures in (0, 10) from the
# PPO agent, which is updated after every iteration with the batch-accuracy
# gain (its reward warmed up over 20 epochs) spread over the instances by the
# reward corrector (RLKDTemperature's defaults). An RLKD config swaps it into
# a fixed-temperature config:
#
#   _base_ = ['../kd/kd_<pair>.py', '../_base_/distill/rlkd_temperature.py']
#   model = dict(
#       distiller=dict(temperature_provider={{_base_.rlkd_temperature}}))
#   custom_hooks = [{{_base_.rlkd_agent_hook}}]
#
# A pair with another warm-up temperature (ResNet-110 -> ResNet-20: tau = 8,
# as its official config) states just that, in MMEngine's Python syntax:
#
#   temperature_provider=dict(_base_.rlkd_temperature, warmup_temperature=8.0)
rlkd_temperature = dict(
    _delete_=True,  # the fixed temperature's arguments go with it
    type='mmrlkd.RLKDTemperature',
    t_min=0.0,
    t_max=10.0,
    warmup_temperature=4.0,
    performance='accuracy')
rlkd_agent_hook = dict(
    type='mmrlkd.RLKDAgentHook',
    agent_warmup=20,
    reward_warmup=20,
    update_interval=1)
