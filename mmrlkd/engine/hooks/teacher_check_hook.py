"""Measure the teacher on a few training batches before the run starts.

A teacher that loaded without error can still be useless: trained on other
data, another class order, or saved before it learned. Before the first
iteration, rank 0 classifies a few training batches with every teacher
(a detector: the RoIs the student's sampler picks, against their labels),
logs the accuracy and, for a teacher loaded from a ``teacher_ckpt``, stops
the run when it is at chance level. The other ranks wait for rank 0's
verdict, so all stop together. The random states are restored afterwards,
so the run trains exactly as it would without the check.
"""
import logging

import torch
from mmengine.dist import broadcast_object_list, get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmrlkd.registry import HOOKS
from .random_state_hook import get_random_states, set_random_states


class TeacherCheckError(RuntimeError):
    """A teacher at chance level on the training data."""


def named_teachers(model, model_cfg=None):
    """(name, teacher, checkpoint or None) of a distiller's teachers.

    The checkpoint is the one :func:`load_teacher` noted on the teacher or,
    for distillers that load it themselves (MMRazor's
    ``SingleTeacherDistill``), the config's ``teacher_ckpt``.
    """
    model_cfg = model_cfg or {}
    teachers = getattr(model, 'teachers', None)
    if teachers is not None:
        ckpts = model_cfg.get('teacher_ckpts') or [None] * len(teachers)
        named = [(f'teacher {i}', t, c)
                 for i, (t, c) in enumerate(zip(teachers, ckpts))]
    else:
        teacher = getattr(model, 'teacher', None)
        named = [] if teacher is None else [
            ('teacher', teacher, model_cfg.get('teacher_ckpt'))
        ]
    return [(name, teacher,
             getattr(teacher, '_mmrlkd_teacher_ckpt', None) or ckpt)
            for name, teacher, ckpt in named]


def evenly_spaced_batches(dataloader, num_batches):
    """Collated batches of training samples spread over the dataset."""
    dataset = dataloader.dataset
    batch_size = dataloader.batch_size or getattr(
        dataloader.batch_sampler, 'batch_size', 1)  # e.g. MMDet's
    num = min(len(dataset), num_batches * batch_size)
    step = len(dataset) / max(num, 1)
    indices = [int(i * step) for i in range(num)]
    return [
        dataloader.collate_fn(
            [dataset[i] for i in indices[start:start + batch_size]])
        for start in range(0, num, batch_size)
    ]


def classifier_hits(model, teacher, data):
    """(logits, labels) of a classifier teacher on one batch."""
    samples = data['data_samples']
    logits = teacher(data['inputs'], samples, mode='tensor')
    if isinstance(logits, (tuple, list)):
        logits = logits[-1]
    labels = torch.stack([s.gt_label.reshape(-1)[0] for s in samples])
    return logits.float().cpu(), labels.cpu()


def detector_hits(model, teacher, data):
    """(logits, labels) of a detector teacher on the RoIs the
    student's sampler picks for one batch (background: label C)."""
    from mmrlkd.models.algorithms import SampledRoICapture
    inputs, samples = data['inputs'], data['data_samples']
    student = model.student
    capture = SampledRoICapture(student.roi_head.bbox_head)
    with capture:
        student(inputs, samples, mode='loss')
    feats = teacher.extract_feat(inputs)
    scores = teacher.roi_head._bbox_forward(feats, capture.rois)['cls_score']
    return scores.float().cpu(), capture.labels.cpu()


