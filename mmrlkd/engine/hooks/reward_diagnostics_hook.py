"""Per-epoch statistics of the RLKD reward, to measure its signal-to-noise.

The batch reward is the change of batch accuracy between two different
batches, so batch-sampling noise may swamp what the temperatures did.
"""
import json
import math
import os
import os.path as osp

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from mmrlkd.agents.statistics import explained_variance
from mmrlkd.registry import HOOKS
from .rlkd_agent_hook import RLKDAgentHook

REWARD_KEY = 'train/rl/reward'
PREDICTION_KEY = 'train/rl/corrector_heldout_prediction'
TARGET_KEY = 'train/rl/corrector_target'
DIAGNOSTICS_FILE = 'reward_diagnostics.jsonl'
#: The checkpoint's key of the window open at the checkpoint.
STATE_KEY = 'reward_diagnostics'
#: The row's statistics logged as ``train/rl/reward_epoch_<name>``.
LOGGED = ('count', 'mean', 'std', 'lag1_autocorr', 'explained_variance')


def lag1_autocorrelation(values):
    """Sample lag-1 autocorrelation ``sum (x_t - m)(x_{t+1} - m) / sum
    (x_t - m)^2`` (the usual ACF estimator, m the mean); NaN for fewer than
    two values or a constant sequence."""
    x = np.asarray(values, dtype=np.float64)
    if x.size < 2:
        return math.nan
    x = x - x.mean()
    denominator = np.dot(x, x)
    return float(np.dot(x[:-1], x[1:]) / denominator) \
        if denominator > 0 else math.nan


