"""Two processes learn one agent in lockstep; print what each ended with.

    python tools/analysis/lockstep_check.py --backend gloo --device cuda
    python tools/analysis/lockstep_check.py --backend nccl --device cuda

Run by ``gpu_check.py``: with ``--backend gloo --device cuda`` both
processes share the first GPU (gloo all-reduces CUDA tensors; NCCL needs a
GPU per process), with ``nccl`` process r uses GPU r. Each process acts on
its own states (different episode sizes), learns ``--steps`` times with the
gradients averaged across the two, and the last line printed is a JSON
summary: per rank its device, updates made and skipped, whether every
log-prob was finite, and a digest of the agent's parameters before and
after. :func:`gpu_check.judge_lockstep` decides from it.
"""
import argparse
import datetime
import hashlib
import json
import os
import os.path as osp
import sys
import tempfile

import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def digest(agent):
    sha = hashlib.sha256()
    for net in agent.networks():
        for p in net.parameters():
            sha.update(p.detach().cpu().contiguous().numpy().tobytes())
    return sha.hexdigest()[:16]


def worker(rank, args, init_file, results):
    # Imported here, not at the top: the parent only starts the two
    # processes, and importing mmrlkd (the whole OpenMMLab stack) there too
    # would add a third import to the two the processes need.
    from mmrlkd.agents import (AgentSync, PPOUpdater, RewardCorrector,
                               RLKDAgent, StateUpdater, TemperaturePolicy)

    device = args.device
    if device == 'cuda':
        device = f'cuda:{rank if args.backend == "nccl" else 0}'
        torch.cuda.set_device(device)
    torch_dist.init_process_group(
        args.backend,
        init_method=f'file://{init_file}',
        rank=rank,
        world_size=2,
        timeout=datetime.timedelta(seconds=args.timeout))
    try:
        torch.manual_seed(0)  # the same initial networks on both
        policy = TemperaturePolicy(hidden_dim=16)
        agent = RLKDAgent(policy, PPOUpdater(policy),
                          RewardCorrector(3, hidden_dim=8),
                          StateUpdater(3)).to(device)
        agent.sync = AgentSync()
        agent.seed_for_rank(rank)
        start, updates, skipped, finite = digest(agent), 0, 0, True
        for step in range(args.steps):
            generator = torch.Generator().manual_seed(10 * rank + step)
            states = torch.rand(
                40 if rank == 0 else 25, 3, generator=generator).to(device)
            _, episode = agent.act(states)
            finite &= bool(torch.isfinite(episode.log_probs).all())
            out = agent.learn(episode,
                              torch.tensor(0.1 * (step + 1), device=device))
            skipped += int(float(out['skipped']))
            updates += 1
        results[rank] = dict(
            device=str(episode.log_probs.device),
            updates=updates,
            skipped=skipped,
            log_probs_finite=finite,
            start=start,
            end=digest(agent))
    finally:
        torch_dist.destroy_process_group()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--backend', default='gloo', choices=('gloo', 'nccl'))
    parser.add_argument('--device', default='cuda', choices=('cuda', 'cpu'))
    parser.add_argument('--steps', type=int, default=4)
    parser.add_argument('--timeout', type=int, default=60)
    args = parser.parse_args()
    results = mp.Manager().dict()
    with tempfile.TemporaryDirectory() as tmp:
        mp.start_processes(
            worker,
            args=(args, osp.join(tmp, 'init'), results),
            nprocs=2,
            start_method='spawn')
    summary = dict(
        backend=args.backend, ranks=[results.get(r) for r in range(2)])
    print(json.dumps(summary))


if __name__ == '__main__':
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    main()
