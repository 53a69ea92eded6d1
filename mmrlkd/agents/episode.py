"""One RLKD episode: a training batch's instances and the agent's choices.

In RLKD a training iteration is one episode whose steps are the batch's
instances, in batch order. The same field names travel from acting
(:meth:`RLKDAgent.act`) through the provider's pending episode and the
checkpoint to learning (:meth:`RLKDAgent.learn`).
"""
from dataclasses import dataclass, fields

import torch


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
