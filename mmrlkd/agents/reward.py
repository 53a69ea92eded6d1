"""RLKD's reward: how a closed episode is rewarded, in one place.

Iteration t's temperatures shape student step t; the reward says how much
the student gained from it, measured with the batch performance (top-1
accuracy, or minus the cross-entropy) of training forward passes:

- :class:`NextBatchReward` (the paper): ``perf(batch t+1) - perf(batch t)``.
  Both come from forwards the training runs anyway (batch t before step t,
  batch t+1 after it), so it costs nothing, but it is learnt one iteration
  late and carries the two batches' sampling noise.
- :class:`SameBatchReward`: ``perf(batch t, after step t) - perf(batch t,
  before it)``, one more no-grad student forward on the same batch; no
  batch-composition noise, learnt at once.

A reward object turns one iteration's :class:`IterationRecord` into the
episode to learn from and its reward, agreed across processes, and keeps
whatever has to wait for the next iteration (the pending episode). The
warm-up factor is the hook's (:func:`linear_warmup_scale`).
"""
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from .episode import Episode

PERFORMANCES = ('accuracy', 'neg_ce')


def batch_performance(logits, gt_labels, kind='accuracy'):
    """The student's performance on a batch, as a 0-dim float32 tensor.

    Args:
        logits (Tensor): Student logits (N, C).
        gt_labels (Tensor): Targets (N,).
        kind (str): 'accuracy' (top-1, in [0, 1]) or 'neg_ce' (minus the
            mean cross-entropy). Defaults to 'accuracy'.
    """
    logits = logits.detach().float()
    if kind == 'accuracy':
        return (logits.argmax(1) == gt_labels.reshape(-1)).float().mean()
    if kind == 'neg_ce':
        return -F.cross_entropy(logits, gt_labels.reshape(-1).long())
    raise ValueError(f'kind must be one of {PERFORMANCES}, got {kind!r}')


def linear_warmup_scale(progress, warmup_length):
    """``min(progress / E, 1)``: the paper's reward warm-up.

    Args:
        progress (int): 1-based epoch (or iteration) of the reward.
        warmup_length (int): E; 0 disables the warm-up.
    """
    if warmup_length <= 0:
        return 1.0
    return min(progress / warmup_length, 1.0)


def agreed_mean(sync, value, device):
    """``value`` averaged over the processes that measured one.

    Every process takes part in the one all-reduce, whether or not it
    measured a value (its provider saw no instance); the result is NaN
    when none did, which the agent's agreed check then skips on every
    process. Alone (``sync`` None or inactive), ``value`` is returned as
    is (None when not measured).
    """
    if sync is None or not sync.active:
        return value
    if value is None:
        measured = torch.zeros(2, device=device)
    else:
        measured = torch.stack([
            value.detach().float().to(device).reshape(()),
            torch.ones((), device=device)
        ])
    total = sync.sum(measured)
    return total[0] / total[1]


@dataclass
class IterationRecord:
    """What the provider saw of one training batch.

    Attributes:
        performance (Tensor, optional): The batch performance before the
            student's step (0-dim); None when the provider saw no batch.
        labels (Tensor, optional): The targets, kept only for a reward that
            re-measures the batch after the step.
        episode (Episode, optional): The agent's decisions; None while the
            agent does not act.
    """

    performance: Optional[torch.Tensor] = None
    labels: Optional[torch.Tensor] = None
    episode: Optional[Episode] = None


@dataclass
class PendingEpisode:
    """An episode waiting for the next batch's performance."""

    episode: Optional[Episode]
    performance: Optional[torch.Tensor]
    acted: bool


class EpisodeReward:
    """How a closed iteration's episode is rewarded (subclasses below).

    :meth:`close` is called once per training iteration, on every process,
    after the student's step. Its arguments:

    - ``record`` (:class:`IterationRecord`): what the provider saw;
    - ``acted`` (bool): whether the agent acted (and, for a reward that
      re-runs the student, will learn), the same on every process, unlike
      ``record.episode``;
    - ``device``: the agent's, where the reward is made;
    - ``sync`` (:class:`AgentSync`, optional): agrees on the reward;
    - ``performance_after_step`` (callable, optional): re-runs the student
      on the batch just trained on and returns its performance or None.

    It returns the episode to learn from (None where this process saw no
    batch) and its reward, or None when nothing is rewarded on any
    process: the decision rests on values every process shares, since
    learning enters collectives.
    """

    #: Whether :meth:`close` needs ``performance_after_step``.
    rerun = False
    #: Nothing waits across iterations unless a subclass says otherwise.
    pending = None

    def close(self,
              record,
              acted,
              device,
              sync=None,
              performance_after_step=None):
        raise NotImplementedError

    def to(self, device):
        return self

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


class NextBatchReward(EpisodeReward):
    """The paper's reward: batch t+1's performance minus batch t's.

    Attributes:
        pending (PendingEpisode, optional): Iteration t's episode, rewarded
            when iteration t+1 closes; saved in checkpoints.
    """

    name = 'next_batch'

    def __init__(self):
        self.pending = None

    def close(self,
              record,
              acted,
              device,
              sync=None,
              performance_after_step=None):
        """Reward the pending episode with this batch; keep this one."""
        performance = record.performance
        if performance is not None:
            performance = performance.to(device)
        performance = agreed_mean(sync, performance, device)
        pending, self.pending = self.pending, PendingEpisode(
            record.episode, performance, acted)
        if pending is None or not pending.acted or \
                pending.performance is None or performance is None:
            return None
        return pending.episode, performance - pending.performance

    def to(self, device):
        if self.pending is not None:
            self.pending = PendingEpisode(
                None if self.pending.episode is None else
                self.pending.episode.to(device),
                None if self.pending.performance is None else
                self.pending.performance.to(device), self.pending.acted)
        return self

    def state_dict(self):
        pending = self.pending
        if pending is None:
            return dict(pending=None, pending_performance=None,
                        pending_acted=False)
        return dict(
            pending=None
            if pending.episode is None else pending.episode.state_dict(),
            pending_performance=pending.performance,
            pending_acted=pending.acted)

    def load_state_dict(self, state):
        episode = state.get('pending')
        if episode is not None and 'capacity' in episode:
            # Saved by the EpisodeBuffer of versions before 0.9.
            episode = episode if episode['actions'].numel() else None
        episode = None if episode is None else Episode.from_state_dict(
            episode)
        acted = state.get('pending_acted', episode is not None)
        performance = state.get('pending_performance')
        self.pending = None if performance is None and not acted else \
            PendingEpisode(episode, performance, acted)


class SameBatchReward(EpisodeReward):
    """The batch's own gain over the student's step rewards its episode.

    Needs the algorithm's ``performance_after_step`` (one no-grad student
    forward on the batch just trained on, :class:`mmrlkd.RLKDDistill`).
    """

    name = 'same_batch'
    rerun = True

    def close(self,
              record,
              acted,
              device,
              sync=None,
              performance_after_step=None):
        """Reward this iteration's episode with its batch's gain."""
        if not acted:
            return None
        after = performance_after_step()
        change = None
        if record.performance is not None and after is not None:
            change = after.to(device) - record.performance.to(device)
        change = agreed_mean(sync, change, device)
        if change is None:
            return None
        return record.episode, change


#: The reward kinds :class:`mmrlkd.RLKDTemperature` accepts, by name.
REWARDS = {cls.name: cls for cls in (NextBatchReward, SameBatchReward)}
