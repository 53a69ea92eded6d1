"""One RLKD episode: a training batch's instances and the agent's choices.

In RLKD a training iteration is one episode whose steps are the batch's
instances, in batch order. The same field names travel from acting
(:meth:`RLKDAgent.act`) through the provider's pending episode and the
checkpoint to learning (:meth:`RLKDAgent.learn`).
"""
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F


@dataclass
class Episode:
    """The agent's experience of one batch, one row per instance.

    Attributes:
        states (Tensor): Raw instance states, shape (N, D).
        policy_states (Tensor): What the policy acted on (the state
            updater's output, or the raw states), shape (N, D).
        actions (Tensor): Pre-squash actions, shape (N,).
        log_probs (Tensor): Their log-probabilities at acting time, (N,).
        values (Tensor): The critic's values at acting time, (N,).
    """

    states: torch.Tensor
    policy_states: torch.Tensor
    actions: torch.Tensor
    log_probs: torch.Tensor
    values: torch.Tensor

    @classmethod
    def empty(cls, state_dim, device='cpu'):
        """An episode with no instances (a process that saw no batch)."""
        rows = torch.zeros(0, state_dim, device=device)
        steps = torch.zeros(0, device=device)
        return cls(rows, rows, steps, steps, steps)

    def __len__(self):
        return self.actions.shape[0]

    def map(self, fn):
        """A new episode with ``fn`` applied to every field."""
        return Episode(**{
            field.name: fn(getattr(self, field.name))
            for field in fields(self)
        })

    def to(self, device):
        return self.map(lambda t: t.to(device))

    def state_dict(self):
        """Detached copies of the fields, for a checkpoint."""
        return {
            field.name: getattr(self, field.name).detach().clone()
            for field in fields(self)
        }

    @classmethod
    def from_state_dict(cls, state):
        """Restore :meth:`state_dict` (extra keys are ignored)."""
        return cls(**{field.name: state[field.name] for field in fields(cls)})


@dataclass
class EpisodeBatch:
    """Episodes padded to one capacity: what the agent learns from.

    Row ``e`` holds one episode (one process's, under several processes)
    in its first ``lengths[e]`` steps; the rest is zero padding that every
    loss masks out. The shapes stay the same from one update to the next,
    whatever each episode's length (the last, smaller batch; detection's
    varying RoI counts), so a captured update can replay.

    Attributes:
        states (Tensor): Raw instance states, shape (E, C, D).
        policy_states (Tensor): What the policy acted on, (E, C, D).
        actions (Tensor): Pre-squash actions, (E, C).
        log_probs (Tensor): Log-probabilities at acting time, (E, C).
        values (Tensor): The critic's values at acting time, (E, C).
        lengths (Tensor): Steps of each episode, (E,), int64.
    """

    states: torch.Tensor
    policy_states: torch.Tensor
    actions: torch.Tensor
    log_probs: torch.Tensor
    values: torch.Tensor
    lengths: torch.Tensor

    @property
    def valid(self):
        """1.0 on each episode's steps, 0.0 on padding, shape (E, C)."""
        steps = torch.arange(
            self.actions.shape[-1], device=self.lengths.device)
        return (steps < self.lengths.unsqueeze(-1)).to(self.actions.dtype)


#: Values in front of a packed episode: finite (1.0 or 0.0), length,
#: reward.
HEADER = 3


def pack_episode(episode, capacity, finite, reward):
    """One flat float row: header, then the fields padded to ``capacity``.

    The rows of all processes are gathered by one collective
    (:meth:`AgentSync.gather`). An episode longer than ``capacity`` is cut
    here; its header keeps the full length, so every process sees that the
    capacity must grow and gathers again.
    """
    num = min(len(episode), capacity)
    states = episode.states[:num]
    state_dim = states.shape[1]
    header = torch.stack([
        finite.to(states.dtype),
        states.new_full((), float(len(episode))),
        reward.to(states.dtype).reshape(())
    ])
    columns = (states, episode.policy_states[:num], episode.actions[:num],
               episode.log_probs[:num], episode.values[:num])
    widths = (state_dim, state_dim, 1, 1, 1)
    return torch.cat([header] + [
        F.pad(column.reshape(num, width),
              (0, 0, 0, capacity - num)).reshape(-1)
        for column, width in zip(columns, widths)
    ])


def unpack_episodes(rows, capacity, state_dim):
    """The :class:`EpisodeBatch` of gathered rows of :func:`pack_episode`."""
    num = rows.shape[0]
    sizes = [HEADER, capacity * state_dim, capacity * state_dim, capacity,
             capacity, capacity]
    _, states, policy_states, actions, log_probs, values = rows.split(
        sizes, dim=1)
    return EpisodeBatch(
        states=states.reshape(num, capacity, state_dim),
        policy_states=policy_states.reshape(num, capacity, state_dim),
        actions=actions,
        log_probs=log_probs,
        values=values,
        lengths=rows[:, 1].clamp_max(capacity).long())
