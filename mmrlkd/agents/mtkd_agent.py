"""MTKD-RL's agent: acting, a bounded experience buffer and two updates.

Reward (the official code): the negative per-instance student loss of the
iteration, normalised over the batch and clipped,
``r~_i = clip((r_i - mean(r)) / std(r), 0, 1)``, so only better-than-average
instances count.

Update rules:

- ``'upstream'`` (default, the official code): with the agent's weights
  recomputed from the stored states,
  ``L = BCE(w_l, 1, weight=r~) + BCE(w_f, 1, weight=r~)``, i.e.
  ``-mean_{i,m} r~_i log w_{i,m}`` per head. Nothing was sampled, and since
  each row of w sums to 1, ``sum_m log w_m`` is largest at the uniform
  distribution: the update pulls the weights of well-rewarded instances
  toward 1/M whichever teacher earned the reward. Kept for fidelity.
- ``'policy_gradient'`` (corrected): the weight vectors are actions drawn
  from Dirichlet(kappa * w), where w is the (mixed) output of the network,
  the student is distilled with the drawn weights, and REINFORCE with a
  batch-mean baseline raises the log-density of the draws that earned more
  than the batch: ``L = -mean_i (r~_i - mean(r~)) [log Dir(a_l,i; kappa
  w_l,i) + log Dir(a_f,i; kappa w_f,i)]``. Weights move toward the teachers
  whose use got the higher reward.

One SGD step per stored batch, then the buffer is cleared (the official
``train_agent``); the buffer keeps at most ``buffer_size`` batches, dropping
the oldest, so memory stays bounded on large datasets.

The Dirichlet draws come from the agent's own generator, seeded per process
(:meth:`MTKDAgent.seed_for_rank`), so processes draw different noise; its
state is saved with the agent. The density is written out rather than taken
from ``torch.distributions.Dirichlet``, whose argument checks read values
on the host (a GPU synchronisation per call).
"""
from collections import deque

import torch
import torch.nn.functional as F

from .agent import full_precision
from .mtkd_policy import MTKDPolicy
from .optim import move_optimizer
from .rng import (generator_state, make_generator, moved_generator,
                  rank_seed, restore_generator)

UPDATE_RULES = ('upstream', 'policy_gradient')


def normalised_reward(reward, eps=1e-12):
    """``clip((r - mean) / std, 0, 1)`` over the batch (unbiased std).

    A batch of one, or of equal rewards, has no better-than-average
    instance: its rewards are 0 (the official code would divide by zero).
    """
    reward = reward.detach().float()
    if reward.numel() < 2:
        return torch.zeros_like(reward)
    std = reward.std()
    # A device-side choice: no host sync in the training step.
    normalised = ((reward - reward.mean()) / std.clamp_min(eps)).clamp(0, 1)
    return torch.where(std > eps, normalised, torch.zeros_like(reward))


def upstream_agent_loss(w_l, w_f, reward):
    """The official loss: reward-weighted BCE of the weights against 1."""
    target = torch.ones_like(w_l)
    weight = reward[:, None]
    return (F.binary_cross_entropy(w_l, target, weight=weight) +
            F.binary_cross_entropy(w_f, target, weight=weight))


def dirichlet_log_prob(weights, actions, concentration, eps=1e-6):
    """log Dir(actions; concentration * weights) per row::

        sum_m (alpha_m - 1) log a_m + log Gamma(sum_m alpha_m)
            - sum_m log Gamma(alpha_m),    alpha = concentration * weights

    (the expression of ``Dirichlet.log_prob``, without its value checks).
    """
    alpha = (concentration * weights).clamp_min(eps)
    return (torch.xlogy(alpha - 1.0, actions).sum(-1) +
            torch.lgamma(alpha.sum(-1)) - torch.lgamma(alpha).sum(-1))


