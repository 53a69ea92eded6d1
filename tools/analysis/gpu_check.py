"""Everything only a GPU runs, in one command, with one table at the end.

    python tools/analysis/gpu_check.py [--out DIR] [--skip NAME ...]

For the first GPU machine a developer gets: the budgets below add up to
five minutes on one GPU. Each check runs in subprocesses whose time limit
is what is left of its budget; the table says what it measured against its
target and its budget, and the exit status is 1 if any check failed. Every
row fails when its work did not happen (0 tests run, every agent update
skipped, no RoI distilled): the decisions are the ``judge_*`` functions,
plain functions of recorded outputs (tests/test_tools/test_gpu_check.py).

1. ``tests``: the device, autocast and CUDA-only tests on ``cuda`` (the
   device tests add 'cuda' to their devices when a GPU is present; tests
   marked ``cuda`` run only there), the cross-device agent state included.
2. ``amp_resume``: DigitPairs RLKD for 50 iterations with ``--amp``
   (AmpOptimWrapper, fp16), a checkpoint at iteration 25, and a second run
   resumed from it: the agent learned under fp16 (no update skipped, its
   PPO losses finite, so were the log-probs they come from; its parameters
   moved), and the resumed run's student and agent equal the uninterrupted
   run's bit for bit (deterministic mode).
3. ``benchmark``: ``benchmark_iteration.py --device cuda --eager-agent``
   (ResNet-56 -> ResNet-20, batch 64): RLKD/KD time (target <= 1.03) and
   GPU synchronisations per RLKD iteration (target <= 3), with the agent
   acting and learning from CUDA graphs; the ratio with the agent eager is
   reported beside it.
4. ``detection``: the Shapes Faster R-CNN RLKD config for 20 iterations
   on CUDA (RoIAlign and NMS through torchvision when mmcv has no CUDA
   ops): RoI distillation losses on every iteration, the agent learning.
5. ``two_process``: two processes sharing the first GPU learn one agent in
   lockstep over gloo on CUDA tensors (``lockstep_check.py``).
6. ``nccl``: with two GPUs or more, the same under NCCL, a GPU each.
"""
import argparse
import importlib.util
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
CUDA_TESTS = [
    'tests/test_environment_cuda.py',
    'tests/test_agents/test_captured_acting.py',
    'tests/test_agents/test_captured_learning.py',
    'tests/test_models/test_losses/test_losses_under_autocast.py',
    'tests/test_models/test_algorithms/test_same_batch_reward.py',
    'tests/test_ops/test_torchvision_fallback.py',
]
#: Check -> seconds it may take; they add up to five minutes on one GPU
#: (nccl runs only with two GPUs or more).
BUDGETS = dict(
    tests=75,
    amp_resume=80,
    benchmark=45,
    detection=60,
    two_process=20,
    nccl=20)
CHECKS = tuple(BUDGETS)


class CheckFailed(Exception):
    """A check ran and missed its target (or crashed)."""


class Budget:
    """The seconds left of a check's budget, for its subprocesses."""

    def __init__(self, seconds):
        self.deadline = time.monotonic() + seconds

    def left(self):
        left = int(self.deadline - time.monotonic())
        if left <= 0:
            raise CheckFailed('its time budget is spent')
        return left


def run(args, budget, log, env=None):
    """Run a command from the repository root; its output goes to ``log``.

    Returns:
        str: The command's output. Raises :class:`CheckFailed` on a
        non-zero exit or when the check's budget runs out, with the
        output's tail.
    """
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
    full_env['PYTHONPATH'] = os.pathsep.join(
        filter(None, [ROOT, full_env.get('PYTHONPATH')]))
    timeout = budget.left()
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
        raise CheckFailed(f'out of its budget after {timeout} s (log: {log})')
    with open(log, 'w') as f:
        f.write(output)
    if result.returncode != 0:
        tail = '\n'.join(output.strip().splitlines()[-15:])
        raise CheckFailed(f'exit {result.returncode} (log: {log})\n{tail}')
    return output


