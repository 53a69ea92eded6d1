"""Make the pinned OpenMMLab stack work on torch 2; run on ``import mmrlkd``.

:func:`apply` does four things, all idempotent: :func:`check_environment`
(supported versions, mmcv's compiled ops), :func:`patch_mmrazor` (mmrazor
1.0.0 on torch >= 2), :func:`patch_checkpoint_loading` (torch >= 2.6's
``weights_only``) and :func:`mmrlkd.ops.set_ops_fallback_from_env` (RoIAlign
and NMS on torchvision's kernels when mmcv has no CUDA ops).
"""
import importlib.util
import os
import sys
import warnings

import mmrlkd_shim
from packaging.version import Version

#: package -> (lowest supported, first unsupported) version.
SUPPORTED_VERSIONS = {
    # 2.4 added the device-type autocast API the code calls:
    # torch.is_autocast_enabled(device_type), torch.get_autocast_dtype.
    'torch': ('2.4.0', '3.0.0'),
    'mmengine': ('0.10.0', '0.11.0'),
    'mmcv': ('2.1.0', '2.2.0'),
    'mmdet': ('3.3.0', '3.4.0'),
    'mmpretrain': ('1.2.0', '1.3.0'),
    'mmrazor': ('1.0.0', '1.1.0'),
}

SETUP_HINT = 'Run `bash tools/setup_env.sh` to create a working environment.'

_RAZOR_QUANT_MAPPING = mmrlkd_shim.RAZOR_QUANT_MAPPING


def _supported_table():
    return ', '.join(f'{name} >={low},<{high}'
                     for name, (low, high) in SUPPORTED_VERSIONS.items())


class IncompatibleEnvironmentError(ImportError):
    """The installed packages cannot run mmrlkd."""


class EnvironmentWarning(UserWarning):
    """The installed packages run mmrlkd, but not all of it on this GPU."""


def _installed_version(package):
    """Version string of ``package`` without importing it, or None."""
    if package == 'mmcv':
        return _mmcv_version()
    from importlib import metadata
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


#: Distributions that install the ``mmcv`` module (mmcv-lite: no compiled
#: ops, which find_environment_problems reports).
MMCV_DISTRIBUTIONS = ('mmcv', 'mmcv-lite', 'mmcv-full')


def _mmcv_version():
    """Version of the distribution that provides the importable ``mmcv``.

    Read from the package metadata, without importing mmcv (its import
    pulls in mmengine and asserts its own version window). Where several
    mmcv distributions are installed, the one in the folder that ``import
    mmcv`` would load from wins.
    """
    from importlib import metadata
    spec = importlib.util.find_spec('mmcv')
    if spec is None or not spec.submodule_search_locations:
        return None
    package_dir = os.path.realpath(spec.submodule_search_locations[0])
    found = []
    for name in MMCV_DISTRIBUTIONS:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        location = os.path.realpath(str(dist.locate_file('')))
        found.append((location == os.path.dirname(package_dir), dist.version))
    if not found:
        return None
    # An exact location match first, else the first distribution found.
    found.sort(key=lambda item: not item[0])
    return found[0][1]


def find_environment_problems():
    """Human-readable problems with the installed stack (empty if none)."""
    problems = []
    for name, (low, high) in SUPPORTED_VERSIONS.items():
        version = _installed_version(name)
        if version is None:
            problems.append(f'{name} is not installed')
        elif not Version(low) <= Version(
                version.split('+')[0]) < Version(high):
            problems.append(f'{name} {version} is installed, mmrlkd needs '
                            f'{name} >={low},<{high}')
    if _installed_version('mmcv') is not None \
            and importlib.util.find_spec('mmcv._ext') is None:
        problems.append(
            'mmcv is installed without its compiled ops (mmcv._ext is '
            'missing: mmcv-lite, or a build with MMCV_WITH_OPS=0); mmrlkd '
            'needs mmcv 2.1.0 compiled with ops (RoIAlign, NMS)')
    if importlib.util.find_spec('pkg_resources') is None:
        problems.append('setuptools >= 82 removed pkg_resources, which '
                        'mmengine 0.10.7 needs: install setuptools<82')
    return problems


