"""mmrazor imports on torch 2 in this environment without importing mmrlkd.

Each check starts a fresh interpreter, since the import hook is installed by
``mmrlkd_shim.pth`` when Python starts and acts on the first mmrazor import.
"""
import os
import subprocess
import sys
import textwrap

import mmrlkd_shim

UPSTREAM_ERROR = '`torch>=1.13` is not installed properly'


def python(code, no_shim=False):
    env = dict(os.environ)
    env.pop(mmrlkd_shim.DISABLE_VARIABLE, None)
    if no_shim:
        env[mmrlkd_shim.DISABLE_VARIABLE] = '1'
    return subprocess.run(
        [sys.executable, '-c', textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300)


def test_start_up_installs_only_the_hook():
    code = """
        import sys
        heavy = [m for m in ('torch', 'mmengine', 'mmrazor', 'mmrlkd')
                 if m in sys.modules]
        names = [getattr(f, '__name__', type(f).__name__)
                 for f in sys.meta_path]
        hooks = names.count('MMRazorImportHook')
        # Before the finder that would find mmrazor on sys.path.
        first = hooks and names.index('MMRazorImportHook') < names.index(
            'PathFinder')
        print(heavy, hooks, bool(first))
    """
    result = python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ['[]', '1', 'True']
    result = python(code, no_shim=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ['[]', '0', 'False']


def test_mmrazor_models_import_without_mmrlkd():
    result = python("""
        import sys
        import mmrazor.models
        from mmrazor.models import KLDivergence, SingleTeacherDistill
        from mmrazor.utils import register_all_modules
        register_all_modules(False)
        from mmrazor.registry import MODELS
        assert MODELS.get('SingleTeacherDistill') is SingleTeacherDistill
        assert MODELS.get('KLDivergence') is KLDivergence
        assert 'mmrlkd' not in sys.modules, 'mmrlkd was imported'
    """)
    assert result.returncode == 0, result.stderr


def test_without_the_hook_mmrazor_fails_as_upstream():
    result = python('import mmrazor.models', no_shim=True)
    assert result.returncode != 0
    assert UPSTREAM_ERROR in result.stderr


def test_the_hook_patches_torch_as_mmrazor_expects():
    # Looking mmrazor up is enough: the hook patches before the import.
    result = python("""
        import importlib.util, sys
        import mmrlkd_shim
        assert mmrlkd_shim.RAZOR_QUANT_MAPPING not in sys.modules
        importlib.util.find_spec('mmrazor')
        from torch.ao.quantization import fuser_method_mappings as fmm
        assert fmm.reverse2 is fmm._reverse2
        assert fmm.reverse3 is fmm._reverse3
        assert fmm.reverse_sequential_wrapper2 is fmm._sequential_wrapper2
        table = sys.modules[mmrlkd_shim.RAZOR_QUANT_MAPPING].BackendConfigs
        assert sorted(table) == [
            'academic', 'native', 'openvino', 'tensorrt'], table
        assert set(table.values()) == {None}
    """)
    assert result.returncode == 0, result.stderr


def test_mmrlkd_can_be_imported_after_mmrazor():
    result = python("""
        import mmrazor.engine, mmrazor.models
        import mmrlkd
        from mmrazor.registry import MODELS
        assert MODELS.get('SingleTeacherDistill') is not None
    """)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ''


def test_without_the_hook_mmrlkd_after_mmrazor_is_explained():
    # mmrazor.structures imported (a stand-in: on torch 2 it cannot be
    # imported unpatched) before mmrlkd, with the hook off.
    result = python(
        """
        import sys, types
        sys.modules['mmrazor.structures'] = types.ModuleType('stand-in')
        import mmrlkd
    """,
        no_shim=True)
    assert result.returncode != 0
    assert 'IncompatibleEnvironmentError' in result.stderr
    assert 'MMRLKD_NO_SHIM' in result.stderr


def test_disabled_by_anything_but_empty_or_zero(monkeypatch):
    expected = {'': False, '0': False, '1': True, 'yes': True, ' 0 ': False}
    for value, disabled in expected.items():
        monkeypatch.setenv(mmrlkd_shim.DISABLE_VARIABLE, value)
        assert mmrlkd_shim.is_disabled() is disabled, value
    monkeypatch.delenv(mmrlkd_shim.DISABLE_VARIABLE)
    assert mmrlkd_shim.is_disabled() is False


def test_install_is_idempotent_and_steps_back_after_mmrazor(monkeypatch):
    monkeypatch.setattr(sys, 'meta_path', list(sys.meta_path))
    mmrlkd_shim.uninstall()
    # This test process imported mmrazor already: nothing left to patch.
    assert 'mmrazor' in sys.modules
    assert mmrlkd_shim.install() is False
    monkeypatch.delitem(sys.modules, 'mmrazor')
    assert mmrlkd_shim.install() is True
    assert mmrlkd_shim.install() is True
    hooks = [
        f for f in sys.meta_path
        if isinstance(f, mmrlkd_shim.MMRazorImportHook)
    ]
    assert len(hooks) == 1 and sys.meta_path[0] is hooks[0]
    mmrlkd_shim.uninstall()
    assert not any(
        isinstance(f, mmrlkd_shim.MMRazorImportHook) for f in sys.meta_path)
