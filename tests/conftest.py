"""Shared fixtures: the repository root and a runner for our tools/ scripts."""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
import torch

import mmrlkd  # noqa: F401  (compat shims before any test imports mmrazor)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _share_the_cores_between_workers():
    """Under pytest-xdist, give each worker its share of the cores.

    Without it every worker, and every tool a test starts, would run as
    many threads as there are cores, and they would spin against each
    other. Tools started by a test inherit the limit through the
    environment.
    """
    workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
    if workers < 2:
        return
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    for name in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
        os.environ.setdefault(name, threads)
    torch.set_num_threads(int(os.environ['OMP_NUM_THREADS']))


_share_the_cores_between_workers()


@pytest.fixture(scope='session')
def repo_root():
    return ROOT


@pytest.fixture(scope='session')
def once_per_run(tmp_path_factory):
    """Make something once for the whole test run, across pytest-xdist
    workers (a session fixture alone is made once per worker).

    ``once_per_run(name, make)`` calls ``make(folder)`` in the first
    process that asks, with an empty ``folder`` shared by all workers, and
    returns what it returned (JSON: a string, a dict); the other workers
    wait for it and get the same value. A ``make`` that raises leaves no
    value: the next worker to ask makes it again, in an emptied folder.
    """
    from filelock import FileLock  # a dependency of torch

    root = tmp_path_factory.getbasetemp()
    if os.environ.get('PYTEST_XDIST_WORKER'):
        root = root.parent  # the run's folder; each worker has one below

    def once(name, make):
        folder, done = root / f'once-{name}', root / f'once-{name}.json'
        with FileLock(str(done) + '.lock'):
            if not done.is_file():
                if folder.exists():
                    shutil.rmtree(folder)  # left by a make that failed
                folder.mkdir()
                done.write_text(json.dumps(make(folder)))
            return json.loads(done.read_text())

    return once


@pytest.fixture
def one_thread():
    """One intra-op thread for the test: small networks on shared cores
    run faster so. Use with ``pytest.mark.usefixtures('one_thread')``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def run_tool():
    """Run a command from the repository root; fail with its output."""

    def run(*args, env=None, timeout=600, check=True):
        full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
        result = subprocess.run([*args],
                                cwd=ROOT,
                                env=full_env,
                                capture_output=True,
                                text=True,
                                timeout=timeout)
        if check and result.returncode != 0:
            pytest.fail(f'{" ".join(args)} exited {result.returncode}\n'
                        f'--- stdout ---\n{result.stdout[-6000:]}\n'
                        f'--- stderr ---\n{result.stderr[-20000:]}')
        return result

    run.python = sys.executable
    return run
