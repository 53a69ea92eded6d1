"""The stack works on torch 2 through mmrlkd.compat; a wrong one is named."""
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from mmrlkd import compat


def python_with_fake_mmcv(tmp_path, version, with_ops):
    """Run `import mmrlkd` with a fake mmcv first on the path."""
    package = tmp_path / 'mmcv'
    package.mkdir()
    (package / '__init__.py').write_text('')
    (package / 'version.py').write_text(f'__version__ = {version!r}\n')
    if with_ops:
        (package / '_ext.py').write_text('')
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    return subprocess.run([sys.executable, '-c', 'import mmrlkd'],
                          env=env,
                          capture_output=True,
                          text=True)


def test_import_is_quiet():
    result = subprocess.run([sys.executable, '-c', 'import mmrlkd'],
                            capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ''
    assert result.stderr == ''


def test_environment_has_no_problems():
    assert compat.find_environment_problems() == []


def test_wrong_mmcv_version_gives_one_clear_error(tmp_path):
    result = python_with_fake_mmcv(tmp_path, '2.2.0', with_ops=True)
    assert result.returncode != 0
    assert 'IncompatibleEnvironmentError' in result.stderr
    assert 'mmcv 2.2.0 is installed, mmrlkd needs mmcv >=2.1.0,<2.2.0' \
        in result.stderr
    assert 'tools/setup_env.sh' in result.stderr
    # One error, raised by our check: not mmcv's or mmdet's own assert.
    assert result.stderr.count('Traceback') == 1
    assert 'During handling' not in result.stderr
    assert 'AssertionError' not in result.stderr


def test_mmcv_without_ops_is_reported_as_such(tmp_path):
    result = python_with_fake_mmcv(tmp_path, '2.1.0', with_ops=False)
    assert result.returncode != 0
    assert 'without its compiled ops' in result.stderr
    assert "No module named 'mmcv._ext'" not in result.stderr


def test_mmrazor_distillation_imports_on_torch2():
    assert int(torch.__version__.split('.')[0]) >= 2
    from mmrazor.models import (ConfigurableDistiller, KLDivergence,
                                SingleTeacherDistill)
    from mmrazor.registry import HOOKS, LOOPS, MODELS, TASK_UTILS
    from mmrazor.utils import register_all_modules
    register_all_modules(False)
    assert MODELS.get('SingleTeacherDistill') is SingleTeacherDistill
    assert MODELS.get('ConfigurableDistiller') is ConfigurableDistiller
    assert MODELS.get('KLDivergence') is KLDivergence
    assert TASK_UTILS.get('ModuleOutputsRecorder') is not None
    assert HOOKS.get('StopDistillHook') is not None
    assert LOOPS.get('SingleTeacherDistillValLoop') is not None


def test_importing_mmrazor_first_is_explained():
    code = textwrap.dedent("""
        import sys, types
        sys.modules['mmrazor.structures'] = types.ModuleType('stand-in')
        import mmrlkd
    """)
    result = subprocess.run([sys.executable, '-c', code],
                            capture_output=True,
                            text=True)
    assert result.returncode != 0
    assert 'IncompatibleEnvironmentError' in result.stderr
    assert 'import mmrlkd first' in result.stderr


def make_mmengine_checkpoint(path):
    """A checkpoint as MMEngine saves one: tensors plus pickled objects."""
    from mmengine.logging import HistoryBuffer, MessageHub
    hub = MessageHub.get_instance('compat-test')
    hub.update_scalar('train/loss', 0.5)
    torch.save(
        dict(
            meta=dict(epoch=1, iter=3),
            state_dict=dict(weight=torch.arange(4.0)),
            message_hub=hub.state_dict(),
            history=HistoryBuffer([1.0, 2.0], [1, 1])), path)


def test_plain_torch_load_refuses_mmengine_checkpoints(tmp_path):
    # Why the shim exists: torch >= 2.6 loads weights only by default.
    path = tmp_path / 'epoch_1.pth'
    make_mmengine_checkpoint(path)
    with pytest.raises(Exception, match='Weights only load failed'):
        torch.load(path)


def test_mmengine_loads_its_checkpoints_after_the_shim(tmp_path):
    from mmengine.runner.checkpoint import _load_checkpoint
    path = tmp_path / 'epoch_1.pth'
    make_mmengine_checkpoint(path)
    checkpoint = _load_checkpoint(str(path), map_location='cpu')
    assert checkpoint['meta'] == dict(epoch=1, iter=3)
    assert torch.equal(checkpoint['state_dict']['weight'], torch.arange(4.0))
    assert checkpoint['history'].data[0].tolist() == [1.0, 2.0]


def test_missing_checkpoint_names_the_path(tmp_path):
    from mmengine.runner.checkpoint import _load_checkpoint
    missing = str(tmp_path / 'nowhere.pth')
    with pytest.raises(FileNotFoundError, match='nowhere.pth'):
        _load_checkpoint(missing)
