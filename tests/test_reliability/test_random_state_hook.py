"""RandomStateHook: saved with checkpoints, restored on resume only, and
validation between epochs leaves training's random numbers alone."""
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import Hook
from reliability_runs import (assert_identical, tiny_runner,
                              train_until_interrupted)

from mmrlkd.engine import RandomStateHook
from mmrlkd.engine.hooks.random_state_hook import (find_state_holders,
                                                   get_random_states)

STUDENT = 'resnet8w4_digitpairs.py'


class StateProbe(Hook):
    """The global generators' states at the end and start of each epoch.

    Priority LOWEST: after every other hook of the stage (the checkpoint
    hook included), so they are the states training continues with.
    """

    priority = 'LOWEST'

    def __init__(self):
        self.states = {}

    def after_train_epoch(self, runner):
        self.states['end', runner.epoch] = get_random_states()

    def before_train_epoch(self, runner):
        self.states['start', runner.epoch] = get_random_states()


def probed_runner(work_dir, **options):
    runner = tiny_runner(STUDENT, work_dir, **options)
    runner.probe = StateProbe()
    runner.register_hook(runner.probe)
    return runner


def test_runtime_configs_register_it_as_a_default_hook(tmp_path):
    runner = tiny_runner(STUDENT, tmp_path, custom_hooks=[])
    assert sum(isinstance(h, RandomStateHook) for h in runner.hooks) == 1


def test_checkpoint_holds_the_states_that_resume_restores(tmp_path):
    first = probed_runner(tmp_path)
    train_until_interrupted(first, epoch=1)
    saved = torch.load(
        osp.join(tmp_path, 'epoch_1.pth'), weights_only=False)['random_states']
    assert_identical(first.probe.states['end', 0], saved, 'saved')

    resumed = probed_runner(tmp_path, resume=True)
    resumed.train()
    assert_identical(saved, resumed.probe.states['start', 1], 'restored')


def test_load_from_starts_from_the_fresh_seed(tmp_path):
    train_until_interrupted(probed_runner(tmp_path / 'first'), epoch=1)
    checkpoint = str(tmp_path / 'first' / 'epoch_1.pth')
    saved = torch.load(checkpoint, weights_only=False)['random_states']
    fresh = probed_runner(tmp_path / 'fresh', epochs=1)
    fresh.train()
    loaded = probed_runner(tmp_path / 'loaded', epochs=1, load_from=checkpoint)
    loaded.train()
    assert_identical(fresh.probe.states['start', 0],
                     loaded.probe.states['start', 0], 'load_from')
    assert not torch.equal(saved['torch'], loaded.probe.states['start',
                                                               0]['torch'])


def test_resuming_a_checkpoint_without_states_warns(tmp_path):
    train_until_interrupted(
        probed_runner(tmp_path, random_state_hook=False), epoch=1)
    resumed = probed_runner(tmp_path, resume=True)
    resumed.train()
    log = osp.join(resumed.log_dir, f'{resumed.timestamp}.log')
    with open(log) as f:
        assert 'the checkpoint has no random states' in f.read()


@pytest.mark.parametrize('with_hook', [True, False])
def test_validation_does_not_shift_training_randomness(tmp_path, with_hook):
    runner = probed_runner(tmp_path, random_state_hook=with_hook)
    runner.train()
    end, start = runner.probe.states['end', 0], runner.probe.states['start', 1]
    # Validation ran in between; without the hook its DataLoader's draw
    # shows (the control that this test can fail).
    assert torch.equal(end['torch'], start['torch']) == with_hook
    if with_hook:
        assert_identical(end, start, 'states around validation')


def own_noise(seed):
    """An object with its own generator and the protocol."""
    generator = torch.Generator().manual_seed(seed)
    return SimpleNamespace(
        generator=generator,
        get_rng_state=generator.get_state,
        set_rng_state=generator.set_state)


class Loud:
    """Answers any attribute with a RuntimeError (a bug, not "absent")."""

    def __getattr__(self, name):
        raise RuntimeError(name)


def test_holders_are_found_by_the_protocol_not_by_attributes():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    model.__dict__['hidden'] = own_noise(0)  # outside the module tree
    noise = own_noise(1)
    holders = find_state_holders(model, dict(sampler=noise, again=noise))
    assert set(holders['rngs']) == {'sampler'}  # once, at its first name
    assert holders['agents'] == {}
    with pytest.raises(RuntimeError):
        find_state_holders(model, dict(loud=Loud()))


class SamplerDraws(Hook):
    """Draws from the training sampler's own generator at each epoch's
    start, after the RandomStateHook has restored it."""

    priority = 'LOWEST'

    def __init__(self):
        self.draws = {}

    def before_train_epoch(self, runner):
        generator = runner.train_dataloader.sampler.generator
        self.draws[runner.epoch] = torch.rand(3, generator=generator)


def sampler_runner(work_dir, **options):
    runner = tiny_runner(STUDENT, work_dir, **options)
    sampler = runner.train_dataloader.sampler
    vars(sampler).update(vars(own_noise(5)))
    runner.sampler_draws = SamplerDraws()
    runner.register_hook(runner.sampler_draws)
    return runner


def test_the_training_samplers_own_generator_resumes(tmp_path):
    straight = sampler_runner(tmp_path / 'straight')
    straight.train()
    train_until_interrupted(sampler_runner(tmp_path / 'resumed'), epoch=1)
    saved = torch.load(
        tmp_path / 'resumed' / 'epoch_1.pth',
        weights_only=False)['random_states']
    assert set(saved['rngs']) == {'train_dataloader.sampler'}
    resumed = sampler_runner(tmp_path / 'resumed', resume=True)
    resumed.train()
    first, second = straight.sampler_draws.draws.values()
    assert not torch.equal(first, second)  # a fresh generator would repeat
    assert torch.equal(resumed.sampler_draws.draws[1], second)
