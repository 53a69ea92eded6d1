"""KD and RLKD through tools/train.py, --resume, tools/test.py, dist_train.sh.

The real MMRazor SingleTeacherDistill + ConfigurableDistiller + KLDivergence
(and our RLKDDistill) on two MMPretrain classifiers, on a few DigitPairs
images, on CPU.
"""
import json
import os.path as osp
import pickle
import socket

import pytest
import torch

pytestmark = pytest.mark.slow

KD_CONFIG = 'configs/digitpairs/kd_resnet56_resnet8w4_digitpairs.py'
RLKD_CONFIG = 'configs/digitpairs/rlkd_resnet56_resnet8w4_digitpairs.py'


def write_tiny_config(repo_root, tmp_path, num_train=32, base=KD_CONFIG):
    """A config with a small random teacher and 32 images."""
    config = tmp_path / 'tiny_kd.py'
    config.write_text(f"""
_base_ = [{osp.join(repo_root, base)!r}]
model = dict(teacher=dict(backbone=dict(depth=8)), teacher_ckpt=None)
train_dataloader = dict(batch_size=8, dataset=dict(num_samples={num_train}))
val_dataloader = dict(batch_size=16, dataset=dict(num_samples=32))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=1)
default_hooks = dict(logger=dict(interval=1))
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
""")
    return str(config)


def scalars(work_dir):
    """The JSON lines MMEngine's LocalVisBackend wrote for the latest run."""
    runs = sorted(
        d for d in osp.os.listdir(work_dir)
        if osp.isdir(osp.join(work_dir, d, 'vis_data')))
    path = osp.join(work_dir, runs[-1], 'vis_data', 'scalars.json')
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_train_resume_and_test(repo_root, tmp_path, run_tool):
    config = write_tiny_config(repo_root, tmp_path)
    work_dir = str(tmp_path / 'work')

    run_tool(run_tool.python, 'tools/train.py', config, '--work-dir', work_dir)
    first = torch.load(osp.join(work_dir, 'epoch_1.pth'), weights_only=False)
    assert first['meta']['epoch'] == 1 and first['meta']['iter'] == 4
    logged = scalars(work_dir)
    train_rows = [row for row in logged if 'distill.loss_kl' in row]
    assert len(train_rows) == 4
    assert all(row['distill.loss_kl'] > 0 for row in train_rows)
    assert any('teacher.accuracy/top1' in row for row in logged)

    result = run_tool(run_tool.python, 'tools/train.py', config, '--work-dir',
                      work_dir, '--resume', '--cfg-options',
                      'train_cfg.max_epochs=2')
    assert 'resumed' in (result.stdout + result.stderr).lower()
    second = torch.load(osp.join(work_dir, 'epoch_2.pth'), weights_only=False)
    assert second['meta']['epoch'] == 2 and second['meta']['iter'] == 8
    # Resuming continued from epoch 1: only epoch 2's iterations were run.
    resumed_rows = [
        row for row in scalars(work_dir) if 'distill.loss_kl' in row
    ]
    assert [row['iter'] for row in resumed_rows] == [5, 6, 7, 8]
    # The student went on training from the saved weights.
    key = 'architecture.head.fc.weight'
    assert not torch.equal(first['state_dict'][key], second['state_dict'][key])

    out = str(tmp_path / 'preds.pkl')
    result = run_tool(run_tool.python, 'tools/test.py', config,
                      osp.join(work_dir, 'epoch_2.pth'), '--work-dir',
                      work_dir, '--out', out)
    assert 'accuracy/top1' in result.stdout + result.stderr
    with open(out, 'rb') as f:
        predictions = pickle.load(f)
    assert len(predictions) == 32


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_process_training_on_cpu(repo_root, tmp_path, run_tool):
    config = write_tiny_config(repo_root, tmp_path)
    work_dir = str(tmp_path / 'dist')
    result = run_tool(
        'bash',
        'tools/dist_train.sh',
        config,
        '2',
        '--work-dir',
        work_dir,
        env=dict(
            PYTHON=run_tool.python, PORT=str(free_port()),
            OMP_NUM_THREADS='1'))
    output = result.stdout + result.stderr
    assert 'Distributed training: True' in output
    checkpoint = torch.load(
        osp.join(work_dir, 'epoch_1.pth'), weights_only=False)
    # 32 images split over 2 processes of batch 8: 2 iterations per epoch.
    assert checkpoint['meta']['iter'] == 2


def test_rlkd_trains_its_agent_through_tools(repo_root, tmp_path, run_tool):
    config = write_tiny_config(repo_root, tmp_path, base=RLKD_CONFIG)
    with open(config, 'a') as f:
        f.write("custom_hooks = [dict(type='mmrlkd.RLKDAgentHook', "
                'agent_warmup=0, reward_warmup=1)]\n'
                'val_cfg = dict()\n')
    work_dir = str(tmp_path / 'rlkd')
    run_tool(run_tool.python, 'tools/train.py', config, '--work-dir', work_dir)
    rows = [row for row in scalars(work_dir) if 'distill.loss_kd' in row]
    assert len(rows) == 4
    assert all(0 < row['distill.temperature_min'] <=
               row['distill.temperature_max'] < 10 for row in rows)
    updated = [row for row in rows if 'rl/policy_loss' in row]
    assert [row['iter'] for row in updated] == [2, 3, 4]
    assert all('rl/reward' in row and 'rl/approx_kl' in row for row in updated)
    first = torch.load(osp.join(work_dir, 'epoch_1.pth'), weights_only=False)

    run_tool(run_tool.python, 'tools/train.py', config, '--work-dir', work_dir,
             '--resume', '--cfg-options', 'train_cfg.max_epochs=2')
    second = torch.load(osp.join(work_dir, 'epoch_2.pth'), weights_only=False)
    key = 'actor.0.weight'
    assert not torch.equal(first['rlkd_agent']['policy'][key],
                           second['rlkd_agent']['policy'][key])
    # The episode pending at the checkpoint was rewarded after resuming.
    resumed = [row for row in scalars(work_dir) if 'rl/reward' in row]
    assert [row['iter'] for row in resumed] == [5, 6, 7, 8]
