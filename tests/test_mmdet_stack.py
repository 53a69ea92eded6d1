"""MMDetection's Faster R-CNN trains and predicts on CPU with mmcv's ops."""
import numpy as np
import pytest
import torch
import torchvision
from mmengine.hub import get_config
from mmengine.registry import DefaultScope


def greedy_nms(boxes, scores, iou_threshold):
    """Reference NMS: a plain loop over boxes in descending score order."""
    order = np.argsort(-scores, kind='stable')
    keep = []
    for i in order:
        ok = True
        for j in keep:
            x1 = max(boxes[i, 0], boxes[j, 0])
            y1 = max(boxes[i, 1], boxes[j, 1])
            x2 = min(boxes[i, 2], boxes[j, 2])
            y2 = min(boxes[i, 3], boxes[j, 3])
            inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
            area_i = (boxes[i, 2] - boxes[i, 0]) * (boxes[i, 3] - boxes[i, 1])
            area_j = (boxes[j, 2] - boxes[j, 0]) * (boxes[j, 3] - boxes[j, 1])
            if inter / (area_i + area_j - inter) > iou_threshold:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


def test_compiled_nms_matches_a_loop():
    from mmcv.ops import nms
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 80, size=(60, 2))
    wh = rng.uniform(5, 40, size=(60, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
    scores = rng.uniform(size=60).astype(np.float32)
    _, keep = nms(torch.from_numpy(boxes), torch.from_numpy(scores), 0.5)
    assert keep.tolist() == greedy_nms(boxes, scores, 0.5)


def test_compiled_roi_align_matches_torchvision():
    from mmcv.ops import RoIAlign
    feats = torch.randn(2, 8, 24, 24)
    rois = torch.tensor([[0, 1.0, 2.0, 15.0, 20.0], [1, 3.5, 0.0, 23.0, 9.0],
                         [0, 0.0, 0.0, 24.0, 24.0]])
    ours = RoIAlign((7, 7),
                    spatial_scale=0.5,
                    sampling_ratio=2,
                    aligned=True,
                    use_torchvision=False)(feats, rois)
    reference = torchvision.ops.roi_align(
        feats, rois, (7, 7), spatial_scale=0.5, sampling_ratio=2, aligned=True)
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)


@pytest.fixture(scope='module')
def faster_rcnn():
    """A Faster R-CNN R18-FPN with 3 classes and small samplers."""
    from mmdet.registry import MODELS
    model_cfg = get_config(
        'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py').model
    model_cfg.backbone.depth = 18
    model_cfg.backbone.init_cfg = None
    model_cfg.neck.in_channels = [64, 128, 256, 512]
    model_cfg.roi_head.bbox_head.num_classes = 3
    model_cfg.train_cfg.rpn.sampler.num = 64
    model_cfg.train_cfg.rcnn.sampler.num = 32
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(model_cfg)
    model.init_weights()
    return model


def test_faster_rcnn_loss_step_and_predict_on_cpu(faster_rcnn):
    from mmdet.testing import demo_mm_inputs
    model = faster_rcnn
    assert not model.roi_head.bbox_roi_extractor.roi_layers[0].use_torchvision
    packed = demo_mm_inputs(
        batch_size=2,
        image_shapes=[(3, 128, 160)] * 2,
        num_items=[3, 2],
        num_classes=3,
        with_mask=False)

    model.train()
    data = model.data_preprocessor(packed, True)
    losses = model(**data, mode='loss')
    for key in ('loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox'):
        assert key in losses
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    total.backward()
    optimizer.step()
    grads = [p.grad for p in model.roi_head.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)

    model.eval()
    data = model.data_preprocessor(packed, False)
    with torch.no_grad():
        results = model(**data, mode='predict')
    assert len(results) == 2
    for result in results:
        pred = result.pred_instances
        assert pred.bboxes.shape[1] == 4
        assert len(pred.bboxes) == len(pred.scores) == len(pred.labels)
        assert len(pred.bboxes) <= 100
