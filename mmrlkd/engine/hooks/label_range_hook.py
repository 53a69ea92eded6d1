"""Stop on a label the heads cannot predict, on the host, before training.

A label outside ``[0, num_classes)`` reaches the cross-entropy on the GPU
and fails there with a device-side assert that names neither the label nor
the head (and leaves the CUDA context unusable). The training set's labels
are known from its annotations: they are read once, before the first
iteration, without loading an image; every rank reads the same ones, so all
ranks stop together without a collective. Datasets that cannot list their
labels are checked batch by batch, on the host copies of the labels.
"""
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmrlkd.registry import HOOKS
from .teacher_check_hook import named_teachers

#: Wrappers that only repeat their ``dataset``'s samples.
REPEATING_WRAPPERS = ('RepeatDataset', 'ClassBalancedDataset')


class LabelRangeError(ValueError):
    """A training label outside the heads' classes."""


def head_class_counts(model):
    """(where, num_classes) of the heads that predict the labels.

    The student (or the model itself) and the teachers: a classifier's
    ``head``, a two-stage detector's ``roi_head.bbox_head``, a one-stage
    detector's ``bbox_head``.
    """
    models = [('model', model)]
    if getattr(model, 'student', None) is not None:
        models = [('student', model.student)] + [
            (name, teacher) for name, teacher, _ in named_teachers(model)
        ]
    counts = []
    for role, module in models:
        roi_head = getattr(module, 'roi_head', None)
        for where, head in (('head', getattr(module, 'head', None)),
                            ('roi_head.bbox_head',
                             getattr(roi_head, 'bbox_head', None)),
                            ('bbox_head', getattr(module, 'bbox_head', None))):
            num = getattr(head, 'num_classes', None)
            if isinstance(num, int):
                counts.append((f'{role} {where}', num))
                break
    return counts


def info_labels(info):
    """The labels of one sample's annotation (classification or boxes)."""
    if 'gt_label' in info:
        label = info['gt_label']
        return list(label) if hasattr(label, '__len__') else [label]
    return [
        instance['bbox_label'] for instance in info.get('instances', ())
        if not instance.get('ignore_flag', 0) and 'bbox_label' in instance
    ]


def dataset_labels(dataset):
    """(index, label) of every annotation, or None if they are not listed."""
    while type(dataset).__name__ in REPEATING_WRAPPERS:
        dataset = dataset.dataset
    if hasattr(dataset, 'full_init'):
        dataset.full_init()
    if hasattr(dataset, 'get_gt_labels'):  # MMPretrain: one array
        try:
            return list(enumerate(dataset.get_gt_labels().tolist()))
        except (KeyError, TypeError, ValueError):
            pass  # multi-label or unlabelled: read the annotations
    if not hasattr(dataset, 'get_data_info'):
        return None
    try:
        return [(i, label) for i in range(len(dataset))
                for label in info_labels(dataset.get_data_info(i))]
    except (KeyError, TypeError, NotImplementedError, AttributeError):
        return None


def sample_labels(sample):
    """The host labels of one data sample (None: on a device, or none)."""
    labels = getattr(sample, 'gt_label', None)
    if labels is None:
        instances = getattr(sample, 'gt_instances', None)
        labels = getattr(instances, 'labels', None)
    if labels is None or getattr(labels, 'device', None) is None or \
            labels.device.type != 'cpu':
        return None
    return labels.reshape(-1).tolist()


@HOOKS.register_module()
class LabelRangeHook(Hook):
    """Check that every training label is a class of every head.

    Stops with :class:`LabelRangeError` naming the label, its class name and
    the head's size. Add it to ``default_hooks``
    (``label_range=dict(type='mmrlkd.LabelRangeHook')``); the configs'
    runtimes do.
    """

    priority = 'VERY_HIGH'

    def __init__(self):
        self._heads = []
        self._per_batch = False
        self._classes = None

    def before_train(self, runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        self._heads = head_class_counts(model)
        if not self._heads:
            return
        dataset = runner.train_dataloader.dataset
        self._classes = (getattr(dataset, 'metainfo', None)
                         or {}).get('classes')
        labels = dataset_labels(dataset)
        self._per_batch = labels is None
        if labels is None:
            print_log(
                f'LabelRangeHook: {type(dataset).__name__} does not list its '
                'labels; each batch is checked on the host',
                logger='current')
            return
        fewest = min(num for _, num in self._heads)
        bad = next(((index, label)
                    for index, label in labels if not 0 <= label < fewest),
                   None)
        if bad is not None:
            self._check(bad[1], f'training sample {bad[0]}')
        heads = ', '.join(f'{where} {num}' for where, num in self._heads)
        print_log(
            f'LabelRangeHook: the {len(labels)} training labels are classes '
            f'of every head ({heads})',
            logger='current')

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if not (self._per_batch and self._heads and data_batch):
            return
        for sample in data_batch.get('data_samples') or ():
            for label in sample_labels(sample) or ():
                self._check(label, f'a sample of batch {batch_idx}')

    def _check(self, label, where):
        label = int(label)
        for head, num in self._heads:
            if not 0 <= label < num:
                name = ''
                if self._classes is not None and \
                        0 <= label < len(self._classes):
                    name = f' ({self._classes[label]!r})'
                dataset = '' if self._classes is None else (
                    f'; the dataset has {len(self._classes)} classes')
                raise LabelRangeError(
                    f'label {label}{name} of {where} is outside the '
                    f'{num} classes of the {head} (labels must be in '
                    f'[0, {num})){dataset}: set num_classes of every head '
                    "to the dataset's class count, or fix the annotations "
                    "or the dataset's metainfo classes")
