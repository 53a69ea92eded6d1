"""Starts, trains, logs and checkpoints the MTKD-RL agent."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmrlkd.agents import AgentSync
from mmrlkd.registry import HOOKS
from .rlkd_agent_hook import to_host


@HOOKS.register_module()
class MTKDAgentHook(Hook):
    """The official MTKD-RL schedule for :class:`MTKDRLDistill`'s agent.

    - During the warm-up (the official code: epoch 0) every teacher weight is
      the algorithm's ``warmup_weights``; the agent acts afterwards.
    - The agent is updated (one SGD step per stored batch, then its buffer
      is cleared) after batch ``agent_step``, ``2 * agent_step``, ... of
      each epoch (in-epoch batch index, as the official loop counts) and at
      the end of every epoch. With the 'upstream' update rule experience is
      also collected, and learned from, during the warm-up, as officially.
    - Per iteration it logs the batch mean of each teacher's weights,
      ``train/mtkd/w_logit_t{m}`` and ``train/mtkd/w_feat_t{m}``, the mean
      normalised reward ``train/mtkd/reward``, and the number of agent
      updates so far, ``train/mtkd/agent_updates``; after each update,
      ``train/mtkd/agent_loss``. The iteration's values reach the host in
      one copy (one GPU synchronisation).
    - Each process's agent draws from its own generator, seeded for its
      rank at the start of training.
    - The agent (policy, optimizer, buffer, seed and generator state) is
      saved in every checkpoint under ``mtkd_agent`` and restored on
      resume; a generator state that does not fit (saved on another kind
      of device) is replaced by a fresh seed from the saved one, with a
      note in the log.

    Args:
        agent_step (int): Update every this many batches of an epoch (also
            at its end). Defaults to 1000 (the official value).
        warmup (int): Epochs (or iterations) before the agent acts.
            Defaults to 1.
        by_epoch (bool): Count ``warmup`` in epochs, else iterations.
            Defaults to True.

    Note:
        Priority NORMAL: after the student's step, before the logger and
        checkpoint hooks, so the update at the end of an epoch is in the
        checkpoint of that epoch.

    Examples:
        >>> custom_hooks = [dict(type='mmrlkd.MTKDAgentHook',
        ...                      agent_step=1000, warmup=1)]
    """

    priority = 'NORMAL'

    def __init__(self, agent_step=1000, warmup=1, by_epoch=True):
        if int(agent_step) != agent_step or agent_step < 1:
            raise ValueError(
                f'agent_step must be an int >= 1, got {agent_step}')
        if warmup < 0:
            raise ValueError(f'warmup must be >= 0, got {warmup}')
        self.agent_step = int(agent_step)
        self.warmup = warmup
        self.by_epoch = by_epoch
        self.updates = 0
        self._rng_restored = False

    @staticmethod
    def _model(runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if not hasattr(model, 'agent') or not hasattr(model, 'acting'):
            raise TypeError('MTKDAgentHook needs an mmrlkd.MTKDRLDistill '
                            f'model, got {type(model).__name__}')
        return model

    def before_train(self, runner):
        model = self._model(runner)
        model.hook_attached = True
        length = runner.max_epochs if self.by_epoch else runner.max_iters
        if self.warmup >= length:
            runner.logger.warning(
                f'MTKDAgentHook: warmup={self.warmup} is not shorter than the'
                f' schedule ({length}): the agent will never act')
        sync = AgentSync()
        if sync.active:
            # Same initial agent everywhere, same gradients at every step.
            sync.broadcast_([model.agent.policy])
            model.agent.sync = sync
        if not self._rng_restored:
            # Different draws per process; a resumed rank 0 continues its
            # restored draws instead.
            model.agent.seed_for_rank(sync.rank())

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        progress = runner.epoch if self.by_epoch else runner.iter
        self._model(runner).acting = progress >= self.warmup

    def _update(self, runner):
        result = self._model(runner).agent.update()
        if result:
            self.updates += 1
            runner.message_hub.update_scalar('train/mtkd/agent_loss',
                                             float(result['agent_loss']))

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        model = self._model(runner)
        hub = runner.message_hub
        logged = {}
        if model.last_weights is not None:
            for name, weights in zip(('logit', 'feat'), model.last_weights):
                for m, mean in enumerate(weights.mean(0).unbind()):
                    logged[f'w_{name}_t{m}'] = mean
        if model.last_reward is not None:
            logged['reward'] = model.last_reward.mean()
        for key, value in to_host(logged).items():
            hub.update_scalar(f'train/mtkd/{key}', value)
        if batch_idx > 0 and batch_idx % self.agent_step == 0:
            self._update(runner)
        hub.update_scalar('train/mtkd/agent_updates', self.updates)

    def after_train_epoch(self, runner):
        self._update(runner)

    def before_save_checkpoint(self, runner, checkpoint):
        state = self._model(runner).agent.state_dict()
        checkpoint['mtkd_agent'] = dict(state, updates=self.updates)

    def after_load_checkpoint(self, runner, checkpoint):
        if 'mtkd_agent' not in checkpoint:
            runner.logger.warning(
                'The checkpoint has no MTKD-RL agent (saved by another '
                'method?): starting a fresh agent.')
            return
        state = dict(checkpoint['mtkd_agent'])
        self.updates = state.pop('updates', 0)
        fits = self._model(runner).agent.load_state_dict(state)
        self._rng_restored = fits and AgentSync().rank() == 0
        if not fits:
            runner.logger.info(
                'MTKDAgentHook: the checkpoint\'s agent generator state does '
                'not fit this device (or is missing): the agent draws from a '
                'fresh seed derived from the saved one')
