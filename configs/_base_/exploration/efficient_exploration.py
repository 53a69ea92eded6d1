# RLKD's efficient exploration (paper Sec. 4.3) with the paper's settings:
# after the agent's warm-up, for `explore_epochs` epochs, the instances of
# entropy ranks [10 %, 20 %) are mixed with those of ranks [40 %, 50 %),
# paired by rank, lam from 1.0 down to 0.7, keeping the high-quality label.
# It needs the training set wrapped AND the hook; in a config:
#
#   _base_ = ['../rlkd/rlkd_resnet56_resnet20_cifar100.py',
#             '../_base_/exploration/efficient_exploration.py']
#   train_dataloader = dict(
#       dataset=dict(
#           _delete_=True,
#           type='mmrlkd.EfficientExplorationDataset',
#           dataset={{_base_.train_dataloader.dataset}}))
#   custom_hooks = [
#       dict(type='mmrlkd.RLKDAgentHook', agent_warmup=20, reward_warmup=20),
#       {{_base_.efficient_exploration_hook}},
#   ]
#
# Without the hook (or with enabled=False) the wrapper serves the original
# images. persistent_workers is fine: the dataset keeps its plan in shared
# memory, which the workers read.
efficient_exploration_hook = dict(
    type='mmrlkd.EfficientExplorationHook',
    explore_epochs=20,  # the paper's "early stages"; the warm-up is 20
    agent_warmup=None,  # None: RLKDAgentHook's agent_warmup
    high_range=(0.1, 0.2),
    partner_range=(0.4, 0.5),
    mixed_slot='partner',  # the mix takes the partner's slot
    lam_schedule='linear',
    lam_range=(1.0, 0.7),
    score='last')
