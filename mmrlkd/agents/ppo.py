"""PPO-clip update of the temperature policy on one episode.

The update follows CleanRL's ``ppo_continuous_action.py`` (same variable
names), with the RLKD specifics of the official code: separate Adam
learning rates and epoch counts for actor and critic, advantages
standardised over the whole episode, full-batch steps, a plain MSE critic
loss, and no value clipping.

Actor and critic are stepped together: their parameters are disjoint, so
one backward of the summed losses gives each its own gradient, and one
fused Adam with a parameter group each (gradients clipped per group) takes
the same steps as two optimizers would, with half the launches and, across
processes, half the gradient all-reduces.
"""
import math

import torch

from .optim import (adam, check_int, check_range, descend, move_optimizer,
                    optimizer_tensors)
from .rollout import compute_gae
from .statistics import explained_variance, masked_moments, weighted_mean

#: The keys of :meth:`PPOUpdater.update`'s diagnostics (the KL estimates
#: and the clip fraction are the last actor epoch's).
DIAGNOSTICS = ('policy_loss', 'value_loss', 'entropy', 'old_approx_kl',
               'approx_kl', 'clip_fraction', 'explained_variance', 'std',
               'advantage_mean', 'return_mean', 'actor_lr', 'skipped')


def clipped_surrogate_loss(ratio, advantages, clip_coef, weights=None):
    """PPO's clipped policy loss.

    ``pg_loss = mean(max(-A * ratio, -A * clip(ratio, 1 - eps, 1 + eps)))``,
    the negated pessimistic surrogate of Schulman et al. 2017 (eq. 7).

    Args:
        ratio (Tensor): pi_new(a|s) / pi_old(a|s), shape (N,).
        advantages (Tensor): Advantage estimates, shape (N,).
        clip_coef (float): The clip range epsilon.
        weights (Tensor, optional): Each step's weight in the mean (they
            sum to 1; 0 on padding). Defaults to equal weights.

    Returns:
        Tensor: ``pg_loss``, a scalar with gradient.
    """
    surrogate = advantages * ratio
    # The clipped branch is the smaller one only where the ratio is outside
    # the clip range, where clamp passes no gradient: taking the clamp of
    # the detached ratio gives the same value and gradient with fewer
    # operations (and torch.where none of max's tie handling).
    clipped = advantages * torch.clamp(ratio.detach(), 1 - clip_coef,
                                       1 + clip_coef)
    pessimistic = torch.where(surrogate <= clipped, surrogate, clipped)
    return -weighted_mean(pessimistic, weights)


def clipped_fraction(ratio, clip_coef, weights=None):
    """The share of ratios outside ``[1 - eps, 1 + eps]`` (no gradient)."""
    with torch.no_grad():
        return weighted_mean(((ratio - 1.0).abs() > clip_coef).float(),
                             weights)


def standardised_advantages(advantages, valid):
    """Each episode's advantages standardised over its own steps.

    ``(A - mean) / (std + 1e-8)`` per row of (E, C), over the row's valid
    steps (unbiased std); a one-step episode keeps its advantage.
    """
    mean, std, counts = masked_moments(advantages, valid, dim=-1)
    return torch.where(counts > 1, (advantages - mean) * valid / (std + 1e-8),
                       advantages)


