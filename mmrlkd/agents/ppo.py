"""PPO-clip update of the temperature policy on one episode.

The update follows CleanRL's ``ppo_continuous_action.py`` (same variable
names), with the RLKD specifics of the official code: separate Adam
optimizers and epoch counts for actor and critic, advantages normalised
over the whole episode, full-batch steps by default, a plain MSE critic
loss, and no value clipping.
"""
import math

import torch
import torch.nn as nn

from .rollout import compute_gae


def clipped_surrogate_loss(ratio, advantages, clip_coef):
    """PPO's clipped policy loss and the fraction of clipped ratios.

    ``pg_loss = mean(max(-A * ratio, -A * clip(ratio, 1 - eps, 1 + eps)))``,
    the negated pessimistic surrogate of Schulman et al. 2017 (eq. 7).

    Args:
        ratio (Tensor): pi_new(a|s) / pi_old(a|s), shape (N,).
        advantages (Tensor): Advantage estimates, shape (N,).
        clip_coef (float): The clip range epsilon.

    Returns:
        tuple[Tensor, Tensor]: ``pg_loss`` (scalar, with gradient) and
        ``clipfrac`` (scalar, no gradient): the share of ratios outside
        ``[1 - eps, 1 + eps]``.
    """
    pg_loss1 = -advantages * ratio
    pg_loss2 = -advantages * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)
    pg_loss = torch.max(pg_loss1, pg_loss2).mean()
    with torch.no_grad():
        clipfrac = ((ratio - 1.0).abs() > clip_coef).float().mean()
    return pg_loss, clipfrac


def _float(value):
    """A diagnostic as a Python float; NaN for a loop that did not run."""
    return math.nan if value is None else float(value.detach())


def _adam(params, lr):
    """Adam, fused where this torch supports it for the parameters' device.

    The agent takes ten small steps per update, so the per-tensor overhead of
    the unfused optimizer matters (fused: roughly 25% less update time on a
    busy CPU).
    """
    try:
        return torch.optim.Adam(params, lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr)


def _check_range(name, value, low, high, low_open=False):
    if value is None or not (low < value if low_open else low <= value) \
            or not value <= high:
        bracket = '(' if low_open else '['
        raise ValueError(f'{name} must be in {bracket}{low}, {high}], got '
                         f'{value}')


def _check_int(name, value, low):
    if int(value) != value or value < low:
        raise ValueError(f'{name} must be an int >= {low}, got {value}')


