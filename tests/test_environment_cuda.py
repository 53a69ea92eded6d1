"""`import mmrlkd` tells a GPU user when mmcv has no CUDA ops."""
import os
import subprocess
import sys

import pytest
import torch

from mmrlkd import compat
from mmrlkd.ops import mmcv_has_cuda_ops, mode_from_env


@pytest.mark.parametrize('cuda_available, mmcv_cuda_ops', [(False, False),
                                                           (False, True),
                                                           (True, True)])
def test_no_warning_when_mmcv_matches_the_machine(cuda_available,
                                                  mmcv_cuda_ops):
    assert compat.cuda_ops_warning(cuda_available, mmcv_cuda_ops) is None


def test_gpu_without_mmcv_cuda_ops_names_the_fallback():
    message = compat.cuda_ops_warning(True, False, 'auto')
    assert 'compiled without CUDA ops' in message
    assert "torchvision's CUDA kernels" in message
    assert 'MMRLKD_OPS_FALLBACK=0' in message
    assert 'tools/setup_env.sh' in message


def test_gpu_without_mmcv_cuda_ops_and_no_fallback_says_what_fails():
    message = compat.cuda_ops_warning(True, False, 'off')
    assert 'fallback is off' in message
    assert 'detection models fail' in message
    assert 'tools/setup_env.sh' in message


def test_this_machine_gets_the_warning_only_if_it_applies():
    expected = torch.cuda.is_available() and not mmcv_has_cuda_ops()
    assert len(compat.find_environment_warnings()) == int(expected)


def test_summary_reports_cuda_ops_and_fallback():
    summary = compat.environment_summary()
    cuda_ops = 'yes' if mmcv_has_cuda_ops() else 'no'
    assert f'mmcv CUDA ops: {cuda_ops}' in summary
    assert f'GPU visible: {torch.cuda.is_available()}' in summary
    assert f'RoIAlign/NMS torchvision fallback: {mode_from_env()}' \
        in summary


def test_bad_fallback_setting_fails_at_import():
    result = subprocess.run([sys.executable, '-c', 'import mmrlkd'],
                            env=dict(os.environ, MMRLKD_OPS_FALLBACK='on'),
                            capture_output=True,
                            text=True,
                            timeout=120)
    assert result.returncode != 0
    assert "MMRLKD_OPS_FALLBACK='on': use auto, off (or 0) or always" \
        in result.stderr


@pytest.mark.cuda
@pytest.mark.skipif(
    not torch.cuda.is_available() or mmcv_has_cuda_ops(),
    reason='needs a GPU and an mmcv without CUDA ops')
def test_import_on_gpu_warns_once_about_missing_cuda_ops():
    result = subprocess.run([sys.executable, '-c', 'import mmrlkd'],
                            capture_output=True,
                            text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count('EnvironmentWarning') == 1
    assert 'compiled without CUDA ops' in result.stderr
