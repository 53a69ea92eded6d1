"""Let mmrazor 1.0.0 import on torch 2 wherever the environment imports it.

mmrazor 1.0.0 fails to import on torch >= 2 (mmrazor issue #632): three
torch quantization helpers were renamed, and mmrazor builds its quantization
backend configs at import time. Distillation never uses them, so we alias the
helpers and give mmrazor an empty backend table.

Installing mmrlkd puts ``mmrlkd_shim.pth`` in site-packages. Python's ``site``
runs it at start-up, and it only calls :func:`install`, which puts a small
finder first on ``sys.meta_path``: the first time anything imports
``mmrazor`` (MMRazor's own ``tools/train.py``, ``mim train mmrazor``, a
notebook), the finder applies :func:`patch_torch_for_mmrazor`, once. Nothing
else is imported at start-up. Set ``MMRLKD_NO_SHIM=1`` to turn
the finder off.

This is a top-level module, not part of the ``mmrlkd`` package, so that
importing it does not import mmrlkd and the whole OpenMMLab stack.
"""
import os
import sys

#: The mmrazor module that builds the quantization backend configs.
RAZOR_QUANT_MAPPING = \
    'mmrazor.structures.quantization.backend_config.mapping'
#: Set to anything but '' or '0' to keep the finder off.
DISABLE_VARIABLE = 'MMRLKD_NO_SHIM'

# torch < 2 name -> torch >= 2 name, in torch.ao.quantization's
# fuser_method_mappings.
_RENAMED_HELPERS = (('reverse2', '_reverse2'), ('reverse3', '_reverse3'),
                    ('reverse_sequential_wrapper2', '_sequential_wrapper2'))


def is_disabled():
    """Whether ``MMRLKD_NO_SHIM`` asks us to leave mmrazor alone."""
    return os.environ.get(DISABLE_VARIABLE, '').strip() not in ('', '0')


def patch_torch_for_mmrazor():
    """Alias torch's renamed helpers and stub mmrazor's backend table.

    Idempotent. Must run before ``mmrazor.structures`` is imported; it
    imports torch, never mmrazor.
    """
    if RAZOR_QUANT_MAPPING in sys.modules:
        return
    import types

    from torch.ao.quantization import fuser_method_mappings as fmm
    for old, new in _RENAMED_HELPERS:
        if not hasattr(fmm, old) and hasattr(fmm, new):
            setattr(fmm, old, getattr(fmm, new))
    stub = types.ModuleType(RAZOR_QUANT_MAPPING)
    stub.__doc__ = ('Stand-in installed by mmrlkd: mmrazor 1.0.0 '
                    'quantization backends do not load on torch 2.')
    stub.BackendConfigs = dict(
        academic=None, native=None, tensorrt=None, openvino=None)
    sys.modules[RAZOR_QUANT_MAPPING] = stub


class MMRazorImportHook:
    """A ``sys.meta_path`` finder that patches once, when mmrazor is looked up.

    It never finds a module itself (``find_spec`` returns None), so the
    normal finders import mmrazor right after the patch. It stays on
    ``sys.meta_path`` (the import system is iterating over that list when
    it calls us), but does nothing after the first time.
    """

    def __init__(self):
        self.done = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname == 'mmrazor' and not self.done:
            self.done = True
            patch_torch_for_mmrazor()
        return None


def _is_hook(finder):
    # By name, so a hook from a reloaded copy of this module counts too.
    return type(finder).__name__ == MMRazorImportHook.__name__


def install():
    """Put the hook first on ``sys.meta_path`` (what the .pth file runs).

    Returns:
        bool: Whether the hook is in place: False when ``MMRLKD_NO_SHIM`` is
        set or mmrazor was imported already.
    """
    if is_disabled() or 'mmrazor' in sys.modules:
        return False
    if not any(_is_hook(finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, MMRazorImportHook())
    return True


def uninstall():
    """Take every hook of this module off ``sys.meta_path``."""
    sys.meta_path[:] = [f for f in sys.meta_path if not _is_hook(f)]
