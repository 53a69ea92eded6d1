"""RewardDiagnosticsHook: its statistics, and in a real tiny Runner."""
import json
import math
import os.path as osp
import statistics
from types import SimpleNamespace
from unittest.mock import Mock

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner import Runner
from tiny_digitpairs import tiny_config

from mmrlkd.agents import (PPOUpdater, RewardCorrector, RLKDAgent,
                           TemperaturePolicy)
from mmrlkd.engine import RewardDiagnosticsHook
from mmrlkd.engine.hooks.reward_diagnostics_hook import (REWARD_KEY,
                                                         lag1_autocorrelation,
                                                         reward_statistics)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
RLKD = osp.join(ROOT,
                'configs/digitpairs/rlkd_resnet56_resnet8w4_digitpairs.py')
HOOK = 'mmrlkd.RewardDiagnosticsHook'


def loop_autocorrelation(x):
    """Lag-1 autocorrelation written out term by term."""
    mean = sum(x) / len(x)
    num = sum((x[t] - mean) * (x[t + 1] - mean) for t in range(len(x) - 1))
    return num / sum((v - mean)**2 for v in x)


def test_lag1_autocorrelation_of_an_alternating_sequence():
    # Mean 0, each of the n - 1 products is -1, the sum of squares n.
    for n in (2, 6, 101):
        x = [(-1)**t for t in range(n)]
        expected = -(n - 1) / n if n % 2 == 0 else None
        if expected is None:  # odd n: the mean is 1 / n, use the loop
            expected = loop_autocorrelation(x)
        assert lag1_autocorrelation(x) == pytest.approx(expected, abs=1e-12)


def test_lag1_autocorrelation_matches_the_definition():
    x = np.random.default_rng(0).normal(size=37).cumsum().tolist()
    assert lag1_autocorrelation(x) == pytest.approx(
        loop_autocorrelation(x), rel=1e-12)
    assert lag1_autocorrelation(x) > 0.5  # a random walk


def test_differences_of_independent_noise_correlate_at_minus_half():
    """The issue's claim: the reward as the change of a noisy measurement.
    """
    noise = np.random.default_rng(1).normal(size=20001)
    assert lag1_autocorrelation(np.diff(noise)) == pytest.approx(
        -0.5, abs=0.02)
    assert lag1_autocorrelation(noise) == pytest.approx(0.0, abs=0.02)


def test_undefined_statistics_are_nan():
    assert math.isnan(lag1_autocorrelation([1.0]))
    assert math.isnan(lag1_autocorrelation([2.0, 2.0, 2.0]))
    stats = reward_statistics([0.5])
    assert stats['count'] == 1 and stats['mean'] == 0.5
    for key in ('std', 'lag1_autocorr', 'explained_variance', 'heldout_mse'):
        assert math.isnan(stats[key]), key
    assert stats['episodes'] == 0
    with pytest.raises(ValueError, match='2 predictions for 1 targets'):
        reward_statistics([0.1], [0.1, 0.2], [0.3])


def test_reward_and_explained_variance_statistics():
    rng = np.random.default_rng(2)
    rewards = rng.normal(0.01, 0.04, size=50).tolist()
    targets = rng.normal(size=40)
    predictions = 0.6 * targets + rng.normal(0, 0.5, size=40)
    stats = reward_statistics(rewards, predictions.tolist(), targets.tolist())
    assert stats['count'] == 50 and stats['episodes'] == 40
    assert stats['mean'] == pytest.approx(statistics.fmean(rewards))
    assert stats['std'] == pytest.approx(statistics.stdev(rewards))
    y, p = targets.tolist(), predictions.tolist()
    y_mean = sum(y) / len(y)
    residual = sum((a - b)**2 for a, b in zip(y, p))
    total = sum((a - y_mean)**2 for a in y)
    assert stats['explained_variance'] == pytest.approx(1 - residual / total)
    assert stats['heldout_mse'] == pytest.approx(residual / len(y))
    assert stats['target_var'] == pytest.approx(total / len(y))
    # Perfect predictions explain everything; predicting the mean, nothing;
    # predicting the wrong sign, less than nothing.
    assert reward_statistics([], y,
                             y)['explained_variance'] == pytest.approx(1.0)
    assert reward_statistics([], [y_mean] * len(y),
                             y)['explained_variance'] == pytest.approx(
                                 0.0, abs=1e-12)
    assert reward_statistics([], [-v for v in y], y)['explained_variance'] < -1


