"""PKT, SP, VID, SRRL and CRD against their papers' formulas, by loops."""
import copy
import math

import numpy as np
import torch
from mmpretrain.structures import DataSample
from mmrazor.models.losses import CRDLoss

from mmrlkd.models.losses import (MMPretrainCRDLoss, PKTLoss, SPLoss, SRRLLoss,
                                  VIDLoss, pkt_loss, sp_loss)

N = 5


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def cosine(a, b):
    return dot(a, b) / math.sqrt(dot(a, a) * dot(b, b))


# PKT (Passalis & Tefas, ECCV 2018) ---------------------------------------


def pkt_by_loop(s, t, eps=1e-7):
    """sum_i sum_j p_t(j|i) log(p_t(j|i) / p_s(j|i)) / N^2."""
    s = [row.flatten().tolist() for row in s]
    t = [row.flatten().tolist() for row in t]
    n = len(s)
    per_instance = []
    for i in range(n):
        k_s = [(1 + cosine(s[i], s[j])) / 2 for j in range(n)]
        k_t = [(1 + cosine(t[i], t[j])) / 2 for j in range(n)]
        p_s = [k / sum(k_s) for k in k_s]
        p_t = [k / sum(k_t) for k in k_t]
        per_instance.append(
            sum(pt * math.log((pt + eps) / (ps + eps))
                for pt, ps in zip(p_t, p_s)))
    return per_instance, sum(per_instance) / n**2


def test_pkt_matches_the_conditional_probability_loop():
    s, t = rand(N, 8, seed=1), rand(N, 12, seed=2)  # widths may differ
    per_instance, total = pkt_by_loop(s, t)
    torch.testing.assert_close(
        pkt_loss(s, t, reduction='none'), torch.tensor(per_instance))
    torch.testing.assert_close(
        PKTLoss(loss_weight=3.0)(s, t), torch.tensor(3.0 * total))


def test_pkt_is_zero_for_rescaled_teacher_features_and_trains_the_student():
    s = rand(N, 8, seed=3).requires_grad_()
    t = (2.5 * s).detach().requires_grad_()
    assert PKTLoss()(s, t).abs() < 1e-6
    other = rand(N, 8, seed=4).requires_grad_()
    PKTLoss()(other, t).backward()
    assert other.grad.abs().sum() > 0 and t.grad is None


# SP (Tung & Mori, ICCV 2019) ---------------------------------------------


def sp_by_loop(s, t):
    """1/N^2 sum_i sum_j (G~t_ij - G~s_ij)^2, G~ row-normalised Gram."""
    s = [row.flatten().tolist() for row in s]
    t = [row.flatten().tolist() for row in t]
    n = len(s)

    def normalized(q):
        gram = [[dot(q[i], q[j]) for j in range(n)] for i in range(n)]
        return [[g / math.sqrt(sum(x * x for x in row)) for g in row]
                for row in gram]

    g_s, g_t = normalized(s), normalized(t)
    per_instance = [
        sum((g_t[i][j] - g_s[i][j])**2 for j in range(n)) for i in range(n)
    ]
    return per_instance, sum(per_instance) / n**2


def test_sp_matches_the_gram_matrix_loop():
    # Student and teacher maps differ in width and resolution.
    s, t = rand(N, 4, 4, 4, seed=5), rand(N, 6, 2, 2, seed=6)
    per_instance, total = sp_by_loop(s, t)
    torch.testing.assert_close(
        sp_loss(s, t, reduction='none'), torch.tensor(per_instance))
    torch.testing.assert_close(
        SPLoss(loss_weight=2.0)(s, t), torch.tensor(2.0 * total))


def test_sp_trains_the_student_only():
    s = rand(N, 4, 2, 2, seed=7).requires_grad_()
    t = rand(N, 8, 2, 2, seed=8).requires_grad_()
    SPLoss()(s, t).backward()
    assert s.grad.abs().sum() > 0 and t.grad is None
    assert SPLoss()(s, 3 * s.detach()) < 1e-6


