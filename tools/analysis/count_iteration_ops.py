"""What one training iteration would launch on a GPU: ATen operations, host
reads and collectives, for KD and RLKD, with RLKD's agent split by part.

On a GPU, a small network's cost is the operations it launches, the times
the host waits for the device (host reads) and its collectives, not its
arithmetic; a CPU timing hides all three behind the student's convolutions.
This tool counts them, exactly and without noise, on any machine:

- **ATen operations**: a ``TorchDispatchMode`` counts every operation that
  reaches the dispatcher (at most one kernel launch each on a GPU), and
  apart those that can launch one: not views (``t``, ``view``, ``detach``,
  ``expand``...: their schema returns an alias of an input, metadata
  only) nor the profiler's record-function markers.
- **Host reads**: :class:`~mmrlkd.utils.host_reads.HostReads`' operations
  (``item``, ``tolist``, ``nonzero``, boolean-mask indexing, ...), each a
  GPU synchronisation.
- **Collectives** (``--processes 2``): the agent's (``AgentSync.
  collectives``) and every ``torch.distributed`` call made from Python in
  the iteration (DDP's gradient buckets run in C++ and are not counted).

Each config trains in a real MMEngine Runner, with all its hooks, on random
32x32 images of 100 classes (the counts do not depend on the pixels) with
the config's batch size; the agent starts acting at once (the configs'
``agent_warmup`` is set to 0) and the counted iteration is one in which the
agent learns (the tool fails if it did not), in the middle of its epoch
(the last iteration of an epoch, or of a LoggerHook interval, also reads
the agent's logged scalars, once for all the iterations since the last).
The iteration is counted from the first ``before_train_iter`` hook to the
last ``after_train_iter`` hook: the data preprocessor, teacher, student
forward and backward, the optimizer step and every hook, without data
loading.

RLKD's operations are attributed to the innermost active part among these
calls of the provider's agent, wrapped while counting: ``agent.act``
(acting), ``agent.reward_corrector.update`` and ``.redistribute``,
``agent.state_updater.update``, ``agent.updater.update`` (PPO) and
``compute_gae`` (GAE, inside PPO); the rest of ``agent.learn`` is "learn,
other" and everything else "iteration outside the agent".

    python tools/analysis/count_iteration_ops.py [--batch-size 64]
    python tools/analysis/count_iteration_ops.py --processes 2
"""
import argparse
import collections
import datetime
import functools
import importlib
import itertools
import os
import os.path as osp
import tempfile

import numpy as np
import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.dataset import BaseDataset
from mmengine.dist import get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

import mmrlkd  # noqa: F401  (compat shims before mmrazor is imported)
from mmrlkd.registry import DATASETS
from mmrlkd.utils import prepare_distributed, register_all_modules
from mmrlkd.utils.host_reads import HostReads

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
KD = osp.join(ROOT, 'configs/kd/kd_resnet56_resnet20_cifar100.py')
RLKD = osp.join(ROOT, 'configs/rlkd/rlkd_resnet56_resnet20_cifar100.py')

OUTSIDE = 'iteration outside the agent'
LEARN_OTHER = 'learn, other'
#: (label, path from the agent to the object, method name), in table order.
#: ``learn`` itself is wrapped under LEARN_OTHER.
AGENT_PARTS = (
    ('acting', (), 'act'),
    ('reward corrector update', ('reward_corrector', ), 'update'),
    ('reward corrector redistribute', ('reward_corrector', ), 'redistribute'),
    ('state updater update', ('state_updater', ), 'update'),
    ('PPO update (without GAE)', ('updater', ), 'train'),
    (LEARN_OTHER, (), 'learn'),
)
GAE = 'GAE'
#: Modules whose ``compute_gae`` is the one PPO calls (wrapped where found).
GAE_MODULES = ('mmrlkd.agents.rollout', 'mmrlkd.agents.ppo')
PARTS = tuple(
    label for label, _, _ in AGENT_PARTS[:-1]) + (GAE, LEARN_OTHER, OUTSIDE)
