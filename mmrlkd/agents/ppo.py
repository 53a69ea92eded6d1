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


def _nan(reference):
    """A NaN diagnostic on ``reference``'s device (a loop that did not run)."""
    return reference.new_full((), math.nan)


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


def move_optimizer(optimizer, params, device):
    """Point ``optimizer`` at ``params`` and move its state to ``device``.

    Call it after moving the parameters' module. ``.to()`` swaps a
    parameter's data in place between devices of one kind (CPU, CUDA), but
    creates new parameter objects for others ('meta', or always under
    ``torch.__future__.set_overwrite_module_params_on_conversion``), which
    would leave the optimizer stepping the old ones. The state is moved
    too: ``Optimizer.load_state_dict`` puts it on the parameters' device,
    a later ``.to()`` leaves it behind. An unfused, non-capturable optimizer
    keeps its step count on the CPU by design (it reads it on the host), so
    that one stays.

    Args:
        optimizer (Optimizer): Built on parameters in the same order.
        params (Iterable[Parameter]): The module's current parameters.
        device (torch.device): Where they now live.
    """
    params = list(params)
    old = [p for group in optimizer.param_groups for p in group['params']]
    if len(old) != len(params):
        raise ValueError(f'the optimizer has {len(old)} parameters, got '
                         f'{len(params)}')
    new = dict(zip(map(id, old), params))
    for group in optimizer.param_groups:
        group['params'] = [new[id(p)] for p in group['params']]
    on_host = 'step' if not (optimizer.defaults.get('fused')
                             or optimizer.defaults.get('capturable')) else None
    states = list(optimizer.state.items())
    optimizer.state.clear()
    for param, state in states:
        optimizer.state[new.get(id(param), param)] = {
            key:
            value.to(device)
            if torch.is_tensor(value) and key != on_host else value
            for key, value in state.items()
        }


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
            approximate KL (averaged over processes) exceeds it; costs one
            host sync per actor epoch. Defaults to None.
        anneal_lr (bool): Decay the actor's learning rate linearly from
            ``actor_lr`` to 0 over :attr:`total_updates` updates, as
            CleanRL's ``--anneal-lr``. With a reward that is mostly noise,
            Adam's normalised steps do not shrink as the policy nears its
            optimum, so a constant rate leaves the policy random-walking
            (issue 17); a decaying one averages the noise out. The critic
            keeps its rate: it has to follow the reward's scale. Defaults to
            False (the official code's constant rate).

    Attributes:
        sync (AgentSync, optional): Averages each step's gradients over
            processes (one flat bucket) and agrees on the minibatch count;
            None in a single process.
        generator (torch.Generator, optional): Shuffles the minibatches.
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
                 minibatch_size=None,
                 max_grad_norm=2.0,
                 gamma=0.99,
                 gae_lambda=0.95,
                 normalize_advantages=True,
                 entropy_coef=0.0,
                 target_kl=None,
                 anneal_lr=False):
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
        self.anneal_lr = bool(anneal_lr)
        self.actor_lr = actor_lr
        self.total_updates = None
        self.num_updates = 0
        self.sync = None
        self.generator = None
        self.actor_params = policy.actor_parameters()
        self.critic_params = list(policy.critic_parameters())
        self.actor_optimizer = _adam(self.actor_params, actor_lr)
        self.critic_optimizer = _adam(self.critic_params, critic_lr)

    def current_actor_lr(self):
        """The actor's learning rate for the next update."""
        if not self.anneal_lr:
            return self.actor_lr
        if self.total_updates is None:
            raise RuntimeError(
                'PPOUpdater(anneal_lr=True) needs total_updates, the number '
                'of updates to anneal over; RLKDAgentHook sets it from the '
                "Runner's iterations, other owners must set it themselves")
        _check_int('total_updates', self.total_updates, 1)
        frac = max(0.0, 1.0 - self.num_updates / self.total_updates)
        return frac * self.actor_lr

    def _step(self, optimizer, params, loss, weight, extras=None):
        """Backward, average over processes, clip, step.

        Returns:
            Tensor | None: ``extras`` averaged over processes.
        """
        optimizer.zero_grad()
        loss.backward()
        if self.sync is not None:
            extras = self.sync.average_gradients(params, weight, extras)
        if self.max_grad_norm is not None:
            nn.utils.clip_grad_norm_(params, self.max_grad_norm, foreach=True)
        optimizer.step()
        return extras

    def num_minibatches(self, min_size, max_size):
        """Minibatches per epoch, the same on every process.

        ``ceil(max_size / minibatch_size)`` over the largest episode, but
        never more than the smallest episode has steps, so no process gets
        an empty minibatch.

        Args:
            min_size (int): The smallest episode's steps (over processes).
            max_size (int): The largest episode's steps.
        """
        if self.minibatch_size is None:
            return 1
        return max(1, min(math.ceil(max_size / self.minibatch_size), min_size))

    def _minibatches(self, batch_size, count, device):
        """Indices of one epoch's ``count`` minibatches (shuffled if > 1)."""
        if count == 1:
            return [slice(None)]
        b_inds = torch.randperm(
            batch_size, generator=self.generator, device=device)
        return b_inds.tensor_split(count)

    def agreed_sizes(self, tensors):
        """Check the inputs; agree over processes on whether to learn.

        One host sync (and one all-reduce across processes): the local
        verdict (a non-empty episode, every value finite) and the episode
        size travel together, so all processes skip together and split
        their episodes into the same number of minibatches.

        Args:
            tensors (Sequence[Tensor]): Every input of the update; the first
                one's length is the episode's.

        Returns:
            tuple[int, int] | None: The smallest and the largest episode
            over processes, or None when any process cannot learn.
        """
        num = tensors[0].shape[0]
        device = tensors[0].device
        finite = torch.stack([torch.isfinite(t).all() for t in tensors]).all()
        local = torch.stack([
            finite.to(torch.float64),
            torch.full((), num, dtype=torch.float64, device=device),
            torch.full((), -num, dtype=torch.float64, device=device)
        ]) if num else torch.zeros(
            3, dtype=torch.float64, device=device)
        verdict, min_size, neg_max_size = (self.sync.agree(local) if self.sync
                                           is not None else local).tolist()
        if verdict < 1 or min_size < 1:
            return None
        return int(min_size), int(-neg_max_size)

    def update(self,
               states,
               actions,
               old_log_probs,
               values,
               rewards,
               last_value=0.0,
               sizes=None):
        """Run the actor and critic epochs on one episode.

        Args:
            states (Tensor): Shape (T, D).
            actions (Tensor): Pre-squash actions, shape (T,).
            old_log_probs (Tensor): Log-probs at acting time, shape (T,).
            values (Tensor): Critic values at acting time, shape (T,).
            rewards (Tensor): Per-step rewards, shape (T,).
            last_value (float | Tensor): Bootstrap value after the last step
                (0: terminal). Defaults to 0.0.
            sizes (tuple[int, int], optional): :meth:`agreed_sizes` of the
                caller, who then vouches for the inputs; None checks them
                here (one host sync).

        Returns:
            dict[str, Tensor]: 0-dim diagnostics on the policy's device;
            ``skipped`` is 1 (networks untouched, entries other than
            ``std`` NaN) for an empty episode or non-finite inputs on any
            process.
        """
        batch_size = rewards.shape[0]
        if states.shape[:1] != rewards.shape or any(
                t.shape != rewards.shape
                for t in (actions, old_log_probs, values)):
            raise ValueError('states (T, D), actions, old_log_probs, values '
                             'and rewards (T,) must agree on T')
        if sizes is None:
            sizes = self.agreed_sizes(
                (states, actions, old_log_probs, values, rewards,
                 torch.as_tensor(last_value).to(rewards)))
        if sizes is None:
            return self._skipped()
        count = self.num_minibatches(*sizes)
        actor_lr = self.current_actor_lr()
        for group in self.actor_optimizer.param_groups:
            group['lr'] = actor_lr
        self.num_updates += 1

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
        actor_epochs_run = 0
        for epoch in range(self.actor_epochs):
            for mb_inds in self._minibatches(batch_size, count, states.device):
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
                approx_kl = self._step(self.actor_optimizer, self.actor_params,
                                       loss, ratio.shape[0],
                                       approx_kl.reshape(1)).reshape(())
            actor_epochs_run = epoch + 1
            if self.target_kl is not None and approx_kl > self.target_kl:
                break

        # Critic: regression of V(s) on the GAE returns.
        v_loss = None
        for epoch in range(self.critic_epochs):
            for mb_inds in self._minibatches(batch_size, count, states.device):
                newvalue = self.policy.value(b_obs[mb_inds])
                v_loss = ((newvalue - b_returns[mb_inds])**2).mean()
                self._step(self.critic_optimizer, self.critic_params, v_loss,
                           newvalue.shape[0])

        reference = returns.new_zeros(())
        var_y = returns.var(unbiased=False)
        explained_var = 1 - (returns - b_values).var(unbiased=False) / var_y
        if batch_size < 2:
            explained_var = _nan(reference)
        else:
            # Returns equal up to rounding (an even split of the batch
            # reward) have no variance to explain; the ratio would be noise.
            defined = var_y > 1e-10 * returns.square().mean()
            explained_var = torch.where(defined, explained_var,
                                        _nan(reference))

        def diagnostic(value):
            return _nan(reference) if value is None else value.detach()

        with torch.no_grad():
            std = self.policy.log_std.exp().mean()
        return dict(
            policy_loss=diagnostic(pg_loss),
            value_loss=diagnostic(v_loss),
            entropy=diagnostic(entropy_loss),
            old_approx_kl=diagnostic(old_approx_kl),
            approx_kl=diagnostic(approx_kl),
            clip_fraction=diagnostic(
                torch.stack(clipfracs).mean() if clipfracs else None),
            explained_variance=explained_var.detach(),
            std=std,
            advantage_mean=advantages.mean(),
            return_mean=returns.mean(),
            actor_epochs=reference + actor_epochs_run,
            actor_lr=reference + actor_lr,
            skipped=reference.clone())

    def _skipped(self):
        """Diagnostics of an update that did not run (same keys, NaN)."""
        keys = ('policy_loss', 'value_loss', 'entropy', 'old_approx_kl',
                'approx_kl', 'clip_fraction', 'explained_variance',
                'advantage_mean', 'return_mean', 'actor_epochs', 'actor_lr')
        with torch.no_grad():
            std = self.policy.log_std.exp().mean()
        diagnostics = {key: _nan(std) for key in keys}
        diagnostics.update(std=std, skipped=std.new_ones(()))
        return diagnostics

    def to(self, device):
        """Follow the policy (moved by its owner) with both optimizers."""
        self.actor_params = self.policy.actor_parameters()
        self.critic_params = list(self.policy.critic_parameters())
        move_optimizer(self.actor_optimizer, self.actor_params, device)
        move_optimizer(self.critic_optimizer, self.critic_params, device)
        return self

    def state_dict(self):
        """Both optimizers and the update count (not the policy)."""
        return dict(
            actor_optimizer=self.actor_optimizer.state_dict(),
            critic_optimizer=self.critic_optimizer.state_dict(),
            num_updates=self.num_updates)

    def load_state_dict(self, state_dict):
        """Restore what :meth:`state_dict` returned."""
        self.actor_optimizer.load_state_dict(state_dict['actor_optimizer'])
        self.critic_optimizer.load_state_dict(state_dict['critic_optimizer'])
        # Absent from checkpoints of before the count: annealing restarts.
        self.num_updates = state_dict.get('num_updates', 0)
