"""Tiny deterministic DigitPairs runs, and states compared bit for bit."""
import itertools
import math
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from mmrlkd.utils import prepare_distributed, register_all_modules

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DIGITPAIRS = osp.join(ROOT, 'configs', 'digitpairs')
EXPLORATION = osp.join(ROOT,
                       'configs/_base_/exploration/efficient_exploration.py')
_names = itertools.count()


class TemperatureRecorder(Hook):
    """Keeps the provider's (teacher, student) temperatures of every
    training iteration."""

    def __init__(self):
        self.temperatures = []

    def before_train(self, runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        model.temperature_provider.register_forward_hook(self._record)

    def _record(self, module, inputs, output):
        if module.training:
            self.temperatures.append((output.teacher.detach().clone(),
                                      output.student.detach().clone()))


class Interrupt(Exception):
    """Raised by :class:`InterruptAfter`: the run "crashes"."""


class InterruptAfter(Hook):
    """Stops the run right after the checkpoint of ``epoch`` or
    ``iteration`` (1-based) is saved.

    Priority LOWEST: after the checkpoint hook of the same stage.
    """

    priority = 'LOWEST'

    def __init__(self, epoch=None, iteration=None):
        self.epoch = epoch
        self.iteration = iteration

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.iteration:
            raise Interrupt

    def after_train_epoch(self, runner):
        if runner.epoch + 1 == self.epoch:
            raise Interrupt


def tiny_runner(config,
                work_dir,
                epochs=2,
                seed=0,
                agent_warmup=0,
                random_state_hook=True,
                max_iters=None,
                **options):
    """4 iterations of 8 images per epoch, validation on 16 images.

    Deterministic (``randomness=dict(seed=seed, deterministic=True)``); the
    RLKD agent acts from ``agent_warmup`` on. ``runner.recorder`` has the
    temperatures of every iteration when the model has a provider.
    ``random_state_hook=False`` drops the runtime's RandomStateHook.
    ``max_iters`` switches to an iteration-based loop that validates and
    saves every ``max_iters // 2`` iterations and reads its data in a
    worker process. ``launcher='pytorch'`` trains on every process of a
    torchrun launch (gloo on the CPU).
    """
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(
        config if osp.isabs(config) else osp.join(DIGITPAIRS, config))
    cfg.merge_from_dict({
        'train_dataloader.batch_size': 8,
        'train_cfg.max_epochs': epochs,
        'val_dataloader.dataset.num_samples': 16,
        'default_hooks.logger.interval': 1,
        'randomness': dict(seed=seed, deterministic=True),
        **options
    })
    if not random_state_hook:
        cfg.default_hooks.pop('random_state')
    dataset = cfg.train_dataloader.dataset
    while 'dataset' in dataset:  # inside e.g. EfficientExplorationDataset
        dataset = dataset.dataset
    dataset.num_samples = 32
    if 'teacher' in cfg.model:
        cfg.model.teacher.backbone.depth = 8
        cfg.model.teacher_ckpt = None
    for hook in cfg.get('custom_hooks', []):
        if hook.type == 'mmrlkd.RLKDAgentHook':
            hook.agent_warmup = agent_warmup
            hook.by_epoch = max_iters is None
    if max_iters is not None:
        half = max_iters // 2
        cfg.train_cfg = dict(
            type='IterBasedTrainLoop', max_iters=max_iters, val_interval=half)
        cfg.param_scheduler = [
            dict(type='CosineAnnealingLR', T_max=max_iters, by_epoch=False)
        ]
        cfg.default_hooks.checkpoint.update(by_epoch=False, interval=half)
        cfg.log_processor = dict(by_epoch=False)
        cfg.train_dataloader.update(
            num_workers=1, sampler=dict(type='InfiniteSampler', shuffle=True))
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = f'reliability_{next(_names)}'
    prepare_distributed(cfg)  # launcher='pytorch' under torchrun, on CPU
    runner = Runner.from_cfg(cfg)
    if 'teacher' in cfg.model:
        runner.recorder = TemperatureRecorder()
        runner.register_hook(runner.recorder)
    return runner


def train_until_interrupted(runner, epoch=None, iteration=None):
    """Train; the run "crashes" right after a checkpoint."""
    runner.register_hook(InterruptAfter(epoch, iteration))
    with pytest.raises(Interrupt):
        runner.train()


def stop_data_workers(runner):
    """Shut an iteration-based loop's worker down now; left to the garbage
    collector, it stalls a later test for seconds."""
    iterator = getattr(runner.train_loop, 'dataloader_iterator', None)
    workers = getattr(iterator, '_iterator', None)
    if hasattr(workers, '_shutdown_workers'):
        workers._shutdown_workers()


def assert_identical(expected, got, where='state'):
    """Nested dicts / lists / tensors / arrays / numbers are bit-equal.

    Tensors must agree in dtype, shape and every value, NaNs at the same
    places (NaN marks e.g. instances without an entropy record).
    """
    if torch.is_tensor(expected):
        assert torch.is_tensor(got), where
        assert (expected.dtype, expected.shape) == (got.dtype,
                                                    got.shape), where
        if expected.is_floating_point():
            assert torch.equal(expected.isnan(), got.isnan()), where
            expected, got = expected.nan_to_num(0.0), got.nan_to_num(0.0)
        assert torch.equal(expected, got), where
    elif isinstance(expected, np.ndarray):
        assert np.array_equal(expected, got, equal_nan=True), where
    elif isinstance(expected, dict):
        assert expected.keys() == got.keys(), where
        for key in expected:
            assert_identical(expected[key], got[key], f'{where}.{key}')
    elif isinstance(expected, (list, tuple)):
        assert len(expected) == len(got), where
        for index, (a, b) in enumerate(zip(expected, got)):
            assert_identical(a, b, f'{where}[{index}]')
    elif isinstance(expected, float) and math.isnan(expected):
        assert isinstance(got, float) and math.isnan(got), where
    else:
        assert expected == got, where
