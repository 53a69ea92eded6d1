"""Run mmcv's RoIAlign and NMS on torchvision's kernels where mmcv cannot.

An mmcv 2.1.0 built without CUDA (the quick CPU build of
``tools/setup_env.sh``, minutes instead of an hour) cannot run its ops on
CUDA tensors. Faster R-CNN / FPN needs two of them, and torchvision ships
CUDA kernels of both with the same arithmetic (``tests/test_ops`` compares
the kernels), so those two calls are routed there:

- ``mmcv.ops.RoIAlign.forward`` (average pooling, as in mmdet's
  ``SingleRoIExtractor``) -> ``torchvision.ops.roi_align``, autograd
  included;
- the kernel under ``mmcv.ops.nms``, ``batched_nms`` and ``NMSop`` (RPN
  proposals, ``multiclass_nms``) -> ``torchvision.ops.nms``.

Every other mmcv op, and ``RoIAlign(pool_mode='max')``, still goes to mmcv.
The mode (:func:`set_ops_fallback`) comes from the ``MMRLKD_OPS_FALLBACK``
environment variable on ``import mmrlkd``.
"""
import functools
import importlib
import importlib.util
import os

import torch

ENV_VAR = 'MMRLKD_OPS_FALLBACK'
_ALIASES = {'auto': 'auto', 'off': 'off', '0': 'off', 'always': 'always'}

_state = dict(mode='off', mmcv_cuda_ops=True)
_originals = {}


def mmcv_has_cuda_ops():
    """Whether ``mmcv._ext`` was compiled with CUDA (or HIP) kernels.

    mmcv's ``get_compiling_cuda_version`` returns ``'not available'`` exactly
    when its ops were compiled without ``MMCV_WITH_CUDA``.
    """
    if importlib.util.find_spec('mmcv._ext') is None:
        return False
    ext = importlib.import_module('mmcv._ext')
    return ext.get_compiling_cuda_version() != 'not available'


def routes_to_torchvision(device_type, mode, mmcv_cuda_ops):
    """Whether an op on a tensor of ``device_type`` goes to torchvision.

    Args:
        device_type (str): ``tensor.device.type``, e.g. ``'cuda'``.
        mode (str): ``'auto'``, ``'off'`` or ``'always'``.
        mmcv_cuda_ops (bool): Whether mmcv was compiled with CUDA ops.
    """
    if mode == 'always':
        return True
    return mode == 'auto' and device_type == 'cuda' and not mmcv_cuda_ops


def _routes(tensor):
    return routes_to_torchvision(tensor.device.type, _state['mode'],
                                 _state['mmcv_cuda_ops'])


def torchvision_nms(bboxes, scores, iou_threshold, offset=0):
    """mmcv's NMS kernel computed by ``torchvision.ops.nms``.

    Three details make it mmcv's operator, ties included: the boxes are
    visited in the order of mmcv's own ``scores.sort(0, descending=True)``
    (torchvision's stable sort keeps an order that is already sorted); the
    threshold is rounded to float32 as mmcv's kernels take it (torchvision
    compares with a double, which differs when an IoU equals the float
    threshold); and mmcv's legacy ``offset=1`` (a box is ``x2 - x1 + 1``
    wide) is given by moving ``x2`` and ``y2`` out by one, exact for integer
    coordinates.

    Args:
        bboxes (Tensor): Boxes (N, 4) as x1, y1, x2, y2.
        scores (Tensor): Scores (N, ).
        iou_threshold (float): Boxes overlapping a kept box by more than
            this are dropped.
        offset (int): 0 or 1, as in mmcv. Defaults to 0.

    Returns:
        Tensor: Indices of the kept boxes (int64), by decreasing score.
    """
    from torchvision.ops import nms
    if offset not in (0, 1):
        raise ValueError(f'offset must be 0 or 1, got {offset!r}')
    if offset:
        bboxes = torch.cat([bboxes[:, :2], bboxes[:, 2:] + offset], dim=1)
    order = scores.sort(0, descending=True)[1]
    scores = scores[order].to(bboxes.dtype)
    threshold = torch.tensor(float(iou_threshold), dtype=torch.float32).item()
    return order[nms(bboxes[order], scores, threshold)]