def cuda_ops_warning(cuda_available, mmcv_cuda_ops, fallback_mode='auto'):
    """What to tell a user whose GPU mmcv cannot use, or None.

    Not an error: classification never calls mmcv's ops, and detection needs
    only RoIAlign and NMS, which :mod:`mmrlkd.ops` runs on torchvision's CUDA
    kernels unless that fallback is switched off.

    Args:
        cuda_available (bool): ``torch.cuda.is_available()``.
        mmcv_cuda_ops (bool): Whether mmcv was compiled with CUDA ops.
        fallback_mode (str): ``MMRLKD_OPS_FALLBACK``: ``'auto'``, ``'off'``
            or ``'always'``. Defaults to ``'auto'``.
    """
    if not cuda_available or mmcv_cuda_ops:
        return None
    message = ('a GPU is visible but mmcv was compiled without CUDA ops, so '
               'no mmcv op runs on CUDA tensors. ')
    if fallback_mode == 'off':
        message += ('The torchvision fallback is off (MMRLKD_OPS_FALLBACK=0)'
                    ': detection models fail at their first RoIAlign or '
                    'NMS on the GPU; classification is not affected. ')
    else:
        message += ('mmrlkd runs mmcv\'s RoIAlign and NMS with torchvision\'s '
                    'CUDA kernels instead (the same operators; '
                    'MMRLKD_OPS_FALLBACK=0 turns this off); other mmcv ops '
                    'on CUDA tensors fail. ')
    return message + ('To compile mmcv\'s CUDA ops (about an hour), run '
                      '`bash tools/setup_env.sh` on this GPU machine.')


def find_environment_warnings():
    """Warnings about the installed stack on this machine (empty if none)."""
    import torch
    if not torch.cuda.is_available():
        return []
    from .ops import mmcv_has_cuda_ops, mode_from_env
    warning = cuda_ops_warning(True, mmcv_has_cuda_ops(), mode_from_env())
    return [] if warning is None else [warning]


def check_environment():
    """Raise :class:`IncompatibleEnvironmentError` naming every problem, then
    warn (:class:`EnvironmentWarning`) about what runs only in part."""
    problems = find_environment_problems()
    if problems:
        lines = '\n'.join(f'  - {p}' for p in problems)
        raise IncompatibleEnvironmentError(
            f'mmrlkd cannot run with the installed packages:\n{lines}\n'
            f'Supported: {_supported_table()}.\n{SETUP_HINT}')
    for warning in find_environment_warnings():
        warnings.warn(f'mmrlkd: {warning}', EnvironmentWarning, stacklevel=3)


def patch_mmrazor():
    """Let ``import mmrazor.models`` and ``mmrazor.engine`` work on torch 2.

    mmrazor 1.0.0 builds quantization backend configs at import time from
    three torch helpers that torch 2 renamed (mmrazor issue #632);
    distillation never uses them. The patch is in :mod:`mmrlkd_shim`, whose
    import hook (``mmrlkd_shim.pth``) applies it wherever mmrazor is imported
    first; this applies it where the hook is off (``MMRLKD_NO_SHIM=1``), and
    is a no-op when the hook patched mmrazor already.
    """
    if _RAZOR_QUANT_MAPPING in sys.modules:
        return
    if 'mmrazor.structures' in sys.modules:
        raise IncompatibleEnvironmentError(
            'mmrazor was imported before mmrlkd and mmrlkd\'s import hook '
            'did not patch it for torch 2 (MMRLKD_NO_SHIM is set, or '
            'mmrlkd_shim.pth is missing from site-packages: reinstall mmrlkd '
            'with pip); unset MMRLKD_NO_SHIM, or import mmrlkd first (our '
            'tools/train.py does).')
    mmrlkd_shim.patch_torch_for_mmrazor()


