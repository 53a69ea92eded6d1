# RLKD, ResNet-56 -> ResNet-20, with the official code's learning schedule:
# the agent acts in every iteration after its warm-up but learns only in
# the "RL epochs" 20, 40, ..., 240 (1-based), one epoch in 20. The paper's
# schedule (learn after every iteration) is
# ../rlkd_resnet56_resnet20_cifar100.py.
# What each schedule costs per iteration: docs/en/user_guides/rlkd.md.
_base_ = ['../rlkd_resnet56_resnet20_cifar100.py']

# The official code acts from (1-based) epoch 20, its first RL epoch:
# agent_warmup counts 0-based epochs.
custom_hooks = [
    dict(_base_.rlkd_agent_hook, agent_warmup=19, learn_epoch_interval=20),
    {{_base_.efficient_exploration_hook}},
]