#: torch.distributed functions counted as collectives.
COLLECTIVES = ('all_reduce', 'broadcast', 'all_gather', 'all_gather_object',
               'all_gather_into_tensor', 'all_gather_single',
               'reduce_scatter',
               'reduce_scatter_tensor', 'broadcast_object_list', 'gather',
               'scatter', 'reduce', 'barrier', 'all_to_all')

_runs = itertools.count()


@DATASETS.register_module(force=True)
class RandomImages(BaseDataset):
    """``num`` random uint8 images (H, W, 3) with labels in [0, classes)."""

    METAINFO = dict(classes=[str(i) for i in range(100)])

    def __init__(self, num=64, size=32, num_classes=100, seed=0, **kwargs):
        self.num, self.size = num, size
        self.num_classes, self.seed = num_classes, seed
        super().__init__(**kwargs)

    def load_data_list(self):
        rng = np.random.default_rng(self.seed)
        return [
            dict(
                img=rng.integers(
                    0, 256, (self.size, self.size, 3), dtype=np.uint8),
                gt_label=int(rng.integers(self.num_classes)))
            for _ in range(self.num)
        ]


class _Reads(list):
    """HostReads' record, also tallied by the part active at each read."""

    def __init__(self, part):
        super().__init__()
        self.part = part
        self.by_part = collections.Counter()

    def append(self, name):
        super().append(name)
        self.by_part[self.part()] += 1


@functools.lru_cache(maxsize=None)
def launches(func):
    """Whether ATen operation ``func`` can launch a kernel: not a view (a
    result that aliases an input without writing it: ``t``, ``view``,
    ``detach``...) nor a profiler marker."""
    if func.__name__.startswith('_record_function'):
        return False
    return not any(
        ret.alias_info is not None and not ret.alias_info.is_write
        for ret in func._schema.returns)


class PartCounter(HostReads):
    """Counts ATen operations and host reads by the innermost active part.

    Parts are entered and left by the wrappers of :meth:`wrap`; while none
    is active, operations go to :data:`OUTSIDE`.
    """

    def __init__(self):
        super().__init__()
        self.stack = []
        self.ops = collections.Counter()
        self.launches = collections.Counter()
        self.calls = collections.Counter()
        self.reads = _Reads(self.part)
        self._restore = []

    def part(self):
        return self.stack[-1] if self.stack else OUTSIDE

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[self.part()] += 1
        if launches(func):
            self.launches[self.part()] += 1
        return super().__torch_dispatch__(func, types, args, kwargs)

    def wrap(self, owner, name, label):
        """Attribute what ``owner.name(*args, **kwargs)`` runs to ``label``
        until :meth:`unwrap`. Signatures and results pass through."""
        original = getattr(owner, name)
        own = name in vars(owner)

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            self.calls[label] += 1
            self.stack.append(label)
            try:
                return original(*args, **kwargs)
            finally:
                self.stack.pop()

        setattr(owner, name, wrapper)
        self._restore.append((owner, name, original if own else None))

    def unwrap(self):
        for owner, name, original in reversed(self._restore):
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
        self._restore = []


def find_agent(model):
    """The temperature provider's agent (an object with act and learn)."""
    model = model.module if is_model_wrapper(model) else model
    for module in model.modules():
        agent = getattr(module, 'agent', None)
        if callable(getattr(agent, 'act', None)) and callable(
                getattr(agent, 'learn', None)):
            return agent
    return None


def wrap_agent(counter, agent):
    """Wrap the parts of :data:`AGENT_PARTS` that this agent has."""
    found = []
    for label, path, name in AGENT_PARTS:
        owner = agent
        for attr in path:
            owner = getattr(owner, attr, None)
        if owner is not None and callable(getattr(owner, name, None)):
            counter.wrap(owner, name, label)
            found.append(label)
    for module_name in GAE_MODULES:
        module = importlib.import_module(module_name)
        if callable(getattr(module, 'compute_gae', None)):
            counter.wrap(module, 'compute_gae', GAE)
            if GAE not in found:
                found.append(GAE)
    return found


