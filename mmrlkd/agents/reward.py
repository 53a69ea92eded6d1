"""RLKD's reward: the student's performance gain, scaled by a schedule.

The actions of iteration t are rewarded with
``scale(t) * (perf(batch t+1, after step t) - perf(batch t, before step t))``;
both performances come from the training forward passes, so the reward
costs no extra forward (``'next_batch'``, the paper). ``'same_batch'``
rewards them with ``scale(t) * (perf(batch t, after step t) - perf(batch t,
before step t))``: one more student forward, but no batch-composition noise.
"""
import math

import torch.nn.functional as F

PERFORMANCES = ('accuracy', 'neg_ce')
REWARDS = ('next_batch', 'same_batch')


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


def official_cosine_scale(epoch,
                          milestones=(150, 210, 240),
                          periods=(75, 30, 30),
                          factors=(10.0, 5.0, 2.0)):
    """The official ITKD code's reward multiplier m(E1) (not a ramp).

    ``((cos(pi * E1 / P_k) + 1) / 2 + 1) * F_k`` for the first milestone
    M_k with E1 < M_k; 1 from the last milestone on. CIFAR defaults; the
    official ImageNet runs use milestones (30, 60, 90).

    Args:
        epoch (int): E1, the 1-based epoch.
    """
    for milestone, period, factor in zip(milestones, periods, factors):
        if epoch < milestone:
            return ((math.cos(math.pi * epoch / period) + 1) / 2 + 1) * factor
    return 1.0