def policy_gradient_loss(w_l, w_f, actions_l, actions_f, reward,
                         concentration):
    """REINFORCE on Dirichlet actions with a batch-mean baseline."""
    advantage = reward - reward.mean()
    log_prob = (
        dirichlet_log_prob(w_l, actions_l, concentration) +
        dirichlet_log_prob(w_f, actions_f, concentration))
    return -(advantage * log_prob).mean()


def sample_dirichlet(weights, concentration, generator=None, eps=1e-6):
    """Draw one weight vector per row, kept off the simplex's boundary.

    ``torch._sample_dirichlet`` is the operation behind
    ``Dirichlet.sample``, which takes no generator: with the same generator
    state both draw the same numbers.
    """
    alpha = (concentration * weights).clamp_min(eps)
    draw = torch._sample_dirichlet(alpha, generator=generator).clamp_min(eps)
    return draw / draw.sum(dim=1, keepdim=True)


class MTKDAgent:
    """The MTKD-RL policy with its own optimizer and experience buffer.

    Args:
        info_dims (Sequence[int]): d_m + C_m of each teacher.
        hidden_dim (int): Hidden width of the policy. Defaults to 128.
        dynamic (bool): Learnable mix with the heuristic weightings.
            Defaults to False.
        update_rule (str): 'upstream' or 'policy_gradient' (see the module
            docstring). Defaults to 'upstream'.
        lr (float): SGD learning rate. Defaults to 0.1 (the official code;
            no momentum, no weight decay).
        momentum (float): SGD momentum. Defaults to 0.
        concentration (float): kappa of the Dirichlet actions
            ('policy_gradient' only); larger is less exploration.
            Defaults to 20.
        buffer_size (int): Most batches kept between updates.
            Defaults to 1000.
        seed (int, optional): Seed of the agent's own generator (the
            Dirichlet draws). Defaults to None: drawn from torch's global
            generator, so a seeded run is reproducible.

    Attributes:
        sync (AgentSync, optional): Averages each step's gradients over
            processes (one flat bucket); None in a single process. Every
            process stores one batch per iteration, so all take the same
            number of steps.
    """

    def __init__(self,
                 info_dims,
                 hidden_dim=128,
                 dynamic=False,
                 update_rule='upstream',
                 lr=0.1,
                 momentum=0.0,
                 concentration=20.0,
                 buffer_size=1000,
                 seed=None):
        if update_rule not in UPDATE_RULES:
            raise ValueError(f'update_rule must be one of {UPDATE_RULES}, '
                             f'got {update_rule!r}')
        if not concentration > 0:
            raise ValueError(
                f'concentration must be positive, got {concentration}')
        if int(buffer_size) != buffer_size or buffer_size < 1:
            raise ValueError(
                f'buffer_size must be an int >= 1, got {buffer_size}')
        self.policy = MTKDPolicy(info_dims, hidden_dim, dynamic)
        self.update_rule = update_rule
        self.concentration = float(concentration)
        self.optimizer = torch.optim.SGD(
            self.policy.parameters(), lr=lr, momentum=momentum)
        self.buffer = deque(maxlen=int(buffer_size))
        self.dropped = 0  # batches pushed out of a full buffer
        self.sync = None
        self._seed = int(torch.randint(2**62, ())) if seed is None \
            else int(seed)
        self.generator = make_generator(self.device, self._seed)

    @property
    def device(self):
        """Where the policy, and everything the agent holds, live."""
        return next(self.policy.parameters()).device

    def seed_for_rank(self, rank):
        """Reseed the generator for process ``rank``: every process builds
        its agent from the same seed, but must draw its own noise."""
        self.generator = make_generator(self.device,
                                        rank_seed(self._seed, rank))

    def get_rng_state(self):
        """The generator's state (a CPU byte tensor) or None."""
        return generator_state(self.generator)

    def set_rng_state(self, state):
        """Restore :meth:`get_rng_state`; False if it does not fit here
        (saved on another kind of device, or none)."""
        return restore_generator(self.generator, state)

    @property
    def samples_actions(self):
        """Whether the student is distilled with drawn (not mean) weights."""
        return self.update_rule == 'policy_gradient'

    @torch.no_grad()
    def act(self, state, explore=True):
        """Weights ``(w_l, w_f)`` for states (N, D), without gradient.

        Under 'policy_gradient' with ``explore`` they are Dirichlet draws
        around the network's weights; otherwise the weights themselves.
        """
        was_training = self.policy.training
        self.policy.eval()
        with full_precision(state.device):
            w_l, w_f = self.policy(state.float())
        self.policy.train(was_training)
        if explore and self.samples_actions:
            w_l = sample_dirichlet(w_l, self.concentration, self.generator)
            w_f = sample_dirichlet(w_f, self.concentration, self.generator)
        return w_l, w_f

    def store(self, state, reward, actions=None):
        """Keep one batch: states (N, D), normalised rewards (N,) and, for
        'policy_gradient', the weights ``(a_l, a_f)`` the student used."""
        if self.samples_actions and actions is None:
            raise ValueError('policy_gradient needs the sampled actions')
        if len(self.buffer) == self.buffer.maxlen:
            self.dropped += 1
        item = dict(state=state.detach(), reward=reward.detach())
        if self.samples_actions:
            item['actions'] = tuple(a.detach() for a in actions)
        self.buffer.append(item)

    def __len__(self):
        return len(self.buffer)

    def _loss(self, item):
        w_l, w_f = self.policy(item['state'])
        if self.update_rule == 'upstream':
            return upstream_agent_loss(w_l, w_f, item['reward'])
        return policy_gradient_loss(w_l, w_f, *item['actions'], item['reward'],
                                    self.concentration)

    def update(self):
        """One SGD step per stored batch, then clear the buffer.

        Returns:
            dict: ``agent_loss`` (mean over the steps, a 0-dim tensor: no
            host sync per step) and ``agent_batches`` (an int); empty when
            the buffer was empty.
        """
        if not self.buffer:
            return {}
        self.policy.train()
        params = list(self.policy.parameters())
        losses = []
        with full_precision(params[0].device):
            for item in self.buffer:
                loss = self._loss(item)
                self.optimizer.zero_grad()
                loss.backward()
                if self.sync is not None:
                    self.sync.average_gradients(params)
                self.optimizer.step()
                losses.append(loss.detach())
        self.buffer.clear()
        return dict(
            agent_loss=torch.stack(losses).mean(), agent_batches=len(losses))

    def to(self, *args, **kwargs):
        """Move the policy, the optimizer's state, the buffered experience
        and the generator."""
        self.policy.to(*args, **kwargs)
        device = self.device
        self.generator = moved_generator(self.generator, device, self._seed)
        move_optimizer(self.optimizer, self.policy.parameters(), device)
        for item in self.buffer:
            for key, value in item.items():
                item[key] = tuple(v.to(device) for v in value) \
                    if isinstance(value, tuple) else value.to(device)
        return self

    def state_dict(self):
        """Policy, optimizer, buffered experience, seed and generator."""
        return dict(
            policy=self.policy.state_dict(),
            optimizer=self.optimizer.state_dict(),
            buffer=list(self.buffer),
            dropped=self.dropped,
            seed=self._seed,
            rng_state=self.get_rng_state())

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned, on the policy's device.

        Returns:
            bool: Whether the generator continues from the saved state. If
            not (a state saved on another kind of device, e.g. a CPU
            generator's on a GPU, or a state saved without one), the
            generator is seeded afresh from the saved seed.
        """
        self.policy.load_state_dict(state['policy'])
        self.optimizer.load_state_dict(state['optimizer'])
        self.buffer.clear()
        self.buffer.extend(state['buffer'])
        self.dropped = state['dropped']
        self.to(self.device)
        self._seed = int(state.get('seed', self._seed))
        self.generator = make_generator(self.device, self._seed)
        return self.set_rng_state(state.get('rng_state'))
