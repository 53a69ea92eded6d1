"""RLKD: a PPO agent picks each instance's temperature (arXiv 2407.00115)."""
import torch

from mmrlkd.agents import (REWARDS, EpisodeBuffer, PPOUpdater, RewardCorrector,
                           RLKDAgent, StateUpdater, TemperaturePolicy,
                           batch_performance, instance_states, state_dim)
from mmrlkd.registry import MODELS
from .base import BaseTemperatureProvider, TemperatureOutput


@MODELS.register_module()
class RLKDTemperature(BaseTemperatureProvider):
    """Per-instance temperatures from a Gaussian policy trained by PPO.

    Each training iteration is one episode whose steps are the batch's
    instances: state (student confidence, teacher confidence, student
    top-1/top-2 margin), pre-squash action a ~ N(mu(s), std^2), temperature
    ``T = t_min + (t_max - t_min) * sigmoid(a)``. The batch's performance is
    measured from the same forward pass. :class:`RLKDAgentHook` closes each
    episode once the next batch's performance is known and trains the agent
    (:class:`RLKDAgent`): the reward corrector splits the batch reward over
    the instances (instance reward calibration), the state updater learns
    which state features matter, and PPO learns from the calibrated
    rewards. The policy acts on the updated states.

    The agent is kept out of the module tree, so the student's optimizer,
    weight decay and DDP never see its parameters; the hook saves it with
    every checkpoint (:meth:`agent_state_dict`).

    Args:
        t_min (float): Temperature as a -> -inf. Defaults to 0.0.
        t_max (float): Temperature as a -> +inf. Defaults to 10.0.
        t_floor (float): Numerical floor so T never reaches 0.
            Defaults to 1e-2.
        warmup_temperature (float): Fixed temperature until the hook starts
            the agent (``agent_warmup`` of :class:`RLKDAgentHook`).
            Defaults to 4.0.
        use_uncertainty (bool): Include the student margin in the state;
            False is the paper's "w/o uncertainty" ablation. Defaults to True.
        use_gt_prob (bool): Confidences are ground-truth-class probabilities
            instead of maximum probabilities. Defaults to False.
        performance (str): 'accuracy' (batch top-1) or 'neg_ce'.
            Defaults to 'accuracy'.
        reward (str): What rewards iteration t's temperatures.
            'next_batch' (the paper): ``perf(batch t+1) - perf(batch t)``,
            free but mostly the two batches' sampling noise (issue 17).
            'same_batch': ``perf(batch t, after step t) - perf(batch t,
            before it)``, the student's gain on the very instances whose
            temperatures made the step; it costs one more no-grad student
            forward per learning iteration (the algorithm's
            ``performance_after_step``; classification only) and removes
            the batch-composition term. Defaults to 'next_batch'.
        policy (dict, optional): Extra :class:`TemperaturePolicy` arguments
            (``hidden_dim``, ``init_log_std``).
        ppo (dict, optional): :class:`PPOUpdater` arguments (learning rates,
            epochs, clip, GAE), defaults as in the paper;
            ``ppo=mmrlkd.agents.CALIBRATED_PPO`` with
            ``reward_corrector=dict(gate_credit=True)`` runs the agent as a
            gated-credit bandit (issue 17); with a reward as noisy as the
            paper's, add ``actor_lr=1e-5, anneal_lr=True`` (the rate falls
            to 0 over the run; ``RLKDAgentHook`` sets the horizon): on the
            credit benchmark it learns at that noise over 50k-100k updates,
            far more than a short run has (see the RLKD guide).
        reward_calibration (bool): Redistribute the batch reward over the
            instances with the reward corrector; False puts it on the
            episode's last step (the "w/o calibration" ablation).
            Defaults to True.
        state_update (bool): Mask the policy's states with the state
            updater. Defaults to True.
        reward_corrector (dict, optional): :class:`RewardCorrector`
            arguments (``hidden_dim``, ``lr``, ``epochs``, ``replay_size``,
            ``final_weight``, ``aux_weight``).
        state_updater (dict, optional): :class:`StateUpdater` arguments
            (``hidden_dim``, ``lr``, ``epochs``, ``sparsity_weight``,
            ``regression_weight``, ``per_feature``, ``masked_out``, ...).
        max_episode_length (int, optional): The agent learns from at most
            this many random instances of an episode (see
            :class:`RLKDAgent`); None: all. Defaults to None.

    Examples:
        >>> provider = dict(type='mmrlkd.RLKDTemperature', t_max=10.0,
        ...                 ppo=dict(actor_lr=1e-4, critic_lr=1e-3))
        >>> without_calibration = dict(type='mmrlkd.RLKDTemperature',
        ...                            reward_calibration=False,
        ...                            state_update=False)
    """

    requires_labels = True

    def __init__(self,
                 t_min=0.0,
                 t_max=10.0,
                 t_floor=1e-2,
                 warmup_temperature=4.0,
                 use_uncertainty=True,
                 use_gt_prob=False,
                 performance='accuracy',
                 reward='next_batch',
                 policy=None,
                 ppo=None,
                 reward_calibration=True,
                 state_update=True,
                 reward_corrector=None,
                 state_updater=None,
                 max_episode_length=None):
        super().__init__()
        if not warmup_temperature > 0:
            raise ValueError('warmup_temperature must be positive, got '
                             f'{warmup_temperature}')
        if performance not in ('accuracy', 'neg_ce'):
            raise ValueError("performance must be 'accuracy' or 'neg_ce', "
                             f'got {performance!r}')
        if reward not in REWARDS:
            raise ValueError(f'reward must be one of {REWARDS}, '
                             f'got {reward!r}')
        if not reward_calibration and (ppo or {}).get('gamma') == 0:
            raise ValueError(
                'reward_calibration=False puts the batch reward on the '
                "episode's last instance, and ppo gamma=0 would credit that "
                'instance alone: use a positive gamma without calibration '
                '(CALIBRATED_PPO is for the calibrated agent)')
        self.warmup_temperature = float(warmup_temperature)
        self.reward = reward
        self.use_uncertainty = use_uncertainty
        self.use_gt_prob = use_gt_prob
        self.performance = performance
        dim = state_dim(use_uncertainty)
        policy = TemperaturePolicy(
            dim, t_min=t_min, t_max=t_max, t_floor=t_floor, **(policy or {}))
        # A plain attribute, not a submodule: see the class docstring.
        self.__dict__['agent'] = RLKDAgent(
            policy,
            PPOUpdater(policy, **(ppo or {})),
            reward_corrector=RewardCorrector(dim, **(reward_corrector or {}))
            if reward_calibration else None,
            state_updater=StateUpdater(dim, **(state_updater or {}))
            if state_update else None,
            max_episode_length=max_episode_length)
        self.acting = False
        self._episode = None  # this iteration's (states, actions, ...)
        self._performance = None  # this iteration's batch performance
        self._labels = None  # this iteration's targets ('same_batch')
        self._pending = EpisodeBuffer(64, self.policy.state_dim)
        self._pending_performance = None
        self._pending_acted = False

    @property
    def policy(self):
        """The agent's :class:`TemperaturePolicy`."""
        return self.agent.policy

    @property
    def updater(self):
        """The agent's :class:`PPOUpdater`."""
        return self.agent.updater

    @property
    def device(self):
        """The agent's device, where everything the provider holds lives."""
        return self.agent.device

    def _apply(self, fn, *args, **kwargs):
        """Follow the model's device (``.to``, ``.cuda``), never its dtype.

        The agent computes in float32 whatever the model's precision, so
        only the device of ``fn``'s result is taken; the agent's state and
        the pending episode move with it.
        """
        super()._apply(fn, *args, **kwargs)
        device = fn(torch.empty(0, device=self.device)).device
        self.agent.to(device)
        self._pending.to(device)
        if self._pending_performance is not None:
            self._pending_performance = self._pending_performance.to(device)
        self._performance = None
        self._labels = None
        self._episode = None
        return self

    def forward(self, preds_S, preds_T, gt_labels=None):
        """Temperatures for the batch; records its experience in training.

        Args:
            preds_S (Tensor): Student logits (N, C).
            preds_T (Tensor): Teacher logits (N, C).
            gt_labels (Tensor): Targets (N,), needed for the reward.
        """
        if gt_labels is None:
            raise ValueError(
                'RLKDTemperature needs gt_labels: map them in '
                'the distiller (see InstanceTemperatureDistiller)')
        if self.training:
            self._performance = batch_performance(preds_S, gt_labels,
                                                  self.performance)
            if self.reward == 'same_batch':
                self._labels = gt_labels
        if not self.acting:
            t = preds_S.new_full((),
                                 self.warmup_temperature,
                                 dtype=torch.float32)
            return TemperatureOutput.shared(t)
        states = instance_states(preds_S, preds_T, gt_labels,
                                 self.use_uncertainty, self.use_gt_prob)
        out = self.agent.act(states, deterministic=not self.training)
        if self.training:
            self._episode = dict(
                states=states,
                policy_states=out['policy_states'],
                actions=out['action'],
                log_probs=out['log_prob'],
                values=out['value'])
        return TemperatureOutput.shared(out['temperature'])

    @property
    def last_performance(self):
        """Performance of the latest training batch (0-dim) or None."""
        return self._performance

    def performance_of_last_batch(self, preds_S):
        """Performance of new logits of the latest training batch's
        instances (those the provider saw, in order), or None.

        With ``reward='same_batch'``, the algorithm re-runs the student on
        the batch after its step and measures it here with the labels kept
        from :meth:`forward`.
        """
        if self._labels is None:
            return None
        return batch_performance(preds_S, self._labels, self.performance)

    def finish_iteration(self,
                         reward_scale=1.0,
                         update=True,
                         performance=None,
                         change=None):
        """Reward an episode, update the agent, queue this one.

        Called after the student's step. With ``reward='next_batch'`` the
        previous iteration's actions produced that step, so their reward is
        this batch's performance (measured before this step) minus the
        previous batch's. With ``'same_batch'`` this iteration's actions
        are rewarded at once with ``change``, their batch's gain over the
        step. The agent then learns from that episode (calibration, state
        updater, PPO).

        Args:
            reward_scale (float): Warm-up factor of the reward.
            update (bool): Run PPO on the rewarded episode (False: drop it,
                for update intervals > 1). Defaults to True.
            performance (Tensor, optional): This batch's performance as
                agreed across processes; defaults to the local one.
            change (Tensor, optional): ``'same_batch'``: this batch's
                performance after the step minus before it, as agreed
                across processes; None when it was not measured.

        Returns:
            dict[str, Tensor | float]: ``reward`` and the agent's
            diagnostics as 0-dim tensors on the agent's device (PPO,
            calibration, state updater; NaN for parts switched off; after
            an update, ``skipped`` (1: a non-finite reward or episode
            trained nothing) and ``skipped_updates``, their running count,
            a float), or an empty dict when no episode was closed. Nothing
            here waits for the device but the agent's one decision whether
            to learn.
        """
        performance = self._performance if performance is None \
            else performance
        if self.reward == 'same_batch':
            return self._finish_same_batch(reward_scale, update, change)
        diagnostics = {}
        # Decided on values every process shares (the agreed performances,
        # whether the agent acted), never on this process's episode, which
        # may be empty where the others' are not: learn() enters
        # collectives.
        if self._pending_acted and self._pending_performance is not None \
                and performance is not None:
            diagnostics = self._reward_pending(
                reward_scale *
                (performance.to(self.device) - self._pending_performance),
                update)
        self._queue_episode()
        self._pending_performance = None if performance is None \
            else performance.to(self.device)
        self._pending_acted = self.acting
        self._episode = None
        # A batch the provider never saw (every instance skipped, or
        # distillation stopped) must not be rewarded with a stale value.
        self._performance = None
        return diagnostics

    def _reward_pending(self, reward, update):
        """Log the pending episode's reward; learn from it if ``update``."""
        diagnostics = dict(reward=reward)
        if update:
            diagnostics.update(self.agent.learn(self._pending.get(), reward))
            diagnostics['skipped_updates'] = float(self.agent.skipped_updates)
        return diagnostics

    def _queue_episode(self):
        """This iteration's episode (if any) becomes the pending one."""
        self._pending.clear()
        if self._episode is not None:
            self._pending.store(**{
                key: value.to(self.device)
                for key, value in self._episode.items()
            })

    def _finish_same_batch(self, reward_scale, update, change):
        """Reward this iteration's episode with its own batch's gain.

        The decision to learn rests on what every process shares (whether
        the agent acted, the agreed ``change``), never on this process's
        episode, which may be empty where the others' are not.
        """
        self._queue_episode()
        diagnostics = {}
        if self.acting and change is not None:
            diagnostics = self._reward_pending(
                reward_scale * change.to(self.device), update)
        self._pending.clear()
        self._pending_performance = None
        self._pending_acted = False
        self._episode = None
        self._performance = None
        self._labels = None
        return diagnostics

    def agent_state_dict(self):
        """Everything needed to continue training the agent exactly."""
        return dict(
            **self.agent.state_dict(),
            pending=self._pending.state_dict(),
            pending_performance=self._pending_performance,
            pending_acted=self._pending_acted,
            acting=self.acting)

    def load_agent_state_dict(self, state):
        """Restore what :meth:`agent_state_dict` returned.

        Returns:
            list[str]: Parts of this agent the saved state lacks (it was
            saved with them switched off); they start fresh.
        """
        missing = self.agent.load_state_dict(state)
        self._pending.to(self.device).load_state_dict(state['pending'])
        performance = state['pending_performance']
        self._pending_performance = None if performance is None \
            else performance.to(self.device)
        self.acting = state['acting']
        self._pending_acted = state.get('pending_acted',
                                        len(self._pending) > 0)
        return missing
