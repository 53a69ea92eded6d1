# RLKD ablation (paper Table 8), WRN-40-2 -> WRN-16-2: the high-quality
# instances are the [0 %, 10 %) entropy-rank slice, fed to the agent
# without mixing (lam = 1: each one also takes the slot of its partner from
# the [40 %, 50 %) slice, so it is seen twice per exploration epoch). The
# paper's final choice, [10 %, 20 %) mixed with [40 %, 50 %), is
# ../rlkd_wrn40-2_wrn16-2_cifar100.py.
_base_ = ['../rlkd_wrn40-2_wrn16-2_cifar100.py']

custom_hooks = [
    {{_base_.rlkd_agent_hook}},
    dict(
        type='mmrlkd.EfficientExplorationHook',
        explore_epochs=20,
        high_range=(0.0, 0.1),
        partner_range=(0.4, 0.5),
        mixed_slot='partner',
        lam_range=(1.0, 1.0)),
]
