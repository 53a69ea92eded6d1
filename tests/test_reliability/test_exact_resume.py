"""Interrupted and resumed = never interrupted, bit for bit, on the CPU.

Each test trains 2 epochs of 4 iterations straight (validating after epoch
1), and separately trains 1 epoch, "crashes" right after its checkpoint,
resumes with ``resume=True`` and trains the second epoch. Everything the
second epoch produced must be equal: the model (student, teacher and
distiller), the student's optimizer, the RLKD agent with its optimizers,
replay, pending episode and reward statistics, the exploration records and
plan, CTKD's lambda, and the temperatures of the last iteration.
"""
import pytest
from mmengine.hooks import Hook
from reliability_runs import (EXPLORATION, ROOT, assert_identical,
                              stop_data_workers, tiny_runner,
                              train_until_interrupted)

from mmrlkd.engine import EfficientExplorationHook

RLKD = 'rlkd_resnet56_resnet8w4_digitpairs.py'


def straight_and_resumed(config, tmp_path, **options):
    straight = tiny_runner(config, tmp_path / 'straight', **options)
    straight.train()
    interrupted = tiny_runner(config, tmp_path / 'resumed', **options)
    if 'max_iters' in options:
        train_until_interrupted(
            interrupted, iteration=options['max_iters'] // 2)
    else:
        train_until_interrupted(interrupted, epoch=1)
    resumed = tiny_runner(config, tmp_path / 'resumed', resume=True, **options)
    resumed.mixed = MixedCount()
    resumed.register_hook(resumed.mixed)
    resumed.train()
    for runner in (straight, interrupted, resumed):
        stop_data_workers(runner)
    # The resumed run really started from the checkpoint.
    assert len(resumed.recorder.temperatures) == 4
    return straight, resumed


def assert_same_training(straight, resumed):
    assert_identical(straight.model.state_dict(), resumed.model.state_dict(),
                     'model')
    assert_identical(straight.optim_wrapper.state_dict(),
                     resumed.optim_wrapper.state_dict(), 'optimizer')
    assert_identical(straight.recorder.temperatures[-1],
                     resumed.recorder.temperatures[-1], 'temperatures')


def exploration_hook(runner):
    return next(
        h for h in runner.hooks if isinstance(h, EfficientExplorationHook))


class MixedCount(Hook):
    """Mixed images served in each training epoch."""

    def __init__(self):
        self.per_epoch = {}

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        mixed = sum(
            bool(s.metainfo.get('exploration_mixed'))
            for s in data_batch['data_samples'])
        self.per_epoch[runner.epoch] = self.per_epoch.get(runner.epoch,
                                                          0) + mixed


def write_rlkd_exploration_config(tmp_path):
    """The RLKD CIFAR recipe on DigitPairs: agent plus exploration."""
    config = tmp_path / 'rlkd_exploration.py'
    config.write_text(f"""
_base_ = [{ROOT + '/configs/digitpairs/' + RLKD!r}, {EXPLORATION!r}]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='mmrlkd.EfficientExplorationDataset',
        dataset={{{{_base_.train_dataloader.dataset}}}}))
custom_hooks = [
    dict(type='mmrlkd.RLKDAgentHook', agent_warmup=0, reward_warmup=2),
    {{{{_base_.efficient_exploration_hook}}}},
]
""")
    return str(config)


def test_rlkd_with_exploration_resumes_exactly(tmp_path):
    config = write_rlkd_exploration_config(tmp_path)
    straight, resumed = straight_and_resumed(config, tmp_path)
    assert_same_training(straight, resumed)
    provider = straight.model.temperature_provider
    # Networks, optimizers, replay, pending episode, reward statistics.
    assert_identical(provider.agent_state_dict(),
                     resumed.model.temperature_provider.agent_state_dict(),
                     'agent')
    assert provider.agent.reward_corrector is not None
    assert provider.agent.state_updater is not None
    explored, resumed_exploration = map(exploration_hook, (straight, resumed))
    assert_identical(explored._records, resumed_exploration._records,
                     'entropy records')
    assert_identical(explored._plan, resumed_exploration._plan, 'plan')
    # The second epoch served the plan saved with epoch 1.
    assert len(explored._plan[1].slots) == 3
    assert resumed.mixed.per_epoch == {1: 3}


def test_ctkd_resumes_exactly(tmp_path):
    straight, resumed = straight_and_resumed(
        'ctkd_resnet56_resnet8w4_digitpairs.py', tmp_path)
    assert_same_training(straight, resumed)
    lambdas = [
        runner.message_hub.get_scalar('train/ctkd/lambda').data[0][-4:]
        for runner in (straight, resumed)
    ]
    assert_identical(*lambdas, 'lambda')
    assert straight.model.temperature_provider.grl_lambda == \
        resumed.model.temperature_provider.grl_lambda == 1.0


@pytest.mark.slow
def test_iteration_based_rlkd_resumes_exactly(tmp_path):
    """Iteration checkpoints: MMEngine replays the trained batches before
    the first new iteration, so the data must come from worker processes
    (their seeds are fixed); the hook restores the main process's states
    after the replay."""
    straight, resumed = straight_and_resumed(RLKD, tmp_path, max_iters=8)
    assert_same_training(straight, resumed)
    assert_identical(straight.model.temperature_provider.agent_state_dict(),
                     resumed.model.temperature_provider.agent_state_dict(),
                     'agent')
