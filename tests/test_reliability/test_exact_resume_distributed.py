"""Two processes (torchrun, gloo, CPU): resumed = never interrupted.

One torchrun launch runs this file on two ranks (one launch: importing the
stack twice per rank would cost more than the training). Each rank trains a
tiny RLKD run 2 epochs straight, saving a checkpoint after each, then
resumes a second run from the first epoch's checkpoint (``resume=True``, as
``--resume CHECKPOINT``) in another work dir and trains the second epoch.
That checkpoint is the one a run interrupted right after epoch 1 would have
left (the run is deterministic up to there), so the second run is the
"crashed and resumed" one. Each rank's model (student, teacher, buffers)
and agent (networks, optimizers, pending episode, replay) and its last
temperatures must be bit-equal to the same rank's in the straight run. The
ranks draw their own random numbers and keep their own episodes and
BatchNorm statistics, so this holds only if each rank gets its own states
back, not rank 0's.
"""
import os
import os.path as osp
import signal
import socket
import subprocess
import sys

import pytest
import torch
from mmengine.hooks import Hook
from reliability_runs import ROOT, assert_identical, tiny_runner

from mmrlkd.engine.hooks.random_state_hook import (find_state_holders,
                                                   get_process_states,
                                                   set_process_states)

RLKD = 'rlkd_resnet56_resnet8w4_digitpairs.py'
TIMEOUT = 120  # seconds for the whole launch; it takes about 40


class OwnGenerator:
    """An agent-like object with its own generator and the protocol."""

    def __init__(self, seed):
        self.generator = torch.Generator().manual_seed(seed)

    def get_rng_state(self):
        return self.generator.get_state()

    def set_rng_state(self, state):
        self.generator.set_state(state)


class Helper(torch.nn.Module):
    """A submodule with its own generator and the protocol."""

    def __init__(self, seed):
        super().__init__()
        self.noise = torch.Generator().manual_seed(seed)

    def get_rng_state(self):
        return self.noise.get_state()

    def set_rng_state(self, state):
        self.noise.set_state(state)


class Provider(torch.nn.Module):
    """Holds an agent outside the module tree, as RLKDTemperature does,
    and exposes its generator by the protocol."""

    def __init__(self):
        super().__init__()
        self.__dict__['agent'] = OwnGenerator(1)
        self.helper = Helper(2)
        self.fc = torch.nn.Linear(2, 2)

    def get_rng_state(self):
        return self.agent.get_rng_state()

    def set_rng_state(self, state):
        self.agent.set_rng_state(state)


def draws(model):
    provider = model[1]
    return (torch.rand(3), torch.rand(3, generator=provider.agent.generator),
            torch.rand(3, generator=provider.helper.noise))


def test_the_models_own_generators_are_saved_and_restored():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), Provider())
    holders = find_state_holders(model)
    assert set(holders['rngs']) == {'1', '1.helper'}
    assert holders['agents'] == {}
    states = get_process_states(model)
    first = draws(model)
    assert set_process_states(model, states) == []
    assert_identical(first, draws(model), 'draws')
    # The global generator and both of the model's moved on independently.
    assert not any(torch.equal(a, b) for a, b in zip(first, draws(model)))
    # A saved object the model lacks, and one of the model's not saved.
    states['rngs']['1.gone'] = states['rngs'].pop('1.helper')
    assert set_process_states(model, states) == ['1.gone', '1.helper']


class EpochStartProbe(Hook):
    """The generators' states (global and the model's) at the start of
    each epoch, after every other hook of the stage."""

    priority = 'LOWEST'

    def __init__(self):
        self.states = {}

    def before_train_epoch(self, runner):
        self.states[runner.epoch] = get_process_states(
            runner.model, per_rank=False)


def final_state(runner):
    provider = runner.model.module.temperature_provider
    return dict(
        model=runner.model.module.state_dict(),
        agent=provider.agent_state_dict(),
        temperatures=runner.recorder.temperatures[-1],
        trained=len(runner.recorder.temperatures),
        iter=runner.iter)


