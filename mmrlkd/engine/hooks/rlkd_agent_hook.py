"""Trains the RLKD agent with PPO after every training iteration."""
import math

import torch
from mmengine.hooks import Hook, LoggerHook
from mmengine.model import is_model_wrapper

from mmrlkd.agents import AgentSync, linear_warmup_scale
from mmrlkd.registry import HOOKS

#: Logged only in pairs: RewardDiagnosticsHook pairs the i-th of each.
PAIRED = ('corrector_heldout_prediction', 'corrector_target')


def to_host(diagnostics):
    """Diagnostics as Python floats, with one device-to-host copy."""
    return to_host_all([diagnostics])[0]


def to_host_all(iterations):
    """Each dict of diagnostics as Python floats, with one device-to-host
    copy for all of them."""
    tensors = [{
        key: value
        for key, value in diagnostics.items() if torch.is_tensor(value)
    } for diagnostics in iterations]
    flat = [
        t.detach().float().reshape(()) for d in tensors for t in d.values()
    ]
    values = iter(torch.stack(flat).tolist() if flat else [])
    floats = []
    for diagnostics, on_device in zip(iterations, tensors):
        host = {
            key: float(value)
            for key, value in diagnostics.items() if not torch.is_tensor(value)
        }
        host.update((key, next(values)) for key in on_device)
        floats.append(host)
    return floats