# ---------------------------------------------------------------- judges
# Each takes what a check recorded and returns its detail, or raises
# CheckFailed. None of them passes when the work was not done.
def pytest_counts(output):
    """``{'passed': n, 'failed': n, ...}`` of pytest's last summary line."""
    lines = [
        line for line in output.splitlines() if re.search(
            r'\b(passed|failed|error|errors|skipped|deselected|'
            r'no tests ran)\b', line) and ' in ' in line
    ]
    if not lines:
        return {}
    counts = {
        word: int(number)
        for number, word in re.findall(r'(\d+) (\w+)', lines[-1])
    }
    if 'error' in counts:
        counts['errors'] = counts.pop('error')
    return counts


def judge_pytest(output, what):
    counts = pytest_counts(output)
    detail = f'{what}: ' + (', '.join(f'{n} {w}'
                                      for w, n in counts.items()) or '?')
    if counts.get('failed') or counts.get('errors'):
        raise CheckFailed(detail)
    if not counts.get('passed'):
        raise CheckFailed(f'{detail} (no test passed: nothing was tested)')
    return detail


def agent_updates(rows):
    """The logged rows of agent updates (``rl/skipped`` is logged with
    every update, 1 when nothing was learnt)."""
    return [row for row in rows if 'rl/skipped' in row]


def judge_agent_learned(rows):
    """The agent updated, no update was skipped, its PPO losses finite."""
    updates = agent_updates(rows)
    if not updates:
        raise CheckFailed('no agent update was logged (rl/skipped absent)')
    skipped = sum(1 for row in updates if row['rl/skipped'] != 0)
    if skipped:
        raise CheckFailed(f'{skipped} of {len(updates)} agent updates '
                          'skipped')
    # Non-finite diagnostics are not logged: a missing loss is a NaN one.
    for key in ('rl/policy_loss', 'rl/approx_kl'):
        bad = [
            row.get('iter') for row in updates
            if not math.isfinite(row.get(key, math.nan))
        ]
        if bad:
            raise CheckFailed(f'{key} not finite at iterations {bad[:5]} '
                              '(non-finite log-probs)')
    return f'{len(updates)} agent updates, none skipped, PPO losses finite'


def judge_losses(rows, prefix=''):
    """Every logged loss finite, and some logged."""
    losses = [
        value for row in rows for key, value in row.items()
        if 'loss' in key and key.startswith(prefix)
    ]
    if not losses:
        raise CheckFailed(f'no {prefix or ""}loss was logged')
    if not all(math.isfinite(v) for v in losses):
        raise CheckFailed(f'non-finite {prefix}losses: {losses[:10]}')
    return len(losses)


def judge_amp_resume(rows, iters, diffs, agent_moved):
    """The fp16 run's log, the checkpoints' iterations, the resumed run's
    largest differences to the uninterrupted one, and whether the agent's
    parameters changed between the two checkpoints."""
    count = judge_losses(rows)
    learned = judge_agent_learned(rows)
    if not agent_moved:
        raise CheckFailed('the agent did not change between the checkpoints')
    if any(it != 50 for it in iters):
        raise CheckFailed(f'expected 50 iterations, got {iters}')
    if any(diff != 0 for diff in diffs.values()):
        raise CheckFailed('resumed run differs from the uninterrupted one: '
                          f'max abs difference {diffs}')
    return (f'{count} logged losses finite; {learned}; resumed == '
            'uninterrupted (student and agent, bit for bit)')


