"""Our configs through the entry points OpenMMLab users already have.

Each run is a subprocess on tiny data for a few iterations, on CPU:

- MMRazor's, MMPretrain's and MMDetection's own ``tools/train.py`` (shipped in
  their wheels under ``.mim/tools``) on a user config that ``_base_``s one of
  ours and sets ``custom_imports = dict(imports=['mmrlkd'])``. MMRazor's
  tool imports mmrazor before the config, so it runs only because the
  import hook of ``mmrlkd_shim.pth`` patches mmrazor for torch 2.
- ``mim train mmrlkd`` / ``mim test mmrlkd`` on a regular (non-editable)
  install of this repository, which is what mim reads: configs, tools and
  model-index.yml under ``mmrlkd/.mim``.
"""
import importlib.util
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
import torch

pytestmark = pytest.mark.slow

TIMEOUT = 240  # seconds per subprocess: a hang fails instead of blocking
THREADS = dict(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
DIGITS_RLKD = 'configs/digitpairs/rlkd_resnet56_resnet8w4_digitpairs.py'
DIGITS_KD = 'configs/digitpairs/kd_resnet56_resnet8w4_digitpairs.py'
SHAPES_RLKD = ('configs/detection/shapes/'
               'rlkd_roi_faster-rcnn_r18w32_faster-rcnn_r18w8_shapes.py')
# A small random teacher, 32 images in batches of 8 (4 iterations), the
# agent acting and learning from the first iterations.
TINY_DIGITS = [
    'model.teacher.backbone.depth=8',
    'model.teacher_ckpt=None',
    'train_dataloader.batch_size=8',
    'train_dataloader.dataset.num_samples=32',
    'val_dataloader.batch_size=16',
    'val_dataloader.dataset.num_samples=32',
    'test_dataloader.batch_size=16',
    'test_dataloader.dataset.num_samples=32',
    'train_cfg.max_epochs=1',
    'default_hooks.logger.interval=1',
]
AGENT_FROM_START = [
    'custom_hooks.0.agent_warmup=0', 'custom_hooks.0.reward_warmup=1'
]


def upstream_tool(package, name='train.py'):
    """The tool a package ships in its wheel, e.g. mmrazor/.mim/tools."""
    root = importlib.util.find_spec(package).submodule_search_locations[0]
    path = osp.join(root, '.mim', 'tools', name)
    assert osp.isfile(path), path
    return path


def user_config(tmp_path, base, extra=''):
    """What a user of an upstream tool writes: our config plus the import."""
    path = tmp_path / 'user_config.py'
    path.write_text(f"""
_base_ = [{base!r}]
custom_imports = dict(imports=['mmrlkd'], allow_failed_imports=False)
{extra}""")
    return str(path)


def scalars(work_dir):
    """The JSON lines MMEngine's LocalVisBackend wrote for the latest run."""
    runs = sorted(
        d for d in os.listdir(work_dir)
        if osp.isdir(osp.join(work_dir, d, 'vis_data')))
    path = osp.join(work_dir, runs[-1], 'vis_data', 'scalars.json')
    with open(path) as f:
        return [json.loads(line) for line in f]


def run_in(folder, *args, env=None):
    """Run a command in ``folder``, not the repository: a mim or site check
    started from the repository would see its source tree on sys.path."""
    result = subprocess.run([*args],
                            cwd=folder,
                            env=dict(os.environ, **(env or {})),
                            capture_output=True,
                            text=True,
                            timeout=TIMEOUT)
    assert result.returncode == 0, (f'{" ".join(args)} exited '
                                    f'{result.returncode}\n{result.stdout}'
                                    f'\n{result.stderr[-20000:]}')
    return result.stdout + result.stderr


def assert_agent_trained(work_dir, iterations, updated_from):
    """The agent's train/rl/* scalars logged, its state in the checkpoint."""
    rows = [row for row in scalars(work_dir) if 'distill.loss_kd' in row]
    assert [row['iter'] for row in rows] == list(range(1, iterations + 1))
    updated = [row for row in rows if 'rl/policy_loss' in row]
    assert [row['iter']
            for row in updated] == list(range(updated_from, iterations + 1))
    for row in updated:
        assert {'rl/reward', 'rl/approx_kl', 'rl/value_loss'} <= set(row)
    checkpoint = torch.load(
        osp.join(work_dir, 'epoch_1.pth'), weights_only=False)
    assert checkpoint['meta']['iter'] == iterations
    agent = checkpoint['rlkd_agent']
    assert agent['policy']['actor.0.weight'].ndim == 2
    return checkpoint


def test_mmrazor_train_py_runs_rlkd(repo_root, tmp_path, run_tool):
    config = user_config(tmp_path, osp.join(repo_root, DIGITS_RLKD))
    work_dir = str(tmp_path / 'work')
    result = run_tool(
        run_tool.python,
        upstream_tool('mmrazor'),
        config,
        '--work-dir',
        work_dir,
        '--cfg-options',
        *TINY_DIGITS,
        *AGENT_FROM_START,
        env=THREADS,
        timeout=TIMEOUT)
    assert 'torch>=1.13' not in result.stderr
    assert_agent_trained(work_dir, iterations=4, updated_from=2)


def test_mmpretrain_train_py_runs_kd(repo_root, tmp_path, run_tool):
    # MMPretrain's tool defaults persistent_workers=True and pin_memory=True
    # and collates with default_collate; our config must run under them.
    config = user_config(tmp_path, osp.join(repo_root, DIGITS_KD))
    work_dir = str(tmp_path / 'work')
    run_tool(
        run_tool.python,
        upstream_tool('mmpretrain'),
        config,
        '--work-dir',
        work_dir,
        '--cfg-options',
        *TINY_DIGITS,
        env=THREADS,
        timeout=TIMEOUT)
    rows = [row for row in scalars(work_dir) if 'distill.loss_kl' in row]
    assert [row['iter'] for row in rows] == [1, 2, 3, 4]
    assert all(row['distill.loss_kl'] > 0 for row in rows)
    assert any('accuracy/top1' in row for row in scalars(work_dir))
    checkpoint = torch.load(
        osp.join(work_dir, 'epoch_1.pth'), weights_only=False)
    assert checkpoint['meta']['iter'] == 4
    assert 'architecture.head.fc.weight' in checkpoint['state_dict']


def test_mmdet_train_py_runs_rlkd_faster_rcnn(repo_root, tmp_path, run_tool):
    data_root = str(tmp_path / 'shapes') + '/'
    run_tool(
        run_tool.python,
        'tools/dataset_converters/make_shapes_coco.py',
        data_root,
        '--num-train',
        '8',
        '--num-val',
        '4',
        '--image-size',
        '96',
        timeout=TIMEOUT)
    config = user_config(
        tmp_path, osp.join(repo_root, SHAPES_RLKD), f"""
data_root = {data_root!r}
model = dict(teacher_ckpt=None)
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root))
val_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=1, val_interval=2)
default_hooks = dict(logger=dict(interval=1), visualization=dict(draw=False))
custom_hooks = [
    dict(type='mmrlkd.RLKDAgentHook', agent_warmup=0, reward_warmup=1,
         update_interval=1)
]
""")
    work_dir = str(tmp_path / 'work')
    run_tool(
        run_tool.python,
        upstream_tool('mmdet'),
        config,
        '--work-dir',
        work_dir,
        env=THREADS,
        timeout=TIMEOUT)
    checkpoint = assert_agent_trained(work_dir, iterations=2, updated_from=2)
    assert any(
        key.startswith('architecture.roi_head.')
        for key in checkpoint['state_dict'])


# ----------------------------------------------------------------- mim


@pytest.fixture(scope='module')
def installed(repo_root, once_per_run):
    """A regular ``pip install`` of this repository into a fresh folder,
    made once for both tests, also when pytest-xdist gives them to two
    workers."""
    return once_per_run('regular_install',
                        lambda tmp: install_a_copy(repo_root, tmp))


def install_a_copy(repo_root, tmp):
    source, target = tmp / 'src', tmp / 'site'
    # What setup.py and MANIFEST.in use; not the venv, work dirs or data.
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc', '.mim')
    source.mkdir()
    for name in ('setup.py', 'setup.cfg', 'MANIFEST.in', 'README.md',
                 'LICENSE', 'requirements.txt', 'model-index.yml',
                 'mmrlkd_shim.py'):
        shutil.copy(osp.join(repo_root, name), source / name)
    for name in ('requirements', 'mmrlkd', 'configs', 'tools'):
        shutil.copytree(
            osp.join(repo_root, name), source / name, ignore=ignore)
    subprocess.run([
        sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps',
        '--no-build-isolation', '--no-index', '--target',
        str(target),
        str(source)
    ],
                   check=True,
                   capture_output=True,
                   timeout=TIMEOUT)
    return str(target)


def test_regular_install_ships_the_hook_and_mim_files(repo_root, installed,
                                                      tmp_path):
    with open(osp.join(installed, 'mmrlkd_shim.pth')) as f:
        assert f.read() == 'import mmrlkd_shim; mmrlkd_shim.install()\n'
    mim = osp.join(installed, 'mmrlkd', '.mim')
    for name in (DIGITS_RLKD, SHAPES_RLKD, 'configs/_base_/datasets/'
                 'digit_pairs.py', 'tools/train.py', 'tools/test.py',
                 'model-index.yml'):
        with open(osp.join(mim, name)) as copy, \
                open(osp.join(repo_root, name)) as original:
            assert copy.read() == original.read(), name
    # The installed .pth alone (no other site dir processed: -S) makes
    # mmrazor importable on torch 2.
    venv_site = osp.dirname(osp.dirname(torch.__file__))
    code = ('import sys, site; '
            f'sys.path.append({venv_site!r}); '
            f'site.addsitedir({installed!r}); '
            'import mmrazor.models, mmrlkd_shim; '
            'assert mmrlkd_shim.__file__.startswith(sys.argv[1]); '
            "assert 'mmrlkd' not in sys.modules")
    run_in(
        tmp_path,
        sys.executable,
        '-S',
        '-c',
        code,
        installed,
        env=dict(
            MMRLKD_NO_SHIM='',
            PYTHONPATH=os.pathsep.join(
                filter(None, [installed, os.environ.get('PYTHONPATH')]))))


def test_mim_train_and_test(installed, tmp_path):
    work_dir = str(tmp_path / 'work')
    # mim finds packages through pkg_resources: the install goes first.
    env = dict(
        THREADS,
        PYTHONPATH=os.pathsep.join(
            filter(None, [installed, os.environ.get('PYTHONPATH')])))
    name = osp.basename(DIGITS_RLKD)  # mim looks it up in mmrlkd/.mim
    output = run_in(
        tmp_path,
        sys.executable,
        '-m',
        'mim',
        'train',
        'mmrlkd',
        name,
        '--work-dir',
        work_dir,
        '--cfg-options',
        *TINY_DIGITS,
        *AGENT_FROM_START,
        env=env)
    assert osp.join(installed, 'mmrlkd', '.mim', 'tools', 'train.py') in output
    assert 'Training finished successfully' in output
    assert_agent_trained(work_dir, iterations=4, updated_from=2)

    output = run_in(
        tmp_path,
        sys.executable,
        '-m',
        'mim',
        'test',
        'mmrlkd',
        name,
        '--checkpoint',
        osp.join(work_dir, 'epoch_1.pth'),
        '--work-dir',
        work_dir,
        '--cfg-options',
        *TINY_DIGITS,
        env=env)
    assert 'Testing finished successfully' in output
    assert 'accuracy/top1' in output
