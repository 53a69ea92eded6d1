"""Every process's random states in every checkpoint, for exact resume.

MMEngine seeds Python's ``random``, NumPy and torch once, when the Runner is
built, and never saves their states: a resumed run draws the agent's
actions, PPO's minibatches and the data augmentation from a fresh seed, and
does not replay what a validation pass drew. Under several processes each
rank draws its own numbers, while MMEngine writes checkpoints from rank 0.
"""
import random

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import CheckpointHook, Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop, get_priority
from mmengine.utils import apply_to

from mmrlkd.registry import HOOKS

STATE_KEY = 'random_states'
PER_RANK_KEY = 'random_states_per_rank'
# The protocol of the objects whose state is each process's own (save,
# restore): random generators, and RL agents, whose pending episode and
# replay hold the rank's own images (the checkpoint's ``rlkd_agent`` is
# rank 0's).
RNG_METHODS = ('get_rng_state', 'set_rng_state')
AGENT_METHODS = ('agent_state_dict', 'load_agent_state_dict')
# The training DataLoader's attributes (torch's public ones) that may hold
# a generator of their own.
DATA_ATTRIBUTES = ('dataset', 'sampler', 'batch_sampler')


def get_random_states():
    """Python, NumPy, torch CPU (and CUDA, if in use) generator states."""
    states = dict(
        python=random.getstate(),
        numpy=np.random.get_state(),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states['torch_cuda'] = torch.cuda.get_rng_state_all()
    return states


def set_random_states(states):
    """Restore what :func:`get_random_states` returned."""
    random.setstate(states['python'])
    np.random.set_state(states['numpy'])
    torch.set_rng_state(states['torch'])
    cuda = states.get('torch_cuda')
    if cuda is not None and torch.cuda.is_available() and len(
            cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def _methods(value, names):
    """``value``'s (save, restore) methods of the protocol ``names``, or
    None (``getattr`` swallows only AttributeError: other errors show)."""
    get, load = (getattr(value, name, None) for name in names)
    return (get, load) if callable(get) and callable(load) else None


def train_data_objects(runner):
    """The training DataLoader's dataset, sampler and batch sampler, by
    name (``train_dataloader.<attribute>``); empty without a train loop.

    Read through the Runner's public ``train_loop`` (built by
    ``Runner.train`` before any hook runs) and torch DataLoader's public
    attributes.
    """
    loop = runner.train_loop
    loader = getattr(loop, 'dataloader', None)
    objects = {}
    for attribute in DATA_ATTRIBUTES:
        value = getattr(loader, attribute, None)
        if value is not None:
            objects[f'train_dataloader.{attribute}'] = value
    return objects


def find_state_holders(model, others=None):
    """The objects whose state is this process's own, by kind and name.

    Found by a documented protocol, not by searching attributes: among the
    model's modules (``named_modules``) and ``others`` (e.g.
    :func:`train_data_objects`), those that define

    - ``get_rng_state()`` and ``set_rng_state(state)`` (``'rngs'``): their
      own random generators. ``set_rng_state`` may return False when the
      state does not fit (e.g. saved on another device);
    - ``agent_state_dict()`` and ``load_agent_state_dict(state)``
      (``'agents'``): an RL agent whose episode and replay are the rank's
      own.

    A module that holds such an object outside the module tree (as
    :class:`RLKDTemperature` holds its agent) defines the methods itself,
    delegating to it. An object listed twice is taken at its first name.

    Args:
        model (nn.Module): The model, unwrapped or in a DDP wrapper.
        others (dict[str, object], optional): More candidates, by name.
            Defaults to None.

    Returns:
        dict[str, dict[str, tuple]]: ``{'rngs': {name: (get, set)},
        'agents': {name: (get, set)}}``.
    """
    model = model.module if is_model_wrapper(model) else model
    candidates = list(model.named_modules()) + list((others or {}).items())
    found = dict(rngs={}, agents={})
    seen = set()
    for name, value in candidates:
        if id(value) in seen:
            continue
        seen.add(id(value))
        for kind, names in (('rngs', RNG_METHODS), ('agents', AGENT_METHODS)):
            methods = _methods(value, names)
            if methods is not None:
                found[kind][name] = methods
    return found


def get_process_states(model, per_rank=True, others=None):
    """This process's generators (Python, NumPy, torch and the objects'
    own, see :func:`find_state_holders`).

    With ``per_rank``, also what rank 0's checkpoint entries miss for this
    rank: its agents' states (``agents``) and the model's buffers
    (``buffers``: BatchNorm statistics, which DDP does not broadcast under
    MMEngine's ``broadcast_buffers=False``). Tensors are copied to the CPU,
    so another rank can unpickle them.
    """
    model = model.module if is_model_wrapper(model) else model
    holders = find_state_holders(model, others)
    states = get_random_states()
    for kind in ('rngs', 'agents') if per_rank else ('rngs', ):
        if holders[kind]:
            states[kind] = {
                name: get()
                for name, (get, _) in holders[kind].items()
            }
    if per_rank:
        states['buffers'] = dict(model.named_buffers())
    return apply_to(states, torch.is_tensor,
                    lambda tensor: tensor.detach().to('cpu', copy=True))


def set_process_states(model, states, others=None):
    """Restore what :func:`get_process_states` returned.

    Returns:
        list[str]: Objects or buffers the states lack (they keep theirs),
        saved ones no longer present (ignored) and states that did not fit.
    """
    model = model.module if is_model_wrapper(model) else model
    holders = find_state_holders(model, others)
    unmatched = []
    for kind in ('agents', 'rngs'):  # an agent's own generator last
        if kind == 'agents' and kind not in states:
            continue  # rank 0's agent came with its own checkpoint entry
        saved, present = states.get(kind, {}), holders[kind]
        unmatched += sorted(set(saved).symmetric_difference(present))
        for name in sorted(saved.keys() & present.keys()):
            if present[name][1](saved[name]) is False:  # does not fit
                unmatched.append(name)
    if 'buffers' in states:
        saved, present = states['buffers'], dict(model.named_buffers())
        unmatched += sorted(set(saved).symmetric_difference(present))
        with torch.no_grad():
            for name in saved.keys() & present.keys():
                present[name].copy_(saved[name])
    set_random_states(states)
    return unmatched


def _checkpoint_hooks(runner):
    return [h for h in runner.hooks if isinstance(h, CheckpointHook)]


def _will_save(hook, runner, by_epoch):
    """Whether ``hook`` saves at the end of this iteration (``by_epoch``
    False) or epoch: CheckpointHook's ``after_train_iter`` and
    ``after_train_epoch`` conditions (MMEngine 0.10.7), through its public
    attributes and Hook's public helpers. MMEngine has no public "will
    save" query; :class:`RandomStateHook` says why the ranks must know.
    """
    if hook.by_epoch != by_epoch:
        return False
    if by_epoch:
        every = hook.every_n_epochs(runner, hook.interval, hook.save_begin)
        last = hook.is_last_train_epoch(runner)
    else:
        every = hook.every_n_train_iters(runner, hook.interval,
                                         hook.save_begin)
        last = hook.is_last_train_iter(runner)
    return every or (hook.save_last and last)


class _GatherBeforeCheckpoint(Hook):
    """Gathers every rank's states just before a CheckpointHook saves
    (registered by :class:`RandomStateHook`)."""

    def __init__(self, owner):
        self.owner = owner

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        self._gather_if_saving(runner, by_epoch=False)

    def after_train_epoch(self, runner):
        self._gather_if_saving(runner, by_epoch=True)

    def _gather_if_saving(self, runner, by_epoch):
        hooks = _checkpoint_hooks(runner)
        if any(_will_save(hook, runner, by_epoch) for hook in hooks):
            self.owner._gather(runner)


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Makes a resumed run draw the same random numbers as an unbroken one.

    * Every checkpoint stores the global generators' states (Python
      ``random``, NumPy, torch CPU and CUDA) under ``random_states``, with
      the own generators of the model's modules and of the training
      DataLoader's dataset, sampler and batch sampler that define
      ``get_rng_state()``/``set_rng_state(state)`` (the protocol of
      :func:`find_state_holders`), taken in ``before_save_checkpoint``:
      exactly when MMEngine saves.
    * Under several processes it also stores every rank's states under
      ``random_states_per_rank``, each with the rank's RL agent
      (``agent_state_dict()``: its pending episode and replay are the rank's
      own images; ``rlkd_agent`` holds rank 0's) and the model's buffers
      (BatchNorm statistics: MMEngine's DDP does not broadcast them, and
      the checkpoint's ``state_dict`` holds rank 0's).
    * On resume (``resume=True``/``--resume``, not ``load_from``) each rank
      restores its own states just before training continues: before the
      first epoch's DataLoader starts, or before the first iteration of an
      iteration-based loop (after MMEngine has skipped the trained batches).
    * A validation pass runs between a saved snapshot and a restore of the
      states, so it does not shift the training's draws: with or without a
      val loop between epochs (an unbroken run, or a resumed one that did
      not validate), training sees the same random numbers.

    Where the ranks' states are gathered: ``before_save_checkpoint`` runs
    on rank 0 alone (``Runner.save_checkpoint`` is ``master_only``) and
    cannot hold a collective, and MMEngine tells no rank beforehand that a
    checkpoint is coming. A companion hook, registered one priority step
    before the earliest CheckpointHook, therefore asks each CheckpointHook's
    public settings whether it will save at this step (:func:`_will_save`)
    and, when one will, gathers every rank's states with one
    ``all_gather_object`` (tensors on the CPU). The answer depends only on
    the loop's counters and the hooks' settings, the same on every rank,
    so all ranks enter the collective or none does: it cannot deadlock.
    Running after the other hooks of the stage, it sees the states
    CheckpointHook saves. A best checkpoint (``save_best``) is saved during
    validation with the states of its start, which ``before_val`` gathers
    (on every rank, as validation runs on all of them). Rank 0 writes what
    was gathered for the current step; a checkpoint saved at another moment
    (a custom hook) holds rank 0's states only, with a warning.

    With ``randomness=dict(seed=..., deterministic=True)`` a run resumed
    from an epoch checkpoint of an epoch-based loop, or from an iteration
    checkpoint of an iteration-based loop whose data come from worker
    processes, is then bit-equal on the CPU to the run that was never
    interrupted, on one process
    (tests/test_reliability/test_exact_resume.py) and on two
    (test_exact_resume_distributed.py): the DefaultSampler shuffles each
    epoch from ``seed + epoch``, and the iteration-based loop skips the
    trained batches of each rank's shard. Limits: an iteration-based loop
    that reads its data in the main process (``num_workers=0``) replays the
    trained batches' augmentation with the main process's generators, and
    is not bit-equal; MMEngine's epoch-based loop restarts an epoch
    interrupted mid-way from its first batch.

    Resumed with another number of processes than it was saved with (or
    from a checkpoint with rank 0's states only), rank 0 restores rank 0's
    states and the other ranks continue from their fresh seeds, with a
    warning. The data are sharded differently then, so the run cannot be
    exact anyway; rank 0 keeps what a one-process checkpoint means, and
    handing one rank's states to several would make them draw the same
    numbers.

    Our runtime base configs register it as ``default_hooks.random_state``,
    so configs that replace ``custom_hooks`` keep it. MMEngine drops only its
    own default hooks when they are set to None; to go without this one,
    remove the key (``cfg.default_hooks.pop('random_state')``).

    Note:
        Priority HIGHEST: it restores before any other hook of the stage
        draws a random number, and snapshots before validation starts.
    """

    priority = 'HIGHEST'

    def __init__(self):
        # (states, every rank's states) of a checkpoint loaded, not yet
        # restored; of training, while a validation pass runs.
        self._resumed = None
        self._validating = None
        self._gathered = None  # (step, every rank's states) to be saved
        self._companion = None
        self._others = {}  # the training data's objects, by name

    def before_run(self, runner):
        checkpoint_hooks = _checkpoint_hooks(runner)
        if self._companion is not None or not checkpoint_hooks:
            return
        priority = min(get_priority(h.priority) for h in checkpoint_hooks)
        self._companion = _GatherBeforeCheckpoint(self)
        # Inserted after this hook, so this round of before_run is intact.
        runner.register_hook(self._companion, priority=max(priority - 1, 0))

    def before_train(self, runner):
        self._others = train_data_objects(runner)

    def _states(self, runner, per_rank):
        return get_process_states(runner.model, per_rank, self._others)

    def _gather(self, runner):
        if get_world_size() > 1:
            self._gathered = ((runner.epoch, runner.iter),
                              all_gather_object(self._states(runner, True)))

    def before_save_checkpoint(self, runner, checkpoint):
        if self._validating is not None:
            # Inside validation (e.g. a best checkpoint): training's states.
            states, per_rank = self._validating
        else:
            states = self._states(runner, per_rank=False)
            step, per_rank = self._gathered or (None, None)
            if step != (runner.epoch, runner.iter):
                per_rank = None
        if per_rank is None and get_world_size() > 1:
            runner.logger.warning(
                'RandomStateHook: the ranks\' states were not gathered for '
                'this checkpoint (saved by another hook, or CheckpointHook\'s '
                'conditions changed): it holds rank 0\'s states only')
        checkpoint[STATE_KEY] = states
        if per_rank is not None:
            checkpoint[PER_RANK_KEY] = per_rank

    def after_load_checkpoint(self, runner, checkpoint):
        self._resumed = (checkpoint.get(STATE_KEY),
                         checkpoint.get(PER_RANK_KEY))

    def _restore_if_resumed(self, runner):
        if self._resumed is None:
            return
        (states, per_rank), self._resumed = self._resumed, None
        # Only a resume restores the loop's counters; load_from starts at 0.
        if runner.iter == 0:
            return
        if states is None:
            runner.logger.warning(
                'RandomStateHook: the checkpoint has no random states (saved '
                'without this hook): the resumed run draws from a fresh seed')
            return
        world_size, rank = get_world_size(), get_rank()
        if per_rank is not None and len(per_rank) == world_size:
            states = per_rank[rank]
        elif per_rank is not None or world_size > 1:
            saved = len(per_rank) if per_rank is not None else 1
            runner.logger.warning(
                f'RandomStateHook: the checkpoint holds the random states of '
                f'{saved} process(es), this run has {world_size}: rank 0 '
                'continues with rank 0\'s states, the other ranks from their '
                'fresh seed (not the unbroken run)')
            if rank > 0:
                return
        unmatched = set_process_states(runner.model, states, self._others)
        if unmatched:
            runner.logger.warning(
                'RandomStateHook: saved states and the model\'s objects '
                f'differ for {", ".join(unmatched)}: those keep their '
                'current state')

    def before_train_epoch(self, runner):
        self._gathered = None
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            self._restore_if_resumed(runner)

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self._gathered = None
        self._restore_if_resumed(runner)

    def before_val(self, runner):
        if self._validating is not None:
            return
        states, per_rank = self._states(runner, per_rank=False), None
        if get_world_size() > 1 and any(
                h.save_best for h in _checkpoint_hooks(runner)):
            per_rank = all_gather_object(self._states(runner, per_rank=True))
        self._validating = (states, per_rank)

    def after_val(self, runner):
        if self._validating is not None:
            set_process_states(runner.model, self._validating[0], self._others)
            self._validating = None
