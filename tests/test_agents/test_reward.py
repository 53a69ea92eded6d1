"""Reward pieces against hand computations and the spec's published table."""
import math

import pytest
import torch

from mmrlkd.agents import (Episode, IterationRecord, NextBatchReward,
                           SameBatchReward, batch_performance,
                           linear_warmup_scale)


def test_accuracy_matches_a_count():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, -1.0], [0.1, 0.2]])
    labels = torch.tensor([0, 0, 0, 1])
    assert batch_performance(logits, labels).item() == pytest.approx(0.75)


def test_neg_ce_matches_the_formula():
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.5, 0.5, 3.0]])
    labels = torch.tensor([1, 2])
    expected = -sum(
        -row[label] + math.log(sum(math.exp(v) for v in row))
        for row, label in zip(logits.tolist(), labels.tolist())) / 2
    ours = batch_performance(logits, labels, 'neg_ce')
    assert ours.item() == pytest.approx(expected, rel=1e-6)


def test_unknown_performance():
    with pytest.raises(ValueError):
        batch_performance(torch.zeros(1, 2), torch.zeros(1), 'top5')


@pytest.mark.parametrize('progress,length,expected', [(1, 20, 0.05),
                                                      (10, 20, 0.5),
                                                      (20, 20, 1.0),
                                                      (35, 20, 1.0),
                                                      (3, 0, 1.0)])
def test_linear_warmup(progress, length, expected):
    assert linear_warmup_scale(progress, length) == pytest.approx(expected)


def record(performance, tag=None):
    episode = None if tag is None else Episode(
        torch.zeros(1, 3), torch.zeros(1, 3), torch.tensor([tag]),
        torch.zeros(1), torch.zeros(1))
    return IterationRecord(performance=torch.tensor(performance),
                           episode=episode)


CPU = torch.device('cpu')


def test_next_batch_rewards_the_previous_episode_one_iteration_late():
    """perf(t+1) - perf(t) rewards episode t; an iteration in which the
    agent did not act is not rewarded; one that saw no batch breaks the
    chain."""
    reward = NextBatchReward()
    assert reward.close(record(0.5, tag=1.0), True, CPU) is None
    episode, value = reward.close(record(0.75, tag=2.0), True, CPU)
    assert episode.actions.item() == 1.0  # episode 1's
    assert value.item() == pytest.approx(0.25)
    assert reward.pending.performance.item() == 0.75
    # Episode 2 did act: rewarded by batch 3 even if 3 does not act.
    episode, value = reward.close(record(0.5), False, CPU)
    assert episode.actions.item() == 2.0
    assert value.item() == pytest.approx(-0.25)
    # Episode 3 did not act: nothing to reward.
    assert reward.close(record(0.6, tag=4.0), True, CPU) is None
    # A batch the provider never saw.
    assert reward.close(IterationRecord(), True, CPU) is None
    assert reward.close(record(0.9), True, CPU) is None


def test_next_batch_pending_survives_a_state_dict():
    reward = NextBatchReward()
    reward.close(record(0.5, tag=1.0), True, CPU)
    twin = NextBatchReward()
    twin.load_state_dict(reward.state_dict())
    _, value = twin.close(record(0.75), True, CPU)
    assert value.item() == pytest.approx(0.25)
    # A pending episode saved by the EpisodeBuffer of older versions.
    legacy = dict(
        pending=dict(Episode.empty(3).state_dict(), rewards=torch.zeros(0),
                     capacity=64, state_dim=3),
        pending_performance=torch.tensor(0.5), pending_acted=True)
    twin.load_state_dict(legacy)
    episode, value = twin.close(record(0.75), True, CPU)
    assert episode is None and value.item() == pytest.approx(0.25)


def test_same_batch_rewards_this_episode_with_its_own_gain():
    reward = SameBatchReward()
    calls = []

    def rerun():
        calls.append(1)
        return torch.tensor(0.7)

    episode, value = reward.close(record(0.5, tag=1.0), True, CPU, None,
                                  rerun)
    assert value.item() == pytest.approx(0.2) and episode.actions.item() == 1
    # Not acting (or not learning): no re-run, no reward.
    assert reward.close(record(0.5, tag=1.0), False, CPU, None, rerun) is None
    assert len(calls) == 1
