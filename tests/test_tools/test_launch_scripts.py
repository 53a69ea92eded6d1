"""dist_*.sh and slurm_*.sh: free ports, the venv's python, Slurm sizes.

torchrun launches are checked in the scripts' MMRLKD_DRY_RUN=1 mode, which
prints the command; Slurm launches run the scripts for real against a stub
``srun`` on PATH that prints its arguments and MASTER_PORT.
"""
import os
import os.path as osp
import shlex
import subprocess
from argparse import Namespace

import pytest

from mmrlkd.utils import load_config

LAUNCH_VARS = ('PORT', 'PYTHON', 'MMRLKD_VENV', 'GPUS', 'GPUS_PER_NODE',
               'NNODES', 'SRUN_ARGS', 'MMRLKD_DRY_RUN', 'MASTER_PORT')


def run_script(repo_root, script, *args, **env):
    full_env = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARS}
    full_env.update(env)
    result = subprocess.run(
        ['bash', osp.join(repo_root, 'tools', script), *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def dry_run(repo_root, *args, **env):
    out = run_script(
        repo_root,
        'dist_train.sh',
        'cfg.py',
        '2',
        *args,
        MMRLKD_DRY_RUN='1',
        **env)
    return shlex.split(out)


def option(argv, name):
    values = [a.split('=', 1)[1] for a in argv if a.startswith(name + '=')]
    assert len(values) == 1, argv
    return values[0]


def test_torchrun_port_is_free_and_new_each_launch(repo_root):
    ports = {
        int(option(dry_run(repo_root), '--master_port'))
        for _ in range(3)
    }
    assert len(ports) == 3
    assert all(1024 < port < 65536 for port in ports)
    assert option(dry_run(repo_root, PORT='29611'), '--master_port') == \
        '29611'
    # Several nodes must agree on a port: the fixed default, or PORT.
    assert option(dry_run(repo_root, NNODES='2'), '--master_port') == '29500'


def test_torchrun_uses_the_venv_python(repo_root, tmp_path):
    argv = dry_run(repo_root, '--amp')
    venv_python = osp.join(repo_root, '.venv', 'bin', 'python')
    expected = venv_python if os.access(venv_python, os.X_OK) else 'python'
    assert argv[2:5] == [expected, '-m', 'torch.distributed.run']
    assert argv[-5:] == [
        osp.join(repo_root, 'tools', 'train.py'), 'cfg.py', '--amp',
        '--launcher', 'pytorch'
    ]
    other = tmp_path / 'venv'
    (other / 'bin').mkdir(parents=True)
    os.symlink('/bin/true', other / 'bin' / 'python')
    argv = dry_run(repo_root, MMRLKD_VENV=str(other))
    assert argv[2] == str(other / 'bin' / 'python')
    assert option(argv, '--master_port').isdigit()
    assert dry_run(repo_root, PYTHON='/opt/py/bin/python3')[2] == \
        '/opt/py/bin/python3'


@pytest.fixture
def srun_stub(tmp_path):
    """A stand-in for Slurm's srun: prints MASTER_PORT and its arguments."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    stub = bin_dir / 'srun'
    stub.write_text('#!/bin/sh\necho "MASTER_PORT=$MASTER_PORT"\n'
                    'for a in "$@"; do echo "$a"; done\n')
    stub.chmod(0o755)
    return f'{bin_dir}:{os.environ["PATH"]}'


def srun(repo_root, path, **env):
    out = run_script(
        repo_root,
        'slurm_train.sh',
        'gpu',
        'job',
        'cfg.py',
        'work',
        '--amp',
        PATH=path,
        **env).splitlines()
    return out[0].split('=', 1)[1], out[1:]


@pytest.mark.parametrize('gpus, per_node, expected', [
    (None, None, ('8', '8')),
    ('2', None, ('2', '2')),
    ('1', None, ('1', '1')),
    ('16', None, ('16', '8')),
    ('8', '4', ('8', '4')),
])
def test_slurm_task_counts(repo_root, srun_stub, gpus, per_node, expected):
    env = {}
    if gpus:
        env['GPUS'] = gpus
    if per_node:
        env['GPUS_PER_NODE'] = per_node
    _, argv = srun(repo_root, srun_stub, **env)
    ntasks, per = expected
    assert argv[:2] == ['-p', 'gpu']
    assert f'--gres=gpu:{per}' in argv
    assert f'--ntasks={ntasks}' in argv
    assert f'--ntasks-per-node={per}' in argv
    assert argv[-5:] == [
        osp.join(repo_root, 'tools', 'train.py'), 'cfg.py', '--work-dir=work',
        '--amp', '--launcher=slurm'
    ]


def test_slurm_port_and_python(repo_root, srun_stub):
    ports = {srun(repo_root, srun_stub)[0] for _ in range(3)}
    assert len(ports) == 3
    port, argv = srun(repo_root, srun_stub, PORT='31000', PYTHON='/x/python')
    assert port == '31000'
    assert argv[argv.index('/x/python') + 1] == '-u'


def test_slurm_rejects_bad_sizes(repo_root, srun_stub):
    result = subprocess.run([
        'bash',
        osp.join(repo_root, 'tools', 'slurm_train.sh'), 'p', 'j', 'cfg.py', 'w'
    ],
                            env=dict(os.environ, PATH=srun_stub, GPUS='two'),
                            capture_output=True,
                            text=True,
                            timeout=60)
    assert result.returncode == 2
    assert "GPUS must be a positive integer, got 'two'" in result.stderr


@pytest.mark.parametrize('deterministic', [True, False])
def test_deterministic_config_sets_cublas_workspace(tmp_path, monkeypatch,
                                                    deterministic):
    monkeypatch.delenv('CUBLAS_WORKSPACE_CONFIG', raising=False)
    config = tmp_path / 'cfg.py'
    config.write_text('randomness = dict(seed=0, deterministic='
                      f'{deterministic})\n')
    args = Namespace(
        config=str(config),
        cfg_options=None,
        work_dir=str(tmp_path),
        launcher='none',
        local_rank=0)
    load_config(args)
    expected = ':4096:8' if deterministic else None
    assert os.environ.get('CUBLAS_WORKSPACE_CONFIG') == expected


def test_deterministic_from_cfg_options_and_user_value_kept(
        tmp_path, monkeypatch):
    monkeypatch.setenv('CUBLAS_WORKSPACE_CONFIG', ':16:8')
    config = tmp_path / 'cfg.py'
    config.write_text('randomness = dict(seed=0)\n')
    args = Namespace(
        config=str(config),
        cfg_options={'randomness.deterministic': True},
        work_dir=None,
        launcher='none',
        local_rank=0)
    load_config(args)
    assert os.environ['CUBLAS_WORKSPACE_CONFIG'] == ':16:8'
    monkeypatch.delenv('CUBLAS_WORKSPACE_CONFIG')
    load_config(args)
    assert os.environ['CUBLAS_WORKSPACE_CONFIG'] == ':4096:8'
