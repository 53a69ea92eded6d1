"""Every process's random states in every checkpoint, for exact resume.

MMEngine seeds Python's ``random``, NumPy and torch once, when the Runner is
built, and never saves their states. A resumed run therefore draws the
agent's actions, PPO's minibatches and the data augmentation from a freshly
seeded generator and drifts away from the uninterrupted run. A validation
pass between epochs also consumes random numbers (the val DataLoader draws
its base seed), which a resumed run does not replay. Under several processes
each rank draws its own numbers and keeps its own RL episode, while MMEngine
writes checkpoints from rank 0 alone.
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
# (save, restore) methods of the objects whose state is each process's own:
# random generators, and RL agents, whose pending episode and replay hold
# the rank's own images (the checkpoint's ``rlkd_agent`` is rank 0's).
RNG_METHODS = ('get_rng_state', 'set_rng_state')
AGENT_METHODS = ('agent_state_dict', 'load_agent_state_dict')
# Attributes of the model's modules, searched 3 levels deep (e.g. a
# generator of the provider's agent's policy network).
_SEARCH_DEPTH = 3


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
    try:
        get, load = [getattr(value, name, None) for name in names]
    except Exception:  # an odd __getattr__: not one of ours
        return None
    return (get, load) if callable(get) and callable(load) else None


def find_state_holders(model):
    """The model's objects whose state is this process's own, by name.

    Searched: the model's modules and, three levels deep, their attributes
    (e.g. ``distiller.temperature_provider.agent``, kept out of the module
    tree). Found: objects with ``get_rng_state()``/``set_rng_state(state)``
    and torch ``Generator`` attributes (kind ``'rng'``), objects with
    ``agent_state_dict()``/``load_agent_state_dict(state)`` (kind
    ``'agent'``).

    Args:
        model (nn.Module): The model, unwrapped or in a DDP wrapper.

    Returns:
        dict[str, tuple]: ``name: (kind, get, set)``.
    """
    model = model.module if is_model_wrapper(model) else model
    found, seen = {}, set()
    # Modules of the tree are searched from their own names, at depth 0.
    tree = {id(module) for module in model.modules()}

    def visit(name, value, depth):
        if depth > 0 and id(value) in tree:
            return
        if id(value) in seen or isinstance(
                value, (type, torch.Tensor, str, bytes, int, float)):
            return
        seen.add(id(value))
        if isinstance(value, torch.Generator):
            found[name] = ('rng', value.get_state, value.set_state)
            return
        rng = _methods(value, RNG_METHODS)
        if rng is not None:
            found[name] = ('rng', *rng)
            return  # its generators are covered by its own methods
        agent = _methods(value, AGENT_METHODS)
        if agent is not None:
            found[name] = ('agent', *agent)
        attributes = getattr(value, '__dict__', None)
        if depth < _SEARCH_DEPTH and isinstance(attributes, dict):
            # A module's registered submodules are not among its attributes
            # (they are in ``_modules``): named_modules visits them.
            for attr, child in list(attributes.items()):
                visit(f'{name}.{attr}' if name else attr, child, depth + 1)

    for name, module in model.named_modules():
        visit(name, module, 0)
    return found


def get_process_states(model, per_rank=True):
    """This process's generators (Python, NumPy, torch and the model's own).

    With ``per_rank``, also what rank 0's checkpoint entries miss for this
    rank: its agents' states (``agents``) and the model's buffers
    (``buffers``: BatchNorm statistics, which DDP does not broadcast under
    MMEngine's ``broadcast_buffers=False``). Tensors are copied to the CPU,
    so another rank can unpickle them.
    """
    model = model.module if is_model_wrapper(model) else model
    states = get_random_states()
    for name, (kind, get, _) in find_state_holders(model).items():
        if kind == 'rng' or per_rank:
            states.setdefault(kind + 's', {})[name] = get()
    if per_rank:
        states['buffers'] = dict(model.named_buffers())
    return apply_to(states, torch.is_tensor,
                    lambda tensor: tensor.detach().to('cpu', copy=True))


def set_process_states(model, states):
    """Restore what :func:`get_process_states` returned.

    Returns:
        list[str]: Objects or buffers of the model the states lack (they
        keep theirs) and saved ones the model no longer has (ignored).
    """
    model = model.module if is_model_wrapper(model) else model
    holders = find_state_holders(model)
    unmatched = []
    for kind in ('agent', 'rng'):  # an agent's own generator last
        if kind + 's' not in states and kind == 'agent':
            continue  # rank 0's agent came with its own checkpoint entry
        saved = states.get(kind + 's', {})
        present = {n: h for n, h in holders.items() if h[0] == kind}
        unmatched += sorted(set(saved).symmetric_difference(present))
        for name in sorted(saved.keys() & present.keys()):
            if present[name][2](saved[name]) is False:  # does not fit
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


def _saves_after_iter(hook, runner):
    """CheckpointHook.after_train_iter's condition (MMEngine 0.10.7)."""
    begin = getattr(hook, 'save_begin', 0)
    every = hook.every_n_train_iters(runner, hook.interval, begin)
    last = hook.save_last and hook.is_last_train_iter(runner)
    return not hook.by_epoch and (every or last)


def _saves_after_epoch(hook, runner):
    """CheckpointHook.after_train_epoch's condition (MMEngine 0.10.7)."""
    begin = getattr(hook, 'save_begin', 0)
    every = hook.every_n_epochs(runner, hook.interval, begin)
    last = hook.save_last and hook.is_last_train_epoch(runner)
    return hook.by_epoch and (every or last)


class _GatherBeforeCheckpoint(Hook):
    """Gathers every rank's states just before a CheckpointHook saves.

    Registered by :class:`RandomStateHook` one priority step before the
    earliest CheckpointHook, so every hook of the stage that draws random
    numbers (e.g. the agent's PPO update) has run.
    """

    def __init__(self, owner):
        self.owner = owner

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        hooks = _checkpoint_hooks(runner)
        if any(_saves_after_iter(h, runner) for h in hooks):
            self.owner._gather(runner)

    def after_train_epoch(self, runner):
        hooks = _checkpoint_hooks(runner)
        if any(_saves_after_epoch(h, runner) for h in hooks):
            self.owner._gather(runner)


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Makes a resumed run draw the same random numbers as an unbroken one.

    * Every checkpoint stores the global generators' states (Python
      ``random``, NumPy, torch CPU and CUDA) under ``random_states``, with
      the model's own generators (see :func:`find_state_holders`: objects
      with ``get_rng_state()``/``set_rng_state()``, torch ``Generator``
      attributes), e.g. an agent's.
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

    Where the ranks' states are gathered: MMEngine 0.10.7's
    ``Runner.save_checkpoint`` is ``master_only``, so
    ``before_save_checkpoint`` runs on rank 0 alone and cannot hold a
    collective. A companion hook, registered one priority step before the
    earliest CheckpointHook, asks each CheckpointHook the same question it
    is about to answer (``every_n_epochs``/``every_n_train_iters`` from
    ``save_begin``, ``save_last``) and, when one will save, gathers every
    rank's states with one ``all_gather_object`` (tensors on the CPU). The
    answer depends only on the loop's counters and the hooks' settings, the
    same on every rank, so all ranks enter the collective or none does: it
    cannot deadlock. Running after the other hooks of the stage, it sees the
    states CheckpointHook saves. A best checkpoint (``save_best``) is saved
    during validation with the states of its start, which ``before_val``
    gathers (on every rank, as validation runs on all of them). Rank 0 then
    writes what was gathered for the current step; a checkpoint saved at
    another moment (a custom hook) gets rank 0's states only.

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
        self._loaded = False  # a checkpoint was loaded, not yet restored
        self._resumed_states = None  # from that checkpoint
        self._resumed_per_rank = None
        self._training_states = None  # while a validation pass runs
        self._validation_per_rank = None
        self._gathered = None  # (step, every rank's states) to be saved
        self._companion = None

    def before_run(self, runner):
        checkpoint_hooks = _checkpoint_hooks(runner)
        if self._companion is not None or not checkpoint_hooks:
            return
        priority = min(get_priority(h.priority) for h in checkpoint_hooks)
        self._companion = _GatherBeforeCheckpoint(self)
        # Inserted after this hook, so this round of before_run is intact.
        runner.register_hook(self._companion, priority=max(priority - 1, 0))

    @staticmethod
    def _step(runner):
        return runner.epoch, runner.iter

    def _gather(self, runner):
        if get_world_size() > 1:
            self._gathered = (self._step(runner),
                              all_gather_object(
                                  get_process_states(runner.model)))

    def before_save_checkpoint(self, runner, checkpoint):
        if self._training_states is not None:
            # Inside validation (e.g. a best checkpoint): training's states.
            states, per_rank = self._training_states, \
                self._validation_per_rank
        else:
            states = get_process_states(runner.model, per_rank=False)
            step, per_rank = self._gathered or (None, None)
            if step != self._step(runner):
                per_rank = None
        checkpoint[STATE_KEY] = states
        if per_rank is not None:
            checkpoint[PER_RANK_KEY] = per_rank

    def after_load_checkpoint(self, runner, checkpoint):
        self._loaded = True
        self._resumed_states = checkpoint.get(STATE_KEY)
        self._resumed_per_rank = checkpoint.get(PER_RANK_KEY)

    def _restore_if_resumed(self, runner):
        if not self._loaded:
            return
        states, self._resumed_states = self._resumed_states, None
        per_rank, self._resumed_per_rank = self._resumed_per_rank, None
        self._loaded = False
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
        unmatched = set_process_states(runner.model, states)
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
        if self._training_states is not None:
            return
        self._training_states = get_process_states(
            runner.model, per_rank=False)
        if get_world_size() > 1 and any(
                h.save_best for h in _checkpoint_hooks(runner)):
            self._validation_per_rank = all_gather_object(
                get_process_states(runner.model))

    def after_val(self, runner):
        if self._training_states is not None:
            set_process_states(runner.model, self._training_states)
            self._training_states = None
            self._validation_per_rank = None