def patch_checkpoint_loading():
    """Re-register mmengine's local and HTTP loaders with full unpickling.

    mmengine 0.10.7 calls ``torch.load`` without ``weights_only=False``, and
    torch >= 2.6 then refuses mmengine's own checkpoints (they pickle the
    message hub), so ``resume``, ``load_from`` and ``teacher_ckpt`` fail.
    As mmengine's main branch does since #1670, its checkpoint loaders (and
    no other ``torch.load``) read with ``weights_only=False``: only load
    checkpoints you trust, as with any pickle.
    """
    import torch
    from mmengine.runner.checkpoint import CheckpointLoader
    if getattr(CheckpointLoader, '_mmrlkd_patched', False):
        return

    def load_from_local(filename, map_location):
        filename = os.path.expanduser(filename)
        if not os.path.isfile(filename):
            raise FileNotFoundError(f'checkpoint {filename} does not exist')
        return torch.load(
            filename, map_location=map_location, weights_only=False)

    def load_from_http(filename,
                       map_location=None,
                       model_dir=None,
                       progress=os.isatty(0)):
        # mmengine's loader plus weights_only=False: rank 0 downloads into
        # the hub cache while the other ranks wait, then they read that file
        # (else every rank of a torchrun job fetches the teacher at once).
        from mmengine.dist import get_dist_info
        from torch.hub import load_state_dict_from_url

        def load():
            return load_state_dict_from_url(
                filename,
                model_dir=model_dir,
                map_location=map_location,
                progress=progress,
                weights_only=False)

        rank, world_size = get_dist_info()
        checkpoint = error = None
        if rank == 0:
            try:
                checkpoint = load()
            except Exception as exc:  # still release the waiting ranks
                error = exc
        if world_size > 1:
            torch.distributed.barrier()
        if error is not None:
            raise error
        if rank > 0:
            checkpoint = load()
        return checkpoint

    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local, force=True)
    CheckpointLoader.register_scheme(
        prefixes=('http://', 'https://'), loader=load_from_http, force=True)
    CheckpointLoader._mmrlkd_patched = True


def silence_known_warnings():
    """Swallow the deprecation warning of ``import pkg_resources``.

    mmengine 0.10.7 imports ``pkg_resources`` lazily (e.g. when a config
    names ``mmpretrain::`` or ``mmdet::`` bases); setuptools < 82, which it
    needs, warns once, at that first import. Importing it here under a
    scoped filter spends that one warning; no filter stays installed, so
    every other warning reaches the user as before.
    """
    if 'pkg_resources' in sys.modules:
        return
    with warnings.catch_warnings():
        warnings.filterwarnings(
            'ignore',
            message='pkg_resources is deprecated',
            category=UserWarning)
        try:
            import pkg_resources  # noqa: F401
        except ImportError:  # reported by find_environment_problems
            pass


def environment_summary():
    """One line per package with its version, for logs and bug reports."""
    import torch
    names = ['torch', 'torchvision', *list(SUPPORTED_VERSIONS)[1:]]
    from .ops import mmcv_has_cuda_ops, mode_from_env, ops_fallback_active
    lines = [f'{name}: {_installed_version(name)}' for name in names]
    ops = 'yes' if importlib.util.find_spec('mmcv._ext') else 'no'
    lines.append(f'mmcv compiled ops: {ops}')
    lines.append(f'mmcv CUDA ops: {"yes" if mmcv_has_cuda_ops() else "no"}')
    lines.append(f'torch CUDA: {torch.version.cuda}, GPU visible: '
                 f'{torch.cuda.is_available()}')
    active = 'in use' if ops_fallback_active() else 'not in use'
    lines.append(f'RoIAlign/NMS torchvision fallback: {mode_from_env()} '
                 f'({active})')
    return '\n'.join(lines)


def apply():
    """Check versions, then install the shims. Safe to call repeatedly."""
    check_environment()
    silence_known_warnings()
    patch_mmrazor()
    patch_checkpoint_loading()
    from .ops import set_ops_fallback_from_env
    set_ops_fallback_from_env()