@pytest.mark.parametrize('epochs', [0, 1, 3])
def test_the_corrector_predicts_each_return_before_training_on_it(epochs):
    torch.manual_seed(0)
    corrector = RewardCorrector(3, hidden_dim=8, epochs=epochs)
    # Different lengths: the replay is padded.
    for step, num in enumerate((16, 9, 16, 5)):
        states, temps = torch.rand(num, 3), torch.rand(num)
        with torch.no_grad():
            expected = corrector.network(states, temps)[-1]
        before = [p.detach().clone() for p in corrector.params]
        corrector.update(states, temps, 0.5 * step - 0.7)
        assert corrector.last_heldout_prediction.shape == ()
        torch.testing.assert_close(
            corrector.last_heldout_prediction, expected, rtol=0, atol=1e-6)
        moved = any(not torch.equal(a, b)
                    for a, b in zip(before, corrector.params))
        assert moved == (epochs > 0)


def test_the_agent_reports_the_held_out_pair_in_standardised_units():
    torch.manual_seed(0)
    policy = TemperaturePolicy(hidden_dim=8)
    agent = RLKDAgent(policy, PPOUpdater(policy),
                      RewardCorrector(3, hidden_dim=8))
    momentum = agent.reward_scale.moments.momentum
    sums = torch.zeros(2, dtype=torch.float64)  # EMAs of G and G^2
    for step, reward in enumerate((0.02, -0.01, 0.05)):
        states = torch.rand(12, 3)
        _, episode = agent.act(states)
        with torch.no_grad():
            expected = agent.reward_corrector.network(
                states, torch.sigmoid(episode.actions))[-1]
        diagnostics = agent.learn(episode, reward)
        prediction = diagnostics['corrector_heldout_prediction']
        target = diagnostics['corrector_target']
        assert prediction.shape == target.shape == ()
        torch.testing.assert_close(prediction, expected)
        # The standardised reward the corrector trains on: by the
        # bias-corrected running mean and mean square of the rewards.
        sums = momentum * sums + (1 - momentum) * torch.tensor(
            [reward, reward**2], dtype=torch.float64)
        mean, mean_sq = (sums / (1 - momentum**(step + 1))).tolist()
        std = math.sqrt(max(mean_sq - mean**2, 0)) + 1e-8
        if step:  # the first is 0 / (float32 rounding): not compared
            assert float(target) == pytest.approx(
                (reward - mean) / std, rel=1e-4)
    off = RLKDAgent(policy, PPOUpdater(policy))
    diagnostics = off.learn(episode, 0.1)
    assert math.isnan(diagnostics['corrector_heldout_prediction'])
    assert math.isnan(diagnostics['corrector_target'])


@pytest.mark.parametrize('kwargs', [
    dict(interval=0),
    dict(interval=2.5),
    dict(filename=''),
])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        RewardDiagnosticsHook(**kwargs)