@HOOKS.register_module()
class RLKDAgentHook(Hook):
    """Starts the RLKD agent, closes every iteration's episode, saves it.

    In each training iteration (see :class:`mmrlkd.RLKDTemperature` for
    the whole flow): :meth:`before_train_iter` tells the provider whether
    the agent acts yet (after ``agent_warmup``); after the student's step,
    :meth:`after_train_iter` calls the provider's
    :meth:`~mmrlkd.RLKDTemperature.finish_iteration` with the reward's
    warm-up factor ``min(e / E, 1)`` (the paper's), whether to learn, the
    processes' :class:`AgentSync` and, for a same-batch reward, the
    algorithm's re-run of the student
    (:meth:`mmrlkd.RLKDDistill.performance_after_step`). Scalars are logged
    under ``train/rl/`` (reward, PPO, ``corrector_loss``,
    ``state_updater_loss``, ``mask_mean``, ...); the agent (networks,
    optimisers, the corrector's replay, pending episode) is saved in every
    checkpoint under ``rlkd_agent``.

    Args:
        agent_warmup (int): Epochs (or iterations) at the provider's fixed
            warm-up temperature before the agent acts. Defaults to 20 (of
            the paper's 240 epochs): scale it for short schedules.
        reward_warmup (int): E of the reward warm-up, in the same unit,
            counted from when the agent starts acting. Defaults to 20.
        update_interval (int): Run PPO every this many iterations (on the
            latest episode; the others are dropped). Defaults to 1.
        learn_epoch_interval (int): Learn only in the epochs whose 1-based
            number is a multiple of this; in the others the agent acts with
            its frozen policy. 20 is the official code's schedule ("RL
            epochs" 20, 40, ...; the agent learns in 1 epoch of 20), 1 the
            paper's (every iteration). Needs ``by_epoch``. Defaults to 1.
        by_epoch (bool): Count ``agent_warmup`` and ``reward_warmup`` in
            epochs (else iterations). Defaults to True.
        learn (bool): False freezes the agent: it acts (samples from its
            untrained policy) and, with the paper's reward, its rewards are
            logged, but it never learns (nor re-runs the student for a
            same-batch reward). The control that tells learned temperatures
            from randomly jittered ones. Defaults to True.
        log_interval (int, optional): Read the scalars to the host (one
            GPU synchronisation) every this many iterations, and at each
            epoch's end, before a checkpoint and at the end of training;
            each iteration's values reach the message hub in order. None
            takes the LoggerHook's interval (1 without one). Defaults to
            None.

    Note:
        Priority NORMAL: it runs after the student's step and before the
        logger and checkpoint hooks of the same iteration, so its scalars
        are logged and the saved agent matches the saved student.

    Note:
        On several processes every agent starts from rank 0's networks and
        takes the same steps: the performance is averaged over the
        processes (one all-reduce), and the agent gathers every process's
        episode in one collective and runs the same update on all of them
        (:meth:`RLKDAgent.learn`): 2 collectives in an iteration that
        learns, 1 otherwise (with ``reward='same_batch'``: 2 when it
        learns, 0 otherwise); the first update gathers once more, to agree
        on the episodes' padded size. Each process draws its own
        exploration noise. After every epoch one gather checks that the
        agents are still bit-identical, and re-broadcasts rank 0's
        networks (with a warning) if they are not.

    Examples:
        >>> custom_hooks = [dict(type='mmrlkd.RLKDAgentHook',
        ...                      agent_warmup=20, reward_warmup=20)]
    """

    priority = 'NORMAL'

    def __init__(self,
                 agent_warmup=20,
                 reward_warmup=20,
                 update_interval=1,
                 by_epoch=True,
                 learn=True,
                 learn_epoch_interval=1,
                 log_interval=None):
        if agent_warmup < 0 or reward_warmup < 0:
            raise ValueError('agent_warmup and reward_warmup must be >= 0, '
                             f'got {agent_warmup} and {reward_warmup}')
        if int(update_interval) != update_interval or update_interval < 1:
            raise ValueError(
                f'update_interval must be an int >= 1, got {update_interval}')
        if int(learn_epoch_interval) != learn_epoch_interval or \
                learn_epoch_interval < 1:
            raise ValueError('learn_epoch_interval must be an int >= 1, got '
                             f'{learn_epoch_interval}')
        if learn_epoch_interval > 1 and not by_epoch:
            raise ValueError('learn_epoch_interval counts epochs: it needs '
                             'by_epoch=True')
        if log_interval is not None and (
                int(log_interval) != log_interval or log_interval < 1):
            raise ValueError(
                f'log_interval must be an int >= 1, got {log_interval}')
        self.log_interval = log_interval
        self._interval = 1  # the one in use, set before training
        self._pending = []  # each iteration's diagnostics, not read yet
        self.learn_epoch_interval = int(learn_epoch_interval)
        self.agent_warmup = agent_warmup
        self.reward_warmup = reward_warmup
        self.update_interval = int(update_interval)
        self.by_epoch = by_epoch
        self.learn = learn
        self.sync = AgentSync()
        self._rng_restored = False

    @staticmethod
    def _model(runner):
        return runner.model.module if is_model_wrapper(
            runner.model) else runner.model

    @classmethod
    def _provider(cls, runner):
        model = cls._model(runner)
        provider = getattr(model, 'temperature_provider', None)
        if provider is None or not hasattr(provider, 'finish_iteration'):
            raise TypeError(
                'RLKDAgentHook needs a model with an RLKD temperature provider'
                ' (mmrlkd.RLKDDistill with mmrlkd.RLKDTemperature), got '
                f'{type(model).__name__}')
        return provider

    def _progress(self, runner):
        """0-based epoch or iteration of the current training step."""
        return runner.epoch if self.by_epoch else runner.iter

    def before_train(self, runner):
        self._interval = self.log_interval or self._logger_interval(runner)
        provider = self._provider(runner)
        if provider.reward.rerun and not hasattr(
                self._model(runner), 'performance_after_step'):
            raise TypeError(
                "RLKDTemperature(reward='same_batch') re-runs the student on "
                'its batch after the step, which mmrlkd.RLKDDistill '
                f'(classification) does; {type(self._model(runner)).__name__}'
                " cannot: use reward='next_batch'")
        length = runner.max_epochs if self.by_epoch else runner.max_iters
        unit = 'epochs' if self.by_epoch else 'iterations'
        if self.agent_warmup >= length:
            runner.logger.warning(
                f'RLKDAgentHook: agent_warmup={self.agent_warmup} {unit} is '
                f'not shorter than the schedule ({length} {unit}): the agent '
                'will never act')
        agent = provider.agent
        if agent.updater.anneal_lr:
            agent.updater.total_updates = self._expected_updates(runner)
            runner.logger.info(
                'RLKDAgentHook: the actor learning rate anneals to 0 over '
                f'{agent.updater.total_updates} agent updates')
        if self.sync.active:
            # Same initial agent everywhere (policy, reward corrector, state
            # updater), same gradients at every step of every optimizer.
            self.sync.broadcast_(agent.networks())
            agent.sync = self.sync
        if not self._rng_restored:
            # Resumed runs continue their restored draws instead.
            agent.seed_for_rank(self.sync.rank())

    def _expected_updates(self, runner):
        """Agent updates in the schedule: PPO's ``anneal_lr`` horizon.

        One per ``update_interval`` iterations (and per rollout of the
        agent's ``rollout_episodes``) once the agent acts and in the epochs
        it learns; a resumed run counts the same total, and the saved
        update count tells how far along it is.
        """
        if not self.by_epoch:
            acting = runner.max_iters - self.agent_warmup
        else:
            learning_epochs = sum(
                1 for epoch in range(self.agent_warmup, runner.max_epochs)
                if self._learns_in_epoch(epoch))
            acting = learning_epochs * len(runner.train_dataloader)
        agent = self._provider(runner).agent
        return max(1, acting // self.update_interval // agent.rollout_episodes)

    def _learns_in_epoch(self, epoch):
        """Whether the agent learns in 0-based ``epoch``."""
        return (epoch + 1) % self.learn_epoch_interval == 0

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        provider = self._provider(runner)
        provider.acting = self._progress(runner) >= self.agent_warmup

    def _reward_scale(self, runner):
        """The reward's warm-up factor for the current iteration.

        The linear ramp counts from when the agent starts acting: the
        first reward (``agent_warmup`` epochs in) gets ``1 / E``, and the
        full reward comes E epochs (or iterations) later. Counted from the
        start of training, as before, the ramp was already over when
        ``reward_warmup <= agent_warmup``, which every shipped config has.
        """
        acting_for = self._progress(runner) + 1 - self.agent_warmup
        return linear_warmup_scale(max(acting_for, 0), self.reward_warmup)

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        provider = self._provider(runner)
        learn = self.learn and \
            (runner.iter + 1) % self.update_interval == 0 and \
            self._learns_in_epoch(runner.epoch)
        scale = self._reward_scale(runner)
        diagnostics = provider.finish_iteration(
            scale, learn, self.sync if self.sync.active else None,
            getattr(self._model(runner), 'performance_after_step', None))
        if diagnostics:
            diagnostics['reward_scale'] = scale
            self._pending.append(diagnostics)
        if self._log_due(runner, batch_idx):
            self.flush_logs(runner)

    def _log_due(self, runner, batch_idx):
        """Whether the LoggerHook logs now (as it decides: every
        ``interval`` inner iterations and at an epoch's end), or the run
        ends."""
        interval = self._interval
        try:
            epoch_end = batch_idx + 1 == len(runner.train_dataloader)
        except TypeError:  # a loader without a length
            epoch_end = False
        return (batch_idx + 1) % interval == 0 or epoch_end or \
            runner.iter + 1 >= runner.max_iters

    @staticmethod
    def _logger_interval(runner):
        for hook in runner.hooks:
            if isinstance(hook, LoggerHook):
                return max(int(hook.interval), 1)
        return 1

    def flush_logs(self, runner):
        """Log the scalars of the iterations not logged yet, in order, with
        one read of the device (finite values only; the corrector's
        prediction and target only both or neither)."""
        pending, self._pending = self._pending, []
        hub = runner.message_hub
        for scalars in to_host_all(pending):
            if not all(math.isfinite(scalars.get(key, 0)) for key in PAIRED):
                for key in PAIRED:
                    scalars.pop(key, None)
            for key, value in scalars.items():
                if math.isfinite(value):
                    hub.update_scalar(f'train/rl/{key}', value)

    def after_train(self, runner):
        self.flush_logs(runner)

    def after_train_epoch(self, runner):
        if not self.sync.active:
            return
        agent = self._provider(runner).agent
        if not self.sync.check_identical(agent.networks()):
            runner.logger.warning(
                'RLKDAgentHook: the RLKD agents of the processes differed '
                "(non-deterministic kernels?); rank 0's networks were "
                'broadcast to all')

    def before_save_checkpoint(self, runner, checkpoint):
        self.flush_logs(runner)  # the saved message hub holds them all
        checkpoint['rlkd_agent'] = self._provider(runner).agent_state_dict()

    def after_load_checkpoint(self, runner, checkpoint):
        if 'rlkd_agent' not in checkpoint:
            runner.logger.warning(
                'The checkpoint has no RLKD agent (saved before the agent '
                'existed, e.g. by a KD run): starting a fresh agent.')
            return
        missing = self._provider(runner).load_agent_state_dict(
            checkpoint['rlkd_agent'])
        # The checkpoint holds rank 0's generator; other ranks draw anew.
        self._rng_restored = 'rng_state' not in missing and \
            self.sync.rank() == 0
        if 'rng_state' in missing:
            missing.remove('rng_state')
            runner.logger.info(
                "The checkpoint's RLKD agent generator state does not fit "
                'this device (saved on another kind of device, or before '
                'the agent had one): its generator is re-seeded from the '
                'saved seed, so its random draws differ from here on.')
        if missing:
            runner.logger.warning(
                'The checkpoint\'s RLKD agent has no '
                f'{", ".join(missing)} (saved with them switched off): '
                'starting them fresh.')
