"""Efficient exploration (RLKD, Sec. 4.3): entropy ranking and mix-up plans.

The student's prediction entropy H(x) = -sum_c p_c log p_c measures how much
an instance can still teach it (eq. 14). Instances are ranked by entropy,
descending (eq. 15); the rank slice [a, b) of the N ranked instances is
``{x_(k) : a * N <= k < b * N}`` (k counted from 0). The k-th instance of the
high-quality slice is mixed with the k-th instance of the partner slice,
``x~_k = lam_k * x_high,k + (1 - lam_k) * x_partner,k`` (eq. 16), with
``lam_k`` falling linearly in rank (the official code's rule) or drawn from
Beta(alpha, alpha) and folded to ``max(lam, 1 - lam)``, so the high-quality
instance always dominates. Plain functions, so the math is testable without
a runner.
"""
import math
from fractions import Fraction
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from mmengine import dist

LAMBDA_SCHEDULES = ('linear', 'beta')
MIXED_SLOTS = ('high', 'partner')


class MixPlan(NamedTuple):
    """Which dataset slot serves which mix, for one epoch.

    Slot ``slots[k]`` serves ``lam[k] * image(first[k]) + (1 - lam[k]) *
    image(second[k])`` with the label of ``first[k]`` (the high-quality
    instance). All four are 1-D tensors of the same length M.
    """
    slots: torch.Tensor
    first: torch.Tensor
    second: torch.Tensor
    lam: torch.Tensor


def prediction_entropy(logits):
    """H = -sum_c p_c log p_c of softmax(logits) (T = 1), per row, float."""
    log_prob = F.log_softmax(logits.detach().float(), dim=1)
    return -(log_prob.exp() * log_prob).sum(dim=1)


def check_rank_range(rank_range, name):
    """A rank range is a pair 0 <= a < b <= 1 of fractions of the ranking."""
    if len(rank_range) != 2 or not 0 <= rank_range[0] < rank_range[1] <= 1:
        raise ValueError(
            f'{name} must be (a, b) with 0 <= a < b <= 1, got {rank_range}')
    return tuple(float(x) for x in rank_range)


def rank_slice(num_ranked, rank_range):
    """Start and stop of ``{k : a * N <= k < b * N}`` in exact arithmetic.

    Fractions avoid float artefacts such as ``0.1 * 30 = 3.0000000000000004``
    turning rank 3 away.
    """
    start, stop = (
        math.ceil(Fraction(x).limit_denominator(10**6) * num_ranked)
        for x in rank_range)
    return start, stop


def entropy_ranking(scores):
    """Indices of the finite scores, highest first; ties by lower index.

    Instances without a score (NaN: never seen unmixed) are left out, so N
    counts the ranked instances only.
    """
    scores = torch.as_tensor(scores, dtype=torch.float64)
    ranked = torch.nonzero(torch.isfinite(scores)).flatten()
    order = torch.sort(-scores[ranked], stable=True).indices
    return ranked[order]


def mix_weights(num,
                schedule='linear',
                lam_range=(1.0, 0.7),
                beta_alpha=0.2,
                seed=None):
    """Weights of the high-quality images, one per pair, in rank order.

    'linear': ``lam_k = end + (start - end) * (M - k) / M`` for k = 0..M-1,
    from ``start`` for the highest-ranked pair down to just above ``end``
    (the official code's ``0.7 + 0.3 * (M - k) / M``). 'beta': ``lam ~
    Beta(alpha, alpha)``, then ``max(lam, 1 - lam)``, from a NumPy generator
    seeded with ``seed``.
    """
    if schedule == 'linear':
        start, end = lam_range
        steps = torch.arange(num, 0, -1, dtype=torch.float64)
        return end + (start - end) * steps / max(num, 1)
    if schedule == 'beta':
        lam = np.random.default_rng(seed).beta(beta_alpha, beta_alpha, num)
        return torch.from_numpy(np.maximum(lam, 1 - lam))
    raise ValueError(
        f'schedule must be one of {LAMBDA_SCHEDULES}, got {schedule!r}')


def build_mix_plan(scores,
                   high_range=(0.1, 0.2),
                   partner_range=(0.4, 0.5),
                   mixed_slot='partner',
                   lam_schedule='linear',
                   lam_range=(1.0, 0.7),
                   beta_alpha=0.2,
                   seed=None):
    """The :class:`MixPlan` of an epoch from per-instance entropy scores.

    Args:
        scores (Tensor): (N_dataset,) entropy score per dataset index, NaN
            where unknown.
        high_range (tuple[float]): Rank slice of the high-quality instances.
        partner_range (tuple[float]): Rank slice mixed into them, paired by
            rank with the high-quality slice.
        mixed_slot (str): Dataset slot that serves the mix: 'high' (the
            high-quality instance's own index) or 'partner' (the partner's
            index, as the official code does; the high-quality instances
            are then seen twice per epoch).
        lam_schedule, lam_range, beta_alpha, seed: see :func:`mix_weights`.
    """
    if mixed_slot not in MIXED_SLOTS:
        raise ValueError(
            f'mixed_slot must be one of {MIXED_SLOTS}, got {mixed_slot!r}')
    order = entropy_ranking(scores)
    high = order[slice(*rank_slice(len(order), high_range))]
    partner = order[slice(*rank_slice(len(order), partner_range))]
    num = min(len(high), len(partner))
    high, partner = high[:num], partner[:num]
    lam = mix_weights(num, lam_schedule, lam_range, beta_alpha, seed)
    slots = high if mixed_slot == 'high' else partner
    return MixPlan(slots.clone(), high, partner, lam)


def reduce_epoch_entropy(entropy_sum, entropy_count):
    """Sum per-index entropies and counts over all processes (in place).

    Each process saw its own share of the dataset; afterwards every process
    holds the whole epoch, so all of them compute the same plan. An index
    seen twice (a sampler padding the last batch) averages its values.
    Returns the epoch's mean entropy per index, NaN where nobody saw it.
    """
    if dist.get_world_size() > 1:
        dist.all_reduce(entropy_sum, op='sum')
        dist.all_reduce(entropy_count, op='sum')
    mean = torch.full_like(entropy_sum, float('nan'))
    seen = entropy_count > 0
    mean[seen] = entropy_sum[seen] / entropy_count[seen]
    return mean