def reward_statistics(rewards, predictions=(), targets=()):
    """One window's statistics of the reward and of the corrector.

    Args:
        rewards (Sequence[float]): The rewards, in iteration order.
        predictions (Sequence[float]): The corrector's held-out predictions
            of the standardised return. Defaults to ().
        targets (Sequence[float]): The standardised returns they predict,
            one per prediction. Defaults to ().

    Returns:
        dict[str, float]: ``count``, ``mean``, ``std`` (n - 1 in the
        denominator), ``lag1_autocorr`` of the rewards; ``episodes`` (the
        held-out pairs), ``explained_variance`` ``1 - mse / var(target)``
        (:func:`mmrlkd.agents.statistics.explained_variance`),
        ``heldout_mse``, ``target_mean`` and ``target_var`` (n in the
        denominator), so that windows can be pooled. NaN where undefined.
    """
    r = np.asarray(rewards, dtype=np.float64)
    p = np.asarray(predictions, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    if p.shape != y.shape:
        raise ValueError(f'{p.size} predictions for {y.size} targets')
    nan = math.nan
    stats = dict(
        count=int(r.size),
        mean=float(r.mean()) if r.size else nan,
        std=float(r.std(ddof=1)) if r.size > 1 else nan,
        lag1_autocorr=lag1_autocorrelation(r),
        episodes=int(y.size),
        heldout_mse=float(np.mean((y - p)**2)) if y.size else nan,
        target_mean=float(y.mean()) if y.size else nan,
        target_var=float(y.var()) if y.size else nan,
        explained_variance=float(
            explained_variance(torch.from_numpy(p), torch.from_numpy(y))))
    return stats


def _count(hub, key):
    """How many values of ``key`` the message hub holds (0 if none)."""
    buffer = hub.log_scalars.get(key)
    return 0 if buffer is None else len(buffer.data[0])


@HOOKS.register_module()
class RewardDiagnosticsHook(Hook):
    """Summarises the RLKD reward each epoch (or every ``interval`` iters).

    Every iteration it takes, from the message hub, the ``train/rl/reward``
    values that :class:`RLKDAgentHook` logged in this iteration (those of
    the iterations since its previous read of the device: it reads once
    per ``log_interval``) and, with reward calibration on, the reward
    corrector's predictions of each episode's standardised return made
    before training on it (``corrector_heldout_prediction``) and those
    returns (``corrector_target``); iterations with nothing logged
    (warm-up, skipped updates, calibration off) are not counted. At each
    window's end it computes :func:`reward_statistics`: an explained
    variance near 0 says the states and temperatures explain none of the
    reward; a lag-1 autocorrelation near -0.5 says consecutive rewards
    share a noise term of opposite sign, i.e. the reward is mostly the
    difference of two batches' sampling noise. They are logged as
    ``train/rl/reward_epoch_<name>`` (``count``, ``mean``, ``std``,
    ``lag1_autocorr``, ``explained_variance``; finite values only), in one
    log line, and the main process appends the row (``epoch``, ``iter``:
    the 1-based last iteration, and every statistic, NaN as null) to
    ``<work_dir>/reward_diagnostics.jsonl``, which
    ``tools/analysis/reward_diagnostics.py`` prints as a table. It reads
    host floats only, draws no random numbers and touches neither the
    model nor the agent, so adding it does not change training.

    Args:
        interval (int, optional): Summarise every this many iterations
            (for iteration-based loops; the last, partial window at the end
            of training). None summarises each epoch (in an iteration-based
            loop, the whole run once). Defaults to None.
        filename (str): The JSON-lines file in the work dir. Defaults to
            'reward_diagnostics.jsonl'.

    Note:
        The corrector sees each instance's state, the student's and
        teacher's confidences on this batch, which also predict this
        batch's accuracy, the reward's negative term: a positive explained
        variance can come from the batch's composition rather than from
        the temperatures.

    Note:
        Priority 55, between :class:`RLKDAgentHook` (NORMAL, 50), whose
        scalars of the same iteration it reads, and the LoggerHook
        (BELOW_NORMAL, 60). A value counts as logged in this iteration when
        the message hub holds one more of it than before the iteration
        (``HistoryBuffer.data``; MMEngine offers no per-iteration record of
        updates); the hub keeps the last ``max_length`` (1,000,000) values
        of a key, past which a new one cannot be told apart: the hook then
        warns and stops counting that key.

    Note:
        A fresh run (iteration 0) truncates the file; a resumed one keeps
        the rows up to its iteration and appends. The window open at the
        checkpoint (e.g. an iteration checkpoint inside an epoch) is saved
        under ``reward_diagnostics`` and continued on resume; a checkpoint
        without it restarts the window empty, with a warning. Under several
        processes the checkpoint holds rank 0's window, the one it writes.

    Examples:
        >>> custom_hooks = [
        ...     dict(type='mmrlkd.RLKDAgentHook', agent_warmup=2),
        ...     dict(type='mmrlkd.RewardDiagnosticsHook')]
    """

    priority = 55

    def __init__(self, interval=None, filename=DIAGNOSTICS_FILE):
        if interval is not None and (int(interval) != interval
                                     or interval < 1):
            raise ValueError(
                f'interval must be an int >= 1 or None, got {interval}')
        if not isinstance(filename, str) or not filename:
            raise ValueError(f'filename must be a file name, got {filename!r}')
        self.interval = None if interval is None else int(interval)
        self.filename = filename
        self._window = self._new_window()
        self._counts = {}  # each key's number of values before the iter
        self._uncountable = set()  # keys whose buffer is full
        self._loaded = None  # the window of the checkpoint loaded, if any

    @staticmethod
    def _new_window(saved=None):
        """rewards, predictions, targets: empty, or a copy of ``saved``."""
        return {
            key: list((saved or {}).get(key, ()))
            for key in ('rewards', 'predictions', 'targets')
        }

    def _path(self, runner):
        return osp.join(runner.work_dir, self.filename)

    def before_train(self, runner):
        if self.interval is not None and self.interval > runner.max_iters:
            runner.logger.warning(
                f'RewardDiagnosticsHook: interval={self.interval} exceeds '
                f'the {runner.max_iters} iterations: one row at the end')
        loaded, self._loaded = self._loaded, None
        if runner.iter > 0 and loaded is None:  # resumed (not load_from)
            runner.logger.warning(
                'RewardDiagnosticsHook: the checkpoint has no open '
                'window: the current one restarts empty')
        self._window = self._new_window(loaded if runner.iter > 0 else None)
        if not is_main_process():
            return
        path = self._path(runner)
        rows = []
        if runner.iter > 0 and osp.isfile(path):
            with open(path) as f:
                rows = [json.loads(line) for line in f if line.strip()]
            rows = [row for row in rows if row['iter'] <= runner.iter]
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.writelines(json.dumps(row) + '\n' for row in rows)

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        hub = runner.message_hub
        self._counts = {
            key: _count(hub, key)
            for key in (REWARD_KEY, PREDICTION_KEY, TARGET_KEY)
        }

    def _new_values(self, runner, key):
        """The key's values logged in this iteration, in order (several
        when RLKDAgentHook logs the iterations of its ``log_interval`` at
        once)."""
        buffer = runner.message_hub.log_scalars.get(key)
        if buffer is None or key in self._uncountable:
            return []
        before = self._counts.get(key, 0)
        if before >= buffer.max_length:
            self._uncountable.add(key)
            runner.logger.warning(
                f'RewardDiagnosticsHook: the message hub keeps the last '
                f'{buffer.max_length} values of {key}, so a new one cannot '
                'be told apart any more: it is no longer counted')
            return []
        values = buffer.data[0]
        return [float(value) for value in values[before:]]

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        summarise = self.interval is not None and \
            (runner.iter + 1) % self.interval == 0
        if summarise:  # this window's last values may still be unlogged
            for hook in runner.hooks:
                if isinstance(hook, RLKDAgentHook):
                    hook.flush_logs(runner)
        self._window['rewards'].extend(self._new_values(runner, REWARD_KEY))
        # Logged in pairs (RLKDAgentHook): the i-th of each belong together.
        predictions = self._new_values(runner, PREDICTION_KEY)
        targets = self._new_values(runner, TARGET_KEY)
        if len(predictions) == len(targets):
            self._window['predictions'].extend(predictions)
            self._window['targets'].extend(targets)
        if summarise:
            self._summarise(runner, runner.iter + 1)

    def before_save_checkpoint(self, runner, checkpoint):
        checkpoint[STATE_KEY] = self._new_window(self._window)

    def after_load_checkpoint(self, runner, checkpoint):
        self._loaded = checkpoint.get(STATE_KEY)

    def after_train_epoch(self, runner):
        if self.interval is None:
            self._summarise(runner, runner.iter)

    def after_train(self, runner):
        if self.interval is not None and runner.iter % self.interval:
            self._summarise(runner, runner.iter)

    def _summarise(self, runner, last_iter):
        stats = reward_statistics(**self._window)
        self._window = self._new_window()
        for name in LOGGED:
            if math.isfinite(stats[name]):
                runner.message_hub.update_scalar(
                    f'train/rl/reward_epoch_{name}', stats[name])
        row = dict(epoch=runner.epoch + 1, iter=last_iter)
        row.update({
            key: value if math.isfinite(value) else None
            for key, value in stats.items()
        })
        runner.logger.info(
            f'Reward diagnostics (epoch {row["epoch"]}, iter {last_iter}): ' +
            ', '.join(f'{key} {stats[key]:.4g}' for key in LOGGED))
        if is_main_process():
            with open(self._path(runner), 'a') as f:
                f.write(json.dumps(row) + '\n')