def judge_benchmark(output):
    found = re.search(r'^RLKD\s+median.*ratio to KD ([\d.]+)', output, re.M)
    syncs = {
        name: int(count)
        for name, count in re.findall(
            r'^\s+(KD|RLKD)\s+(\d+)(?: \(\d+\))?\s*$', output, re.M)
    }
    if found is None or 'RLKD' not in syncs:
        raise CheckFailed('the benchmark printed no ratio or sync count')
    ratio = float(found.group(1))
    detail = (f'RLKD/KD {ratio:.3f} (target <= 1.03); GPU syncs per '
              f"iteration: KD {syncs.get('KD')}, RLKD {syncs['RLKD']} "
              '(target <= 3)')
    eager = re.search(r'^RLKD, eager agent\s+median.*ratio to KD ([\d.]+)',
                      output, re.M)
    if eager is not None:
        detail += f'; agent eager (no capture): {float(eager.group(1)):.3f}'
    if ratio > 1.03 or syncs['RLKD'] > 3:
        raise CheckFailed(detail)
    return detail


def judge_detection(rows, output):
    """Losses finite, RoI distillation on every logged iteration with a
    non-zero loss somewhere, the agent learning."""
    count = judge_losses(rows)
    logged = [row for row in rows if 'loss' in row]
    roi = [[
        v for k, v in row.items() if k.startswith('distill.') and 'loss' in k
    ] for row in logged]
    if not logged or not all(roi):
        raise CheckFailed('an iteration logged no RoI distillation loss '
                          '(no RoI distilled)')
    if not any(v != 0 for values in roi for v in values):
        raise CheckFailed('every RoI distillation loss is 0')
    learned = judge_agent_learned(rows)
    fallback = 'torchvision' in output and 'fallback' in output
    return (f'{logged[-1].get("iter", "?")} iterations, {count} losses '
            f'finite, RoIs distilled on each; {learned}; RoIAlign/NMS via '
            f'{"torchvision (fallback)" if fallback else "mmcv"}')


def judge_lockstep(output, device_type='cuda'):
    """The last line of ``lockstep_check.py``: both ranks learned on
    ``device_type``, nothing skipped, the same parameters at the end."""
    lines = output.strip().splitlines()
    try:
        summary = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise CheckFailed('lockstep_check.py printed no summary')
    ranks = summary.get('ranks') or []
    if len(ranks) != 2 or None in ranks:
        raise CheckFailed(f'{2 - len([r for r in ranks if r])} of 2 '
                          'processes reported nothing')
    for rank, result in enumerate(ranks):
        if not result['device'].startswith(device_type):
            raise CheckFailed(f'rank {rank} ran on {result["device"]}, not '
                              f'{device_type}')
        if result['updates'] == 0 or result['skipped']:
            raise CheckFailed(f'rank {rank}: {result["skipped"]} of '
                              f'{result["updates"]} updates skipped')
        if not result['log_probs_finite']:
            raise CheckFailed(f'rank {rank}: non-finite log-probs')
        if result['end'] == result['start']:
            raise CheckFailed(f'rank {rank}: the agent did not change')
    if ranks[0]['end'] != ranks[1]['end']:
        raise CheckFailed('the two agents differ after learning')
    devices = sorted({r['device'] for r in ranks})
    return (f'{summary["backend"]} on {", ".join(devices)}: '
            f'{ranks[0]["updates"]} updates each, none skipped, agents '
            'identical')


def check_tests(out, budget):
    common = [PYTHON, '-m', 'pytest', '-q', '-p', 'no:cacheprovider']
    if importlib.util.find_spec('xdist'):
        common += ['-p', 'no:xdist']
    devices = run([*common, *DEVICE_TESTS, '-k', 'cuda or autocast or amp'],
                  budget,
                  log=osp.join(out, 'tests.log'))
    marked = run([*common, '-m', 'cuda', *CUDA_TESTS],
                 budget,
                 log=osp.join(out, 'tests_cuda.log'))
    return (judge_pytest(devices, 'device tests') + '; ' +
            judge_pytest(marked, 'marked cuda'))


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


