"""Everything only a GPU runs, in one command, with one table at the end.

    python tools/analysis/gpu_check.py [--out DIR] [--skip NAME ...]

For the first GPU machine a developer gets (a few minutes on one GPU). Each
check runs in a subprocess with a time limit; the table says what it
measured against its target, and the exit status is 1 if any check failed.

1. ``tests``: the device, autocast and CUDA-only tests on ``cuda`` (the
   device tests add 'cuda' to their devices when a GPU is present; tests
   marked ``cuda`` run only there).
2. ``amp_resume``: DigitPairs RLKD for 50 iterations with ``--amp``
   (AmpOptimWrapper, fp16), a checkpoint at iteration 25, and a second run
   resumed from it: every logged loss finite, and the resumed run's student
   and agent equal to the uninterrupted run's (deterministic mode).
3. ``benchmark``: ``benchmark_iteration.py --device cuda`` (ResNet-56 ->
   ResNet-20, batch 64): RLKD/KD time (target <= 1.03) and GPU
   synchronisations per RLKD iteration (target <= 3).
4. ``detection``: the Shapes Faster R-CNN RLKD config for 20 iterations
   on CUDA (RoIAlign and NMS through torchvision when mmcv has no CUDA
   ops).
5. ``nccl``: with two GPUs or more, the two-process lockstep tests under
   NCCL.
"""
import argparse
import json
import math
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import tempfile
import time

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PYTHON = sys.executable
RLKD_DIGITPAIRS = osp.join(
    ROOT, 'configs/digitpairs/rlkd_resnet56_resnet8w4_'
    'digitpairs.py')
RLKD_SHAPES = osp.join(
    ROOT, 'configs/detection/shapes/'
    'rlkd_roi_faster-rcnn_r18w32_faster-rcnn_r18w8_shapes.py')
DEVICE_TESTS = [
    'tests/test_agents/test_agent_devices.py',
    'tests/test_models/test_temperatures/test_rlkd_devices.py',
]
CHECKS = ('tests', 'amp_resume', 'benchmark', 'detection', 'nccl')


class CheckFailed(Exception):
    """A check ran and missed its target (or crashed)."""


def run(args, timeout, log, env=None):
    """Run a command from the repository root; its output goes to ``log``.

    Returns:
        str: The command's output. Raises :class:`CheckFailed` on a
        non-zero exit or a time-out, with the output's tail.
    """
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
    full_env['PYTHONPATH'] = ROOT + os.pathsep + full_env.get('PYTHONPATH', '')
    try:
        result = subprocess.run(
            args,
            cwd=ROOT,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout)
        output = result.stdout + result.stderr
    except subprocess.TimeoutExpired as error:
        output = error.stdout or ''
        if isinstance(output, bytes):
            output = output.decode(errors='replace')
        with open(log, 'w') as f:
            f.write(output)
        raise CheckFailed(f'timed out after {timeout} s (log: {log})')
    with open(log, 'w') as f:
        f.write(output)
    if result.returncode != 0:
        tail = '\n'.join(output.strip().splitlines()[-15:])
        raise CheckFailed(f'exit {result.returncode} (log: {log})\n{tail}')
    return output


