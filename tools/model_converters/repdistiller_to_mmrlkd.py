"""Convert a RepDistiller / mdistiller CIFAR checkpoint to mmrlkd's models.

The CIFAR-100 teachers of the KD literature (CRD's RepDistiller release,
re-shared by mdistiller as ``cifar_teachers.tar`` and used by CTKD and
RLKD) are plain PyTorch models saved as ``{'model': state_dict, ...}``.
This writes a checkpoint whose ``state_dict`` loads into the matching
MMPretrain ``ImageClassifier`` of ``configs/_base_/models/`` (keys
``backbone.*`` and ``head.fc.*``), e.g. as a distiller's ``teacher_ckpt``::

    python tools/model_converters/repdistiller_to_mmrlkd.py \
        download_ckpts/cifar_teachers/wrn_40_2_vanilla/ckpt_epoch_240.pth \
        work_dirs/cifar100/teacher_wrn_40_2.pth

Supported layouts (the teachers of the RLKD paper's tables), detected from
the keys or given with ``--arch``:

- ``resnet``: ResNet-8 ... -110, -8x4, -32x4 -> ``mmrlkd.ResNetCIFAR``
- ``wrn``: WRN-d-k -> ``mmrlkd.WideResNetCIFAR``
- ``vgg``: VGG-8 ... -19 with BN -> ``mmrlkd.VGGCIFAR``
- ``resnet_imagenet_style``: ResNet-18 ... -152 on CIFAR (RepDistiller's
  ``resnetv2.py``, the ResNet-50 teacher) -> ``mmrlkd.FourStageResNetCIFAR``

A key no rule maps is an error, never dropped silently. The input is read
with ``torch.load(weights_only=True)``; pass ``--unsafe-load`` only for a
file you trust that holds other pickled objects.
"""
import argparse
import re
from collections import OrderedDict

import torch

# (pattern, replacement) applied in order; the first match wins.
RULES = {
    'resnet': [
        (r'^conv1\.', 'backbone.stem.0.'),
        (r'^bn1\.', 'backbone.stem.1.'),
        (r'^layer(\d)\.', lambda m: f'backbone.stages.{int(m[1]) - 1}.'),
        (r'^fc\.', 'head.fc.'),
    ],
    'wrn': [
        (r'^conv1\.', 'backbone.stem.'),
        (r'^block(\d)\.layer\.(\d+)\.convShortcut\.',
         lambda m: f'backbone.stages.{int(m[1]) - 1}.{m[2]}.shortcut.'),
        (r'^block(\d)\.layer\.(\d+)\.(bn1|conv1|bn2|conv2)\.',
         lambda m: f'backbone.stages.{int(m[1]) - 1}.{m[2]}.{m[3]}.'),
        (r'^bn1\.', 'backbone.final_norm.'),
        (r'^fc\.', 'head.fc.'),
    ],
    'vgg': [
        (r'^block(\d)\.(\d+)\.', r'backbone.stages.\1.\2.'),
        (r'^classifier\.', 'head.fc.'),
    ],
    'resnet_imagenet_style': [
        (r'^conv1\.', 'backbone.stem.0.'),
        (r'^bn1\.', 'backbone.stem.1.'),
        (r'^layer(\d)\.(\d+)\.shortcut\.',
         lambda m: f'backbone.stages.{int(m[1]) - 1}.{m[2]}.downsample.'),
        (r'^layer(\d)\.', lambda m: f'backbone.stages.{int(m[1]) - 1}.'),
        (r'^linear\.', 'head.fc.'),
    ],
}


def detect_arch(state_dict):
    """The layout of a RepDistiller state dict, from telltale keys."""
    keys = set(state_dict)
    if 'block1.layer.0.bn1.weight' in keys:
        return 'wrn'
    if 'block0.0.weight' in keys and 'classifier.weight' in keys:
        return 'vgg'
    if 'linear.weight' in keys and 'layer4.0.conv1.weight' in keys:
        return 'resnet_imagenet_style'
    if 'fc.weight' in keys and 'layer1.0.conv1.weight' in keys:
        return 'resnet'
    raise ValueError('unknown checkpoint layout; pass --arch (one of '
                     f'{sorted(RULES)}). First keys: {sorted(keys)[:8]}')


def extract_state_dict(checkpoint):
    """The model's state dict from RepDistiller/mdistiller checkpoints."""
    for key in ('model', 'state_dict', 'net'):
        if isinstance(checkpoint, dict) and key in checkpoint:
            checkpoint = checkpoint[key]
            break
    if not isinstance(checkpoint, dict) or not all(
            torch.is_tensor(v) for v in checkpoint.values()):
        raise ValueError('no state dict found (looked for the keys model, '
                         'state_dict, net or a dict of tensors)')
    return OrderedDict(
        (k[len('module.'):] if k.startswith('module.') else k, v)
        for k, v in checkpoint.items())


def convert_state_dict(state_dict, arch=None):
    """Rename RepDistiller keys to mmrlkd ``ImageClassifier`` keys."""
    arch = arch or detect_arch(state_dict)
    if arch not in RULES:
        raise ValueError(f'arch must be one of {sorted(RULES)}, got {arch}')
    converted, unmapped = OrderedDict(), []
    for key, value in state_dict.items():
        for pattern, replacement in RULES[arch]:
            new_key, hits = re.subn(pattern, replacement, key, count=1)
            if hits:
                converted[new_key] = value
                break
        else:
            unmapped.append(key)
    if unmapped:
        raise ValueError(f'{len(unmapped)} keys of the {arch} layout have no '
                         f'counterpart: {unmapped[:10]}')
    return converted


def convert_file(src, dst, arch=None, unsafe_load=False):
    checkpoint = torch.load(
        src, map_location='cpu', weights_only=not unsafe_load)
    state_dict = extract_state_dict(checkpoint)
    arch = arch or detect_arch(state_dict)
    converted = convert_state_dict(state_dict, arch)
    meta = dict(converted_from='RepDistiller/mdistiller', arch=arch)
    if isinstance(checkpoint, dict):
        for key in ('epoch', 'accuracy', 'best_acc'):
            value = checkpoint.get(key)
            if torch.is_tensor(value) and value.numel() == 1:
                value = value.item()
            if isinstance(value, (int, float)):
                meta[f'source_{key}'] = value
    torch.save(dict(state_dict=converted, meta=meta), dst)
    return arch, len(converted)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='RepDistiller/mdistiller checkpoint')
    parser.add_argument('dst', help='where to write the converted checkpoint')
    parser.add_argument(
        '--arch', choices=sorted(RULES), help='layout (default: detected)')
    parser.add_argument(
        '--unsafe-load',
        action='store_true',
        help='unpickle arbitrary objects (only for files you trust)')
    return parser.parse_args()


def main():
    args = parse_args()
    arch, num_keys = convert_file(args.src, args.dst, args.arch,
                                  args.unsafe_load)
    print(f'converted {num_keys} tensors of a {arch} checkpoint to '
          f'{args.dst}')


if __name__ == '__main__':
    main()