class PPOUpdater:
    """Actor and critic optimizers plus the PPO-clip update rule.

    Args:
        policy (TemperaturePolicy): The networks to train.
        actor_lr (float): Adam learning rate of the actor and log-std.
            Defaults to 1e-4.
        critic_lr (float): Adam learning rate of the critic.
            Defaults to 1e-3.
        clip_coef (float): Surrogate clipping epsilon. Defaults to 0.2.
        actor_epochs (int): Full-batch actor steps per episode.
            Defaults to 5.
        critic_epochs (int): Full-batch critic steps per episode.
            Defaults to 5.
        max_grad_norm (float, optional): Gradient-norm clip per optimizer;
            None disables it. Defaults to 2.0.
        gamma (float): Discount factor. Defaults to 0.99.
        gae_lambda (float): GAE lambda. Defaults to 0.95.
        anneal_lr (bool): Decay the actor's learning rate linearly from
            ``actor_lr`` to 0 over :attr:`total_updates` updates, as
            CleanRL's ``--anneal-lr``. With a reward that is mostly noise,
            Adam's normalised steps do not shrink as the policy nears its
            optimum, so a constant rate leaves the policy random-walking;
            a decaying one averages the noise out (measured in
            docs/en/notes/agent_learning.md). The critic keeps its rate: it
            has to follow the reward's scale. Defaults to False (the
            official code's constant rate).

    Attributes:
        total_updates (int, optional): The horizon of ``anneal_lr``, set by
            the owner that knows the run's length (``RLKDAgentHook`` from the
            Runner's iterations) before the first update.
        num_updates (int): Updates run so far (saved in checkpoints).
    """

    def __init__(self,
                 policy,
                 actor_lr=1e-4,
                 critic_lr=1e-3,
                 clip_coef=0.2,
                 actor_epochs=5,
                 critic_epochs=5,
                 max_grad_norm=2.0,
                 gamma=0.99,
                 gae_lambda=0.95,
                 anneal_lr=False):
        check_range('actor_lr', actor_lr, 0, math.inf, low_open=True)
        check_range('critic_lr', critic_lr, 0, math.inf, low_open=True)
        check_range('clip_coef', clip_coef, 0, math.inf, low_open=True)
        check_int('actor_epochs', actor_epochs, 0)
        check_int('critic_epochs', critic_epochs, 0)
        if max_grad_norm is not None:
            check_range(
                'max_grad_norm', max_grad_norm, 0, math.inf, low_open=True)
        check_range('gamma', gamma, 0, 1)
        check_range('gae_lambda', gae_lambda, 0, 1)
        self.policy = policy
        self.clip_coef = clip_coef
        self.actor_epochs = int(actor_epochs)
        self.critic_epochs = int(critic_epochs)
        self.max_grad_norm = max_grad_norm
        self.gamma = gamma
        self.gae_lambda = gae_lambda
        self.anneal_lr = bool(anneal_lr)
        self.actor_lr = actor_lr
        self.total_updates = None
        self.num_updates = 0
        self.actor_params = policy.actor_parameters()
        self.critic_params = policy.critic_parameters()
        self.optimizer = adam([
            dict(params=self.actor_params, lr=actor_lr),
            dict(params=self.critic_params, lr=critic_lr)
        ])

    @property
    def actor_group(self):
        """The optimizer's parameter group of the actor (and log-std)."""
        return self.optimizer.param_groups[0]

    @property
    def critic_group(self):
        """The optimizer's parameter group of the critic."""
        return self.optimizer.param_groups[1]

    def current_actor_lr(self):
        """The actor's learning rate for the next update."""
        if not self.anneal_lr:
            return self.actor_lr
        if self.total_updates is None:
            raise RuntimeError(
                'PPOUpdater(anneal_lr=True) needs total_updates, the number '
                'of updates to anneal over; RLKDAgentHook sets it from the '
                "Runner's iterations, other owners must set it themselves")
        check_int('total_updates', self.total_updates, 1)
        frac = max(0.0, 1.0 - self.num_updates / self.total_updates)
        return frac * self.actor_lr

    def update(self, *episodes, **kwargs):
        """:meth:`advance_schedule`, then :meth:`train` on the episodes."""
        self.advance_schedule()
        return self.train(*episodes, **kwargs)

    def advance_schedule(self):
        """Count the update and set the actor's learning rate for it.

        The rate is written into a tensor the fused optimizer reads (where
        it has one), so a captured :meth:`train` follows ``anneal_lr``.
        """
        actor_lr = self.current_actor_lr()
        lr = self.actor_group['lr']
        if torch.is_tensor(lr) and lr.device == self.policy.log_std.device:
            lr.fill_(actor_lr)
        else:  # the first update, or a checkpoint's float
            self.actor_group['lr'] = self._tensor_lr(actor_lr)
        self.num_updates += 1

    def _tensor_lr(self, value):
        """``value`` as the tensor learning rate of a fused optimizer on the
        policy's device; a float for optimizers that take no tensor."""
        if not self.optimizer.defaults.get('fused'):
            return value
        return torch.tensor(
            float(value), dtype=torch.float32,
            device=self.policy.log_std.device)

    def train(self,
              states,
              actions,
              old_log_probs,
              values,
              rewards,
              valid=None):
        """Run the actor and critic epochs on terminal episodes, at the
        learning rate :meth:`advance_schedule` set.

        The caller vouches that some step is valid and every input is
        finite (:meth:`RLKDAgent.learn` checks that for all processes at
        once); nothing here waits for the device.

        Args:
            states (Tensor): What the policy acted on, shape (T, D), or
                (E, T, D) for E episodes padded to T steps.
            actions (Tensor): Pre-squash actions, shape (T,) or (E, T).
            old_log_probs (Tensor): Log-probs at acting time, likewise.
            values (Tensor): Critic values at acting time, likewise.
            rewards (Tensor): Per-step rewards, likewise.
            valid (Tensor, optional): 1.0 on steps, 0.0 on padding, the
                shape of ``rewards``. Defaults to every step valid.

        Returns:
            dict[str, Tensor]: The :data:`DIAGNOSTICS`, 0-dim on the
            policy's device (``skipped`` is 0).
        """
        if states.shape[:-1] != rewards.shape or any(
                t.shape != rewards.shape
                for t in (actions, old_log_probs, values)):
            raise ValueError('states (.., T, D), actions, old_log_probs, '
                             'values and rewards (.., T) must agree on T')
        if rewards.dim() == 1:
            states, actions, old_log_probs, values, rewards = (
                t.unsqueeze(0)
                for t in (states, actions, old_log_probs, values, rewards))
            valid = None if valid is None else valid.unsqueeze(0)
        if valid is None:
            valid = torch.ones_like(rewards)
        # Each step's weight in the losses: the mean over all valid steps
        # (under several processes, the mean over the union of their
        # episodes, as one episode of all their instances would give).
        weights = valid / valid.sum()

        advantages, returns = compute_gae(rewards * valid, values * valid,
                                          self.gamma, self.gae_lambda)
        b_advantages = standardised_advantages(advantages, valid)
        # The epochs work on the E * C steps as one flat batch: the
        # networks' layers then take them without a reshape around each
        # matrix product, forward and backward.
        flat_states = states.flatten(0, -2)
        actions, old_log_probs, b_advantages, b_returns, b_weights = (
            t.flatten() for t in (actions, old_log_probs, b_advantages,
                                  returns, weights))

        # Each epoch: the actor's clipped surrogate on the standardised
        # advantages plus the critic's regression on the GAE returns.
        reference = returns.new_zeros(())
        nan = reference + math.nan
        pg_loss = v_loss = approx_kl = old_approx_kl = clip_fraction = nan
        for epoch in range(max(self.actor_epochs, self.critic_epochs)):
            loss, groups = 0, []
            if epoch < self.actor_epochs:
                logratio = self.policy.log_prob(flat_states,
                                                actions) - old_log_probs
                ratio = logratio.exp()
                pg_loss = clipped_surrogate_loss(ratio, b_advantages,
                                                 self.clip_coef, b_weights)
                if epoch == self.actor_epochs - 1:  # diagnostics: once
                    with torch.no_grad():
                        old_approx_kl = weighted_mean(-logratio, b_weights)
                        approx_kl = weighted_mean((ratio - 1) - logratio,
                                                  b_weights)
                        clip_fraction = clipped_fraction(
                            ratio, self.clip_coef, b_weights)
                loss, groups = pg_loss, [self.actor_params]
            if epoch < self.critic_epochs:
                v_loss = weighted_mean(
                    (self.policy.value(flat_states) - b_returns).square(),
                    b_weights)
                loss, groups = loss + v_loss, groups + [self.critic_params]
            descend(self.optimizer, loss, self.max_grad_norm, groups)

        diagnostics = self.skipped_diagnostics()
        diagnostics.update(
            policy_loss=pg_loss.detach(),
            value_loss=v_loss.detach(),
            old_approx_kl=old_approx_kl,
            approx_kl=approx_kl,
            clip_fraction=clip_fraction,
            explained_variance=explained_variance(values, returns,
                                                  weights).to(reference),
            advantage_mean=weighted_mean(advantages, weights),
            return_mean=weighted_mean(returns, weights),
            actor_lr=reference + self.actor_group['lr'],
            skipped=reference)
        return diagnostics

    def skipped_diagnostics(self):
        """The :data:`DIAGNOSTICS` of an update that did not run: NaN, but
        the policy's ``std`` and ``entropy``, and ``skipped`` = 1."""
        with torch.no_grad():
            std = self.policy.log_std.exp().mean()
            diagnostics = dict.fromkeys(DIAGNOSTICS, std.new_full((),
                                                                  math.nan))
            diagnostics.update(
                std=std,
                entropy=self.policy.entropy().mean(),
                skipped=std.new_ones(()))
        return diagnostics

    def tensors(self):
        """What :meth:`train` changes in place besides the policy."""
        return optimizer_tensors(self.optimizer)

    def to(self, device):
        """Follow the policy (moved by its owner) with the optimizer."""
        self.actor_params = self.policy.actor_parameters()
        self.critic_params = self.policy.critic_parameters()
        move_optimizer(self.optimizer,
                       self.actor_params + self.critic_params, device)
        return self

    def state_dict(self):
        """The optimizer and the update count (not the policy)."""
        optimizer = self.optimizer.state_dict()
        for group in optimizer['param_groups']:  # new dicts: safe to edit
            if torch.is_tensor(group['lr']):  # changed in place later
                group['lr'] = group['lr'].clone()
        return dict(optimizer=optimizer, num_updates=self.num_updates)

    def load_state_dict(self, state_dict):
        """Restore what :meth:`state_dict` returned (or the two optimizers
        of checkpoints written before actor and critic stepped together)."""
        if 'optimizer' in state_dict:
            self.optimizer.load_state_dict(state_dict['optimizer'])
        else:
            self.optimizer.load_state_dict(
                merged_optimizer_state(state_dict['actor_optimizer'],
                                       state_dict['critic_optimizer']))
        # Absent from checkpoints of before the count: annealing restarts.
        self.num_updates = state_dict.get('num_updates', 0)


def merged_optimizer_state(first, second):
    """Two one-group optimizers' state dicts as one two-group optimizer's.

    ``Optimizer.state_dict`` numbers parameters across groups in order, so
    the second optimizer's indices move past the first's.
    """
    offset = len(first['param_groups'][0]['params'])
    state = dict(first['state'])
    state.update(
        {index + offset: value
         for index, value in second['state'].items()})
    groups = [
        first['param_groups'][0],
        dict(
            second['param_groups'][0],
            params=[i + offset for i in second['param_groups'][0]['params']])
    ]
    return dict(state=state, param_groups=groups)