# VID (Ahn et al., CVPR 2019) ---------------------------------------------


def test_vid_is_the_gaussian_negative_log_likelihood():
    loss = VIDLoss(3, 5, mid_channels=4, init_pred_var=2.0)
    with torch.no_grad():
        loss.alpha.copy_(rand(5, seed=9))
    s, t = rand(N, 3, 4, 4, seed=10), rand(N, 5, 4, 4, seed=11)
    mean = loss.regressor(s)
    std = (torch.nn.functional.softplus(loss.alpha) + loss.eps).sqrt()
    gaussian = torch.distributions.Normal(mean, std.view(1, -1, 1, 1))
    nll = -gaussian.log_prob(t) - 0.5 * math.log(2 * math.pi)
    torch.testing.assert_close(loss(s, t), nll.mean())


def test_vid_starts_at_the_initial_variance():
    loss = VIDLoss(3, 5, init_pred_var=5.0)
    torch.testing.assert_close(loss.variance(), torch.full((5, ), 5.0))


def test_vid_pools_the_larger_map_to_the_smaller():
    loss = VIDLoss(2, 2)
    s, t = rand(2, 2, 4, 4, seed=12), rand(2, 2, 2, 2, seed=13)
    pooled = torch.zeros(2, 2, 2, 2)
    for i in range(2):
        for j in range(2):
            pooled[:, :, i, j] = s[:, :, 2 * i:2 * i + 2,
                                   2 * j:2 * j + 2].mean((2, 3))
    torch.testing.assert_close(loss(s, t), loss(pooled, t))
    # and the teacher's when the student's is smaller
    torch.testing.assert_close(
        loss(t, s), loss(t, torch.nn.functional.avg_pool2d(s, 2)))


def test_vid_learns_its_regressor_and_variance():
    torch.manual_seed(0)
    loss = VIDLoss(3, 4)
    s = rand(8, 3, 2, 2, seed=14)
    t = torch.einsum('oc,nchw->nohw', rand(4, 3, seed=15), s).detach()
    optim = torch.optim.Adam(loss.parameters(), lr=0.05)

    def regression_error():
        return (loss.regressor(s) - t).pow(2).mean().item()

    first_loss, first_error = loss(s, t).item(), regression_error()
    for _ in range(60):
        optim.zero_grad()
        loss(s, t).backward()
        optim.step()
    assert regression_error() < 0.5 * first_error
    assert loss.variance().max() < 4.0
    assert loss(s, t).item() < first_loss - 0.3


# SRRL (Yang et al., ICLR 2021) -------------------------------------------


def test_srrl_matches_the_feature_and_softmax_regression_loops():
    loss = SRRLLoss(3, 4, fm_weight=0.7, sr_weight=1.3, loss_weight=2.0)
    s, t = rand(N, 3, seed=16), rand(N, 4, seed=17)
    t_logits, w, b = rand(N, 6, seed=18), rand(6, 4, seed=19), rand(6, seed=20)
    value = loss(s, t, t_logits, w, b)
    r = loss.connector(s[:, :, None, None]).flatten(1).tolist()
    fm = sum(
        (r[i][c] - t[i, c].item())**2 for i in range(N) for c in range(4)) / (
            N * 4)
    sr = sum(
        (dot(w[k].tolist(), r[i]) + b[k].item() - t_logits[i, k].item())**2
        for i in range(N) for k in range(6)) / (
            N * 6)
    torch.testing.assert_close(value,
                               torch.tensor(2.0 * (0.7 * fm + 1.3 * sr)))


def test_srrl_trains_its_connector_not_the_teacher_classifier():
    loss = SRRLLoss(3, 4)
    s = rand(N, 3, 2, 2, seed=21).requires_grad_()  # maps are pooled
    t = rand(N, 4, 2, 2, seed=22)
    w = rand(6, 4, seed=23).requires_grad_()
    loss(s, t, rand(N, 6, seed=24), w).backward()
    assert s.grad.abs().sum() > 0 and w.grad is None
    assert all(p.grad is not None for p in loss.connector.parameters())


