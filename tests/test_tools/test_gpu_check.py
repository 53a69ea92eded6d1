"""Each row of tools/analysis/gpu_check.py fails when its work was skipped.

The rows' decisions are plain functions of what a check recorded (pytest's
summary line, the scalars a training logged, the lockstep summary), so they
are tested here on the CPU: with outputs of real runs where the CPU can
make them (pytest, a DigitPairs RLKD training, two gloo processes), and
with those outputs stripped of the work (no test run, every update
skipped, no RoI distilled).
"""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))

import gpu_check  # noqa: E402
from gpu_check import CheckFailed  # noqa: E402


def fails(judge, *args, match=None):
    with pytest.raises(CheckFailed, match=match):
        judge(*args)


# ---------------------------------------------------------------- budgets
def test_budgets_fit_five_minutes_on_one_gpu():
    one_gpu = [name for name in gpu_check.CHECKS if name != 'nccl']
    assert sum(gpu_check.BUDGETS[name] for name in one_gpu) <= 300
    assert set(gpu_check.BUDGETS) == set(gpu_check.CHECKS)


# ---------------------------------------------------------------- pytest
def pytest_output(tmp_path, body, *args):
    (tmp_path / 'test_sample.py').write_text(body)
    return subprocess.run([
        sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-p',
        'no:xdist',
        str(tmp_path / 'test_sample.py'), *args
    ],
                          capture_output=True,
                          text=True,
                          cwd=tmp_path).stdout


SAMPLE = '''
import pytest
def test_cuda_one(): pass
@pytest.mark.skip(reason='no GPU')
def test_cuda_two(): pass
'''


def test_pytest_row_passes_real_passing_tests(tmp_path):
    detail = gpu_check.judge_pytest(pytest_output(tmp_path, SAMPLE), 'x')
    assert '1 passed' in detail and '1 skipped' in detail


@pytest.mark.parametrize(
    'body, args',
    [
        (SAMPLE, ['-k', 'nothing_matches']),  # 0 selected
        (SAMPLE.replace(
            'def test_cuda_one(): pass', '@pytest.mark.skip(reason="no GPU")\n'
            'def test_cuda_one(): pass'), []),  # all skipped
        (SAMPLE.replace('def test_cuda_one(): pass',
                        'def test_cuda_one(): assert 0'), []),  # a failure
        ('import nowhere_to_be_found\n', []),  # collection error
    ])
def test_pytest_row_fails_when_nothing_passed_or_something_failed(
        tmp_path, body, args):
    fails(gpu_check.judge_pytest, pytest_output(tmp_path, body, *args), 'x')


def test_pytest_row_fails_without_a_summary():
    fails(gpu_check.judge_pytest, '', 'x', match='no test passed')


# ---------------------------------------------------------------- agent
def update_rows(skipped=(0, 0, 0), **extra):
    return [
        dict(
            {
                'iter': 5 * (i + 1),
                'loss': 1.0,
                'distill.loss_kd': 0.3,
                'rl/skipped': s,
                'rl/policy_loss': -0.01,
                'rl/approx_kl': 1e-3
            }, **extra) for i, s in enumerate(skipped)
    ]


def test_agent_row_passes_updates_that_learned():
    assert gpu_check.judge_agent_learned(
        update_rows()).startswith('3 agent updates, none skipped')


def test_agent_row_fails_when_every_update_is_skipped():
    rows = update_rows(skipped=(1, 1, 1))
    for row in rows:  # what a skipped update logs: no finite PPO losses
        del row['rl/policy_loss'], row['rl/approx_kl']
    fails(gpu_check.judge_agent_learned, rows, match='3 of 3')


def test_agent_row_fails_when_some_updates_are_skipped():
    fails(
        gpu_check.judge_agent_learned,
        update_rows(skipped=(0, 0.2, 0)),
        match='1 of 3')


def test_agent_row_fails_when_no_update_was_logged():
    rows = [{'iter': 5, 'loss': 1.0}]
    fails(gpu_check.judge_agent_learned, rows, match='no agent update')


