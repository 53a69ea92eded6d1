# RLKD on the RoI logits (the paper's Table 4 "+Ours" on vanilla KD): a PPO
# agent picks each sampled RoI's temperature. Reward: change of the
# student's RoI classification accuracy (background included) between
# iterations; performance='neg_ce' switches to minus the RoI cross-entropy.
# The range [0, 2] centres the untrained policy on the KD config's T = 1;
# the agent acts after 1 of the 12 epochs (the paper: 20 of 240) at T = 1.
_base_ = ['./kd_roi_faster-rcnn_r101_faster-rcnn_r18_1x_coco.py']
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