def train_straight_and_resumed(work_dir):
    """What each rank runs under torchrun (see the module docstring)."""
    from mmengine.dist import get_rank

    from mmrlkd.utils import finish_distributed
    options = dict(
        launcher='pytorch',
        agent_warmup=0,
        **{'default_hooks.checkpoint.max_keep_ckpts': -1})
    straight = tiny_runner(RLKD, osp.join(work_dir, 'straight'), **options)
    straight.train()
    checkpoint = osp.join(work_dir, 'straight', 'epoch_1.pth')
    resumed = tiny_runner(
        RLKD,
        osp.join(work_dir, 'resumed'),
        resume=True,
        load_from=checkpoint,
        **options)
    resumed.train()
    torch.save(
        dict(straight=final_state(straight), resumed=final_state(resumed)),
        osp.join(work_dir, f'final_rank{get_rank()}.pth'))
    finish_distributed()


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def torchrun_this_file(work_dir):
    """Both runs on 2 processes; the launch's whole process group is killed
    after TIMEOUT seconds, so a hang fails the test."""
    env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        PYTHONUNBUFFERED='1',
        PYTHONPATH=os.pathsep.join(
            filter(None, [ROOT, os.environ.get('PYTHONPATH')])))
    process = subprocess.Popen([
        sys.executable, '-m', 'torch.distributed.run', '--nnodes=1',
        '--nproc_per_node=2', '--master_addr=127.0.0.1',
        f'--master_port={free_port()}',
        osp.abspath(__file__), work_dir
    ],
                               cwd=ROOT,
                               env=env,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT,
                               text=True,
                               start_new_session=True)
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f'2-process training hung for {TIMEOUT} s\n'
                    f'{output[-6000:]}')
    if process.returncode != 0:
        pytest.fail(f'2-process training exited {process.returncode}\n'
                    f'{output[-12000:]}')
    return output


@pytest.mark.slow
def test_two_process_rlkd_resumes_exactly(tmp_path):
    output = torchrun_this_file(str(tmp_path))
    assert 'Distributed training: True' in output
    runs = [
        torch.load(tmp_path / f'final_rank{rank}.pth', weights_only=False)
        for rank in (0, 1)
    ]
    # 32 images, batch 8, 2 ranks: 2 iterations per epoch; the resumed run
    # trained epoch 2 only.
    assert [run['straight']['trained'] for run in runs] == [4, 4]
    assert [run['resumed']['trained'] for run in runs] == [2, 2]
    assert [run['resumed']['iter'] for run in runs] == [4, 4]
    # The agent learnt in epoch 2, so the equality below is not trivial.
    saved = torch.load(
        tmp_path / 'straight' / 'epoch_1.pth', weights_only=False)
    key = 'actor.0.weight'
    assert not torch.equal(saved['rlkd_agent']['policy'][key],
                           runs[0]['straight']['agent']['policy'][key])

    for rank, run in enumerate(runs):
        for part in ('model', 'agent', 'temperatures'):
            assert_identical(run['straight'][part], run['resumed'][part],
                             f'rank {rank} {part}')
    # The ranks share the student's weights and the agent's networks (DDP,
    # all-reduced agent gradients) and drew different episodes, so restoring
    # rank 0's states on both could not have passed.
    first, second = (run['straight'] for run in runs)
    for name, param in first['model'].items():
        if 'running' not in name:
            assert torch.equal(param, second['model'][name]), name
    assert_identical(first['agent']['policy'], second['agent']['policy'],
                     'policy across ranks')
    assert not torch.equal(first['agent']['pending']['states'],
                           second['agent']['pending']['states'])

    # Resumed on one process: rank 0's states, and a warning.
    single = tiny_runner(
        RLKD,
        tmp_path / 'single',
        resume=True,
        load_from=str(tmp_path / 'straight' / 'epoch_1.pth'),
        agent_warmup=0,
        epochs=2)
    probe = EpochStartProbe()
    single.register_hook(probe)
    single.train()
    assert_identical(saved['random_states'], probe.states[1], 'rank 0')
    with open(osp.join(single.log_dir, f'{single.timestamp}.log')) as f:
        assert 'random states of 2 process(es), this run has 1' in f.read()


if __name__ == '__main__':
    train_straight_and_resumed(sys.argv[1])
