"""Evaluate a checkpoint on the test set of a config.

Usage mirrors MMDetection's ``tools/test.py``::

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE.pkl]
        [--cfg-options k=v ...] [--launcher pytorch]

A distillation checkpoint is evaluated as the algorithm's student (that is
what MMRazor's algorithms return in ``predict`` mode).
"""
import argparse

from mmengine.config import ConfigDict

import mmrlkd  # noqa: F401  (compat shims before mmrazor is imported)
from mmrlkd.utils import (add_common_arguments, build_runner,
                          finish_distributed, load_config)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out', help='dump the raw predictions to this pickle file')
    add_common_arguments(parser)
    return parser.parse_args(argv)


def apply_test_arguments(cfg, args):
    cfg.load_from = args.checkpoint
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise SystemExit('--out must be a .pkl or .pickle file')
        dump = ConfigDict(type='DumpResults', out_file_path=args.out)
        evaluators = cfg.test_evaluator
        if not isinstance(evaluators, (list, tuple)):
            evaluators = [evaluators]
        cfg.test_evaluator = [*evaluators, dump]
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = apply_test_arguments(load_config(args), args)
    metrics = build_runner(cfg).test()
    finish_distributed()
    return metrics


if __name__ == '__main__':
    main()
