# RLKD ablation (paper Table 7), ResNet-56 -> ResNet-20: without efficient
# exploration. The exploration hook is left out, so the wrapped training set
# serves the original images throughout.
_base_ = ['../rlkd_resnet56_resnet20_cifar100.py']

custom_hooks = [
    {{_base_.rlkd_agent_hook}},
]