class _CountedWindow:
    """Collectives made from Python through ``torch.distributed``."""

    def __init__(self):
        self.calls = 0
        self._originals = {}

    def __enter__(self):
        for name in COLLECTIVES:
            original = getattr(torch_dist, name, None)
            if original is None:
                continue
            self._originals[name] = original

            def counted(*args, _original=original, **kwargs):
                self.calls += 1
                return _original(*args, **kwargs)

            setattr(torch_dist, name, counted)
        return self

    def __exit__(self, *exc_info):
        for name, original in self._originals.items():
            setattr(torch_dist, name, original)


class CountIteration(Hook):
    """Counts training iteration ``iteration`` (0-based) of the run.

    Two of these hooks bracket the iteration: the one at priority HIGHEST
    starts counting in ``before_train_iter``, the one at LOWEST stops in
    ``after_train_iter``.
    """

    def __init__(self, iteration, result, start):
        self.iteration = iteration
        self.result = result
        self.start = start
        self.priority = 'HIGHEST' if start else 'LOWEST'

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if not self.start or runner.iter != self.iteration:
            return
        counter = PartCounter()
        agent = find_agent(runner.model)
        self.result['parts'] = [] if agent is None else wrap_agent(
            counter, agent)
        sync = getattr(agent, 'sync', None)
        self.result['agent_collectives'] = getattr(sync, 'collectives', 0)
        window = _CountedWindow()
        self.result['_open'] = (counter, window, agent, sync)
        window.__enter__()
        counter.__enter__()

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        if self.start or '_open' not in self.result:
            return
        counter, window, agent, sync = self.result.pop('_open')
        counter.__exit__(None, None, None)
        window.__exit__(None, None, None)
        counter.unwrap()
        self.result['ops'] = dict(counter.ops)
        self.result['launches'] = dict(counter.launches)
        self.result['calls'] = dict(counter.calls)
        self.result['reads'] = dict(counter.reads.by_part)
        self.result['read_names'] = list(counter.reads)
        self.result['agent_collectives'] = getattr(
            sync, 'collectives', 0) - self.result['agent_collectives']
        self.result['collectives'] = window.calls
        # PPO's update ran: the agent learned in the counted iteration.
        self.result['learned'] = counter.calls['PPO update (without GAE)'] > 0


def runner_config(config,
                  batch_size,
                  iterations,
                  work_dir,
                  learn=True,
                  rollout_episodes=1):
    """The config trained for ``iterations`` iterations on random images
    (with ``learn`` False, the RLKD agent acts but never learns; it learns
    from rollouts of ``rollout_episodes`` episodes)."""
    cfg = Config.fromfile(config)
    cfg.model.teacher_ckpt = None
    if 'data_preprocessor' in cfg and 'data_preprocessor' not in cfg.model:
        cfg.model.data_preprocessor = cfg.data_preprocessor
    loader = cfg.train_dataloader
    inner = loader.dataset
    while 'dataset' in inner:  # e.g. EfficientExplorationDataset
        inner = inner.dataset
    pipeline = inner.pipeline
    inner.clear()
    inner.update(
        type='mmrlkd.RandomImages',
        num=batch_size * iterations * get_world_size(),  # per process
        pipeline=pipeline)
    loader.update(batch_size=batch_size, num_workers=0)
    loader.persistent_workers = False
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=1000)
    for key in ('val_dataloader', 'val_evaluator', 'val_cfg',
                'test_dataloader', 'test_evaluator', 'test_cfg'):
        cfg.pop(key, None)
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.pop('teacher_check', None)  # measures before training
    for hook in cfg.get('custom_hooks', []):
        if hook['type'].split('.')[-1] == 'RLKDAgentHook':
            hook.update(agent_warmup=0, reward_warmup=0, learn=learn,
                        learn_epoch_interval=1)
    provider = cfg.model.get('distiller', {}).get('temperature_provider')
    if provider is not None and \
            provider.get('type', '').endswith('RLKDTemperature'):
        provider.rollout_episodes = rollout_episodes
    cfg.work_dir = work_dir
    cfg.log_level = 'WARNING'
    return cfg


