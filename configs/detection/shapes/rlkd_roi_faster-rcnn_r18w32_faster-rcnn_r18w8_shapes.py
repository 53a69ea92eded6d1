# RLKD on the RoI logits: a PPO agent picks each sampled RoI's temperature
# (KD loss as in the KD config). Reward: change of the student's RoI
# classification accuracy (background included) between iterations. The
# range [0, 2] centres the untrained policy (T = 1) on the KD config's
# T = 1; the agent acts after 1 warm-up epoch at T = 1.
#
# Cost: the agent's update (PPO's 5 + 5 full-batch epochs, the reward
# corrector, the state updater) costs about the same whatever the student,
# so on this tiny detector, learning from all 1024 RoIs after every
# iteration, RLKD took 1.199x KD's iteration time. The agent therefore
# learns from 256 random RoIs of an iteration (it acts on all of them)
# every 4th iteration (still ~5x as often as the official code, which
# learns in 1 epoch of 20): 1.036x, measured with
# `tools/analysis/benchmark_iteration.py --detection` (see
# docs/en/user_guides/detection.md). The COCO configs learn from every RoI
# after every iteration.
_base_ = ['./kd_roi_faster-rcnn_r18w32_faster-rcnn_r18w8_shapes.py']
model = dict(
    distiller=dict(
        temperature_provider=dict(
            _delete_=True,
            type='mmrlkd.RLKDTemperature',
            t_min=0.0,
            t_max=2.0,
            warmup_temperature=1.0,
            performance='accuracy',
            max_episode_length=256)))
custom_hooks = [
    dict(
        type='mmrlkd.RLKDAgentHook',
        agent_warmup=1,
        reward_warmup=1,
        update_interval=4)
]
