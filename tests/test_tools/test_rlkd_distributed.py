"""Two processes (torchrun, gloo, CPU): every rank's agent stays identical.

Each rank sees other images, so its states, actions and local performance
differ; only the agreed reward and the all-reduced gradients keep the agents
in lockstep. A small hook, written into the test's folder, saves each rank's
agent at the start and the end of training.
"""
import os
import os.path as osp
import textwrap

import pytest
import torch
from test_train_test_kd import RLKD_CONFIG, free_port, write_tiny_config

pytestmark = pytest.mark.slow

DUMP_HOOK = '''
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class DumpAgentPerRank(Hook):
    """Save this rank's agent before and after training."""

    def _save(self, runner, when):
        model = getattr(runner.model, 'module', runner.model)
        state = model.temperature_provider.agent_state_dict()
        torch.save(state, osp.join(runner.work_dir,
                                   f'agent_{when}_rank{get_rank()}.pth'))

    def before_train(self, runner):
        self._save(runner, 'start')

    def after_train(self, runner):
        self._save(runner, 'end')
'''


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


def test_agents_stay_identical_across_two_processes(repo_root, tmp_path,
                                                    run_tool):
    (tmp_path / 'dump_agent_hook.py').write_text(DUMP_HOOK)
    config = write_tiny_config(repo_root, tmp_path, base=RLKD_CONFIG)
    with open(config, 'a') as f:
        f.write(
            textwrap.dedent("""
            custom_imports = dict(imports=['dump_agent_hook'],
                                  allow_failed_imports=False)
            custom_hooks = [
                dict(type='mmrlkd.RLKDAgentHook', agent_warmup=0,
                     reward_warmup=1),
                dict(type='DumpAgentPerRank'),
            ]
            train_cfg = dict(max_epochs=2)
            val_cfg = dict()
            """))
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
                filter(None, [str(tmp_path), repo_root,
                              os.environ.get('PYTHONPATH')]))))

    def load(when, rank):
        return flat_tensors(
            torch.load(
                osp.join(work_dir, f'agent_{when}_rank{rank}.pth'),
                weights_only=False))

    start, end0, end1 = load('start', 0), load('end', 0), load('end', 1)
    policy_keys = [key for key in end0 if key.startswith('policy.')]
    assert policy_keys and end0.keys() == end1.keys()
    # Networks and optimiser states agree (gradients are averaged over the
    # ranks); the pending episode and the corrector's replay of past
    # episodes are each rank's own images, and each rank explores with its
    # own generator; the state updater's running fit (which only weighs
    # its sparsity term: the averaged gradients keep the networks equal)
    # is measured on each rank's own episodes.
    local = ('pending.', 'reward_corrector.replay.', 'rng_state',
             'state_updater.fit')
    assert not torch.equal(end0['rng_state'], end1['rng_state'])
    shared = [key for key in end0 if not key.startswith(local)]
    for part in ('reward_corrector.', 'state_updater.'):
        assert any(key.startswith(part) for key in shared), part
    for key in shared:
        value = end0[key]
        assert torch.equal(value, end1[key]), f'{key} differs across ranks'
    assert any(not torch.equal(start[key], end0[key]) for key in policy_keys)
    assert torch.equal(start['policy.actor.0.weight'],
                       load('start', 1)['policy.actor.0.weight'])
