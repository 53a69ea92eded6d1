# RLKD's control (issue 17): the same agent acts with its untrained policy
# and never learns, so temperatures are jittered around ~5 exactly as by
# the learning agent's sampling, without any learning. RLKD beats this only
# if its agent learns something from the reward.
_base_ = ['./rlkd_resnet56_resnet8w4_digitpairs.py']

custom_hooks = [
    dict(
        type='mmrlkd.RLKDAgentHook',
        agent_warmup=2,
        reward_warmup=2,
        learn=False),
    dict(type='mmrlkd.RewardDiagnosticsHook'),
]
