"""Capture a two-stage detector's sampled RoIs, RoI logits and RoI labels.

In MMDetection 3.x, ``StandardRoIHead.bbox_loss`` samples RoIs, scores them
and hands all of it to ``bbox_head.loss_and_target(cls_score, bbox_pred,
rois, sampling_results, rcnn_train_cfg)``, which computes the targets and
the losses. That call is the one place where the RoIs (N, 5), their
(C + 1)-way logits and their labels (background = C) meet, in the same row
order, so the capture wraps it, for one head instance only and only inside a
``with`` block: nothing is recomputed, no class or module attribute is
patched (a teacher of the same class is untouched), and a head that calls
``bbox2roi`` twice (mask heads) does not confuse it.
"""
import inspect

import torch


class SampledRoICapture:
    """Record what one bbox head's ``loss_and_target`` sees, while active.

    The attributes are set by a forward inside the ``with`` block.

    Attributes:
        rois (Tensor): (N, 5) ``[batch_idx, x1, y1, x2, y2]`` of the sampled
            RoIs, detached.
        cls_score (Tensor): (N, C + 1) RoI logits, still in the student's
            graph (the distillation loss backpropagates through them).
        labels (Tensor): (N,) RoI targets, ``C`` for background.

    Args:
        bbox_head (nn.Module): An MMDetection ``BBoxHead`` (e.g.
            ``Shared2FCBBoxHead``).

    Examples:
        >>> capture = SampledRoICapture(detector.roi_head.bbox_head)
        >>> with capture:
        ...     losses = detector(inputs, data_samples, mode='loss')
        >>> capture.rois.shape, capture.cls_score.shape
    """

    def __init__(self, bbox_head):
        if not hasattr(bbox_head, 'loss_and_target'):
            raise TypeError('SampledRoICapture needs an MMDetection BBoxHead '
                            '(with loss_and_target), got '
                            f'{type(bbox_head).__name__}')
        self.bbox_head = bbox_head
        self._signature = inspect.signature(bbox_head.loss_and_target)
        self._records = []

    def __enter__(self):
        self._records = []
        original = self.bbox_head.loss_and_target

        def recording_loss_and_target(*args, **kwargs):
            result = original(*args, **kwargs)
            bound = self._signature.bind(*args, **kwargs).arguments
            labels = result['bbox_targets'][0]
            if isinstance(labels, (list, tuple)):  # concat=False
                labels = torch.cat(list(labels))
            self._records.append(
                (bound['rois'].detach(), bound['cls_score'], labels.detach()))
            return result

        # An instance attribute shadows the class method until __exit__.
        self.bbox_head.loss_and_target = recording_loss_and_target
        return self

    def __exit__(self, exc_type, exc, traceback):
        del self.bbox_head.loss_and_target
        return False

    def _only_record(self):
        if len(self._records) != 1:
            raise RuntimeError(
                'expected the RoI head to compute its box loss exactly once '
                f'per forward, it did {len(self._records)} times (only '
                'single-stage RoI heads such as StandardRoIHead are '
                'supported, not cascades)')
        return self._records[0]

    @property
    def rois(self):
        return self._only_record()[0]

    @property
    def cls_score(self):
        return self._only_record()[1]

    @property
    def labels(self):
        return self._only_record()[2]
