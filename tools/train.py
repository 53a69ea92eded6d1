"""Train a model (a distillation algorithm or a plain model) from a config.

Usage mirrors MMDetection's ``tools/train.py``::

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--auto-scale-lr] [--cfg-options k=v ...] [--launcher pytorch]

``mmrlkd`` is imported before anything else touches mmrazor, so its
compatibility shims are in place. Under ``--launcher pytorch`` on a machine
without CUDA, training runs on the gloo backend (see
``mmrlkd.utils.prepare_distributed``).
"""
import argparse

import torch

import mmrlkd  # noqa: F401  (compat shims before mmrazor is imported)
from mmrlkd.utils import (add_common_arguments, build_runner,
                          finish_distributed, load_config)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='automatic mixed precision training (needs a CUDA device)')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the actual total batch size')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint, or from the latest one in the '
        'work dir when no path is given')
    add_common_arguments(parser)
    return parser.parse_args(argv)


def apply_train_arguments(cfg, args):
    if args.amp:
        if not torch.cuda.is_available():
            raise SystemExit('--amp needs a CUDA device; none is available')
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper not in ('OptimWrapper', 'AmpOptimWrapper'):
            raise SystemExit(
                f'--amp works with OptimWrapper; the config uses {wrapper}')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        if not cfg.get('auto_scale_lr', {}).get('base_batch_size'):
            raise SystemExit('--auto-scale-lr needs `auto_scale_lr = dict('
                             'base_batch_size=...)` in the config')
        cfg.auto_scale_lr.enable = True
    if args.resume is not None:
        cfg.resume = True
        # 'auto': MMEngine finds the latest checkpoint of the work dir.
        cfg.load_from = None if args.resume == 'auto' else args.resume
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = apply_train_arguments(load_config(args), args)
    build_runner(cfg).train()
    finish_distributed()


if __name__ == '__main__':
    main()
