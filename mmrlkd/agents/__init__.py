"""The RLKD agent in plain PyTorch: state, policy, episode storage, PPO.

Nothing here imports OpenMMLab; the temperature provider and the agent hook
wire it into training.
"""
from .agent import CALIBRATED_PPO, RLKDAgent, full_precision
from .distributed import AgentSync
from .mtkd_agent import MTKDAgent, normalised_reward
from .mtkd_policy import MTKDPolicy
from .mtkd_state import heuristic_weights, mtkd_state
from .policy import TemperaturePolicy
from .ppo import PPOUpdater, clipped_surrogate_loss
from .reward import (REWARDS, batch_performance, linear_warmup_scale,
                     official_cosine_scale)
from .reward_corrector import (RewardCorrector, redistribute_return,
                               return_decomposition_loss)
from .rollout import EpisodeBuffer, compute_gae
from .state import instance_states, state_dim
from .state_updater import StateUpdater, state_updater_loss

__all__ = [
    'AgentSync', 'CALIBRATED_PPO', 'REWARDS', 'full_precision',
    'EpisodeBuffer', 'PPOUpdater',
    'TemperaturePolicy', 'batch_performance', 'clipped_surrogate_loss',
    'compute_gae', 'instance_states', 'linear_warmup_scale',
    'official_cosine_scale', 'state_dim', 'RLKDAgent', 'RewardCorrector',
    'StateUpdater', 'redistribute_return', 'return_decomposition_loss',
    'state_updater_loss'
]
__all__ += [
    'MTKDAgent', 'MTKDPolicy', 'heuristic_weights', 'mtkd_state',
    'normalised_reward'
]
