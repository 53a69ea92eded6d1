"""StudentRoIDistill: the teacher scores exactly the student's sampled RoIs.

Real MMDetection Faster R-CNNs (the Shapes demo's R18-FPN widths 8 and 32,
random weights) on mmdet's demo batches. References are computed by hand:
RoI features with torchvision's RoIAlign at the FPN level the RoI's size
picks, the teacher's box head layer by layer, RoI labels from box IoUs.
"""
import copy
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
import torchvision
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config
from mmengine.hub import get_config

from mmrlkd.models import (SampledRoICapture, StudentRoIDistill,
                           instance_dkd_loss)
from mmrlkd.registry import MODELS

ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
SHAPES_MODELS = osp.join(ROOT, 'configs/_base_/models/faster_rcnn_shapes.py')
NUM_CLASSES = 3
BACKGROUND = NUM_CLASSES

# Small detectors on shared CPU cores: one thread is faster here.
pytestmark = pytest.mark.usefixtures('one_thread')


def detector_cfg(width,
                 num_classes=NUM_CLASSES,
                 rcnn_samples=64,
                 norm_eval=False):
    cfg = copy.deepcopy(
        Config.fromfile(SHAPES_MODELS).faster_rcnn_r18w8_shapes)
    cfg.backbone.base_channels = width
    cfg.neck.in_channels = [width, 2 * width, 4 * width, 8 * width]
    cfg.backbone.norm_eval = norm_eval
    cfg.roi_head.bbox_head.num_classes = num_classes
    cfg.train_cfg.rcnn.sampler.num = rcnn_samples
    return cfg


def build(student=None,
          teacher=None,
          provider=None,
          roi_losses=None,
          **kwargs):
    torch.manual_seed(0)
    cfg = dict(
        _scope_='mmrazor',
        type='mmrlkd.StudentRoIDistill',
        architecture=student or detector_cfg(8),
        teacher=teacher or detector_cfg(32),
        distiller=dict(
            type='mmrlkd.RoITemperatureDistiller',
            temperature_provider=provider
            or dict(type='mmrlkd.FixedTemperature', temperature=1.0),
            roi_losses=roi_losses
            or dict(loss_kd=dict(type='mmrlkd.InstanceKDLoss', tau=1.0))),
        **kwargs)
    model = MODELS.build(cfg)
    model.train()
    return model


def batch(model, num_items=(3, 2), size=96):
    packed = demo_mm_inputs(
        batch_size=len(num_items),
        image_shapes=[(3, size, size)] * len(num_items),
        num_items=list(num_items),
        num_classes=NUM_CLASSES,
        with_mask=False)
    return model.data_preprocessor(packed, True)


def spy_on_roi_losses(model):
    """Keep what the distiller is handed (the real method still runs)."""
    seen = {}
    original = model.distiller.compute_roi_losses

    def spy(preds_S, preds_T, gt_labels):
        seen.update(preds_S=preds_S, preds_T=preds_T, gt_labels=gt_labels)
        return original(preds_S, preds_T, gt_labels)

    model.distiller.compute_roi_losses = spy
    return seen


def record_student_rois(model):
    """The RoIs the student's own RoI extractor pools, from a forward hook."""
    seen = []
    extractor = model.student.roi_head.bbox_roi_extractor
    extractor.register_forward_hook(
        lambda module, args, out: seen.append(args[1].detach().clone()))
    return seen


