"""The stack works on torch 2 through mmrlkd.compat; a wrong one is named."""
import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from mmrlkd import compat


def python_with_fake_mmcv(tmp_path, version, with_ops):
    """Run `import mmrlkd` with a fake mmcv first on the path.

    The fake has a package and the metadata of an installed distribution,
    where mmrlkd.compat reads mmcv's version.
    """
    package = tmp_path / 'mmcv'
    package.mkdir()
    (package / '__init__.py').write_text('')
    if with_ops:
        (package / '_ext.py').write_text('')
    info = tmp_path / f'mmcv-{version}.dist-info'
    info.mkdir()
    (info / 'METADATA'
     ).write_text(f'Metadata-Version: 2.1\nName: mmcv\nVersion: {version}\n')
    path = os.pathsep.join(
        filter(None,
               [str(tmp_path), os.environ.get('PYTHONPATH')]))
    env = dict(os.environ, PYTHONPATH=path)
    return subprocess.run([sys.executable, '-c', 'import mmrlkd'],
                          env=env,
                          capture_output=True,
                          text=True)


def test_mmcv_version_comes_from_its_metadata():
    from importlib.metadata import version
    import mmcv
    assert compat._installed_version('mmcv') == version('mmcv') \
        == mmcv.__version__


#: Records the warnings of ``import mmrlkd`` under the default filters.
RECORD_IMPORT_WARNINGS = textwrap.dedent("""
    import json, warnings
    with warnings.catch_warnings(record=True) as caught:
        import mmrlkd
    print(json.dumps([[w.category.__name__, str(w.message)]
                      for w in caught]))
""")


def test_import_is_quiet():
    """Nothing on stdout or stderr, and no warning but the one a GPU without
    mmcv CUDA ops rightly gets (none on a CPU machine)."""
    result = subprocess.run([sys.executable, '-c', RECORD_IMPORT_WARNINGS],
                            capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ''
    *printed, recorded = result.stdout.splitlines()
    assert printed == []
    expected = [['EnvironmentWarning', f'mmrlkd: {message}']
                for message in compat.find_environment_warnings()]
    assert json.loads(recorded) == expected
    if not torch.cuda.is_available():
        assert expected == []


def test_import_installs_no_warning_filter_of_its_own():
    """pkg_resources' deprecation warning is spent under a scoped filter
    (compat.silence_known_warnings); no filter for it stays installed."""
    code = ('import warnings, mmrlkd; print([f[1].pattern for f in '
            'warnings.filters if f[1] is not None])')
    result = subprocess.run([sys.executable, '-c', code],
                            capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert 'pkg_resources' not in result.stdout
    assert 'pkg_resources' in sys.modules or \
        importlib.util.find_spec('pkg_resources') is None


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
