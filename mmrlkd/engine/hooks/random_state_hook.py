"""Saves the global random generators with every checkpoint (exact resume).

MMEngine seeds Python's ``random``, NumPy and torch once, when the Runner is
built, and never saves their states. A resumed run therefore draws the
agent's actions, PPO's minibatches and the data augmentation from a freshly
seeded generator and drifts away from the uninterrupted run. A validation
pass between epochs also consumes random numbers (the val DataLoader draws
its base seed), which a resumed run does not replay.
"""
import random

import numpy as np
import torch
from mmengine.dist import get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop

from mmrlkd.registry import HOOKS

STATE_KEY = 'random_states'


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


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Makes a resumed run draw the same random numbers as an unbroken one.

    * Every checkpoint stores the global generators' states (Python
      ``random``, NumPy, torch CPU and CUDA) under ``random_states``.
    * On resume (``resume=True``/``--resume``, not ``load_from``) they are
      restored just before training continues: before the first epoch's
      DataLoader starts, or before the first iteration of an
      iteration-based loop (after MMEngine has skipped the trained batches).
    * A validation pass runs between a saved snapshot and a restore of the
      states, so it does not shift the training's draws: with or without a
      val loop between epochs (an unbroken run, or a resumed one that did
      not validate), training sees the same random numbers.

    With ``randomness=dict(seed=..., deterministic=True)`` a run on one
    process resumed from an epoch checkpoint of an epoch-based loop, or from
    an iteration checkpoint of an iteration-based loop whose data come from
    worker processes, is then bit-equal on the CPU to the run that was never
    interrupted (tests/test_reliability/test_exact_resume.py). Limits:
    MMEngine saves on rank 0 only, so under several processes only rank 0
    gets its states back (the others keep their fresh seed; a warning says
    so); an iteration-based loop that reads its data in the main process
    (``num_workers=0``) replays the trained batches' augmentation with the
    main process's generators, and is not bit-equal.

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
        self._training_states = None  # while a validation pass runs

    def before_save_checkpoint(self, runner, checkpoint):
        # Inside validation (e.g. a best checkpoint), save training's states.
        states = self._training_states or get_random_states()
        checkpoint[STATE_KEY] = states

    def after_load_checkpoint(self, runner, checkpoint):
        self._loaded = True
        self._resumed_states = checkpoint.get(STATE_KEY)

    def _restore_if_resumed(self, runner):
        if not self._loaded:
            return
        states, self._resumed_states = self._resumed_states, None
        self._loaded = False
        # Only a resume restores the loop's counters; load_from starts at 0.
        if runner.iter == 0:
            return
        if states is None:
            runner.logger.warning(
                'RandomStateHook: the checkpoint has no random states (saved '
                'without this hook): the resumed run draws from a fresh seed')
            return
        if get_world_size() > 1 and get_rank() > 0:
            runner.logger.warning(
                'RandomStateHook: the checkpoint holds the random states of '
                'rank 0 only; this rank continues from its fresh seed')
            return
        set_random_states(states)

    def before_train_epoch(self, runner):
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            self._restore_if_resumed(runner)

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self._restore_if_resumed(runner)

    def before_val(self, runner):
        if self._training_states is None:
            self._training_states = get_random_states()

    def after_val(self, runner):
        if self._training_states is not None:
            set_random_states(self._training_states)
            self._training_states = None