def test_agent_row_fails_on_missing_ppo_losses():
    rows = update_rows()
    del rows[1]['rl/approx_kl']  # non-finite values are not logged
    fails(gpu_check.judge_agent_learned, rows, match='non-finite log-probs')


# ---------------------------------------------------------------- amp
def test_amp_resume_row():
    rows, zero = update_rows(), dict(state_dict=0.0, rlkd_agent=0.0)
    assert 'bit for bit' in gpu_check.judge_amp_resume(rows, [50, 50], zero,
                                                       True)
    fails(gpu_check.judge_amp_resume, update_rows(skipped=(1, 1, 1)), [50, 50],
          zero, True)
    fails(gpu_check.judge_amp_resume, rows, [50, 50], zero, False)
    fails(gpu_check.judge_amp_resume, rows, [50, 25], zero, True)
    fails(gpu_check.judge_amp_resume, rows, [50, 50],
          dict(state_dict=0.0, rlkd_agent=1e-7), True)
    fails(gpu_check.judge_amp_resume,
          [dict(r, loss=float('nan')) for r in rows], [50, 50], zero, True)
    fails(gpu_check.judge_amp_resume, [], [50, 50], zero, True)


# ---------------------------------------------------------------- detection
def test_detection_row_fails_without_distilled_rois():
    rows = update_rows(**{'distill.loss_roi_kd': 0.2})
    for row in rows:
        del row['distill.loss_kd']
    assert 'RoIs distilled' in gpu_check.judge_detection(rows, '')
    undistilled = [{
        k: v
        for k, v in row.items() if not k.startswith('distill.')
    } for row in rows]
    fails(gpu_check.judge_detection, undistilled, '', match='no RoI')
    zero = [dict(row, **{'distill.loss_roi_kd': 0.0}) for row in rows]
    fails(gpu_check.judge_detection, zero, '', match='every RoI')
    fails(gpu_check.judge_detection, update_rows(skipped=(1, 1, 1)), '')


# ---------------------------------------------------------------- benchmark
# In the format benchmark_iteration.py prints (its print calls).
BENCHMARK = '''block 30/30
device: cuda, torch threads: 16, batch 64 x 3 x 32^2
agent update every 1 iteration(s): times are per-iteration means of ...
KD                           median     41.2 ms   ratio to KD 1.000
RLKD                         median     41.9 ms   ratio to KD 1.017
per-block ratio to KD, quartiles (the machine's noise):
  RLKD                       1.010  1.017  1.025
GPU synchronisations per iteration (agent learning; in brackets: in the \
iteration of 10 that reads the logged scalars):
  KD                         1 (1)
  RLKD                       2 (3)
'''


def test_benchmark_row():
    assert 'RLKD/KD 1.017' in gpu_check.judge_benchmark(BENCHMARK)
    fails(gpu_check.judge_benchmark, '', match='no ratio')
    fails(gpu_check.judge_benchmark, BENCHMARK.replace('1.017', '1.200'))
    fails(gpu_check.judge_benchmark, BENCHMARK.replace('  2 (3)', '  9 (9)'))
    # With the agent eager beside it: reported, not judged.
    eager = BENCHMARK.replace(
        'per-block', 'RLKD, eager agent            median     60.0 ms   '
        'ratio to KD 1.456\nper-block', 1)
    assert 'agent eager (no capture): 1.456' in gpu_check.judge_benchmark(
        eager)


# ---------------------------------------------------------------- lockstep
def run_lockstep_on_cpu(folder):
    result = subprocess.run([
        sys.executable, 'tools/analysis/lockstep_check.py', '--backend',
        'gloo', '--device', 'cpu', '--steps', '2'
    ],
                            cwd=ROOT,
                            capture_output=True,
                            text=True,
                            timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope='module')
def lockstep_on_cpu(once_per_run):
    """Two real gloo processes on the CPU (what the GPU row runs on CUDA);
    run once for both tests, also when pytest-xdist gives them to two
    workers."""
    return once_per_run('lockstep_on_cpu', run_lockstep_on_cpu)