@HOOKS.register_module()
class TeacherCheckHook(Hook):
    """Stop a distillation run whose teacher is at chance level.

    Args:
        num_batches (int): Training batches measured. Defaults to 4.
        min_accuracy (float, optional): Stop below this balanced accuracy
            (the mean over the measured labels' classes of the share of
            each class predicted right; a fraction). None: chance level,
            1 / the number of those classes (what a constant or a random
            prediction gets), plus ``margin``. 0 only logs.
            Defaults to None.
        margin (float): Above chance level, see ``min_accuracy``.
            Defaults to 0.1.
        enabled (bool): False skips the check (the off switch:
            ``--cfg-options default_hooks.teacher_check.enabled=False``).
            Defaults to True.

    Note:
        The balanced accuracy decides, not the top-1 (which is logged too):
        on a detector's sampled RoIs, mostly background, a teacher that
        always says "background" has a high top-1.

    Teachers built without ``teacher_ckpt`` (random on purpose, e.g. in
    tests) are measured and logged, never stopped.
    """

    priority = 'HIGH'  # after LabelRangeHook

    def __init__(self,
                 num_batches=4,
                 min_accuracy=None,
                 margin=0.1,
                 enabled=True):
        if num_batches < 1:
            raise ValueError(f'num_batches must be >= 1, got {num_batches}')
        self.num_batches = num_batches
        self.min_accuracy = min_accuracy
        self.margin = margin
        self.enabled = enabled

    def before_train(self, runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        teachers = named_teachers(model, runner.cfg.get('model'))
        if not (teachers and self.enabled):
            return
        verdict = [None]
        if get_rank() == 0:
            try:
                verdict[0] = self._measure(runner, model, teachers)
            except Exception as error:  # all ranks must hear of it
                verdict[0] = ('TeacherCheckHook could not measure the '
                              f'teacher: {type(error).__name__}: {error}')
        if get_world_size() > 1:
            broadcast_object_list(verdict, src=0)
        if verdict[0]:
            raise TeacherCheckError(verdict[0])

    def _measure(self, runner, model, teachers):
        """Log every teacher's accuracy; the error text, or None."""
        states = get_random_states()
        modes = [(m, m.training) for m in model.modules()]
        model.eval()
        try:
            with torch.no_grad():
                batches = evenly_spaced_batches(runner.train_dataloader,
                                                self.num_batches)
                data = [model.data_preprocessor(b, False) for b in batches]
                return self._verdict(model, teachers, data)
        finally:
            set_random_states(states)
            for module, training in modes:
                module.training = training

    def _verdict(self, model, teachers, data):
        hits = classifier_hits
        what = 'training images'
        if hasattr(model, 'teacher_roi_logits'):
            hits, what = detector_hits, "of the student's sampled RoIs"
        for name, teacher, ckpt in teachers:
            results = [hits(model, teacher, batch) for batch in data]
            logits = torch.cat([out for out, _ in results])
            labels = torch.cat([lab for _, lab in results])
            right = (logits.argmax(1) == labels).float()
            classes = labels.unique()
            balanced = torch.stack(
                [right[labels == c].mean() for c in classes]).mean().item()
            chance = 1 / len(classes)
            threshold = chance + self.margin \
                if self.min_accuracy is None else self.min_accuracy
            report = (f'{name} top-1 {right.mean().item():.1%}, balanced '
                      f'accuracy {balanced:.1%} on {len(labels)} {what} '
                      f'(chance level {chance:.1%})')
            if balanced >= threshold:
                print_log(f'TeacherCheckHook: {report}', logger='current')
            elif ckpt is None:
                print_log(
                    f'TeacherCheckHook: {report}; not stopping: the '
                    f'{name} has no teacher_ckpt (its weights are its init)',
                    logger='current',
                    level=logging.WARNING)
            else:
                return (
                    f'the {name} loaded from {ckpt!r} is at chance level: '
                    f'{report}, below the {threshold:.1%} the run needs. It '
                    'is untrained, or trained on other data or another '
                    'class order. Fix: pass the teacher_ckpt of a teacher '
                    'trained on this dataset (check it with tools/test.py); '
                    'to train with it anyway, set '
                    'default_hooks.teacher_check.min_accuracy=0 (logs only)'
                    ' or default_hooks.teacher_check.enabled=False')
        return None
