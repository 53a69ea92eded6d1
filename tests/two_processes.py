"""Run a function on two processes of one process group, under a deadline.

For the tests that check decisions and collectives across processes: the
backend's own timeout and a join deadline both bound the run, so a
collective entered by one process only fails the test instead of hanging
CI.
"""
import datetime
import time

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp

DEADLINE_S = 60


def _worker(rank, init_file, backend, function, arg, results):
    torch.set_num_threads(1)
    if backend == 'nccl':
        torch.cuda.set_device(rank)
    torch_dist.init_process_group(
        backend,
        init_method=f'file://{init_file}',
        rank=rank,
        world_size=2,
        timeout=datetime.timedelta(seconds=DEADLINE_S))
    try:
        results[rank] = function(rank, arg)
    finally:
        torch_dist.destroy_process_group()


def run_on_two_processes(tmp_path, function, arg=None, backend='gloo'):
    """``function(rank, arg)`` on ranks 0 and 1; its results by rank.

    gloo runs fork the test process (no second import of the stack); NCCL
    needs spawn, so ``function`` must then be a module-level function.
    """
    results = mp.Manager().dict()
    context = mp.start_processes(
        _worker,
        args=(str(tmp_path / 'init'), backend, function, arg, results),
        nprocs=2,
        join=False,
        start_method='spawn' if backend == 'nccl' else 'fork')
    deadline = time.monotonic() + DEADLINE_S
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail('the two processes did not finish: a collective '
                        'entered by one process only?')
    return dict(results)