def teacher_logits_by_hand(teacher, inputs, rois):
    """Teacher backbone + FPN, RoIAlign per level by hand, box head layers."""
    with torch.no_grad():
        feats = teacher.neck(teacher.backbone(inputs))
        extractor = teacher.roi_head.bbox_roi_extractor
        strides = extractor.featmap_strides
        w = rois[:, 3] - rois[:, 1]
        h = rois[:, 4] - rois[:, 2]
        level = torch.floor(torch.log2(torch.sqrt(w * h) / 56 + 1e-6))
        level = level.clamp(0, len(strides) - 1).long()
        pooled = inputs.new_zeros(len(rois), feats[0].shape[1], 7, 7)
        for lvl, stride in enumerate(strides):
            rows = level == lvl
            if rows.any():
                pooled[rows] = torchvision.ops.roi_align(
                    feats[lvl],
                    rois[rows],
                    7,
                    spatial_scale=1.0 / stride,
                    sampling_ratio=0,
                    aligned=True)
        head = teacher.roi_head.bbox_head
        x = pooled.flatten(1)
        for fc in head.shared_fcs:
            x = F.relu(fc(x))
        return head.fc_cls(x)


def labels_by_hand(rois, data_samples, iou_threshold=0.5):
    """Class of the best-overlapping GT box if IoU >= 0.5, else background."""
    labels = torch.full((len(rois), ), BACKGROUND, dtype=torch.long)
    for i, sample in enumerate(data_samples):
        rows = rois[:, 0] == i
        gt_boxes = sample.gt_instances.bboxes
        if len(gt_boxes) == 0 or not rows.any():
            continue
        boxes = rois[rows, 1:]
        lt = torch.max(boxes[:, None, :2], gt_boxes[None, :, :2])
        rb = torch.min(boxes[:, None, 2:], gt_boxes[None, :, 2:])
        inter = (rb - lt).clamp(min=0).prod(2)
        area = (boxes[:, 2:] - boxes[:, :2]).prod(1)
        gt_area = (gt_boxes[:, 2:] - gt_boxes[:, :2]).prod(1)
        iou = inter / (area[:, None] + gt_area[None, :] - inter)
        best, index = iou.max(1)
        image_labels = torch.full_like(index, BACKGROUND)
        positive = best >= iou_threshold
        image_labels[positive] = sample.gt_instances.labels[index[positive]]
        labels[rows] = image_labels
    return labels


def check_teacher_scored_student_rois(model, data):
    """Run a loss step and compare what the distiller got with references."""
    seen = spy_on_roi_losses(model)
    student_rois = record_student_rois(model)
    losses = model(**data, mode='loss')
    assert len(student_rois) == 1
    rois = student_rois[0]
    assert seen['preds_S'].shape == seen['preds_T'].shape == (len(rois),
                                                              NUM_CLASSES + 1)
    reference = teacher_logits_by_hand(model.teacher, data['inputs'], rois)
    torch.testing.assert_close(
        seen['preds_T'], reference, atol=1e-4, rtol=1e-4)
    assert torch.equal(seen['gt_labels'],
                       labels_by_hand(rois, data['data_samples']))
    assert seen['preds_S'].requires_grad and not seen['preds_T'].requires_grad
    return losses, seen, rois


def test_teacher_scores_exactly_the_students_sampled_rois():
    model = build()
    data = batch(model)
    losses, seen, rois = check_teacher_scored_student_rois(model, data)
    # Both images were sampled (64 RoIs each, GT boxes among them).
    assert rois[:, 0].unique().tolist() == [0, 1]
    assert (seen['gt_labels'] < BACKGROUND).any()
    assert float(losses['distill.roi_count']) == len(rois)
    assert float(losses['distill.roi_skipped']) == 0
    for key in ('student.loss_cls', 'student.loss_rpn_cls', 'distill.loss_kd'):
        assert key in losses
    # The KD loss is vanilla KD at T = 1 over exactly these rows.
    expected = F.kl_div(
        F.log_softmax(seen['preds_S'], 1),
        F.log_softmax(seen['preds_T'], 1),
        reduction='sum',
        log_target=True) / len(rois)
    torch.testing.assert_close(losses['distill.loss_kd'], expected)