def test_lockstep_row_passes_two_processes_in_lockstep(lockstep_on_cpu):
    detail = gpu_check.judge_lockstep(lockstep_on_cpu, device_type='cpu')
    assert 'agents identical' in detail
    # The GPU row wants CUDA tensors: a CPU run does not count there.
    fails(gpu_check.judge_lockstep, lockstep_on_cpu, 'cuda', match='not cuda')


def test_lockstep_row_fails_when_the_work_is_skipped(lockstep_on_cpu):
    summary = json.loads(lockstep_on_cpu.splitlines()[-1])

    def judged(change):
        changed = json.loads(json.dumps(summary))
        change(changed)
        gpu_check.judge_lockstep(json.dumps(changed), 'cpu')

    for change in (
            lambda s: s['ranks'][0].update(skipped=2),
            lambda s: s['ranks'][1].update(updates=0),
            lambda s: s['ranks'][1].update(end=s['ranks'][1]['start']),
            lambda s: s['ranks'][0].update(end='0' * 16),
            lambda s: s['ranks'][0].update(log_probs_finite=False),
            lambda s: s['ranks'].__setitem__(1, None),
    ):
        fails(judged, change)
    fails(gpu_check.judge_lockstep, 'Traceback ...', 'cpu', match='summary')


# ------------------------------------------------- a real training's log
TINY_DIGITS = [
    'model.teacher.backbone.depth=8', 'model.teacher_ckpt=None',
    'train_dataloader.batch_size=8', 'train_dataloader.dataset.num_samples=32',
    'val_dataloader.dataset.num_samples=16', 'train_cfg.max_epochs=1',
    'train_cfg.val_interval=2', 'default_hooks.logger.interval=1',
    'custom_hooks.0.agent_warmup=0', 'custom_hooks.0.reward_warmup=1'
]

# Runs tools/train.py as __main__ once per command line, all in one
# interpreter: the OpenMMLab stack is imported once, not once per run (its
# import takes longer than a run of 4 iterations). Each run builds its own
# Runner (its own logger, message hub and visualizer, named by
# experiment_name) in its own work dir.
TRAIN_RUNS = """
import json, os, runpy, sys
for argv in json.loads(sys.argv[1]):
    sys.argv, sys.path[0] = argv, os.path.dirname(os.path.abspath(argv[0]))
    runpy.run_path(argv[0], run_name='__main__')
"""


def train_digitpairs(*runs):
    """Train each ``(work_dir, options)`` of ``runs`` with tools/train.py;
    return the scalars each run logged."""
    argv = [[
        'tools/train.py', gpu_check.RLKD_DIGITPAIRS, '--work-dir',
        str(work_dir), '--cfg-options', *TINY_DIGITS,
        f'experiment_name={osp.basename(work_dir)}', *options
    ] for work_dir, options in runs]
    result = subprocess.run(
        [sys.executable, '-c', TRAIN_RUNS,
         json.dumps(argv)],
        cwd=ROOT,
        env=dict(
            os.environ,
            OMP_NUM_THREADS='1',
            PYTHONPATH=os.pathsep.join(
                filter(None, [ROOT, os.environ.get('PYTHONPATH')]))),
        capture_output=True,
        text=True,
        timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return [gpu_check._scalars(str(work_dir)) for work_dir, _ in runs]


@pytest.mark.slow
def test_agent_row_on_real_training_logs(tmp_path):
    """The row passes a CPU run whose agent learns and fails the same run
    with the agent frozen (it acts, logs, never updates)."""
    learned, frozen = train_digitpairs(
        (tmp_path / 'learns', []),
        (tmp_path / 'frozen', ['custom_hooks.0.learn=False']))
    assert 'none skipped' in gpu_check.judge_agent_learned(learned)
    assert gpu_check.judge_losses(frozen)
    fails(gpu_check.judge_agent_learned, frozen, match='no agent update')
