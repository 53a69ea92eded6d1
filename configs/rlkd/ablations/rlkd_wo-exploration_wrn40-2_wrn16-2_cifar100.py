# RLKD ablation (paper Table 7), WRN-40-2 -> WRN-16-2: without efficient
# exploration. The exploration hook is left out, so the wrapped training set
# serves the original images throughout.
_base_ = ['../rlkd_wrn40-2_wrn16-2_cifar100.py']

custom_hooks = [
    {{_base_.rlkd_agent_hook}},
]
