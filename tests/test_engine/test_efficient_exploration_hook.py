"""EfficientExplorationHook in a real MMEngine Runner on a few DigitPairs."""
import itertools
import math
import os.path as osp
from collections import defaultdict

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmrlkd.datasets import make_digit_pairs
from mmrlkd.engine import EfficientExplorationHook
from mmrlkd.utils import register_all_modules
from mmrlkd.utils.host_reads import HostReads

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
STUDENT = osp.join(ROOT, 'configs/digitpairs/resnet8w4_digitpairs.py')
RLKD = osp.join(ROOT,
                'configs/digitpairs/rlkd_resnet56_resnet8w4_digitpairs.py')
EXPLORATION = osp.join(ROOT,
                       'configs/_base_/exploration/efficient_exploration.py')
NUM = 40  # 4 instances in each 10 % rank slice
_names = itertools.count()


class Probe(Hook):
    """Records what each epoch served, the student's logits and the scores.

    Priority LOW: it runs after the exploration hook at every stage.
    """

    priority = 'LOW'

    def __init__(self, logits_module='head.fc'):
        self.logits_module = logits_module
        self.served = defaultdict(dict)
        self.entropy = defaultdict(dict)
        self.scores = {}
        self._logits = None

    def before_train(self, runner):
        runner.model.get_submodule(self.logits_module).register_forward_hook(
            lambda module, inputs, output: setattr(self, '_logits', output))

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        for sample, row in zip(data_batch['data_samples'], self._logits):
            exps = [math.exp(z) for z in row.tolist()]
            probs = [e / sum(exps) for e in exps]
            self.entropy[runner.epoch][sample.sample_idx] = -sum(
                p * math.log(p) for p in probs)
            self.served[runner.epoch][sample.sample_idx] = (
                sample.exploration_mixed, sample.exploration_sources,
                sample.exploration_lambda, sample.gt_label.item())

    def after_train_epoch(self, runner):
        hook = next(
            h for h in runner.hooks if isinstance(h, EfficientExplorationHook))
        self.scores[runner.epoch] = hook.scores()


def tiny_runner(config, work_dir, epochs, hook=None, wrap=True, **options):
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(config)
    cfg.merge_from_dict({
        'train_dataloader.batch_size': 20,
        'train_cfg.max_epochs': epochs,
        'train_cfg.val_interval': 100,
        'val_dataloader.dataset.num_samples': 16,
        'default_hooks.logger.interval': 1,
        **options
    })
    inner = cfg.train_dataloader.dataset
    inner = inner.get('dataset', inner)  # already wrapped by the config
    inner.num_samples = NUM
    if wrap:
        cfg.train_dataloader.dataset = dict(
            type='mmrlkd.EfficientExplorationDataset',
            dataset=cfg.train_dataloader.dataset)
    if hook is not None:
        cfg.custom_hooks = cfg.get('custom_hooks', []) + [
            dict(type='mmrlkd.EfficientExplorationHook', **hook)
        ]
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = f'exploration_test_{next(_names)}'
    return Runner.from_cfg(cfg)


def mixes(served_epoch):
    """slot -> (first, second, lam, label) of the mixed samples of an epoch."""
    return {
        slot: (*sources, lam, label)
        for slot, (mixed, sources, lam, label) in served_epoch.items() if mixed
    }


def expected_mixes(scores, mixed_slot='partner'):
    """The 10-20 % slice mixed with the 40-50 % slice, by plain loops."""
    values = scores.tolist()
    ranked = sorted((i for i, v in enumerate(values) if v == v),
                    key=lambda i: -values[i])
    n = len(ranked)
    high = [ranked[k] for k in range(n) if 10 * n <= 100 * k < 20 * n]
    low = [ranked[k] for k in range(n) if 40 * n <= 100 * k < 50 * n]
    m = len(high)
    _, labels = make_digit_pairs('train', NUM)
    result = {}
    for k, (first, second) in enumerate(zip(high, low)):
        slot = first if mixed_slot == 'high' else second
        result[slot] = (first, second, 0.7 + 0.3 * (m - k) / m,
                        int(labels[first]))
    return result


def assert_same_mixes(got, expected):
    assert got.keys() == expected.keys()
    for slot, (first, second, lam, label) in expected.items():
        assert got[slot][:2] == (first, second)
        assert got[slot][2] == pytest.approx(lam, abs=1e-12)
        assert got[slot][3] == label


def test_explores_the_configured_epochs_then_restores(tmp_path):
    probe = Probe()
    runner = tiny_runner(
        STUDENT,
        tmp_path,
        epochs=3,
        hook=dict(agent_warmup=1, explore_epochs=1))
    runner.register_hook(probe)
    runner.train()
    served = probe.served
    assert all(len(served[e]) == NUM for e in range(3))
    assert not mixes(served[0]) and not mixes(served[2])
    assert_same_mixes(mixes(served[1]), expected_mixes(probe.scores[0]))
    assert runner.train_dataloader.dataset.num_mixed == 0
    # Entropy by dataset index: epoch 1 filed every image; epoch 2 every
    # unmixed one, while a mixed slot keeps its epoch-1 entropy.
    for idx in range(NUM):
        assert probe.scores[0][idx].item() == pytest.approx(
            probe.entropy[0][idx], rel=1e-5)
        source = 0 if idx in mixes(served[1]) else 1
        assert probe.scores[1][idx].item() == pytest.approx(
            probe.entropy[source][idx], rel=1e-5)


