"""Reward pieces against hand computations and the spec's published table."""
import math

import pytest
import torch

from mmrlkd.agents import (batch_performance, linear_warmup_scale,
                           official_cosine_scale)


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


def test_official_cosine_matches_the_published_multipliers():
    # rlkd-method.md 1.4: at E1 = 20, 40, ..., 240.
    published = [
        18.35, 14.48, 10.95, 10.11, 12.50, 16.55, 19.57, 6.25, 10.00, 6.25,
        2.50, 1.00
    ]
    ours = [official_cosine_scale(e) for e in range(20, 241, 20)]
    assert ours == pytest.approx(published, abs=0.01)
