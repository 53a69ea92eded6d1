"""mmcv's RoIAlign and NMS routed to torchvision are the same operators.

mmrlkd.ops sends these two mmcv ops to torchvision's kernels when mmcv has no
CUDA ops. On the CPU both libraries have kernels, so the tests compare them
there (forward, gradients, ties, thresholds) and run the routing itself in
the ``'always'`` mode; a CUDA test runs the fallback on CUDA tensors.
"""
import importlib
import itertools

import pytest
import torch
import torchvision

from mmrlkd.ops import (mmcv_has_cuda_ops, mode_from_env, ops_fallback_active,
                        routes_to_torchvision, set_ops_fallback,
                        torchvision_nms)

mmcv_ops = pytest.importorskip('mmcv.ops')


def torchvision_ops_run(fn, *args, **kwargs):
    """Call fn; return its result and the torchvision ops that ran in it
    (as PyTorch's profiler recorded them)."""
    with torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        result = fn(*args, **kwargs)
    names = {event.name for event in prof.events()}
    return result, {name for name in names if name.startswith('torchvision')}


@pytest.fixture
def fallback():
    """Set a mode for one test, then restore what import mmrlkd set."""
    yield set_ops_fallback
    set_ops_fallback(mode_from_env())


def random_rois(generator, num, height, width, batch, scale):
    """RoIs (num, 5) in input-image coordinates: tiny, large and partly
    outside boxes, and one zero-size box."""
    size = torch.tensor([width, height], dtype=torch.float32) / scale
    xy1 = torch.rand(num, 2, generator=generator) * size * 1.2 - 0.1 * size
    wh = torch.rand(num, 2, generator=generator) * size * 0.7
    wh[:num // 4] *= 0.05
    xy2 = xy1 + wh
    xy2[-1] = xy1[-1]
    index = torch.randint(batch, (num, 1), generator=generator).float()
    return torch.cat([index, xy1, xy2], dim=1)


@pytest.mark.parametrize(
    'aligned, sampling_ratio, spatial_scale, output_size',
    list(
        itertools.product([True, False], [0, 2], [1.0, 0.5, 0.25, 0.125],
                          [7, (3, 5)])))
def test_roi_align_kernels_agree(aligned, sampling_ratio, spatial_scale,
                                 output_size):
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(2, 3, 24, 32, generator=generator)
    rois = random_rois(generator, 24, 24, 32, 2, spatial_scale)
    outputs, grads = [], []
    for op in (mmcv_ops.roi_align, torchvision.ops.roi_align):
        x = features.clone().requires_grad_()
        if op is mmcv_ops.roi_align:
            out = op(x, rois, output_size, spatial_scale, sampling_ratio,
                     'avg', aligned)
        else:
            out = op(x, rois, output_size, spatial_scale, sampling_ratio,
                     aligned)
        out.backward(torch.cos(torch.arange(out.numel()).view_as(out)))
        outputs.append(out.detach())
        grads.append(x.grad)
    assert outputs[0].abs().sum() > 0
    torch.testing.assert_close(outputs[1], outputs[0], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-6, atol=1e-6)


def test_roi_align_module_is_routed(fallback):
    generator = torch.Generator().manual_seed(1)
    features = torch.randn(2, 4, 16, 16, generator=generator)
    rois = random_rois(generator, 10, 16, 16, 2, 0.5)
    layer = mmcv_ops.RoIAlign(7, spatial_scale=0.5, sampling_ratio=0)
    results = {}
    for mode in ('off', 'always'):
        fallback(mode)
        x = features.clone().requires_grad_()
        out = layer(x, rois)
        out.sum().backward()
        results[mode] = (out.detach(), x.grad, type(out.grad_fn).__name__)
    # Same numbers, computed by different kernels (their autograd nodes).
    torch.testing.assert_close(results['always'][0], results['off'][0])
    torch.testing.assert_close(results['always'][1], results['off'][1])
    assert results['off'][2] == 'RoIAlignFunctionBackward'
    assert results['always'][2] != results['off'][2]


def test_max_pool_roi_align_stays_with_mmcv(fallback):
    fallback('always')
    layer = mmcv_ops.RoIAlign(2, pool_mode='max', sampling_ratio=2)
    out = layer(
        torch.randn(1, 1, 8, 8, requires_grad=True),
        torch.tensor([[0., 1., 1., 6., 6.]]))
    assert type(out.grad_fn).__name__ == 'RoIAlignFunctionBackward'


def test_mmdet_roi_extractor_is_routed(fallback):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    extractor = MODELS.build(
        dict(
            type='mmdet.SingleRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
            out_channels=4,
            featmap_strides=[4, 8]))
    generator = torch.Generator().manual_seed(2)
    feats = (torch.randn(2, 4, 32, 32, generator=generator),
             torch.randn(2, 4, 16, 16, generator=generator))
    rois = random_rois(generator, 16, 32, 32, 2, 0.25)
    fallback('off')
    expected, ops_off = torchvision_ops_run(extractor, feats, rois)
    fallback('always')
    routed, ops_on = torchvision_ops_run(extractor, feats, rois)
    torch.testing.assert_close(routed, expected)
    assert ops_off == set()
    assert 'torchvision::roi_align' in ops_on


def mmcv_nms_kernel(boxes, scores, iou_threshold, offset=0):
    return importlib.import_module('mmcv._ext').nms(
        boxes, scores, iou_threshold=float(iou_threshold), offset=offset)


def boxes_with_ties(generator, num):
    """Overlapping boxes on a coarse grid with scores from 5 values, so
    many boxes share a score and many IoUs are exactly equal."""
    xy1 = torch.randint(0, 12, (num, 2), generator=generator).float()
    wh = torch.randint(1, 8, (num, 2), generator=generator).float()
    scores = torch.randint(0, 5, (num, ), generator=generator).float() / 4
    return torch.cat([xy1, xy1 + wh], dim=1), scores


@pytest.mark.parametrize('iou_threshold', [0.0, 0.1, 0.3, 0.5, 0.7, 1.0])
@pytest.mark.parametrize('offset', [0, 1])
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_nms_kernels_agree_with_ties(iou_threshold, offset, seed):
    boxes, scores = boxes_with_ties(torch.Generator().manual_seed(seed), 80)
    expected = mmcv_nms_kernel(boxes, scores, iou_threshold, offset)
    kept = torchvision_nms(boxes, scores, iou_threshold, offset)
    assert kept.dtype == expected.dtype == torch.int64
    assert 0 < len(expected) < len(boxes) or iou_threshold in (0.0, 1.0)
    assert kept.tolist() == expected.tolist()


def test_nms_threshold_is_compared_in_float32():
    # IoU 3/10 equals float32(0.3), which is above the double 0.3: mmcv
    # keeps both boxes, a double comparison would drop one.
    boxes = torch.tensor([[0., 0., 6., 1.], [3., 0., 10., 1.]])
    scores = torch.tensor([0.9, 0.8])
    assert mmcv_nms_kernel(boxes, scores, 0.3).tolist() == [0, 1]
    assert torchvision_nms(boxes, scores, 0.3).tolist() == [0, 1]
    assert torchvision.ops.nms(boxes, scores, 0.3).tolist() == [0]


def test_nms_of_no_boxes():
    empty = torch.zeros(0, 4)
    assert torchvision_nms(empty, torch.zeros(0), 0.5).shape == (0, )
    assert mmcv_nms_kernel(empty, torch.zeros(0), 0.5).shape == (0, )


@pytest.mark.parametrize('score_threshold, max_num', [(0, -1), (0.3, 5)])
def test_mmcv_nms_is_routed(fallback, score_threshold, max_num):
    boxes, scores = boxes_with_ties(torch.Generator().manual_seed(3), 60)
    results, ops = {}, {}
    for mode in ('off', 'always'):
        fallback(mode)
        results[mode], ops[mode] = torchvision_ops_run(
            mmcv_ops.nms,
            boxes,
            scores,
            0.5,
            score_threshold=score_threshold,
            max_num=max_num)
    assert results['always'][1].tolist() == results['off'][1].tolist()
    assert torch.equal(results['always'][0], results['off'][0])
    assert ops == {'off': set(), 'always': {'torchvision::nms'}}


@pytest.mark.parametrize('split_thr', [10000, 5])
@pytest.mark.parametrize('class_agnostic', [False, True])
def test_batched_nms_routed_equals_mmcv(fallback, split_thr, class_agnostic):
    generator = torch.Generator().manual_seed(4)
    boxes, scores = boxes_with_ties(generator, 70)
    idxs = torch.randint(0, 4, (70, ), generator=generator)
    cfg = dict(iou_threshold=0.4, split_thr=split_thr)
    results, ops = {}, {}
    for mode in ('off', 'always'):
        fallback(mode)
        results[mode], ops[mode] = torchvision_ops_run(mmcv_ops.batched_nms,
                                                       boxes, scores, idxs,
                                                       cfg, class_agnostic)
    assert results['always'][1].tolist() == results['off'][1].tolist()
    assert torch.equal(results['always'][0], results['off'][0])
    assert ops == {'off': set(), 'always': {'torchvision::nms'}}


def test_batched_nms_matches_torchvision_without_ties(fallback):
    # Continuous boxes and scores: no tied score, no IoU at the threshold
    # (plain torchvision compares IoUs with a double threshold).
    generator = torch.Generator().manual_seed(5)
    xy1 = torch.rand(70, 2, generator=generator) * 12
    boxes = torch.cat(
        [xy1, xy1 + 1 + torch.rand(70, 2, generator=generator) * 7], dim=1)
    scores = torch.rand(70, generator=generator)
    idxs = torch.randint(0, 4, (70, ), generator=generator)
    expected = torchvision.ops.batched_nms(boxes, scores, idxs, 0.4)
    for mode in ('off', 'always'):
        fallback(mode)
        _, keep = mmcv_ops.batched_nms(boxes, scores, idxs,
                                       dict(iou_threshold=0.4))
        assert keep.tolist() == expected.tolist()


@pytest.mark.parametrize('mode, device, cuda_ops, routed', [
    ('auto', 'cuda', False, True),
    ('auto', 'cuda', True, False),
    ('auto', 'cpu', False, False),
    ('auto', 'meta', False, False),
    ('off', 'cuda', False, False),
    ('always', 'cpu', True, True),
    ('always', 'cuda', True, True),
])
def test_routing_rule(mode, device, cuda_ops, routed):
    assert routes_to_torchvision(device, mode, cuda_ops) is routed


def test_auto_mode_patches_only_when_needed(fallback):
    needed = torch.cuda.is_available() and not mmcv_has_cuda_ops()
    assert fallback('auto') is needed
    assert ops_fallback_active() is needed
    assert fallback('0') is False
    assert not ops_fallback_active()
    with pytest.raises(ValueError, match='auto, off'):
        fallback('yes')


def test_mode_from_env():
    assert mode_from_env({}) == 'auto'
    assert mode_from_env({'MMRLKD_OPS_FALLBACK': '0'}) == 'off'
    assert mode_from_env({'MMRLKD_OPS_FALLBACK': 'Always'}) == 'always'
    with pytest.raises(ValueError, match='MMRLKD_OPS_FALLBACK'):
        mode_from_env({'MMRLKD_OPS_FALLBACK': 'on'})


def test_mmcv_cuda_ops_are_read_from_the_library():
    # Independent evidence: a CUDA build of mmcv._ext links the CUDA runtime.
    path = importlib.import_module('mmcv._ext').__file__
    with open(path, 'rb') as f:
        links_cudart = b'cudaLaunchKernel' in f.read()
    assert mmcv_has_cuda_ops() is links_cudart


@pytest.mark.cuda
@pytest.mark.skipif(
    not torch.cuda.is_available(), reason='needs a CUDA device')
def test_fallback_on_cuda_tensors_equals_mmcv_on_cpu(fallback):
    generator = torch.Generator().manual_seed(6)
    features = torch.randn(2, 3, 24, 32, generator=generator)
    rois = random_rois(generator, 24, 24, 32, 2, 0.5)
    boxes, scores = boxes_with_ties(generator, 80)
    idxs = torch.randint(0, 4, (80, ), generator=generator)
    layer = mmcv_ops.RoIAlign(7, spatial_scale=0.5, sampling_ratio=2)
    fallback('off')
    expected_roi = layer(features, rois)
    expected_nms = mmcv_ops.batched_nms(boxes, scores, idxs,
                                        dict(iou_threshold=0.5))[1]
    # 'always' routes even with a CUDA build of mmcv; 'auto' where needed.
    for mode in ('always', 'auto'):
        if mode == 'auto' and mmcv_has_cuda_ops():
            continue
        assert fallback(mode)
        out = layer(features.cuda(), rois.cuda())
        torch.testing.assert_close(
            out.cpu(), expected_roi, rtol=1e-5, atol=1e-5)
        keep = mmcv_ops.batched_nms(boxes.cuda(), scores.cuda(), idxs.cuda(),
                                    dict(iou_threshold=0.5))[1]
        assert keep.cpu().tolist() == expected_nms.tolist()