def count_iteration(config,
                    batch_size=64,
                    iteration=2,
                    launcher='none',
                    work_dir=None,
                    learn=True,
                    rollout_episodes=1):
    """Counts of training iteration ``iteration`` (0-based) of ``config``
    (``learn`` False: an RLKD agent that acts but does not learn, as
    between the RL epochs of the official schedule).

    Returns:
        dict: ``ops`` and ``reads`` (part -> count), ``read_names``,
        ``parts`` (the agent parts found), ``calls`` (part -> calls),
        ``learned`` (whether the agent
        learned in the iteration; always False without an agent),
        ``agent_collectives`` and ``collectives``.
    """
    register_all_modules(init_default_scope=False)
    with tempfile.TemporaryDirectory() as tmp:
        # One iteration after the counted one: the epoch's last iteration
        # also reads the logged scalars the hooks kept on the device, which
        # an iteration in the middle of an epoch does not.
        cfg = runner_config(config, batch_size, iteration + 2, work_dir or tmp,
                            learn, rollout_episodes)
        cfg.launcher = launcher
        prepare_distributed(cfg)
        # A fresh name: a Runner reuses the MessageHub of an existing one.
        cfg.experiment_name = (f'count_iteration_ops_{os.getpid()}_'
                               f'{next(_runs)}')
        result = {}
        runner = Runner.from_cfg(cfg)
        for start in (True, False):
            runner.register_hook(CountIteration(iteration, result, start))
        runner.train()
    if 'ops' not in result:
        raise RuntimeError(f'iteration {iteration} did not run')
    return result


def table(counts):
    """Rows ``(name, ops, launching ops, reads)``: KD, RLKD and RLKD's
    parts."""
    rows = []
    for name, result in counts.items():
        rows.append((f'{name} iteration', sum(result['ops'].values()),
                     sum(result['launches'].values()),
                     sum(result['reads'].values())))
        if result['parts']:
            for part in PARTS:
                rows.append((f'  {part}', result['ops'].get(part, 0),
                             result['launches'].get(part, 0),
                             result['reads'].get(part, 0)))
    return rows


def format_table(counts, batch_size):
    lines = [
        f'one training iteration at batch {batch_size}, the agent learning '
        '(a Runner with all hooks; CPU counts, each at most one GPU launch)',
        f'{"part":<40} {"ATen ops":>9} {"launching":>10} {"host reads":>11}'
    ]
    for name, ops, launching, reads in table(counts):
        lines.append(f'{name:<40} {ops:>9,} {launching:>10,} {reads:>11}')
    return '\n'.join(lines)


#: Episodes per rollout in the rollout schedule's row.
ROLLOUT = 4


def schedule_table(kd, learning, acting, rollout):
    """Rows ``(schedule, agent ops, agent launching ops)`` per iteration,
    averaged over a run, as a share of KD's iteration too: what RLKD adds
    to KD's counts in an iteration that learns (``learning``; ``rollout``:
    one that learns from :data:`ROLLOUT` episodes) and in one that only
    acts. The official code learns in one epoch of 20 ("RL epochs").
    """
    schedules = (('paper: learn after every iteration', learning, 1.0),
                 ('official: learn in 1 epoch of 20, act always', learning,
                  1 / 20),
                 (f'rollouts of {ROLLOUT} episodes learned together',
                  rollout, 1 / ROLLOUT))
    rows = []
    for name, learned, share in schedules:
        added = []
        for key in ('ops', 'launches'):
            base = sum(kd[key].values())
            learn = sum(learned[key].values()) - base
            act = sum(acting[key].values()) - base
            average = share * learn + (1 - share) * act
            added.append((average, average / base))
        rows.append((name, *added))
    return rows