def test_iterations_read_nothing_and_records_stop_after_the_window(tmp_path):
    probe = Probe()
    runner = tiny_runner(
        STUDENT,
        tmp_path,
        epochs=4,
        hook=dict(agent_warmup=1, explore_epochs=1))
    runner.register_hook(probe)
    hook = next(
        h for h in runner.hooks if isinstance(h, EfficientExplorationHook))
    reads, calls = [], []
    for stage in ('before_train_iter', 'after_train_iter'):

        def counted(*args, _original=getattr(hook, stage), **kwargs):
            with HostReads() as counter:
                _original(*args, **kwargs)
            reads.extend(counter.reads)
            calls.append(stage)

        setattr(hook, stage, counted)
    runner.train()
    assert len(calls) == 2 * 4 * NUM // 20 and reads == []
    # Epoch 2 (index 1) is the last exploration epoch: its entropies are
    # the last ones filed.
    assert not torch.equal(probe.scores[1], probe.scores[0])
    assert torch.equal(probe.scores[3], probe.scores[1])


def test_persistent_workers_see_each_new_plan(tmp_path):
    """The plan reaches a persistent worker started before it was set."""
    probe = Probe()
    runner = tiny_runner(
        STUDENT,
        tmp_path,
        epochs=3,
        hook=dict(agent_warmup=1, explore_epochs=1, mixed_slot='high'),
        **{
            'train_dataloader.num_workers': 1,
            'train_dataloader.persistent_workers': True
        })
    runner.register_hook(probe)
    runner.train()
    assert_same_mixes(
        mixes(probe.served[1]), expected_mixes(probe.scores[0], 'high'))
    assert not mixes(probe.served[2])


def write_rlkd_exploration_config(tmp_path):
    """The documented way to switch exploration on, in an RLKD config."""
    config = tmp_path / 'rlkd_exploration.py'
    config.write_text(f"""
_base_ = [{RLKD!r}, {EXPLORATION!r}]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='mmrlkd.EfficientExplorationDataset',
        dataset={{{{_base_.train_dataloader.dataset}}}}))
custom_hooks = [
    dict(type='mmrlkd.RLKDAgentHook', agent_warmup=1, reward_warmup=1),
    {{{{_base_.efficient_exploration_hook}}}},
]
model = dict(teacher=dict(backbone=dict(depth=8)), teacher_ckpt=None)
""")
    return str(config)


@pytest.mark.slow
def test_rlkd_run_saves_and_resumes_the_plan(tmp_path):
    config = write_rlkd_exploration_config(tmp_path)
    runner = tiny_runner(config, tmp_path, epochs=1, wrap=False)
    runner.train()
    hook = next(
        h for h in runner.hooks if isinstance(h, EfficientExplorationHook))
    assert hook.warmup == 1  # from RLKDAgentHook
    saved = torch.load(
        osp.join(tmp_path, 'epoch_1.pth'),
        weights_only=False)['efficient_exploration']
    assert saved['plan']['epoch'] == 1 and len(saved['plan']['slots']) == 4
    assert torch.isfinite(saved['records']['latest']).all()

    probe = Probe('architecture.head.fc')
    resumed = tiny_runner(config, tmp_path, epochs=2, wrap=False, resume=True)
    resumed.register_hook(probe)
    resumed.train()
    plan = saved['plan']
    assert_same_mixes(
        mixes(probe.served[1]), {
            slot: (first, second, lam, probe.served[1][slot][3])
            for slot, first, second, lam in
            zip(plan['slots'].tolist(), plan['first'].tolist(),
                plan['second'].tolist(), plan['lam'].tolist())
        })
    _, labels = make_digit_pairs('train', NUM)
    assert all(label == labels[first]
               for first, _, _, label in mixes(probe.served[1]).values())


def test_disabled_hook_changes_nothing(tmp_path):
    probe = Probe()
    runner = tiny_runner(
        STUDENT, tmp_path, epochs=2, hook=dict(agent_warmup=1, enabled=False))
    probe.after_train_epoch = lambda runner: None
    runner.register_hook(probe)
    runner.train()
    assert not mixes(probe.served[1])
    checkpoint = torch.load(
        osp.join(tmp_path, 'epoch_2.pth'), weights_only=False)
    assert 'efficient_exploration' not in checkpoint


def test_hook_needs_the_dataset_wrapper(tmp_path):
    runner = tiny_runner(STUDENT, tmp_path, epochs=1, hook={}, wrap=False)
    with pytest.raises(TypeError, match='EfficientExplorationDataset'):
        runner.train()


@pytest.mark.parametrize('kwargs', [
    dict(explore_epochs=-1),
    dict(interval=0),
    dict(high_range=(0.2, 0.1)),
    dict(partner_range=(0.4, 0.6)),
    dict(partner_range=(0.15, 0.25)),
    dict(mixed_slot='low'),
    dict(lam_schedule='cosine'),
    dict(lam_range=(1.0, 1.2)),
    dict(score='max'),
])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        EfficientExplorationHook(**kwargs)


def test_exploration_epochs():
    hook = EfficientExplorationHook(
        agent_warmup=3, explore_epochs=5, interval=2)
    assert [e for e in range(12) if hook.is_exploring(e)] == [3, 5, 7]