def check_tests(out):
    output = run([
        PYTHON, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-m',
        'cuda or not slow', *DEVICE_TESTS, '-k', 'cuda or autocast or amp'
    ],
                 timeout=240,
                 log=osp.join(out, 'tests.log'))
    output_cuda = run(
        [PYTHON, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-m', 'cuda'],
        timeout=240,
        log=osp.join(out, 'tests_cuda.log'))
    counts = [_pytest_summary(o) for o in (output, output_cuda)]
    return f'device tests: {counts[0]}; marked cuda: {counts[1]}'


def _pytest_summary(output):
    lines = [
        line for line in output.splitlines() if ' in ' in line and (
            'passed' in line or 'failed' in line or 'no tests' in line)
    ]
    return lines[-1].strip('= ') if lines else '?'


def _write(path, text):
    with open(path, 'w') as f:
        f.write(text)
    return path


def _scalars(work_dir):
    runs = sorted(
        d for d in os.listdir(work_dir)
        if osp.isdir(osp.join(work_dir, d, 'vis_data')))
    rows = []
    for run_dir in runs:
        path = osp.join(work_dir, run_dir, 'vis_data', 'scalars.json')
        if osp.exists(path):
            with open(path) as f:
                rows += [json.loads(line) for line in f]
    return rows


def _tensors(state, prefix=''):
    if isinstance(state, dict):
        for key, value in state.items():
            yield from _tensors(value, f'{prefix}{key}.')
    elif isinstance(state, (list, tuple)):
        for index, value in enumerate(state):
            yield from _tensors(value, f'{prefix}{index}.')
    elif torch.is_tensor(state):
        yield prefix[:-1], state


def check_amp_resume(out):
    config = _write(
        osp.join(out, 'digitpairs_amp.py'), f"""
_base_ = [{RLKD_DIGITPAIRS!r}]
model = dict(teacher_ckpt=None)
# 1600 images of 64: 25 iterations an epoch, 50 in two.
train_dataloader = dict(batch_size=64, dataset=dict(num_samples=1600))
val_dataloader = dict(batch_size=64, dataset=dict(num_samples=64))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=2, val_interval=10)
default_hooks = dict(logger=dict(interval=5),
                     checkpoint=dict(interval=1, max_keep_ckpts=3))
custom_hooks = [
    dict(type='mmrlkd.RLKDAgentHook', agent_warmup=0, reward_warmup=1)
]
randomness = dict(seed=0, deterministic=True)
""")
    whole, resumed = osp.join(out, 'amp_whole'), osp.join(out, 'amp_resumed')
    run([PYTHON, 'tools/train.py', config, '--amp', '--work-dir', whole],
        timeout=300,
        log=osp.join(out, 'amp_whole.log'))
    os.makedirs(resumed, exist_ok=True)
    shutil.copy(osp.join(whole, 'epoch_1.pth'), resumed)
    run([
        PYTHON, 'tools/train.py', config, '--amp', '--work-dir', resumed,
        '--resume',
        osp.join(resumed, 'epoch_1.pth')
    ],
        timeout=300,
        log=osp.join(out, 'amp_resumed.log'))
    losses = [
        value for row in _scalars(whole) for key, value in row.items()
        if 'loss' in key
    ]
    if not losses or not all(math.isfinite(v) for v in losses):
        raise CheckFailed(f'non-finite or no logged losses: {losses[:10]}')
    a = torch.load(osp.join(whole, 'epoch_2.pth'), weights_only=False)
    b = torch.load(osp.join(resumed, 'epoch_2.pth'), weights_only=False)
    if a['meta']['iter'] != 50 or b['meta']['iter'] != 50:
        raise CheckFailed('expected 50 iterations, got '
                          f"{a['meta']['iter']} and {b['meta']['iter']}")
    diffs = {}
    for part in ('state_dict', 'rlkd_agent'):
        left, right = dict(_tensors(a[part])), dict(_tensors(b[part]))
        if left.keys() != right.keys():
            raise CheckFailed(f'{part}: different keys after resume')
        diffs[part] = max(((x.double() - right[k].double()).abs().max().item(
        ) if x.is_floating_point() else float(not torch.equal(x, right[k])))
                          for k, x in left.items() if x.numel())
    if any(diff != 0 for diff in diffs.values()):
        raise CheckFailed('resumed run differs from the uninterrupted one: '
                          f'max abs difference {diffs}')
    return (f'{len(losses)} logged losses finite; resumed == uninterrupted '
            '(student and agent, bit for bit)')


def check_benchmark(out):
    output = run([
        PYTHON, 'tools/analysis/benchmark_iteration.py', '--device', 'cuda',
        '--pairs', '30', '--warmup', '5'
    ],
                 timeout=300,
                 log=osp.join(out, 'benchmark.log'))
    ratio = float(
        re.search(r'^RLKD\s+median.*ratio to KD ([\d.]+)', output,
                  re.M).group(1))
    syncs = {
        name: int(count)
        for name, count in re.findall(r'^\s+(KD|RLKD)\s+(\d+)\s*$', output,
                                      re.M)
    }
    detail = (f'RLKD/KD {ratio:.3f} (target <= 1.03); GPU syncs per '
              f"iteration: KD {syncs.get('KD')}, RLKD {syncs.get('RLKD')} "
              '(target <= 3)')
    if ratio > 1.03 or syncs.get('RLKD', 99) > 3:
        raise CheckFailed(detail)
    return detail


def check_detection(out):
    data_root = osp.join(out, 'shapes') + '/'
    run([
        PYTHON, 'tools/dataset_converters/make_shapes_coco.py', data_root,
        '--num-train', '80', '--num-val', '8'
    ],
        timeout=120,
        log=osp.join(out, 'shapes_data.log'))
    config = _write(
        osp.join(out, 'shapes_rlkd.py'), f"""
_base_ = [{RLKD_SHAPES!r}]
data_root = {data_root!r}
model = dict(teacher_ckpt=None)
# 80 images of 8: 10 iterations an epoch, 20 in two.
train_dataloader = dict(batch_size=8, num_workers=2,
                        dataset=dict(data_root=data_root))
val_dataloader = dict(batch_size=8, num_workers=2,
                      dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=2, val_interval=2)
default_hooks = dict(logger=dict(interval=5),
                     visualization=dict(draw=False))
custom_hooks = [
    dict(type='mmrlkd.RLKDAgentHook', agent_warmup=0, reward_warmup=1)
]
""")
    work_dir = osp.join(out, 'shapes_work')
    output = run([PYTHON, 'tools/train.py', config, '--work-dir', work_dir],
                 timeout=300,
                 log=osp.join(out, 'shapes_train.log'))
    rows = [row for row in _scalars(work_dir) if 'loss' in row]
    agent_rows = [
        row for row in _scalars(work_dir) if any(
            key.startswith(('train/rl/', 'rl/')) for key in row)
    ]
    if not rows or not all(math.isfinite(row['loss']) for row in rows):
        raise CheckFailed('non-finite or no logged losses')
    fallback = 'torchvision' in output and 'fallback' in output
    return (f'{rows[-1].get("iter", "?")} iterations, losses finite, agent '
            f'scalars logged: {bool(agent_rows)}; RoIAlign/NMS via '
            f'{"torchvision (fallback)" if fallback else "mmcv"}')


def check_nccl(out):
    if torch.cuda.device_count() < 2:
        return None
    output = run([
        PYTHON, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
        'tests/test_agents/test_agents_in_lockstep.py'
    ],
                 timeout=240,
                 log=osp.join(out, 'nccl.log'),
                 env=dict(MMRLKD_LOCKSTEP_BACKEND='nccl'))
    return _pytest_summary(output)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--out', help='where logs and work dirs go (default: a temp dir)')
    parser.add_argument(
        '--skip', nargs='*', default=[], choices=CHECKS, help='checks to skip')
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit('gpu_check.py needs a CUDA device; none is visible')
    out = args.out or tempfile.mkdtemp(prefix='mmrlkd_gpu_check_')
    os.makedirs(out, exist_ok=True)
    print(f'GPU: {torch.cuda.get_device_name(0)} x '
          f'{torch.cuda.device_count()}, torch {torch.__version__}, CUDA '
          f'{torch.version.cuda}; logs in {out}')
    rows, failed = [], False
    for name in CHECKS:
        if name in args.skip:
            rows.append((name, 'skipped', '--skip', 0.0))
            continue
        start = time.monotonic()
        try:
            detail = globals()[f'check_{name}'](out)
            status = 'n/a' if detail is None else 'pass'
            detail = detail or 'fewer than 2 GPUs'
        except CheckFailed as error:
            status, detail, failed = 'FAIL', str(error), True
        except Exception as error:  # a crash of the check itself
            status, detail, failed = 'FAIL', f'{type(error).__name__}: ' \
                f'{error}', True
        rows.append((name, status, detail, time.monotonic() - start))
        print(f'[{status}] {name} ({rows[-1][3]:.0f} s): {detail}', flush=True)
    print('\n| check | result | measured | seconds |')
    print('|---|---|---|---|')
    for name, status, detail, seconds in rows:
        first = detail.splitlines()[0] if detail else ''
        print(f'| {name} | {status} | {first} | {seconds:.0f} |')
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