def format_schedules(rows):
    lines = [
        'what the agent adds to a KD iteration, averaged over a run:',
        f'{"schedule":<46} {"ATen ops":>14} {"launching":>14}'
    ]
    for name, (ops, ops_share), (launching, launching_share) in rows:
        lines.append(f'{name:<46} {ops:>7,.0f} ({ops_share:>4.0%}) '
                     f'{launching:>7,.0f} ({launching_share:>4.0%})')
    return '\n'.join(lines)


def _count_on_rank(rank, init_file, configs, batch_size, results):
    torch.set_num_threads(1)
    # What torchrun would set (MMEngine's DDP wrapper reads LOCAL_RANK).
    os.environ.update(LOCAL_RANK=str(rank), RANK=str(rank), WORLD_SIZE='2')
    torch_dist.init_process_group(
        'gloo',
        init_method=f'file://{init_file}',
        rank=rank,
        world_size=2,
        timeout=datetime.timedelta(seconds=300))
    try:
        results[rank] = {
            name: count_iteration(config, batch_size, launcher='pytorch')
            for name, config in configs.items()
        }
    finally:
        torch_dist.destroy_process_group()


def count_on_two_processes(configs, batch_size=64):
    """:func:`count_iteration` of each config on ranks 0 and 1 (gloo)."""
    import torch.multiprocessing as mp
    with tempfile.TemporaryDirectory() as tmp:
        results = mp.Manager().dict()
        mp.start_processes(
            _count_on_rank,
            args=(osp.join(tmp, 'init'), configs, batch_size, results),
            nprocs=2,
            join=True,
            start_method='fork')
        return dict(results)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--kd-config', default=KD)
    parser.add_argument('--rlkd-config', default=RLKD)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument(
        '--processes',
        type=int,
        choices=(1, 2),
        default=1,
        help='2: also count the collectives under two gloo processes')
    args = parser.parse_args()
    torch.set_num_threads(1)
    configs = dict(KD=args.kd_config, RLKD=args.rlkd_config)
    counts = {
        name: count_iteration(config, args.batch_size)
        for name, config in configs.items()
    }
    print(format_table(counts, args.batch_size))
    if not counts['RLKD']['learned']:
        raise SystemExit('the RLKD agent did not learn in the counted '
                         'iteration: nothing was measured')
    acting = count_iteration(args.rlkd_config, args.batch_size, learn=False)
    print('RLKD iteration, the agent acting only: '
          f'{sum(acting["ops"].values()):,} ATen ops, '
          f'{sum(acting["launches"].values()):,} launching, '
          f'{sum(acting["reads"].values())} host reads')
    # Rewards start at iteration 1: the rollout fills at iteration ROLLOUT.
    rollout = count_iteration(
        args.rlkd_config, args.batch_size, ROLLOUT, rollout_episodes=ROLLOUT)
    if not rollout['learned']:
        raise SystemExit('the rollout did not learn in the counted iteration')
    print(format_schedules(schedule_table(counts['KD'], counts['RLKD'],
                                          acting, rollout)))
    if args.processes == 2:
        by_rank = count_on_two_processes(configs, args.batch_size)
        print('collectives per iteration under two processes (gloo), '
              'rank 0 / rank 1:')
        for name in configs:
            agent = [by_rank[r][name]['agent_collectives'] for r in (0, 1)]
            calls = [by_rank[r][name]['collectives'] for r in (0, 1)]
            print(f'  {name:<6} agent (AgentSync) {agent[0]} / {agent[1]}, '
                  f'torch.distributed calls from Python {calls[0]} / '
                  f'{calls[1]} (DDP gradient buckets not counted)')


if __name__ == '__main__':
    main()
