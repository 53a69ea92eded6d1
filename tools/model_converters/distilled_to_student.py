"""Extract the student from a distillation checkpoint.

MMRazor's ``SingleTeacherDistill`` (and mmrlkd's ``RLKDDistill``) save the
whole algorithm: ``architecture.*`` (the student), ``teacher.*``,
``distiller.*`` (connectors, feature-loss modules, temperature provider or
RL agent), plus the optimizer and MMEngine's pickled message hub. This
keeps the student's weights under the plain model's own keys, so the result
loads with MMPretrain or MMDetection alone (``load_from``, ``init_model``,
``--checkpoint`` of their test tools), and holds nothing but tensors and
plain values, so ``torch.load`` reads it with ``weights_only=True`` (the
default from torch 2.6)::

    python tools/model_converters/distilled_to_student.py \
        work_dirs/rlkd_resnet56_resnet20_cifar100/best_accuracy_top1.pth \
        work_dirs/resnet20_rlkd_student.pth

The input is a checkpoint you trained: it is unpickled in full (MMEngine
checkpoints hold Python objects), so do not convert files you do not trust.
"""
import argparse
import os.path as osp
from collections import OrderedDict

import torch

PLAIN_TYPES = (str, int, float, bool, type(None))
# Meta entries that describe the run, not the distillation algorithm.
KEPT_META = ('epoch', 'iter', 'seed', 'experiment_name', 'time',
             'mmengine_version', 'dataset_meta')


def plain(value):
    """``value`` if it is made of plain Python values only, else None."""
    if isinstance(value, PLAIN_TYPES):
        return value
    if isinstance(value, (list, tuple)):
        items = [plain(v) for v in value]
        if all(i is not None or v is None for i, v in zip(items, value)):
            return type(value)(items)
        return None
    if isinstance(value, dict):
        items = {k: plain(v) for k, v in value.items()}
        if all(isinstance(k, str)
               for k in items) and all(items[k] is not None or value[k] is None
                                       for k in items):
            return items
    return None


def extract_student(state_dict, prefix='architecture.'):
    """The entries under ``prefix``, with the prefix removed."""
    student = OrderedDict((key[len(prefix):], value)
                          for key, value in state_dict.items()
                          if key.startswith(prefix))
    if not student:
        prefixes = sorted({key.split('.')[0] for key in state_dict})
        raise ValueError(f'no key starts with {prefix!r}; top-level names: '
                         f'{prefixes}')
    return student


def convert_checkpoint(checkpoint, prefix='architecture.', source=None):
    """A plain student checkpoint from a loaded distillation checkpoint."""
    state_dict = checkpoint.get('state_dict', checkpoint)
    student = extract_student(state_dict, prefix)
    meta = dict(distilled_from=source or 'a distillation checkpoint')
    for key in KEPT_META:
        value = plain(checkpoint.get('meta', {}).get(key))
        if value is not None:
            meta[key] = value
    return dict(state_dict=student, meta=meta)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='distillation checkpoint (trusted)')
    parser.add_argument('dst', help='where to write the student checkpoint')
    parser.add_argument(
        '--prefix',
        default='architecture.',
        help="the student's key prefix (default: 'architecture.')")
    return parser.parse_args()


def main():
    args = parse_args()
    checkpoint = torch.load(args.src, map_location='cpu', weights_only=False)
    converted = convert_checkpoint(checkpoint, args.prefix,
                                   osp.basename(args.src))
    torch.save(converted, args.dst)
    print(f'wrote {len(converted["state_dict"])} student tensors to '
          f'{args.dst}')


if __name__ == '__main__':
    main()
