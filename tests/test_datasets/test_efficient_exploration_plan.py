"""Entropy ranking and mix-up plans against plain-loop computations."""
import math
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from mmrlkd.datasets.efficient_exploration_plan import (build_mix_plan,
                                                        entropy_ranking,
                                                        mix_weights,
                                                        prediction_entropy,
                                                        reduce_epoch_entropy)


def test_entropy_is_minus_sum_p_log_p():
    # Seeded: near-one-hot rows have an entropy ~1e-4 whose float32 value
    # carries an absolute error up to ~1e-7, beyond rel=1e-5 of it (an unseeded
    # draw failed that way once).
    logits = torch.randn(6, 5, generator=torch.Generator().manual_seed(0))
    logits = logits * 3
    got = prediction_entropy(logits)
    for row, value in zip(logits.tolist(), got.tolist()):
        exps = [math.exp(z) for z in row]
        probs = [e / sum(exps) for e in exps]
        expected = -sum(p * math.log(p) for p in probs)
        assert value == pytest.approx(expected, rel=1e-5, abs=1e-6)


def scores_with_gaps(num, num_unseen, seed):
    """Distinct random scores; `num_unseen` of them NaN (never seen)."""
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randperm(10 * num, generator=gen)[:num].double() / 7
    scores[torch.randperm(num, generator=gen)[:num_unseen]] = float('nan')
    return scores


def expected_plan(scores, high_pct, partner_pct, lam_start, lam_end):
    """The paper's definition with integer percentages, by plain loops."""
    values = scores.tolist()
    ranked = sorted((i for i, v in enumerate(values) if v == v),
                    key=lambda i: -values[i])
    n = len(ranked)

    def pick(lo, hi):  # {x_(k): lo% * N <= k < hi% * N}
        return [ranked[k] for k in range(n) if lo * n <= 100 * k < hi * n]

    high, partner = pick(*high_pct), pick(*partner_pct)
    m = min(len(high), len(partner))
    lam = [lam_end + (lam_start - lam_end) * (m - k) / m for k in range(m)]
    return high[:m], partner[:m], lam


@pytest.mark.parametrize('num,num_unseen', [(50, 0), (37, 4), (1000, 13)])
@pytest.mark.parametrize('high_pct,partner_pct', [((10, 20), (40, 50)),
                                                  ((0, 10), (40, 50)),
                                                  ((10, 20), (80, 90)),
                                                  ((30, 45), (5, 20))])
@pytest.mark.parametrize('mixed_slot', ['high', 'partner'])
def test_plan_picks_the_configured_slices_pairs_and_weights(
        num, num_unseen, high_pct, partner_pct, mixed_slot):
    scores = scores_with_gaps(num, num_unseen, seed=num)
    plan = build_mix_plan(
        scores,
        high_range=[p / 100 for p in high_pct],
        partner_range=[p / 100 for p in partner_pct],
        mixed_slot=mixed_slot,
        lam_range=(1.0, 0.7))
    high, partner, lam = expected_plan(scores, high_pct, partner_pct, 1.0, 0.7)
    assert len(high) > 0
    assert plan.first.tolist() == high
    assert plan.second.tolist() == partner
    assert plan.slots.tolist() == (high if mixed_slot == 'high' else partner)
    assert plan.lam.tolist() == pytest.approx(lam, abs=1e-12)
    assert plan.lam[0] == 1.0 and plan.lam.min() > 0.7


def test_weights_follow_the_configured_range():
    lam = mix_weights(4, 'linear', lam_range=(0.9, 0.5))
    assert lam.tolist() == pytest.approx([0.9, 0.8, 0.7, 0.6])


def test_ties_rank_the_lower_index_first():
    scores = torch.tensor([1.0, 2.0, 1.0, float('nan'), 2.0, 0.5])
    assert entropy_ranking(scores).tolist() == [1, 4, 0, 2, 5]


def test_beta_weights_are_folded_and_seeded():
    lam = mix_weights(20000, 'beta', beta_alpha=1.0, seed=3)
    # Beta(1, 1) is uniform, so max(lam, 1 - lam) is uniform on [0.5, 1].
    assert lam.min() >= 0.5 and lam.max() <= 1.0
    assert lam.mean().item() == pytest.approx(0.75, abs=0.005)
    assert (lam < 0.625).double().mean().item() == pytest.approx(
        0.25, abs=0.01)
    assert torch.equal(lam, mix_weights(20000, 'beta', beta_alpha=1.0, seed=3))
    assert not torch.equal(lam,
                           mix_weights(20000, 'beta', beta_alpha=1.0, seed=4))


def test_epoch_entropy_averages_repeats_and_marks_unseen():
    total = torch.tensor([0.0, 3.0, 1.0, 0.0], dtype=torch.float64)
    count = torch.tensor([0.0, 2.0, 1.0, 0.0], dtype=torch.float64)
    mean = reduce_epoch_entropy(total, count)
    assert mean[1] == 1.5 and mean[2] == 1.0
    assert torch.isnan(mean[[0, 3]]).all()


def _gather_worker(rank, world_size, port, results):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.distributed.init_process_group(
        'gloo', rank=rank, world_size=world_size)
    try:
        # Rank 0 saw instances 0, 1; rank 1 saw 1, 2 (1 twice: padding).
        total = torch.zeros(4, dtype=torch.float64)
        count = torch.zeros(4, dtype=torch.float64)
        seen = [(0, 0.5), (1, 1.0)] if rank == 0 else [(1, 2.0), (2, 3.0)]
        for index, value in seen:
            total[index] += value
            count[index] += 1
        mean = reduce_epoch_entropy(total, count)
        results[rank] = mean.tolist()
    finally:
        torch.distributed.destroy_process_group()


def test_epoch_entropy_is_gathered_across_processes():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    # fork: the children need not import torch and mmrlkd again.
    results = mp.get_context('fork').Manager().dict()
    mp.start_processes(
        _gather_worker, args=(2, port, results), nprocs=2, start_method='fork')
    for rank in (0, 1):
        assert results[rank][:3] == [0.5, 1.5, 3.0]
        assert math.isnan(results[rank][3])
