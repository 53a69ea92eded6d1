"""Gaussian actor-critic that maps an instance state to a temperature.

Architecture as in the official RLKD code (arXiv 2407.00115): actor
``D -> 256 -> 256 -> 1`` with ReLU and a tanh on the mean, a learnable
state-independent log-std (initial std e^-0.5) and a critic of the same
shape. The action ``a ~ N(mu, std^2)`` is squashed to
``T = t_min + (t_max - t_min) * sigmoid(a)``. PPO needs the density of what
was sampled, so log-probabilities are taken on the pre-squash ``a``; the
official code evaluates the Gaussian at ``T`` instead, which is a bug.

The Gaussian is written out rather than built with ``torch.distributions``
because the latter validates its arguments with a host sync.
"""
import math

import torch
import torch.nn as nn

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def _gaussian_log_prob(z, log_std):
    """``log N(a; mu, std^2)`` of the standardised action
    ``z = (a - mu) / std``: ``-z^2 / 2 - log std - log sqrt(2 pi)``, in two
    operations."""
    return torch.addcmul(-_LOG_SQRT_2PI - log_std, z, z, value=-0.5)


def _mlp(in_dim, hidden_dim):
    return [
        nn.Linear(in_dim, hidden_dim),
        nn.ReLU(),
        nn.Linear(hidden_dim, hidden_dim),
        nn.ReLU(),
        nn.Linear(hidden_dim, 1),
    ]


class TemperaturePolicy(nn.Module):
    """Per-instance temperature policy (actor) and its value baseline.

    Args:
        state_dim (int): Features per instance. Defaults to 3.
        hidden_dim (int): Width of both hidden layers. Defaults to 256.
        t_min (float): Temperature at ``a -> -inf``. Defaults to 0.0.
        t_max (float): Temperature at ``a -> +inf``. Defaults to 10.0.
        t_floor (float): Lower clamp so that ``T`` never reaches 0 (it
            would divide the logits by zero). Defaults to 1e-2.
        init_log_std (float): Initial log standard deviation of the action.
            Defaults to -0.5.
    """

    def __init__(self,
                 state_dim=3,
                 hidden_dim=256,
                 t_min=0.0,
                 t_max=10.0,
                 t_floor=1e-2,
                 init_log_std=-0.5):
        super().__init__()
        if int(state_dim) != state_dim or state_dim < 1:
            raise ValueError(f'state_dim must be a positive int, got '
                             f'{state_dim}')
        if int(hidden_dim) != hidden_dim or hidden_dim < 1:
            raise ValueError(f'hidden_dim must be a positive int, got '
                             f'{hidden_dim}')
        if not 0 <= t_min < t_max < math.inf:
            raise ValueError('need 0 <= t_min < t_max < inf, got '
                             f't_min={t_min}, t_max={t_max}')
        if not 0 <= t_floor < t_max:
            raise ValueError(f'need 0 <= t_floor < t_max, got '
                             f't_floor={t_floor}, t_max={t_max}')
        if not math.isfinite(init_log_std):
            raise ValueError(f'init_log_std must be finite, got '
                             f'{init_log_std}')
        self.state_dim = int(state_dim)
        self.t_min = float(t_min)
        self.t_max = float(t_max)
        self.t_floor = float(t_floor)
        self.actor = nn.Sequential(*_mlp(self.state_dim, hidden_dim),
                                   nn.Tanh())
        self.log_std = nn.Parameter(torch.full((1, ), float(init_log_std)))
        self.critic = nn.Sequential(*_mlp(self.state_dim, hidden_dim))

    def actor_parameters(self):
        """Parameters trained by the actor optimizer (incl. ``log_std``)."""
        return [*self.actor.parameters(), self.log_std]

    def critic_parameters(self):
        """Parameters trained by the critic optimizer."""
        return list(self.critic.parameters())

    def to_temperature(self, action):
        """Squash actions into ``(t_min, t_max)``, never below ``t_floor``."""
        temperature = (self.t_max - self.t_min) * torch.sigmoid(action)
        if self.t_min:
            temperature = temperature + self.t_min
        return temperature.clamp_min(self.t_floor)

    def value(self, states):
        """Critic estimate of shape (N,) for states of shape (N, D)."""
        return self.critic(states).squeeze(-1)

    def _mean_and_log_std(self, states):
        """The action's mean (the states' shape less the last dim) and
        log-std (shape (1,), broadcast)."""
        return self.actor(states).squeeze(-1), self.log_std

    @staticmethod
    def _log_prob(actions, mu, log_std):
        return _gaussian_log_prob((actions - mu) * torch.exp(-log_std),
                                  log_std)

    @torch.no_grad()
    def act(self, states, deterministic=False, generator=None):
        """Choose one temperature per instance, without host syncs.

        Args:
            states (Tensor): States of shape (N, D).
            deterministic (bool): Use the mean action (evaluation) instead
                of sampling. Defaults to False.
            generator (torch.Generator, optional): Source of the sampling
                noise (the agent's own, so that processes explore
                differently). Defaults to torch's global generator.

        Returns:
            dict[str, Tensor]: ``actions`` (pre-squash), ``log_probs`` (of
            the actions), ``values`` and ``temperatures``, each of shape
            (N,); the first three are an :class:`Episode`'s fields.
        """
        if deterministic:
            noise = states.new_zeros(states.shape[:-1])
        else:
            noise = torch.randn(
                states.shape[:-1],
                generator=generator,
                dtype=states.dtype,
                device=states.device)
        return self.act_on_noise(states, noise)

    @torch.no_grad()
    def act_on_noise(self, states, noise):
        """:meth:`act` given the standard normal draws ``noise`` (N,) (zeros:
        the mean action): a pure function of tensors, so it compiles and
        captures whole (the generator stays outside)."""
        mu, log_std = self._mean_and_log_std(states)
        action = torch.addcmul(mu, log_std.exp(), noise)
        # The action's standardised value is the noise itself.
        return dict(
            actions=action,
            log_probs=_gaussian_log_prob(noise, log_std),
            values=self.value(states),
            temperatures=self.to_temperature(action))

    def log_prob(self, states, actions):
        """Log-probabilities of stored actions under the current actor,
        shape (N,), with gradients (PPO's actor steps)."""
        mu, log_std = self._mean_and_log_std(states)
        return self._log_prob(actions, mu, log_std)

    def entropy(self):
        """The Gaussian's entropy, the same for every state (shape (1,))."""
        return 0.5 + _LOG_SQRT_2PI + self.log_std
