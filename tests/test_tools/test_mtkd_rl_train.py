"""MTKD-RL with two teachers through tools/train.py and --resume, on CPU.

The teachers are small freshly built classifiers saved as checkpoints, the
data 32 DigitPairs images, so one epoch is four iterations.
"""
import json
import os
import os.path as osp

import pytest
import torch
from mmengine.registry import DefaultScope

from mmrlkd.registry import MODELS

pytestmark = pytest.mark.slow

CONFIG = 'configs/digitpairs/mtkd_rl_resnet56_resnet20_resnet8w4_digitpairs.py'


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


def save_teachers(tmp_path):
    teachers, paths = [small_teacher(8), small_teacher(6)], []
    for i, cfg in enumerate(teachers):
        torch.manual_seed(i)
        with DefaultScope.overwrite_default_scope('mmrlkd'):
            model = MODELS.build(cfg)
        paths.append(str(tmp_path / f'teacher{i}.pth'))
        torch.save(dict(state_dict=model.state_dict()), paths[-1])
    return teachers, paths


def write_tiny_config(repo_root, tmp_path):
    teachers, paths = save_teachers(tmp_path)
    config = tmp_path / 'tiny_mtkd_rl.py'
    config.write_text(f"""
_base_ = [{osp.join(repo_root, CONFIG)!r}]
model = dict(teachers={teachers!r}, teacher_ckpts={paths!r})
train_dataloader = dict(batch_size=8, dataset=dict(num_samples=32))
val_dataloader = dict(batch_size=16, dataset=dict(num_samples=32))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=2)
# The saved teachers are untrained: the teacher check would rightly stop.
default_hooks = dict(
    logger=dict(interval=1), teacher_check=dict(enabled=False))
custom_hooks = [dict(type='mmrlkd.MTKDAgentHook', agent_step=2, warmup=1)]
""")
    return str(config), paths


def scalars(work_dir):
    """The JSON lines MMEngine's LocalVisBackend wrote for the latest run."""
    runs = sorted(
        d for d in os.listdir(work_dir)
        if osp.isdir(osp.join(work_dir, d, 'vis_data')))
    path = osp.join(work_dir, runs[-1], 'vis_data', 'scalars.json')
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_two_teachers_train_log_and_resume(repo_root, tmp_path, run_tool):
    config, teacher_paths = write_tiny_config(repo_root, tmp_path)
    work_dir = str(tmp_path / 'work')
    run_tool(run_tool.python, 'tools/train.py', config, '--work-dir', work_dir)

    rows = [row for row in scalars(work_dir) if 'mtkd/w_logit_t0' in row]
    assert [row['iter'] for row in rows] == list(range(1, 9))
    keys = [
        f'mtkd/w_{head}_t{m}' for head in ('logit', 'feat') for m in (0, 1)
    ]
    # Epoch 1 is the warm-up (every weight 1); then distributions.
    assert all(row[k] == 1.0 for row in rows[:4] for k in keys)
    for row in rows[4:]:
        for head in ('logit', 'feat'):
            total = row[f'mtkd/w_{head}_t0'] + row[f'mtkd/w_{head}_t1']
            assert total == pytest.approx(1.0, abs=1e-5)
    assert all('distill.loss_kd' in row and 'distill.loss_feat' in row
               for row in rows)
    assert all(0 <= row['mtkd/reward'] <= 1 for row in rows)
    # Updates after batch 2 of each epoch and at each epoch's end.
    assert [row['mtkd/agent_updates']
            for row in rows] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert all('mtkd/agent_loss' in row for row in rows[2:])

    second = torch.load(osp.join(work_dir, 'epoch_2.pth'), weights_only=False)
    agent = second['mtkd_agent']
    assert agent['updates'] == 4 and agent['buffer'] == []
    # The teachers were loaded and stayed frozen.
    teacher = torch.load(teacher_paths[1], weights_only=False)['state_dict']
    for key, value in teacher.items():
        assert torch.equal(second['state_dict'][f'teachers.1.{key}'], value)

    result = run_tool(run_tool.python, 'tools/train.py', config, '--work-dir',
                      work_dir, '--resume', '--cfg-options',
                      'train_cfg.max_epochs=3')
    assert 'no MTKD-RL agent' not in result.stdout + result.stderr
    resumed = [row for row in scalars(work_dir) if 'mtkd/w_logit_t0' in row]
    assert [row['iter'] for row in resumed] == [9, 10, 11, 12]
    # The update count (and the agent) came back from the checkpoint.
    assert [row['mtkd/agent_updates'] for row in resumed] == [4, 4, 5, 5]
    third = torch.load(osp.join(work_dir, 'epoch_3.pth'), weights_only=False)
    key = 'stem.0.weight'
    assert not torch.equal(agent['policy'][key],
                           third['mtkd_agent']['policy'][key])
