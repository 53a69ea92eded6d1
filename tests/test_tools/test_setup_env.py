"""tools/setup_env.sh names its mmcv build by everything the ops depend on.

``--print-key`` prints the wheel key, the stamp and the pip arguments the
set-up would use, without installing anything. The CPU key must stay what
earlier versions of the script computed, so the mmcv wheel already cached on
a CPU machine is reused instead of compiled again.
"""
import os
import os.path as osp
import platform
import subprocess
import sys

import pytest
import torch

VENV = osp.dirname(osp.dirname(sys.executable))
CLEAN = ('FORCE_CUDA', 'TORCH_CUDA_ARCH_LIST', 'CUDA_HOME', 'CUDA_PATH',
         'MMRLKD_MMCV_OPS', 'MMRLKD_TORCH_PIP_ARGS', 'MMRLKD_TORCH_INDEX_URL')
no_gpu = pytest.mark.skipif(
    torch.cuda.is_available(), reason='the machine has a GPU')
cuda_torch = pytest.mark.skipif(
    torch.version.cuda is None, reason='torch is a CPU build')


def print_key(repo_root, check=True, **env):
    full_env = {k: v for k, v in os.environ.items() if k not in CLEAN}
    full_env.update(MMRLKD_VENV=VENV, **env)
    result = subprocess.run(
        ['bash',
         osp.join(repo_root, 'tools', 'setup_env.sh'), '--print-key'],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120)
    if not check:
        return result
    assert result.returncode == 0, result.stderr
    return dict(line.split('=', 1) for line in result.stdout.splitlines())


@no_gpu
def test_cpu_key_is_the_one_earlier_versions_cached(repo_root):
    # The formula of the script before CUDA details joined the key.
    expected = (f'mmcv2.1.0-torch{torch.__version__}-cpu-'
                f'cp{sys.version_info[0]}{sys.version_info[1]}-'
                f'{platform.machine()}').replace('+', '_')
    info = print_key(repo_root)
    assert info['key'] == expected
    assert info['ops'] == 'cpu'
    # TORCH_CUDA_ARCH_LIST does not matter for CPU ops.
    assert print_key(repo_root, TORCH_CUDA_ARCH_LIST='8.0') == info


@cuda_torch
def test_cuda_key_names_cuda_version_and_architectures(repo_root):
    cpu = print_key(repo_root, MMRLKD_MMCV_OPS='cpu')
    sm80 = print_key(repo_root, FORCE_CUDA='1', TORCH_CUDA_ARCH_LIST='8.0')
    sm90 = print_key(
        repo_root, MMRLKD_MMCV_OPS='cuda', TORCH_CUDA_ARCH_LIST='9.0+PTX')
    assert sm80['ops'] == sm90['ops'] == 'cuda' and cpu['ops'] == 'cpu'
    assert f'-cuda{torch.version.cuda}-arch8.0-' in sm80['key']
    assert f'-cuda{torch.version.cuda}-arch9.0_PTX-' in sm90['key']
    assert len({cpu['key'], sm80['key'], sm90['key']}) == 3
    assert len({cpu['stamp'], sm80['stamp'], sm90['stamp']}) == 3


@no_gpu
@cuda_torch
def test_cuda_build_without_a_gpu_needs_an_architecture_list(repo_root):
    info = print_key(repo_root, FORCE_CUDA='1')
    assert info['toolkit'].startswith('error: no GPU is visible')
    assert 'TORCH_CUDA_ARCH_LIST' in info['toolkit']


@cuda_torch
def test_cuda_build_checks_nvcc_before_compiling(repo_root, tmp_path):
    cuda = dict(MMRLKD_MMCV_OPS='cuda', TORCH_CUDA_ARCH_LIST='9.0')
    missing = print_key(repo_root, CUDA_HOME=str(tmp_path / 'none'), **cuda)
    assert missing['toolkit'].startswith('error: no nvcc found')
    major = torch.version.cuda.split('.')[0]
    for release, ok in ((f'{major}.9', True), (f'{int(major) - 1}.8', False)):
        home = tmp_path / release
        (home / 'bin').mkdir(parents=True)
        nvcc = home / 'bin' / 'nvcc'  # prints what nvcc --version prints
        nvcc.write_text('#!/bin/sh\necho "Cuda compilation tools, release '
                        f'{release}, V{release}.1"\n')
        nvcc.chmod(0o755)
        toolkit = print_key(repo_root, CUDA_HOME=str(home), **cuda)['toolkit']
        if ok:
            assert toolkit == f'ok: {nvcc} (CUDA {release})'
        else:
            assert toolkit.startswith(f'error: {nvcc} is CUDA {release}')
            assert 'major versions must match' in toolkit


def test_torch_index_is_extra_for_every_pip_call(repo_root):
    info = print_key(
        repo_root,
        MMRLKD_TORCH_INDEX_URL='https://example.org/whl/cu128',
        MMRLKD_TORCH_PIP_ARGS='--index-url https://example.org/simple --pre')
    assert info['torch_pip_args'] == (
        '--index-url https://example.org/simple --pre '
        '--extra-index-url https://example.org/whl/cu128')
    # Calls that also install PyPI packages keep PyPI as the main index.
    assert info['other_pip_args'] == (
        '--extra-index-url https://example.org/simple --pre '
        '--extra-index-url https://example.org/whl/cu128')
    assert info['stamp'] != print_key(repo_root)['stamp']


@pytest.mark.parametrize('env, message', [
    (dict(MMRLKD_MMCV_OPS='gpu'),
     'MMRLKD_MMCV_OPS=gpu: use auto, cpu or cuda'),
    (dict(MMRLKD_MMCV_OPS='cpu', FORCE_CUDA='1'), 'contradict each other'),
])
def test_contradictory_requests_fail_at_once(repo_root, env, message):
    result = print_key(repo_root, check=False, **env)
    assert result.returncode != 0
    assert message in result.stderr
