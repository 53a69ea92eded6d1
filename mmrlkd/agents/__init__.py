"""The RLKD agent in plain PyTorch: state, policy, episode storage, PPO.

Nothing here imports OpenMMLab; the temperature provider and the agent hook
wire it into training.
"""
from .policy import TemperaturePolicy
from .ppo import PPOUpdater, clipped_surrogate_loss
from .reward import (batch_performance, linear_warmup_scale,
                     official_cosine_scale)
from .rollout import EpisodeBuffer, compute_gae
from .state import instance_states, state_dim

__all__ = [
    'EpisodeBuffer', 'PPOUpdater', 'TemperaturePolicy', 'batch_performance',
    'clipped_surrogate_loss', 'compute_gae', 'instance_states',
    'linear_warmup_scale', 'official_cosine_scale', 'state_dim'
]