def check_amp_resume(out, budget):
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
        budget,
        log=osp.join(out, 'amp_whole.log'))
    os.makedirs(resumed, exist_ok=True)
    shutil.copy(osp.join(whole, 'epoch_1.pth'), resumed)
    run([
        PYTHON, 'tools/train.py', config, '--amp', '--work-dir', resumed,
        '--resume',
        osp.join(resumed, 'epoch_1.pth')
    ],
        budget,
        log=osp.join(out, 'amp_resumed.log'))
    a = torch.load(osp.join(whole, 'epoch_2.pth'), weights_only=False)
    b = torch.load(osp.join(resumed, 'epoch_2.pth'), weights_only=False)
    first = torch.load(osp.join(whole, 'epoch_1.pth'), weights_only=False)
    diffs = {}
    for part in ('state_dict', 'rlkd_agent'):
        left, right = dict(_tensors(a[part])), dict(_tensors(b[part]))
        if left.keys() != right.keys():
            raise CheckFailed(f'{part}: different keys after resume')
        diffs[part] = max(
            _difference(x, right[k]) for k, x in left.items() if x.numel())
    before = dict(_tensors(first['rlkd_agent']['policy']))
    after = dict(_tensors(a['rlkd_agent']['policy']))
    moved = any(
        _difference(x, after[k]) != 0 for k, x in before.items()
        if x.is_floating_point())
    return judge_amp_resume(
        _scalars(whole), [a['meta']['iter'], b['meta']['iter']], diffs, moved)


def _difference(x, y):
    if x.is_floating_point():
        return (x.double() - y.double()).abs().max().item()
    return float(not torch.equal(x, y))


def check_benchmark(out, budget):
    output = run([
        PYTHON, 'tools/analysis/benchmark_iteration.py', '--device', 'cuda',
        '--pairs', '30', '--warmup', '5', '--eager-agent'
    ],
                 budget,
                 log=osp.join(out, 'benchmark.log'))
    return judge_benchmark(output)


def check_detection(out, budget):
    data_root = osp.join(out, 'shapes') + '/'
    run([
        PYTHON, 'tools/dataset_converters/make_shapes_coco.py', data_root,
        '--num-train', '80', '--num-val', '8'
    ],
        budget,
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
                 budget,
                 log=osp.join(out, 'shapes_train.log'))
    return judge_detection(_scalars(work_dir), output)


def check_two_process(out, budget):
    return _lockstep(out, budget, 'gloo')


def check_nccl(out, budget):
    if torch.cuda.device_count() < 2:
        return None
    return _lockstep(out, budget, 'nccl')


def _lockstep(out, budget, backend):
    output = run([
        PYTHON, 'tools/analysis/lockstep_check.py', '--backend', backend,
        '--device', 'cuda'
    ],
                 budget,
                 log=osp.join(out, f'lockstep_{backend}.log'))
    return judge_lockstep(output)


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
            detail = globals()[f'check_{name}'](out, Budget(BUDGETS[name]))
            status = 'n/a' if detail is None else 'pass'
            detail = detail or 'fewer than 2 GPUs'
        except CheckFailed as error:
            status, detail, failed = 'FAIL', str(error), True
        except Exception as error:  # a crash of the check itself
            status, detail, failed = 'FAIL', f'{type(error).__name__}: ' \
                f'{error}', True
        rows.append((name, status, detail, time.monotonic() - start))
        print(f'[{status}] {name} ({rows[-1][3]:.0f} s): {detail}', flush=True)
    print('\n| check | result | measured | seconds | budget |')
    print('|---|---|---|---|---|')
    for name, status, detail, seconds in rows:
        first = detail.splitlines()[0] if detail else ''
        print(f'| {name} | {status} | {first} | {seconds:.0f} | '
              f'{BUDGETS[name]} |')
    print(f'total: {sum(row[3] for row in rows):.0f} s of a '
          f'{sum(BUDGETS[row[0]] for row in rows if row[1] != "n/a")} s '
          'budget')
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
