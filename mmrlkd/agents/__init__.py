"""The RLKD agent in plain PyTorch: state, policy, episode, reward, PPO.

Nothing here imports OpenMMLab; the temperature provider and the agent hook
wire it into training.
"""
from .agent import RLKDAgent, full_precision
from .distributed import AgentSync
from .episode import Episode
from .mtkd_agent import MTKDAgent, normalised_reward
from .mtkd_policy import MTKDPolicy
from .mtkd_state import heuristic_weights, mtkd_state
from .policy import TemperaturePolicy
from .ppo import PPOUpdater, clipped_fraction, clipped_surrogate_loss
from .reward import (REWARDS, IterationRecord, NextBatchReward,
                     SameBatchReward, batch_performance, linear_warmup_scale)
from .reward_corrector import (RewardCorrector, redistribute_return,
                               return_decomposition_loss)
from .rollout import compute_gae
from .state import instance_states, state_dim
from .state_updater import StateUpdater, state_updater_loss

__all__ = [
    'AgentSync', 'Episode', 'IterationRecord', 'NextBatchReward',
    'PPOUpdater', 'REWARDS', 'RLKDAgent', 'RewardCorrector',
    'SameBatchReward', 'StateUpdater', 'TemperaturePolicy',
    'batch_performance', 'clipped_fraction', 'clipped_surrogate_loss',
    'compute_gae',
    'full_precision', 'instance_states', 'linear_warmup_scale',
    'redistribute_return', 'return_decomposition_loss', 'state_dim',
    'state_updater_loss'
]
__all__ += [
    'MTKDAgent', 'MTKDPolicy', 'heuristic_weights', 'mtkd_state',
    'normalised_reward'
]