def test_a_teacher_equal_to_the_student_gives_the_same_rows():
    """Same weights and BN statistics: row i is the same box on both sides."""
    student = detector_cfg(8, norm_eval=True)
    model = build(student=student, teacher=copy.deepcopy(student))
    model.teacher.load_state_dict(model.student.state_dict())
    seen = spy_on_roi_losses(model)
    losses = model(**batch(model), mode='loss')
    torch.testing.assert_close(
        seen['preds_T'], seen['preds_S'].detach(), atol=1e-5, rtol=1e-5)
    assert abs(float(losses['distill.loss_kd'].detach())) < 1e-6


def test_images_without_ground_truth_and_fewer_rois_than_the_quota():
    # 1000 samples per image asked for; the RPN keeps at most 300 proposals.
    model = build(student=detector_cfg(8, rcnn_samples=1000))
    data = batch(model, num_items=(4, 0))
    losses, seen, rois = check_teacher_scored_student_rois(model, data)
    per_image = torch.bincount(rois[:, 0].long(), minlength=2)
    assert (per_image > 0).all() and (per_image < 1000).all()
    assert (seen['gt_labels'][rois[:, 0] == 1] == BACKGROUND).all()
    total, _ = model.parse_losses(losses)
    total.backward()
    grads = [p.grad for p in model.student.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_a_batch_without_any_ground_truth():
    model = build()
    data = batch(model, num_items=(0, 0))
    losses, seen, _ = check_teacher_scored_student_rois(model, data)
    assert (seen['gt_labels'] == BACKGROUND).all()
    assert torch.isfinite(losses['distill.loss_kd'])


def test_teacher_with_other_classes_fails_at_build_time():
    with pytest.raises(
            ValueError,
            match='teacher detector has 5 classes '
            'and the student has 3'):
        # The check comes before the (missing) checkpoint would be loaded.
        build(
            teacher=detector_cfg(32, num_classes=5),
            teacher_ckpt='does/not/exist.pth')


def test_non_two_stage_teacher_is_rejected():
    retina = get_config('mmdet::_base_/models/retinanet_r50_fpn.py').model
    retina.update(_scope_='mmdet')
    retina['backbone'].update(depth=18, base_channels=8, init_cfg=None)
    retina['neck']['in_channels'] = [8, 16, 32, 64]
    with pytest.raises(TypeError, match='the teacher is a RetinaNet'):
        build(teacher=retina)


def test_non_finite_teacher_rows_are_skipped_and_counted():
    model = build()
    bad_rows = [0, 3, 7]

    def corrupt(module, args, out):
        out = out.clone()
        out[bad_rows[:2]] = float('nan')
        out[bad_rows[2], 1] = float('inf')
        return out

    model.teacher.roi_head.bbox_head.fc_cls.register_forward_hook(corrupt)
    seen = spy_on_roi_losses(model)
    losses = model(**batch(model), mode='loss')
    assert float(losses['distill.roi_skipped']) == len(bad_rows)
    n = len(seen['preds_S'])
    assert float(losses['distill.roi_count']) == n
    keep = torch.ones(n, dtype=torch.bool)
    keep[bad_rows] = False
    # The loss is KD over the finite rows only, averaged over them.
    expected = F.kl_div(
        F.log_softmax(seen['preds_S'][keep], 1),
        F.log_softmax(seen['preds_T'][keep], 1),
        reduction='sum',
        log_target=True) / int(keep.sum())
    torch.testing.assert_close(losses['distill.loss_kd'], expected)
    total, _ = model.parse_losses(losses)
    total.backward()
    for param in model.student.parameters():
        if param.grad is not None:
            assert torch.isfinite(param.grad).all()


def test_all_rows_non_finite_gives_zero_loss_without_the_provider():
    model = build(provider=dict(type='mmrlkd.RLKDTemperature'))
    model.temperature_provider.acting = True
    model.teacher.roi_head.bbox_head.fc_cls.register_forward_hook(
        lambda module, args, out: torch.full_like(out, float('nan')))
    losses = model(**batch(model), mode='loss')
    assert float(losses['distill.loss_kd']) == 0
    assert float(losses['distill.roi_skipped']) == float(
        losses['distill.roi_count']) > 0
    assert 'distill.temperature_mean' not in losses
    assert model.temperature_provider.last_performance is None
    assert torch.isfinite(model.parse_losses(losses)[0])


@pytest.mark.parametrize('performance', ['accuracy', 'neg_ce'])
def test_rlkd_gives_each_roi_a_temperature_and_measures_the_rois(performance):
    model = build(
        provider=dict(
            type='mmrlkd.RLKDTemperature', t_max=2.0, performance=performance))
    provider = model.temperature_provider
    provider.acting = True
    seen = spy_on_roi_losses(model)
    losses = model(**batch(model), mode='loss')
    logits, labels = seen['preds_S'].detach(), seen['gt_labels']
    if performance == 'accuracy':  # RoI accuracy, background included
        expected = (logits.argmax(1) == labels).float().mean()
    else:
        expected = -F.cross_entropy(logits, labels)
    torch.testing.assert_close(provider.last_performance, expected)
    assert 0 < float(losses['distill.temperature_min']) < float(
        losses['distill.temperature_max']) < 2
    # Its episode holds one step per RoI; the hook closes it next iteration.
    provider.finish_iteration()
    model(**batch(model), mode='loss')
    diagnostics = provider.finish_iteration()
    assert 'policy_loss' in diagnostics and 'reward' in diagnostics


def test_dkd_gets_the_roi_labels():
    model = build(
        roi_losses=dict(
            loss_dkd=dict(
                type='mmrlkd.InstanceDKDLoss', tau=1.0, alpha=1.0, beta=0.25)))
    seen = spy_on_roi_losses(model)
    losses = model(**batch(model), mode='loss')
    expected = instance_dkd_loss(
        seen['preds_S'],
        seen['preds_T'],
        seen['gt_labels'],
        1.0,
        1.0,
        alpha=1.0,
        beta=0.25)
    torch.testing.assert_close(losses['distill.loss_dkd'], expected)


def test_capture_wraps_one_head_only_while_active():
    model = build()
    student_head = model.student.roi_head.bbox_head
    teacher_head = model.teacher.roi_head.bbox_head
    capture = SampledRoICapture(student_head)
    with pytest.raises(RuntimeError, match='exactly once'):
        capture.rois
    with capture:
        assert 'loss_and_target' in vars(student_head)
        assert 'loss_and_target' not in vars(teacher_head)
        model.student(**batch(model), mode='loss')
    assert 'loss_and_target' not in vars(student_head)
    assert capture.rois.shape[1] == 5
    assert len(capture.labels) == len(capture.cls_score) == len(capture.rois)


def test_distiller_rejects_losses_without_temperature():
    with pytest.raises(ValueError, match='no `temperature` argument'):
        build(roi_losses=dict(loss_kl=dict(type='KLDivergence')))
    with pytest.raises(ValueError, match='must contain "loss"'):
        build(roi_losses=dict(kd=dict(type='mmrlkd.InstanceKDLoss')))


def test_the_algorithm_is_registered():
    assert MODELS.get('StudentRoIDistill') is StudentRoIDistill


def test_distiller_with_no_rois_at_all():
    model = build(provider=dict(type='mmrlkd.RLKDTemperature'))
    model.temperature_provider.acting = True
    preds_S = torch.zeros(0, NUM_CLASSES + 1, requires_grad=True)
    losses = model.distiller.compute_roi_losses(
        preds_S, torch.zeros(0, NUM_CLASSES + 1),
        torch.zeros(0, dtype=torch.long))
    assert float(losses['loss_kd']) == 0
    assert float(losses['roi_count']) == float(losses['roi_skipped']) == 0
    assert model.temperature_provider.last_performance is None


def test_a_same_batch_reward_is_refused_with_a_clear_error():
    with pytest.raises(ValueError, match='same_batch'):
        build(
            provider=dict(type='mmrlkd.RLKDTemperature', reward='same_batch'))