class PPOUpdater:
    """Actor and critic optimizers plus the PPO-clip update rule.

    Args:
        policy (TemperaturePolicy): The networks to train.
        actor_lr (float): Adam learning rate of the actor and log-std.
            Defaults to 1e-4.
        critic_lr (float): Adam learning rate of the critic.
            Defaults to 1e-3.
        clip_coef (float): Surrogate clipping epsilon. Defaults to 0.2.
        actor_epochs (int): Passes over the episode for the actor.
            Defaults to 5.
        critic_epochs (int): Passes over the episode for the critic.
            Defaults to 5.
        minibatch_size (int, optional): Steps per minibatch; None uses the
            whole episode (the official code). Defaults to None.
        max_grad_norm (float, optional): Gradient-norm clip per optimizer;
            None disables it. Defaults to 2.0.
        gamma (float): Discount factor. Defaults to 0.99.
        gae_lambda (float): GAE lambda. Defaults to 0.95.
        normalize_advantages (bool): Standardise advantages over the episode.
            Defaults to True.
        entropy_coef (float): Entropy bonus weight in the actor loss.
            Defaults to 0.0.
        target_kl (float, optional): Stop the actor epochs once the
            approximate KL exceeds it. Defaults to None.
        grad_sync (callable, optional): Called as ``grad_sync(parameters)``
            after each backward and before clipping, e.g. an all-reduce of
            the gradients so that every process takes the same step.
            Defaults to None.
    """

    def __init__(self,
                 policy,
                 actor_lr=1e-4,
                 critic_lr=1e-3,
                 clip_coef=0.2,
                 actor_epochs=5,
                 critic_epochs=5,
                 minibatch_size=None,
                 max_grad_norm=2.0,
                 gamma=0.99,
                 gae_lambda=0.95,
                 normalize_advantages=True,
                 entropy_coef=0.0,
                 target_kl=None,
                 grad_sync=None):
        _check_range('actor_lr', actor_lr, 0, math.inf, low_open=True)
        _check_range('critic_lr', critic_lr, 0, math.inf, low_open=True)
        _check_range('clip_coef', clip_coef, 0, math.inf, low_open=True)
        _check_int('actor_epochs', actor_epochs, 0)
        _check_int('critic_epochs', critic_epochs, 0)
        if minibatch_size is not None:
            _check_int('minibatch_size', minibatch_size, 1)
        if max_grad_norm is not None:
            _check_range(
                'max_grad_norm', max_grad_norm, 0, math.inf, low_open=True)
        _check_range('gamma', gamma, 0, 1)
        _check_range('gae_lambda', gae_lambda, 0, 1)
        _check_range('entropy_coef', entropy_coef, 0, math.inf)
        if target_kl is not None:
            _check_range('target_kl', target_kl, 0, math.inf, low_open=True)
        if grad_sync is not None and not callable(grad_sync):
            raise ValueError('grad_sync must be callable or None')
        self.policy = policy
        self.clip_coef = clip_coef
        self.actor_epochs = int(actor_epochs)
        self.critic_epochs = int(critic_epochs)
        self.minibatch_size = minibatch_size
        self.max_grad_norm = max_grad_norm
        self.gamma = gamma
        self.gae_lambda = gae_lambda
        self.normalize_advantages = normalize_advantages
        self.entropy_coef = entropy_coef
        self.target_kl = target_kl
        self.grad_sync = grad_sync
        self.actor_params = list(policy.actor_parameters())
        self.critic_params = list(policy.critic_parameters())
        self.actor_optimizer = _adam(self.actor_params, actor_lr)
        self.critic_optimizer = _adam(self.critic_params, critic_lr)

    def _step(self, optimizer, params, loss):
        optimizer.zero_grad()
        loss.backward()
        if self.grad_sync is not None:
            self.grad_sync(params)
        if self.max_grad_norm is not None:
            nn.utils.clip_grad_norm_(params, self.max_grad_norm, foreach=True)
        optimizer.step()

    def _minibatches(self, batch_size, device):
        """Index tensors of one epoch; shuffled only if there are several."""
        minibatch_size = self.minibatch_size or batch_size
        if minibatch_size >= batch_size:
            return [torch.arange(batch_size, device=device)]
        b_inds = torch.randperm(batch_size, device=device)
        return b_inds.split(minibatch_size)

    def update(self,
               states,
               actions,
               old_log_probs,
               values,
               rewards,
               last_value=0.0):
        """Run the actor and critic epochs on one episode.

        Args:
            states (Tensor): Shape (T, D).
            actions (Tensor): Pre-squash actions, shape (T,).
            old_log_probs (Tensor): Log-probs at acting time, shape (T,).
            values (Tensor): Critic values at acting time, shape (T,).
            rewards (Tensor): Per-step rewards, shape (T,).
            last_value (float | Tensor): Bootstrap value after the last step
                (0: terminal). Defaults to 0.0.

        Returns:
            dict[str, float]: Diagnostics; ``skipped`` is 1.0 (networks
            untouched, entries other than ``std`` NaN) for an empty episode
            or non-finite inputs.
        """
        batch_size = rewards.shape[0]
        if states.shape[:1] != rewards.shape or any(
                t.shape != rewards.shape
                for t in (actions, old_log_probs, values)):
            raise ValueError('states (T, D), actions, old_log_probs, values '
                             'and rewards (T,) must agree on T')
        inputs = (states, actions, old_log_probs, values, rewards,
                  torch.as_tensor(last_value))
        if batch_size == 0 or not all(torch.isfinite(t).all() for t in inputs):
            return self._skipped()

        advantages, returns = compute_gae(rewards, values, self.gamma,
                                          self.gae_lambda, last_value)
        b_obs = states.detach()
        b_actions = actions.detach()
        b_logprobs = old_log_probs.detach()
        b_values = values.detach()
        b_returns = returns
        b_advantages = advantages
        if self.normalize_advantages and batch_size > 1:
            b_advantages = (advantages - advantages.mean()) / (
                advantages.std() + 1e-8)

        # Actor: clipped surrogate on the (normalised) advantages.
        clipfracs = []
        pg_loss = approx_kl = old_approx_kl = entropy_loss = None
        for epoch in range(self.actor_epochs):
            for mb_inds in self._minibatches(batch_size, states.device):
                newlogprob, entropy = self.policy.log_prob_and_entropy(
                    b_obs[mb_inds], b_actions[mb_inds])
                logratio = newlogprob - b_logprobs[mb_inds]
                ratio = logratio.exp()
                with torch.no_grad():
                    old_approx_kl = (-logratio).mean()
                    approx_kl = ((ratio - 1) - logratio).mean()
                mb_advantages = b_advantages[mb_inds]
                pg_loss, clipfrac = clipped_surrogate_loss(
                    ratio, mb_advantages, self.clip_coef)
                clipfracs.append(clipfrac)
                entropy_loss = entropy.mean()
                loss = pg_loss - self.entropy_coef * entropy_loss
                self._step(self.actor_optimizer, self.actor_params, loss)
            if self.target_kl is not None and approx_kl > self.target_kl:
                break
        actor_epochs_run = epoch + 1 if self.actor_epochs else 0

        # Critic: regression of V(s) on the GAE returns.
        v_loss = None
        for epoch in range(self.critic_epochs):
            for mb_inds in self._minibatches(batch_size, states.device):
                newvalue = self.policy.value(b_obs[mb_inds])
                v_loss = ((newvalue - b_returns[mb_inds])**2).mean()
                self._step(self.critic_optimizer, self.critic_params, v_loss)

        var_y = returns.var(unbiased=False)
        explained_var = 1 - (returns - b_values).var(unbiased=False) / var_y

        with torch.no_grad():
            std = self.policy.log_std.exp().mean()
        return dict(
            policy_loss=_float(pg_loss),
            value_loss=_float(v_loss),
            entropy=_float(entropy_loss),
            old_approx_kl=_float(old_approx_kl),
            approx_kl=_float(approx_kl),
            clip_fraction=_float(
                torch.stack(clipfracs).mean() if clipfracs else None),
            explained_variance=(math.nan if batch_size < 2 or var_y == 0 else
                                float(explained_var)),
            std=float(std),
            advantage_mean=float(advantages.mean()),
            return_mean=float(returns.mean()),
            actor_epochs=float(actor_epochs_run),
            skipped=0.0)

    def _skipped(self):
        """Diagnostics of an update that did not run (same keys, NaN)."""
        keys = ('policy_loss', 'value_loss', 'entropy', 'old_approx_kl',
                'approx_kl', 'clip_fraction', 'explained_variance', 'std',
                'advantage_mean', 'return_mean', 'actor_epochs')
        diagnostics = dict.fromkeys(keys, math.nan)
        with torch.no_grad():
            diagnostics.update(
                std=float(self.policy.log_std.exp().mean()), skipped=1.0)
        return diagnostics

    def state_dict(self):
        """Both optimizers' states (the policy is saved on its own)."""
        return dict(
            actor_optimizer=self.actor_optimizer.state_dict(),
            critic_optimizer=self.critic_optimizer.state_dict())

    def load_state_dict(self, state_dict):
        """Restore what :meth:`state_dict` returned."""
        self.actor_optimizer.load_state_dict(state_dict['actor_optimizer'])
        self.critic_optimizer.load_state_dict(state_dict['critic_optimizer'])
