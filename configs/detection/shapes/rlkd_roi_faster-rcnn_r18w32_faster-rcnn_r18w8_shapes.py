# RLKD on the RoI logits: a PPO agent picks each sampled RoI's temperature
# (KD loss as in the KD config). Reward: change of the student's RoI
# classification accuracy (background included) between iterations. The
# range [0, 2] centres the untrained policy (T = 1) on the KD config's
# T = 1; the agent acts after 1 warm-up epoch at T = 1.
_base_ = ['./kd_roi_faster-rcnn_r18w32_faster-rcnn_r18w8_shapes.py']
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
    dict(type='mmrlkd.RLKDAgentHook', agent_warmup=1, reward_warmup=1)
]