def tiny_runner(work_dir,
                epochs=2,
                diagnostics=True,
                hook_options=None,
                max_iters=None,
                **options):
    """4 iterations of 8 images per epoch; the agent acts from the start.
    ``max_iters`` trains an iteration-based loop, with a checkpoint every
    ``max_iters // 2`` iterations.
    """
    cfg = tiny_config(
        RLKD,
        work_dir,
        epochs,
        randomness=dict(seed=0, deterministic=True),
        **options)
    hooks = [hook.type for hook in cfg.custom_hooks]
    assert hooks == ['mmrlkd.RLKDAgentHook', HOOK]  # the shipped config
    cfg.custom_hooks[0].agent_warmup = 0
    if max_iters is not None:
        cfg.train_cfg = dict(
            type='IterBasedTrainLoop',
            max_iters=max_iters,
            val_interval=max_iters)
        cfg.param_scheduler = []
        cfg.default_hooks.checkpoint.update(
            by_epoch=False, interval=max_iters // 2, max_keep_ckpts=-1)
        cfg.log_processor = dict(by_epoch=False)
        cfg.custom_hooks[0].by_epoch = False
    if not diagnostics:
        cfg.custom_hooks = cfg.custom_hooks[:1]
    else:
        cfg.custom_hooks[1].update(hook_options or {})
    return Runner.from_cfg(cfg)


def read_rows(work_dir):
    with open(osp.join(work_dir, 'reward_diagnostics.jsonl')) as f:
        return [json.loads(line) for line in f]


ROW_KEYS = {
    'epoch', 'iter', 'count', 'mean', 'std', 'lag1_autocorr', 'episodes',
    'explained_variance', 'heldout_mse', 'target_mean', 'target_var'
}


def test_each_epoch_summarises_the_rewards_of_its_iterations(tmp_path):
    # Minus the cross-entropy varies where 8 images' accuracy stays 0.
    runner = tiny_runner(
        tmp_path,
        **{'model.distiller.temperature_provider.performance': 'neg_ce'})
    runner.train()
    rows = read_rows(tmp_path)
    assert [set(row) for row in rows] == [ROW_KEYS] * 2
    assert [(row['epoch'], row['iter']) for row in rows] == [(1, 4), (2, 8)]
    # The first episode is rewarded after the second iteration: 3 + 4.
    assert [row['count'] for row in rows] == [3, 4]
    assert [row['episodes'] for row in rows] == [3, 4]
    hub = runner.message_hub
    rewards = hub.get_scalar('train/rl/reward').data[0].tolist()
    predictions = hub.get_scalar(
        'train/rl/corrector_heldout_prediction').data[0].tolist()
    targets = hub.get_scalar('train/rl/corrector_target').data[0].tolist()
    assert len(rewards) == len(predictions) == len(targets) == 7
    for row, window in zip(rows, (slice(0, 3), slice(3, 7))):
        expected = reward_statistics(rewards[window], predictions[window],
                                     targets[window])
        for key, value in expected.items():
            if math.isnan(value):
                assert row[key] is None, key
            else:
                assert row[key] == pytest.approx(value, rel=1e-9), key
    assert rows[1]['explained_variance'] is not None
    # The last epoch's row is also in the message hub, for the loggers.
    for key in ('count', 'mean', 'std', 'lag1_autocorr', 'explained_variance'):
        buffer = hub.get_scalar(f'train/rl/reward_epoch_{key}')
        assert buffer.current() == pytest.approx(rows[-1][key]), key
    assert len(hub.get_scalar('train/rl/reward_epoch_count').data[0]) == 2


def test_values_not_logged_in_an_iteration_are_not_counted(tmp_path):
    """With PPO every second iteration, every iteration has a reward but
    only every second one a held-out pair: the message hub still holds
    the previous pair in between, which must not be counted again."""
    runner = tiny_runner(
        tmp_path, **{
            'custom_hooks.0.update_interval': 2,
            'model.distiller.temperature_provider.performance': 'neg_ce'
        })
    runner.train()
    rows = read_rows(tmp_path)
    assert [row['count'] for row in rows] == [3, 4]
    # Episodes learnt from after iterations 2, 4 | 6, 8.
    assert [row['episodes'] for row in rows] == [2, 2]
    hub = runner.message_hub
    predictions = hub.get_scalar(
        'train/rl/corrector_heldout_prediction').data[0].tolist()
    targets = hub.get_scalar('train/rl/corrector_target').data[0].tolist()
    assert len(predictions) == 4
    expected = reward_statistics([], predictions[2:], targets[2:])
    assert rows[1]['heldout_mse'] == pytest.approx(expected['heldout_mse'])


def test_the_hook_does_not_change_training(tmp_path):
    runs = []
    for diagnostics in (True, False):
        runner = tiny_runner(
            tmp_path / str(diagnostics), diagnostics=diagnostics)
        runner.train()
        runs.append(runner)
    with_hook, without = runs
    assert osp.isfile(tmp_path / 'True' / 'reward_diagnostics.jsonl')
    assert not osp.exists(tmp_path / 'False' / 'reward_diagnostics.jsonl')
    for name, value in with_hook.model.state_dict().items():
        assert torch.equal(value, without.model.state_dict()[name]), name
    agent = with_hook.model.temperature_provider.agent
    other = without.model.temperature_provider.agent
    for a, b in zip(agent.networks(), other.networks()):
        for (name, x), y in zip(a.state_dict().items(),
                                b.state_dict().values()):
            assert torch.equal(x, y), name
    assert torch.equal(agent.get_rng_state(), other.get_rng_state())


def test_without_calibration_only_the_reward_is_summarised(tmp_path):
    tiny_runner(
        tmp_path,
        epochs=1,
        **{
            'model.distiller.temperature_provider.reward_calibration': False
        }).train()
    (row, ) = read_rows(tmp_path)
    assert row['count'] == 3
    assert row['episodes'] == 0
    assert row['explained_variance'] is None


@pytest.mark.parametrize('log_every', [1, 4])
def test_an_interval_summarises_every_n_iterations_and_the_rest(
        tmp_path, log_every):
    """Also when RLKDAgentHook reads its scalars every 4 iterations (the
    LoggerHook's interval): the window's last values are read at its end.
    """
    runner = tiny_runner(
        tmp_path,
        hook_options=dict(interval=3),
        **{'default_hooks.logger.interval': log_every})
    runner.train()
    rows = read_rows(tmp_path)
    assert [row['iter'] for row in rows] == [3, 6, 8]
    # Rewards after iterations 2..8: 2 + 3 + 2.
    assert [row['count'] for row in rows] == [2, 3, 2]
    rewards = runner.message_hub.get_scalar('train/rl/reward').data[0].tolist()
    assert rows[1]['mean'] == pytest.approx(statistics.fmean(rewards[2:5]))


def test_a_fresh_run_truncates_and_a_resumed_one_appends(tmp_path):
    tiny_runner(tmp_path, epochs=1).train()
    first = read_rows(tmp_path)
    assert [row['iter'] for row in first] == [4]
    # A row written after the checkpoint (e.g. before a crash) is dropped.
    with open(tmp_path / 'reward_diagnostics.jsonl', 'a') as f:
        f.write(json.dumps(dict(first[0], epoch=2, iter=8)) + '\n')
    tiny_runner(tmp_path, epochs=2, resume=True).train()
    rows = read_rows(tmp_path)
    assert [row['iter'] for row in rows] == [4, 8]
    assert rows[0] == first[0]
    assert rows[1]['count'] == 4
    tiny_runner(tmp_path, epochs=1).train()
    assert [row['iter'] for row in read_rows(tmp_path)] == [4]


def test_a_value_counts_once_even_when_it_repeats_and_a_full_buffer_warns():
    """One more value in the hub than before the iteration is a new one,
    equal to the last or not; a hub that keeps no more values than it has
    cannot tell, and the hook says so instead of guessing."""
    hub = MessageHub(
        'diagnostics_count',
        log_scalars={REWARD_KEY: HistoryBuffer(max_length=3)})
    runner = SimpleNamespace(message_hub=hub, logger=Mock(), iter=0)
    hook = RewardDiagnosticsHook()
    for value in (0.5, 0.5, None, 0.25, 0.75):  # None: nothing logged
        hook.before_train_iter(runner, 0)
        if value is not None:
            hub.update_scalar(REWARD_KEY, value)
        hook.after_train_iter(runner, 0)
    # 0.25 filled the buffer (3 values): 0.75 cannot be told apart.
    assert hook._window['rewards'] == [0.5, 0.5, 0.25]
    assert runner.logger.warning.call_count == 1
    assert 'cannot' in runner.logger.warning.call_args[0][0]


def resumed_from_iteration_4(tmp_path, diagnostics=True):
    """Trains 8 iterations straight (with or without the hook), then
    resumes from its iteration-4 checkpoint with the hook elsewhere."""
    tiny_runner(
        tmp_path / 'straight', diagnostics=diagnostics, max_iters=8).train()
    checkpoint = str(tmp_path / 'straight' / 'iter_4.pth')
    resumed = tiny_runner(
        tmp_path / 'resumed', resume=True, load_from=checkpoint, max_iters=8)
    resumed.train()
    return torch.load(checkpoint, weights_only=False), resumed


def test_a_resumed_run_continues_the_window_open_at_the_checkpoint(tmp_path):
    checkpoint, resumed = resumed_from_iteration_4(tmp_path)
    # Rewards after iterations 2, 3, 4 (the first closes iteration 1's).
    window = checkpoint['reward_diagnostics']
    assert len(window['rewards']) == len(window['targets']) == 3
    (row, ) = read_rows(tmp_path / 'resumed')
    assert (row['iter'], row['count'], row['episodes']) == (8, 7, 7)
    # The message hub is resumed too: the row covers its whole history.
    rewards = resumed.message_hub.get_scalar(REWARD_KEY).data[0].tolist()
    assert rewards[:3] == window['rewards']
    assert row['mean'] == pytest.approx(statistics.fmean(rewards), rel=1e-9)


def test_a_checkpoint_without_the_window_restarts_it_with_a_warning(tmp_path):
    _, resumed = resumed_from_iteration_4(tmp_path, diagnostics=False)
    (row, ) = read_rows(tmp_path / 'resumed')
    assert row['count'] == 4
    log = osp.join(resumed.log_dir, f'{resumed.timestamp}.log')
    with open(log) as f:
        assert 'the checkpoint has no open window' in f.read()