# CRD (Tian et al., ICLR 2020; MMRazor's memory bank) -----------------------


def crd_samples(idx, contrast=None):
    samples = []
    for i, k in enumerate(idx):
        sample = DataSample(metainfo=dict(sample_idx=int(k)))
        if contrast is not None:
            sample.set_field(np.asarray(contrast[i]), 'contrast_sample_idxs')
        samples.append(sample)
    return samples


def unit_rows(*shape, seed):
    return torch.nn.functional.normalize(rand(*shape, seed=seed), dim=1)


def nce_by_loop(feat, memory, contrast, n_data, temperature, eps=1e-7):
    """-(1/N) sum_i [log P_i0/(P_i0 + K/n) + sum_k log (K/n)/(P_ik + K/n)].

    P_ik = exp(m_k . f_i / tau) / Z, with Z = n_data * mean of the
    exponentials on the first call (CRD's normalisation constant).
    """
    exps = [[
        math.exp(dot(memory[int(k)].tolist(), feat[i].tolist()) / temperature)
        for k in row
    ] for i, row in enumerate(contrast)]
    z = n_data * sum(sum(row) for row in exps) / sum(len(r) for r in exps)
    neg = len(contrast[0]) - 1
    noise = neg / n_data
    total = 0.0
    for row in exps:
        p = [e / z for e in row]
        total += math.log(p[0] / (p[0] + noise + eps))
        total += sum(math.log(noise / (pk + noise + eps)) for pk in p[1:])
    return -total / len(exps)


def test_crd_matches_the_nce_loop_and_mmrazor():
    n_data, neg, dim, tau = 20, 6, 8, 0.5
    loss = MMPretrainCRDLoss(
        loss_weight=0.8,
        temperature=tau,
        neg_num=neg,
        sample_n=n_data,
        dim_out=dim)
    razor = copy.deepcopy(loss)
    memory_s = loss.contrast.memory_v1.clone()
    memory_t = loss.contrast.memory_v2.clone()
    f_s, f_t = unit_rows(N, dim, seed=25), unit_rows(N, dim, seed=26)
    idx = [3, 7, 0, 19, 11]
    gen = torch.Generator().manual_seed(27)
    contrast = torch.randint(0, n_data, (N, neg + 1), generator=gen)
    contrast[:, 0] = torch.tensor(idx)

    ours = loss(f_s, f_t, crd_samples(idx, contrast.numpy()))
    expected = (
        nce_by_loop(f_t, memory_s, contrast, n_data, tau) +
        nce_by_loop(f_s, memory_t, contrast, n_data, tau))
    torch.testing.assert_close(ours, torch.tensor(0.8 * expected))

    tensors = []
    for i, k in enumerate(idx):
        sample = DataSample()
        sample.set_field(torch.tensor(k), 'sample_idx')
        sample.set_field(contrast[i], 'contrast_sample_idxs')
        tensors.append(sample)
    # MMRazor's own forward, which ignores loss_weight
    reference = CRDLoss.forward(razor, f_s, f_t, tensors)
    torch.testing.assert_close(ours, 0.8 * reference.sum())
    # The memory bank moved towards the features of the batch.
    assert not torch.equal(loss.contrast.memory_v1[idx], memory_s[idx])


def test_crd_draws_negatives_when_the_dataset_gives_none():
    loss = MMPretrainCRDLoss(neg_num=4, sample_n=10, dim_out=8)
    f_s = unit_rows(3, 8, seed=28).requires_grad_()
    value = loss(f_s, unit_rows(3, 8, seed=29), crd_samples([1, 2, 3]))
    assert value.dim() == 0 and torch.isfinite(value)
    value.backward()
    assert f_s.grad.abs().sum() > 0
