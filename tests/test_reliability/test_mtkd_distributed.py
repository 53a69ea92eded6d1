"""MTKD-RL under two processes (torchrun, gloo, CPU): the agents agree.

Each rank weighs the teachers of its own images, so its states, weights and
rewards differ; MTKDAgentHook broadcasts rank 0's policy at the start and
averages the policy's gradients at every step, which keeps the agents (and
their optimizers) bit-identical, while each rank's generator (its Dirichlet
noise) is its own. A small hook, written into the test's
folder, saves each rank's agent at the start and the end of training.
"""
import os
import os.path as osp
import socket

import pytest
import torch

pytestmark = pytest.mark.slow

CONFIG = 'configs/digitpairs/mtkd_rl_resnet56_resnet20_resnet8w4_digitpairs.py'

DUMP_HOOK = '''
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class DumpMTKDAgentPerRank(Hook):
    """Save this rank's MTKD-RL agent before and after training (after
    MTKDAgentHook, registered first with the same priority)."""

    def _save(self, runner, when):
        model = getattr(runner.model, 'module', runner.model)
        torch.save(model.agent.state_dict(),
                   osp.join(runner.work_dir,
                            f'agent_{when}_rank{get_rank()}.pth'))

    def before_train(self, runner):
        self._save(runner, 'start')

    def after_train(self, runner):
        self._save(runner, 'end')
'''


def small_teacher(base_channels):
    return dict(
        _scope_='mmpretrain',
        type='ImageClassifier',
        backbone=dict(
            type='mmrlkd.ResNetCIFAR', depth=8, base_channels=base_channels),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=100,
            in_channels=4 * base_channels,
            loss=dict(type='CrossEntropyLoss')))


def write_config(repo_root, tmp_path):
    """Two small random teachers, 32 images: 2 iterations per rank and
    epoch; the agent acts from the start and learns at each epoch's end."""
    teachers = [small_teacher(8), small_teacher(6)]
    config = tmp_path / 'tiny_mtkd_rl.py'
    config.write_text(f"""
_base_ = [{osp.join(repo_root, CONFIG)!r}]
model = dict(teachers={teachers!r}, teacher_ckpts=None)
train_dataloader = dict(batch_size=8, dataset=dict(num_samples=32))
val_dataloader = dict(batch_size=16, dataset=dict(num_samples=16))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=2)
default_hooks = dict(logger=dict(interval=1))
custom_imports = dict(imports=['dump_mtkd_agent_hook'],
                      allow_failed_imports=False)
custom_hooks = [
    dict(type='mmrlkd.MTKDAgentHook', agent_step=1000, warmup=0),
    dict(type='DumpMTKDAgentPerRank'),
]
""")
    return str(config)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def flat_tensors(state, prefix=''):
    """Every tensor of a nested state dict, by dotted key."""
    found = {}
    if isinstance(state, dict):
        for key, value in state.items():
            found.update(flat_tensors(value, f'{prefix}{key}.'))
    elif isinstance(state, (list, tuple)):
        for index, value in enumerate(state):
            found.update(flat_tensors(value, f'{prefix}{index}.'))
    elif torch.is_tensor(state):
        found[prefix[:-1]] = state
    return found


def test_mtkd_agents_stay_identical_across_two_processes(
        repo_root, tmp_path, run_tool):
    (tmp_path / 'dump_mtkd_agent_hook.py').write_text(DUMP_HOOK)
    config = write_config(repo_root, tmp_path)
    work_dir = tmp_path / 'dist'
    run_tool(
        'bash',
        'tools/dist_train.sh',
        config,
        '2',
        '--work-dir',
        str(work_dir),
        env=dict(
            PYTHON=run_tool.python,
            PORT=str(free_port()),
            OMP_NUM_THREADS='1',
            PYTHONPATH=os.pathsep.join(
                filter(
                    None,
                    [str(tmp_path), repo_root,
                     os.environ.get('PYTHONPATH')]))))

    def load(when, rank):
        return torch.load(
            osp.join(work_dir, f'agent_{when}_rank{rank}.pth'),
            weights_only=False)

    start0, start1 = load('start', 0), load('start', 1)
    end0, end1 = load('end', 0), load('end', 1)
    # Every epoch ends with an update that empties the buffer.
    assert end0['buffer'] == end1['buffer'] == []
    assert end0['dropped'] == end1['dropped']
    start, first, second = map(flat_tensors, (start0, end0, end1))
    assert first.keys() == second.keys()
    # Optimizer tensors (if any: plain SGD has none) are compared below.
    assert end0['optimizer']['param_groups'] == \
        end1['optimizer']['param_groups']
    # Each rank draws from its own generator: the one state that differs.
    assert not torch.equal(first.pop('rng_state'), second.pop('rng_state'))
    for key, value in first.items():
        assert torch.equal(value, second[key]), f'{key} differs across ranks'
    policy = [key for key in first if key.startswith('policy.')]
    assert policy
    assert all(
        torch.equal(start[key],
                    flat_tensors(start1)[key]) for key in policy)
    assert any(not torch.equal(start[key], first[key]) for key in policy)