class _NMSKernels:
    """Stands for ``mmcv._ext`` inside ``mmcv.ops.nms``; ``nms`` may go to
    torchvision, every other kernel to mmcv."""

    def __init__(self, ext):
        self._ext = ext

    def __getattr__(self, name):
        return getattr(self._ext, name)

    def nms(self, bboxes, scores, iou_threshold, offset=0):
        if _routes(bboxes):
            return torchvision_nms(bboxes, scores, iou_threshold, offset)
        return self._ext.nms(
            bboxes, scores, iou_threshold=iou_threshold, offset=offset)


def _roi_align_forward(self, input, rois):
    if (_routes(input) and self.pool_mode == 'avg'
            and not self.use_torchvision):
        from torchvision.ops import roi_align
        return roi_align(input, rois, self.output_size, self.spatial_scale,
                         self.sampling_ratio, self.aligned)
    return _originals['roi_align_forward'](self, input, rois)


def _install():
    if _originals:
        return
    roi_align = importlib.import_module('mmcv.ops.roi_align')
    nms = importlib.import_module('mmcv.ops.nms')
    original = roi_align.RoIAlign.forward
    _originals.update(roi_align_forward=original, nms_ext=nms.ext_module)
    roi_align.RoIAlign.forward = functools.wraps(original)(_roi_align_forward)
    nms.ext_module = _NMSKernels(nms.ext_module)


def _uninstall():
    if not _originals:
        return
    importlib.import_module('mmcv.ops.roi_align').RoIAlign.forward = \
        _originals['roi_align_forward']
    importlib.import_module('mmcv.ops.nms').ext_module = \
        _originals['nms_ext']
    _originals.clear()


def set_ops_fallback(mode='auto'):
    """Route mmcv's RoIAlign and NMS to torchvision, or stop routing them.

    Args:
        mode (str): ``'auto'``: CUDA tensors when mmcv has no CUDA ops (on a
            machine without a GPU, or with a CUDA build of mmcv, nothing is
            patched); ``'off'`` (or ``'0'``): never; ``'always'``: tensors on
            every device (tests on the CPU). Defaults to ``'auto'``.

    Returns:
        bool: Whether mmcv's ops are patched now.
    """
    if mode not in _ALIASES:
        raise ValueError(f'ops fallback mode must be auto, off (0) or '
                         f'always, got {mode!r}')
    mode = _ALIASES[mode]
    # Without a GPU there are no CUDA tensors to route: patch nothing.
    missing = (
        mode == 'auto' and torch.cuda.is_available()
        and not mmcv_has_cuda_ops())
    needed = mode == 'always' or missing
    _state.update(mode=mode, mmcv_cuda_ops=not missing)
    if needed:
        _install()
    else:
        _uninstall()
    return needed


def ops_fallback_mode():
    """The mode set last (``'off'`` before ``import mmrlkd`` sets one)."""
    return _state['mode']


def mode_from_env(environ=None):
    """The mode asked for by ``MMRLKD_OPS_FALLBACK`` (``'auto'`` if unset).

    Args:
        environ (Mapping, optional): Environment to read. Defaults to
            ``os.environ``.
    """
    environ = os.environ if environ is None else environ
    value = environ.get(ENV_VAR, '').strip().lower() or 'auto'
    if value not in _ALIASES:
        raise ValueError(f'{ENV_VAR}={environ[ENV_VAR]!r}: use auto, off '
                         '(or 0) or always')
    return _ALIASES[value]


def set_ops_fallback_from_env():
    """Apply ``MMRLKD_OPS_FALLBACK``; ``import mmrlkd`` calls this."""
    return set_ops_fallback(mode_from_env())


def ops_fallback_active():
    """Whether mmcv's RoIAlign and NMS are patched now."""
    return bool(_originals)
