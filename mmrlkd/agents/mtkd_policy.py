"""The MTKD-RL agent network: per-instance teacher weights (arXiv 2502.18510).

The official code's ``PolicyTrans``::

    h   = ReLU(W1 s)                               W1 without bias
    a_l = softmax(W_l h + b_l),  a_f = softmax(W_f h + b_f)    over teachers
    w_l = (a_l + p_ce + p_kl) / 3,  w_f = (a_f + p_ce + p_cos) / 3

with the heuristic weightings of :func:`heuristic_weights`. With
``dynamic=True`` the fixed 1/3 mix becomes ``softmax(phi)`` with a
learnable phi (one per head, initialised to ones, i.e. to the average).
Every row of ``w_l`` and ``w_f`` is a distribution over the teachers.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .mtkd_state import heuristic_weights, scalar_columns


class MTKDPolicy(nn.Module):
    """Per-instance logit-KD and feature-KD weights over M teachers.

    Args:
        info_dims (Sequence[int]): d_m + C_m of each teacher (embedding and
            logit sizes); the state has ``sum(3 + d_m + C_m)`` columns.
        hidden_dim (int): Width of the hidden layer. Defaults to 128.
        dynamic (bool): Learn the mix of the agent's weights with the
            heuristic ones instead of averaging them. Defaults to False.
    """

    def __init__(self, info_dims, hidden_dim=128, dynamic=False):
        super().__init__()
        info_dims = [int(d) for d in info_dims]
        if not info_dims or min(info_dims) < 1:
            raise ValueError(f'info_dims must be positive, got {info_dims}')
        self.num_teachers = len(info_dims)
        self.state_dim = sum(info_dims) + 3 * self.num_teachers
        self.dynamic = dynamic
        self.register_buffer(
            'columns', scalar_columns(info_dims), persistent=False)
        self.stem = nn.Sequential(
            nn.Linear(self.state_dim, hidden_dim, bias=False), nn.ReLU())
        self.logit_head = nn.Linear(hidden_dim, self.num_teachers)
        self.feature_head = nn.Linear(hidden_dim, self.num_teachers)
        if dynamic:
            self.logit_mix = nn.Parameter(torch.ones(3))
            self.feature_mix = nn.Parameter(torch.ones(3))

    def _mix(self, parts, mix_logits):
        if not self.dynamic:
            return sum(parts) / len(parts)
        mix = F.softmax(mix_logits, dim=0)
        return sum(m * p for m, p in zip(mix, parts))

    def forward(self, state):
        """Weights ``(w_l, w_f)``, (N, M) each, from states (N, state_dim).
        """
        if state.shape[-1] != self.state_dim:
            raise ValueError(f'expected states with {self.state_dim} '
                             f'columns, got {tuple(state.shape)}')
        cos, kl, ce = (state[:, cols] for cols in self.columns)
        p_ce, p_kl, p_cos = heuristic_weights(cos, kl, ce)
        hidden = self.stem(state)
        a_l = F.softmax(self.logit_head(hidden), dim=1)
        a_f = F.softmax(self.feature_head(hidden), dim=1)
        w_l = self._mix((a_l, p_ce, p_kl), getattr(self, 'logit_mix', None))
        w_f = self._mix((a_f, p_ce, p_cos), getattr(self, 'feature_mix', None))
        return w_l, w_f
