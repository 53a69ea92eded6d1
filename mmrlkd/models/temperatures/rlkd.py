"""RLKD: a PPO agent picks each instance's temperature (arXiv 2407.00115)."""
import torch

from mmrlkd.agents import (REWARDS, Episode, IterationRecord, PPOUpdater,
                           RewardCorrector, RLKDAgent, StateUpdater,
                           TemperaturePolicy, batch_performance,
                           instance_states, state_dim)
from mmrlkd.registry import MODELS
from .base import BaseTemperatureProvider, TemperatureOutput


@MODELS.register_module()
class RLKDTemperature(BaseTemperatureProvider):
    """Per-instance temperatures from a Gaussian policy trained by PPO.

    One training iteration, in order (each training iteration is one
    episode whose steps are the batch's instances):

    1. :meth:`forward` (called by the distiller with the batch's student
       and teacher logits) measures the batch's performance, the input of
       the reward, and keeps it in this iteration's
       :class:`~mmrlkd.agents.IterationRecord`. Once the agent acts (after
       ``agent_warmup``; the hook sets :attr:`acting`), it builds the
       instance states (student confidence, teacher confidence, student
       top-1/top-2 margin) and :meth:`RLKDAgent.act` returns the
       temperatures and the iteration's :class:`~mmrlkd.agents.Episode`;
       before that, every instance gets ``warmup_temperature``.
    2. The losses use the temperatures and the student steps.
    3. :meth:`finish_iteration` (called by :class:`RLKDAgentHook` after
       the step) hands the record to the reward
       (:class:`~mmrlkd.agents.NextBatchReward` or
       :class:`~mmrlkd.agents.SameBatchReward`), which returns the episode
       to learn from and its reward, agreed across processes;
       :meth:`RLKDAgent.learn` trains on it (reward calibration, state
       updater, PPO).

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
        performance (str): 'accuracy' (batch top-1) or 'neg_ce'.
            Defaults to 'accuracy'.
        reward (str): What rewards iteration t's temperatures
            (:mod:`mmrlkd.agents.reward`). 'next_batch' (the paper):
            ``perf(batch t+1) - perf(batch t)``, free but mostly the two
            batches' sampling noise. 'same_batch': ``perf(batch t, after
            step t) - perf(batch t, before it)``, the student's gain on
            the very instances whose temperatures made the step; it costs
            one more no-grad student forward per learning iteration (the
            algorithm's ``performance_after_step``; classification only).
            Defaults to 'next_batch'.
        policy (dict, optional): Extra :class:`TemperaturePolicy` arguments
            (``hidden_dim``, ``init_log_std``).
        ppo (dict, optional): :class:`PPOUpdater` arguments (learning rates,
            epochs, clip, GAE, ``anneal_lr``), defaults as in the paper.
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
            ``regression_weight``, ``per_feature``, ``gate_sparsity``, ...).
        max_episode_length (int, optional): The agent learns from at most
            this many random instances of an episode (see
            :class:`RLKDAgent`); None: all. Defaults to None.
        rollout_episodes (int): The agent learns from this many rewarded
            episodes together, each with its own reward (see
            :class:`RLKDAgent`); 1 is the paper's update per iteration.
            Defaults to 1.
        capture (bool): On CUDA, the agent acts and learns from CUDA
            graphs (checked against eager; eager with a warning if capture
            fails). Defaults to True.

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
                 performance='accuracy',
                 reward='next_batch',
                 policy=None,
                 ppo=None,
                 reward_calibration=True,
                 state_update=True,
                 reward_corrector=None,
                 state_updater=None,
                 max_episode_length=None,
                 rollout_episodes=1,
                 capture=True):
        super().__init__()
        if not warmup_temperature > 0:
            raise ValueError('warmup_temperature must be positive, got '
                             f'{warmup_temperature}')
        if performance not in ('accuracy', 'neg_ce'):
            raise ValueError("performance must be 'accuracy' or 'neg_ce', "
                             f'got {performance!r}')
        if reward not in REWARDS:
            raise ValueError(f'reward must be one of {tuple(REWARDS)}, '
                             f'got {reward!r}')
        if not reward_calibration and (ppo or {}).get('gamma') == 0:
            raise ValueError(
                'reward_calibration=False puts the batch reward on the '
                "episode's last instance, and ppo gamma=0 would credit that "
                'instance alone: use a positive gamma without calibration')
        self.warmup_temperature = float(warmup_temperature)
        self.use_uncertainty = use_uncertainty
        self.performance = performance
        self.reward = REWARDS[reward]()
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
            max_episode_length=max_episode_length,
            rollout_episodes=rollout_episodes,
            capture=capture)
        #: Whether the agent picks the temperatures (set by the hook).
        self.acting = False
        self._record = None  # this iteration's IterationRecord

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
        self.reward.to(device)
        self._record = None
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
            self._record = IterationRecord(
                performance=batch_performance(preds_S, gt_labels,
                                              self.performance),
                labels=gt_labels if self.reward.rerun else None)
        if not self.acting:
            t = preds_S.new_full((),
                                 self.warmup_temperature,
                                 dtype=torch.float32)
            return TemperatureOutput.shared(t)
        states = instance_states(preds_S, preds_T, self.use_uncertainty)
        temperatures, episode = self.agent.act(
            states, deterministic=not self.training)
        if self.training:
            self._record.episode = episode
        return TemperatureOutput.shared(temperatures)

    @property
    def last_performance(self):
        """Performance of the latest training batch (0-dim) or None."""
        return None if self._record is None else self._record.performance

    def performance_of_last_batch(self, preds_S):
        """Performance of new logits of the latest training batch's
        instances (those the provider saw, in order), or None.

        With ``reward='same_batch'``, the algorithm re-runs the student on
        the batch after its step and measures it here with the labels kept
        from :meth:`forward`.
        """
        if self._record is None or self._record.labels is None:
            return None
        return batch_performance(preds_S, self._record.labels,
                                 self.performance)

    def finish_iteration(self,
                         reward_scale=1.0,
                         learn=True,
                         sync=None,
                         performance_after_step=None):
        """Close the iteration: reward an episode and learn from it.

        Called after the student's step, on every process. The reward
        (:attr:`reward`) decides which episode is rewarded and with what;
        the agent learns from it unless ``learn`` is False.

        Args:
            reward_scale (float): Warm-up factor of the reward.
            learn (bool): Train the agent on the rewarded episode (False:
                only log its reward; a frozen agent, or an iteration
                between two ``update_interval`` updates). Defaults to True.
            sync (AgentSync, optional): Agrees on the reward across
                processes; None in one process.
            performance_after_step (callable, optional): The algorithm's
                re-run of the student on its batch (``'same_batch'``).

        Returns:
            dict[str, Tensor | float]: ``reward`` and, after learning, the
            agent's diagnostics (:meth:`RLKDAgent.learn`), 0-dim on the
            agent's device; empty when no episode was rewarded. Nothing
            here waits for the device but the agent's one decision
            whether to learn.
        """
        acted = self.acting and (learn or not self.reward.rerun)
        try:
            # The re-run reads the record's labels: drop it only after.
            rewarded = self.reward.close(self._record or IterationRecord(),
                                         acted, self.device, sync,
                                         performance_after_step)
        finally:
            # A batch the provider never sees must not be rewarded with
            # this one's performance.
            self._record = None
        if rewarded is None:
            return {}
        episode, reward = rewarded
        reward = reward_scale * reward
        diagnostics = dict(reward=reward)
        if learn:
            if episode is None:  # this process saw no batch; others did
                episode = Episode.empty(self.policy.state_dim, self.device)
            diagnostics.update(self.agent.learn(episode, reward))
        return diagnostics

    def agent_state_dict(self):
        """Everything needed to continue training the agent exactly."""
        return dict(
            **self.agent.state_dict(),
            **self.reward.state_dict(),
            acting=self.acting)

    def load_agent_state_dict(self, state):
        """Restore what :meth:`agent_state_dict` returned.

        Returns:
            list[str]: Parts of this agent the saved state lacks (it was
            saved with them switched off) or that do not fit here; they
            start fresh.
        """
        missing = self.agent.load_state_dict(state)
        self.reward.load_state_dict(state)
        self.reward.to(self.device)
        self.acting = state['acting']
        return missing
