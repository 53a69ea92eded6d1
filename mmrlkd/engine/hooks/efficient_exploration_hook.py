"""RLKD's efficient exploration (Sec. 4.3): rank by entropy, mix, restore."""
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import IterBasedTrainLoop

from mmrlkd.datasets import efficient_exploration_plan as plans
from mmrlkd.datasets.efficient_exploration_dataset import \
    EfficientExplorationDataset
from mmrlkd.registry import HOOKS
from .rlkd_agent_hook import RLKDAgentHook

SCORES = ('last', 'mean')
STATE_KEY = 'efficient_exploration'


def _find_exploration_dataset(dataset):
    """The EfficientExplorationDataset in a chain of ``.dataset`` wrappers."""
    while dataset is not None:
        if isinstance(dataset, EfficientExplorationDataset):
            return dataset
        dataset = getattr(dataset, 'dataset', None)
    return None


@HOOKS.register_module()
class EfficientExplorationHook(Hook):
    """Guides the early RL epochs towards high-quality (mixed) instances.

    Every training iteration up to the last exploration epoch it files the
    student's prediction entropy (T = 1, train-mode forward) under each
    instance's dataset index; mixed images are not filed, so an instance's
    score always comes from its own image. The entropies stay on the
    device until the epoch ends (one copy to the host per epoch, not one
    per iteration). After an epoch that precedes an exploration epoch it
    ranks the instances by score, descending, pairs the ``high_range`` rank
    slice with the ``partner_range`` slice by rank, gives each pair a weight
    ``lam`` and hands the plan to the :class:`EfficientExplorationDataset`
    of the train loader for that epoch; after the last exploration epoch the
    original images come back. The student and the agent both learn from
    the mixed instances (as in the official code). Exploration epochs are
    ``agent_warmup + j * interval < agent_warmup + explore_epochs`` (0-based
    epochs). The entropy records and the plan are saved in every checkpoint
    under ``efficient_exploration``.

    Args:
        explore_epochs (int): Length of the exploration window in epochs,
            starting when the agent starts acting. Defaults to 20.
        agent_warmup (int, optional): Epochs before the agent acts. Defaults
            to None: :class:`RLKDAgentHook`'s ``agent_warmup`` if that hook
            is registered (by epoch), else 0.
        interval (int): Explore every ``interval``-th epoch of the window
            (the official code: one epoch in 20). Defaults to 1.
        high_range (tuple[float]): Entropy-rank slice of the high-quality
            instances, as fractions. Defaults to (0.1, 0.2).
        partner_range (tuple[float]): Slice mixed into them, as wide as
            ``high_range``. Defaults to (0.4, 0.5) (the paper; the official
            code uses (0.8, 0.9)).
        mixed_slot (str): 'partner': the mix replaces the partner's image
            (the official code's placement), so the high-quality instances
            are seen twice per epoch, once as they are and once mixed, and
            the unmixed slice ablations (lam = 1) oversample them; 'high':
            the mix replaces the high-quality image in its own slot. Either
            way it carries the high-quality label. Defaults to 'partner'.
        lam_schedule (str): 'linear' (``lam_k = end + (start - end) * (M -
            k) / M``, k = 0..M-1 in rank order) or 'beta' (``max(lam, 1 -
            lam)``, ``lam ~ Beta(beta_alpha, beta_alpha)``). Defaults to
            'linear'.
        lam_range (tuple[float]): ``(start, end)`` of the linear schedule.
            Defaults to (1.0, 0.7).
        beta_alpha (float): Alpha of the Beta schedule. Defaults to 0.2.
        score (str): Rank by each instance's latest entropy ('last') or its
            mean over all epochs so far ('mean', the official code).
            Defaults to 'last'.
        logits_module (str, optional): Student module whose output are the
            logits, as a path in the (unwrapped) model. Defaults to None:
            'architecture.head.fc' for a distill algorithm, else 'head.fc'.
        seed (int): Seed of the Beta schedule (plus the epoch). Defaults to 0.
        enabled (bool): False turns the hook into a no-op (the "w/o
            exploration" ablation). Defaults to True.

    Note:
        Priority NORMAL: the plan is computed in ``after_train_epoch`` before
        the checkpoint hook saves it. It is handed to the dataset in
        ``before_train_epoch``, before the epoch's DataLoader iterator asks
        for samples; the dataset keeps it in shared memory, which
        DataLoader workers (persistent ones too) read.

    Examples:
        >>> custom_hooks = [
        ...     dict(type='mmrlkd.RLKDAgentHook', agent_warmup=20),
        ...     dict(type='mmrlkd.EfficientExplorationHook',
        ...          explore_epochs=20)]
    """

    priority = 'NORMAL'

    def __init__(self,
                 explore_epochs=20,
                 agent_warmup=None,
                 interval=1,
                 high_range=(0.1, 0.2),
                 partner_range=(0.4, 0.5),
                 mixed_slot='partner',
                 lam_schedule='linear',
                 lam_range=(1.0, 0.7),
                 beta_alpha=0.2,
                 score='last',
                 logits_module=None,
                 seed=0,
                 enabled=True):
        if explore_epochs < 0 or (agent_warmup is not None
                                  and agent_warmup < 0):
            raise ValueError('explore_epochs and agent_warmup must be >= 0, '
                             f'got {explore_epochs} and {agent_warmup}')
        if int(interval) != interval or interval < 1:
            raise ValueError(f'interval must be an int >= 1, got {interval}')
        self.high_range = plans.check_rank_range(high_range, 'high_range')
        self.partner_range = plans.check_rank_range(partner_range,
                                                    'partner_range')
        high_width = self.high_range[1] - self.high_range[0]
        partner_width = self.partner_range[1] - self.partner_range[0]
        if abs(high_width - partner_width) > 1e-9:
            raise ValueError('high_range and partner_range must be equally '
                             f'wide, got {high_range} and {partner_range}')
        if (self.high_range[0] < self.partner_range[1]
                and self.partner_range[0] < self.high_range[1]):
            raise ValueError(f'high_range {high_range} overlaps '
                             f'partner_range {partner_range}')
        if mixed_slot not in plans.MIXED_SLOTS:
            raise ValueError(f'mixed_slot must be one of {plans.MIXED_SLOTS}'
                             f', got {mixed_slot!r}')
        if lam_schedule not in plans.LAMBDA_SCHEDULES:
            raise ValueError(
                f'lam_schedule must be one of {plans.LAMBDA_SCHEDULES}'
                f', got {lam_schedule!r}')
        if len(lam_range) != 2 or not all(0 <= x <= 1 for x in lam_range):
            raise ValueError(f'lam_range must be two values in [0, 1], got '
                             f'{lam_range}')
        if beta_alpha <= 0:
            raise ValueError(f'beta_alpha must be > 0, got {beta_alpha}')
        if score not in SCORES:
            raise ValueError(f'score must be one of {SCORES}, got {score!r}')
        self.explore_epochs = explore_epochs
        self.agent_warmup = agent_warmup
        self.warmup = agent_warmup or 0  # resolved in before_train
        self.interval = int(interval)
        self.mixed_slot = mixed_slot
        self.lam_schedule = lam_schedule
        self.lam_range = tuple(float(x) for x in lam_range)
        self.beta_alpha = float(beta_alpha)
        self.score = score
        self.logits_module = logits_module
        self.seed = seed
        self.enabled = enabled
        self._records = None
        self._plan = None  # (epoch, MixPlan) for the coming epoch
        self._served = None  # the plan the dataset serves now
        self._handle = None
        self._logits = None
        self._capturing = False
        # This epoch's (entropy on the device, dataset indices, unmixed)
        # per iteration, filed into the records when the epoch ends.
        self._pending = []

    # ----------------------------------------------------------- helpers
    def _dataset(self, runner):
        dataset = _find_exploration_dataset(runner.train_dataloader.dataset)
        if dataset is None:
            raise TypeError(
                'EfficientExplorationHook needs the training set wrapped in '
                'mmrlkd.EfficientExplorationDataset: train_dataloader = dict('
                "dataset=dict(_delete_=True, type='mmrlkd."
                "EfficientExplorationDataset', dataset={{_base_."
                'train_dataloader.dataset}})); got '
                f'{type(runner.train_dataloader.dataset).__name__}')
        return dataset

    def _resolve_warmup(self, runner):
        if self.agent_warmup is not None:
            return self.agent_warmup
        for hook in runner.hooks:
            if isinstance(hook, RLKDAgentHook):
                if not hook.by_epoch:
                    raise ValueError(
                        'RLKDAgentHook counts its warm-up in iterations; set '
                        'EfficientExplorationHook(agent_warmup=...) in epochs')
                return hook.agent_warmup
        return 0

    def is_exploring(self, epoch):
        """Whether 0-based ``epoch`` trains on the mixed instances."""
        offset = epoch - self.warmup
        return (self.enabled and 0 <= offset < self.explore_epochs
                and offset % self.interval == 0)

    def _records_entropy(self, epoch):
        """Whether 0-based ``epoch`` files entropies: up to the last
        exploration epoch (later ones would rank for no plan)."""
        offset = epoch - self.warmup
        return self.enabled and offset < self.explore_epochs

    @staticmethod
    def _new_records(size):
        records = {
            key: torch.zeros(size, dtype=torch.float64)
            for key in ('total', 'count', 'epoch_sum', 'epoch_count')
        }
        records['latest'] = torch.full((size, ), float('nan')).double()
        return records

    def scores(self):
        """Per-index ranking score (NaN: never seen unmixed)."""
        records = self._records
        if self.score == 'last':
            return records['latest'].clone()
        return records['total'] / records['count']  # 0 / 0 = NaN

    def _capture(self, module, inputs, output):
        if self._capturing:
            self._logits = output

    # ------------------------------------------------------------ stages
    def before_train(self, runner):
        if not self.enabled:
            return
        if isinstance(runner.train_loop, IterBasedTrainLoop):
            raise TypeError('EfficientExplorationHook works per epoch; use '
                            'an epoch-based train loop')
        dataset = self._dataset(runner)
        self.warmup = self._resolve_warmup(runner)
        if self._records is None or len(
                self._records['latest']) != len(dataset):
            if self._records is not None:
                runner.logger.warning(
                    'EfficientExplorationHook: the checkpoint recorded '
                    f'{len(self._records["latest"])} instances, the dataset '
                    f'has {len(dataset)}: starting fresh records')
                self._plan = None
            self._records = self._new_records(len(dataset))
        if not any(map(self.is_exploring, range(1, runner.max_epochs))):
            runner.logger.warning(
                'EfficientExplorationHook: no exploration epoch falls in the '
                f'schedule (agent_warmup={self.warmup}, explore_epochs='
                f'{self.explore_epochs}, max_epochs={runner.max_epochs})')
        if self.is_exploring(0):
            runner.logger.warning(
                'EfficientExplorationHook: epoch 1 cannot explore (no '
                'entropy recorded yet): it trains on the original images')
        if self.lam_schedule == 'linear' and self.mixed_slot == 'high' and (
                min(self.lam_range) == 1.0):
            runner.logger.warning(
                'EfficientExplorationHook: lam = 1 in the high-quality slots '
                "changes no image; use mixed_slot='partner' to oversample "
                'the high-quality instances without mixing')
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        path = self.logits_module or ('architecture.head.fc' if hasattr(
            model, 'architecture') else 'head.fc')
        try:
            module = model.get_submodule(path)
        except AttributeError as error:
            raise ValueError(
                f'EfficientExplorationHook: no student module {path!r} '
                '(set logits_module to the module that outputs the logits)'
            ) from error
        self._handle = module.register_forward_hook(self._capture)

    def before_train_epoch(self, runner):
        if not self.enabled:
            return
        records = self._records
        records['epoch_sum'].zero_()
        records['epoch_count'].zero_()
        self._pending = []
        plan = None
        if self._plan is not None and self._plan[0] == runner.epoch:
            plan = self._plan[1]
        if plan is not self._served:
            dataset = self._dataset(runner)
            if plan is None:
                dataset.clear_mix_plan()
                runner.logger.info(
                    'Efficient exploration: original images restored')
            else:
                dataset.set_mix_plan(*plan)
                runner.logger.info(
                    f'Efficient exploration: epoch {runner.epoch + 1} serves '
                    f'{len(plan.slots)} mixed instances (entropy ranks '
                    f'{self.high_range} with {self.partner_range}, lam '
                    f'{plan.lam.min():.3f}-{plan.lam.max():.3f})')
            self._served = plan
        num_mixed = 0 if plan is None else len(plan.slots)
        runner.message_hub.update_scalar('train/exploration/num_mixed',
                                         num_mixed)

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if self._records_entropy(runner.epoch):
            self._logits = None
            self._capturing = True

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        if not self._records_entropy(runner.epoch):
            return
        self._capturing = False
        samples = data_batch['data_samples']
        if self._logits is None or len(self._logits) != len(samples):
            raise RuntimeError(
                'EfficientExplorationHook: expected logits for '
                f'{len(samples)} instances from the student module, got '
                f'{None if self._logits is None else len(self._logits)}; '
                'check logits_module')
        index = [s.metainfo['sample_idx'] for s in samples]
        clean = [not s.metainfo.get('exploration_mixed') for s in samples]
        self._pending.append(
            (plans.prediction_entropy(self._logits), index, clean))
        self._logits = None

    def _file_pending(self):
        """File the epoch's pending entropies (one copy to the host)."""
        if not self._pending:
            return
        entropies, indices, clean = zip(*self._pending)
        self._pending = []
        entropy = torch.cat(entropies).cpu().double()
        index = torch.tensor([i for batch in indices for i in batch])
        clean = torch.tensor([c for batch in clean for c in batch])
        self._records['epoch_sum'].index_add_(0, index[clean], entropy[clean])
        self._records['epoch_count'].index_add_(
            0, index[clean], torch.ones(int(clean.sum()), dtype=torch.float64))

    def after_train_epoch(self, runner):
        if not self._records_entropy(runner.epoch):
            return
        self._file_pending()
        records = self._records
        epoch_entropy = plans.reduce_epoch_entropy(records['epoch_sum'],
                                                   records['epoch_count'])
        seen = torch.isfinite(epoch_entropy)
        records['latest'][seen] = epoch_entropy[seen]
        records['total'][seen] += epoch_entropy[seen]
        records['count'][seen] += 1
        next_epoch = runner.epoch + 1
        self._plan = None
        if self.is_exploring(next_epoch):
            plan = plans.build_mix_plan(
                self.scores(),
                self.high_range,
                self.partner_range,
                mixed_slot=self.mixed_slot,
                lam_schedule=self.lam_schedule,
                lam_range=self.lam_range,
                beta_alpha=self.beta_alpha,
                seed=self.seed + next_epoch)
            if len(plan.slots):
                self._plan = (next_epoch, plan)
            else:
                runner.logger.warning(
                    'EfficientExplorationHook: too few instances with an '
                    f'entropy to fill the rank slices; epoch {next_epoch + 1}'
                    ' trains on the original images')

    def after_train(self, runner):
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        if self.enabled and self._served is not None:
            self._dataset(runner).clear_mix_plan()
            self._served = None

    # ------------------------------------------------------- checkpoints
    def before_save_checkpoint(self, runner, checkpoint):
        if not self.enabled or self._records is None:
            return
        self._file_pending()  # a checkpoint in the middle of an epoch
        plan = None
        if self._plan is not None:
            plan = dict(epoch=self._plan[0], **self._plan[1]._asdict())
        checkpoint[STATE_KEY] = dict(
            records={
                k: v.clone()
                for k, v in self._records.items()
            },
            plan=plan)

    def after_load_checkpoint(self, runner, checkpoint):
        if not self.enabled:
            return
        state = checkpoint.get(STATE_KEY)
        if state is None:
            runner.logger.warning(
                'The checkpoint has no efficient-exploration records (saved '
                'without EfficientExplorationHook): starting fresh records.')
            return
        self._records = {k: v.clone() for k, v in state['records'].items()}
        plan = dict(state['plan'] or {})
        epoch = plan.pop('epoch', None)
        self._plan = None if epoch is None else (epoch, plans.MixPlan(**plan))
