"""A teacher at an http:// address is downloaded once per job, by rank 0.

Two gloo processes load the same checkpoint from a local HTTP server that
counts requests; the server answers slowly, and the ranks ask together, so
without MMEngine's "rank 0 downloads, barrier, the others read the cache"
order both would download.
"""
import datetime
import http.server
import io
import os
import os.path as osp
import threading
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

pytestmark = pytest.mark.slow

TIMEOUT = 120


def make_checkpoint():
    """An mmengine-like checkpoint: tensors and a pickled message hub."""
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('download-test')
    hub.update_scalar('train/loss', 0.25)
    buffer = io.BytesIO()
    torch.save(
        dict(
            meta=dict(iter=7),
            state_dict=dict(weight=torch.arange(6.0).view(2, 3)),
            message_hub=hub.state_dict()), buffer)
    return buffer.getvalue()


class CountingServer:
    """Serve one file at /teacher.pth (404 elsewhere) and count GETs."""

    def __init__(self, payload, delay=1.0):
        self.requests = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):

            def do_GET(self):
                server.requests.append(self.path)
                time.sleep(delay)
                if self.path != '/teacher.pth':
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header('Content-Length', str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = f'http://127.0.0.1:{self.httpd.server_address[1]}'
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def load_on_rank(rank, world_size, init_file, url, torch_home, out_dir):
    os.environ['TORCH_HOME'] = torch_home
    from mmengine.runner.checkpoint import CheckpointLoader

    import mmrlkd  # noqa: F401  (our checkpoint loaders)
    dist.init_process_group(
        'gloo',
        init_method=f'file://{init_file}',
        rank=rank,
        world_size=world_size,
        timeout=datetime.timedelta(seconds=TIMEOUT))
    dist.barrier()  # ask at the same moment
    try:
        checkpoint = CheckpointLoader.load_checkpoint(url, map_location='cpu')
        torch.save(checkpoint['state_dict'],
                   osp.join(out_dir, f'rank{rank}.pth'))
    except Exception as exc:  # reported to the test through a file
        with open(osp.join(out_dir, f'rank{rank}.error'), 'w') as f:
            f.write(f'{type(exc).__name__}: {exc}')
    dist.barrier()
    dist.destroy_process_group()


def run_two_ranks(tmp_path, url):
    """Run load_on_rank on two processes; kill them at the deadline."""
    torch_home = tmp_path / 'torch_home'
    out_dir = tmp_path / 'out'
    out_dir.mkdir()
    context = mp.start_processes(
        load_on_rank,
        args=(2, str(tmp_path / 'init'), url, str(torch_home), str(out_dir)),
        nprocs=2,
        join=False,
        start_method='spawn')
    deadline = time.monotonic() + TIMEOUT
    try:
        while not context.join(timeout=1):
            if time.monotonic() > deadline:
                pytest.fail(f'two-rank download still running after '
                            f'{TIMEOUT} s (a rank waits at a barrier)')
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
    return out_dir


def test_only_rank_0_downloads(tmp_path):
    payload = make_checkpoint()
    with CountingServer(payload) as server:
        out_dir = run_two_ranks(tmp_path, server.url + '/teacher.pth')
    assert server.requests == ['/teacher.pth']
    expected = torch.arange(6.0).view(2, 3)
    for rank in (0, 1):
        assert not (out_dir / f'rank{rank}.error').exists(), \
            (out_dir / f'rank{rank}.error').read_text()
        state = torch.load(out_dir / f'rank{rank}.pth')
        assert torch.equal(state['weight'], expected)


def test_failed_download_releases_the_other_rank(tmp_path):
    with CountingServer(b'') as server:
        out_dir = run_two_ranks(tmp_path, server.url + '/missing.pth')
    for rank in (0, 1):
        error = (out_dir / f'rank{rank}.error').read_text()
        assert 'HTTP Error 404' in error
    # Rank 0 failed first; rank 1 then tried on its own.
    assert server.requests == ['/missing.pth', '/missing.pth']
