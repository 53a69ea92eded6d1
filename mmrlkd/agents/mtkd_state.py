"""The MTKD-RL agent's state and its three heuristic teacher weightings.

Yang et al., "Multi-Teacher Knowledge Distillation with Reinforcement
Learning for Visual Recognition", AAAI 2025 (arXiv 2502.18510). For each
instance i and teacher m the agent sees the teacher's performance (its CE,
pooled embedding e and logits z) and the teacher-student gap (feature cosine,
logit KL); the official code lays them out teacher after teacher as::

    s_i = concat_m [cos_i^m, KL_i^m, CE_i^m, e_i^m (d_m), z_i^m (C_m)]

The heuristic weightings are computed from the three scalar columns, so the
stored state is all the agent needs to recompute its weights.
"""
import torch
import torch.nn.functional as F

#: Order of the scalar features at the start of each teacher's block.
SCALARS = ('cos', 'kl', 'ce')


def mtkd_state(cos, kl, ce, embeddings, logits):
    """Concatenate the per-teacher blocks into one detached state.

    Args:
        cos (Tensor): Student-teacher feature cosine, (N, M).
        kl (Tensor): Per-instance logit KL of each teacher, (N, M).
        ce (Tensor): Per-instance CE of each teacher, (N, M).
        embeddings (Sequence[Tensor]): M teacher embeddings, (N, d_m) each.
        logits (Sequence[Tensor]): M teacher logits, (N, C_m) each.

    Returns:
        Tensor: (N, sum_m (3 + d_m + C_m)), float32, without gradient.
    """
    if not len(embeddings) == len(logits) == cos.shape[1]:
        raise ValueError(
            f'{cos.shape[1]} teachers in cos but {len(embeddings)} '
            f'embeddings and {len(logits)} logits')
    blocks = []
    for m, (embedding, logit) in enumerate(zip(embeddings, logits)):
        blocks += [
            cos[:, m:m + 1], kl[:, m:m + 1], ce[:, m:m + 1],
            embedding.flatten(1), logit
        ]
    return torch.cat([b.detach().float() for b in blocks], dim=1)


def scalar_columns(info_dims):
    """Column indices of cos, KL and CE in :func:`mtkd_state`'s layout.

    Args:
        info_dims (Sequence[int]): d_m + C_m of each teacher.

    Returns:
        Tensor: (3, M) long tensor; row k holds ``SCALARS[k]``'s columns.
    """
    starts, start = [], 0
    for dim in info_dims:
        starts.append(start)
        start += len(SCALARS) + int(dim)
    starts = torch.tensor(starts, dtype=torch.long)
    return torch.stack([starts + k for k in range(len(SCALARS))])


def heuristic_weights(cos, kl, ce):
    """The official code's three fixed weightings over the teachers.

    ``p_ce = (1 - softmax_m(CE)) / (M - 1)`` favours teachers that are
    right about the instance, ``p_kl = softmax_m(KL)`` the teachers the
    student is furthest from, ``p_cos = softmax_m(cos)`` the teachers whose
    features the student already resembles. Each row sums to 1; with one
    teacher all three are 1 (the official formula would divide by zero).

    Args:
        cos, kl, ce (Tensor): (N, M) each.

    Returns:
        tuple[Tensor]: ``(p_ce, p_kl, p_cos)``, (N, M) each.
    """
    num_teachers = ce.shape[1]
    if num_teachers == 1:
        ones = torch.ones_like(ce)
        return ones, ones, ones
    p_ce = (1 - F.softmax(ce, dim=1)) / (num_teachers - 1)
    return p_ce, F.softmax(kl, dim=1), F.softmax(cos, dim=1)
