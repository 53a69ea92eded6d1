"""Shared fixtures: the repository root and a runner for our tools/ scripts."""
import os
import os.path as osp
import subprocess
import sys

import pytest

import mmrlkd  # noqa: F401  (compat shims before any test imports mmrazor)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='session')
def repo_root():
    return ROOT


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
