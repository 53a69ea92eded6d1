"""Instance-temperature KD / DKD against loops and MMRazor's own losses."""
import math

import pytest
import torch
from mmrazor.models import DKDLoss, KLDivergence

from mmrlkd.models.losses import (InstanceDKDLoss, InstanceKDLoss,
                                  instance_dkd_loss, instance_kd_loss)
from mmrlkd.models.temperatures import TemperatureOutput
from mmrlkd.utils.host_reads import HostReads

N, C = 6, 10


@pytest.fixture
def logits():
    g = torch.Generator().manual_seed(0)
    return (3 * torch.randn(N, C, generator=g),
            3 * torch.randn(N, C, generator=g),
            torch.randint(0, C, (N, ),
                          generator=g), torch.rand(N, generator=g) * 9 + 0.5,
            torch.rand(N, generator=g) * 9 + 0.5)


def kl(p, q):
    """KL(p || q) of two probability lists, written out."""
    return sum(pi * (math.log(pi) - math.log(qi)) for pi, qi in zip(p, q)
               if pi > 0)


def softmax(values, t):
    exps = [math.exp(v / t) for v in values]
    return [e / sum(exps) for e in exps]


def kd_by_loop(s, t, temp_T, temp_S):
    return [
        temp_T[i] * temp_S[i] * kl(
            softmax(t[i].tolist(), temp_T[i]), softmax(
                s[i].tolist(), temp_S[i])) for i in range(len(s))
    ]


def dkd_by_loop(s, t, labels, temp_T, temp_S, alpha, beta):
    losses = []
    for i in range(len(s)):
        g = int(labels[i])
        p_t = softmax(t[i].tolist(), temp_T[i])
        p_s = softmax(s[i].tolist(), temp_S[i])
        tckd = kl([p_t[g], 1 - p_t[g]], [p_s[g], 1 - p_s[g]])
        rest = [c for c in range(len(p_t)) if c != g]
        q_t = softmax([t[i, c].item() for c in rest], temp_T[i])
        q_s = softmax([s[i, c].item() for c in rest], temp_S[i])
        losses.append(temp_T[i] * temp_S[i] *
                      (alpha * tckd + beta * kl(q_t, q_s)))
    return losses


def test_kd_per_instance_matches_a_loop(logits):
    s, t, _, temp_T, temp_S = logits
    ours = instance_kd_loss(s, t, temp_T, temp_S, reduction='none').sum(1)
    expected = torch.tensor(kd_by_loop(s, t, temp_T.tolist(), temp_S.tolist()))
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('reduction', ['none', 'batchmean', 'sum', 'mean'])
@pytest.mark.parametrize('tau', [1.0, 4.0])
def test_kd_with_one_temperature_equals_mmrazor(logits, reduction, tau):
    s, t = logits[:2]
    ours = InstanceKDLoss(
        reduction=reduction, loss_weight=0.9)(
            s, t, temperature=tau)
    razor = KLDivergence(tau=tau, reduction=reduction, loss_weight=0.9)(s, t)
    torch.testing.assert_close(ours, razor, rtol=1e-6, atol=1e-6)


def test_kd_temperature_arguments(logits):
    s, t, _, temp_T, temp_S = logits
    loss = InstanceKDLoss(tau=2.0)
    default = loss(s, t)
    torch.testing.assert_close(default, loss(s, t, temperature=2.0))
    pair = loss(s, t, TemperatureOutput(teacher=temp_T, student=temp_S))
    torch.testing.assert_close(pair, instance_kd_loss(s, t, temp_T, temp_S))
    with pytest.raises(ValueError, match='3 temperatures for 6'):
        loss(s, t, temperature=torch.ones(3))


def test_kd_half_precision_logits_are_computed_in_float32(logits):
    s, t, _, temp_T, _ = logits
    ours = instance_kd_loss(s.half(), t.half(), temp_T, temp_T)
    assert ours.dtype == torch.float32
    reference = instance_kd_loss(s.half().float(),
                                 t.half().float(), temp_T, temp_T)
    torch.testing.assert_close(ours, reference)


def test_kd_gradient_reaches_student_and_temperature_not_teacher(logits):
    s, t, _, temp_T, _ = logits
    s = s.clone().requires_grad_()
    t = t.clone().requires_grad_()
    temp = temp_T.clone().requires_grad_()
    InstanceKDLoss()(s, t, temperature=temp).backward()
    assert t.grad is None
    assert torch.isfinite(s.grad).all() and s.grad.abs().sum() > 0
    assert torch.isfinite(temp.grad).all() and temp.grad.abs().sum() > 0


def test_dkd_per_instance_matches_a_loop(logits):
    s, t, labels, temp_T, temp_S = logits
    ours = instance_dkd_loss(
        s, t, labels, temp_T, temp_S, alpha=1.0, beta=8.0, reduction='none')
    expected = torch.tensor(
        dkd_by_loop(s, t, labels, temp_T.tolist(), temp_S.tolist(), 1.0, 8.0))
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-6)


def dkd_by_boolean_mask(s, t, labels, temp_T, temp_S, alpha, beta):
    """The earlier implementation: a one-hot mask, indexed and filled."""
    mask = torch.nn.functional.one_hot(labels, s.shape[1]).bool()

    def target_and_rest(logits):
        log_p_gt = torch.log_softmax(logits, 1)[mask]
        rest = logits.masked_fill(mask, -1e30)
        log_not_gt = rest.logsumexp(1) - logits.logsumexp(1)
        return (torch.stack([log_p_gt, log_not_gt],
                            1), torch.log_softmax(rest, 1))

    bin_T, rest_T = target_and_rest(t / temp_T[:, None])
    bin_S, rest_S = target_and_rest(s / temp_S[:, None])
    tckd = (bin_T.exp() * (bin_T - bin_S)).sum(1)
    nckd = (rest_T.exp() * (rest_T - rest_S)).sum(1)
    return (alpha * tckd + beta * nckd) * temp_T * temp_S


def test_dkd_equals_the_boolean_mask_version_and_reads_no_value(logits):
    s, t, labels, temp_T, temp_S = logits
    grads = []
    for compute in ('gather', 'mask'):
        student = s.clone().requires_grad_()
        temps = [temp.clone().requires_grad_() for temp in (temp_T, temp_S)]
        if compute == 'gather':
            with HostReads() as counter:
                loss = instance_dkd_loss(
                    student, t, labels, *temps, 1.0, 8.0, reduction='none')
            assert counter.reads == []
        else:
            loss = dkd_by_boolean_mask(student, t, labels, *temps, 1.0, 8.0)
        (loss * torch.arange(1.0, N + 1)).sum().backward()
        grads.append((loss.detach(), student.grad, *[x.grad for x in temps]))
    for ours, mask in zip(*grads):
        torch.testing.assert_close(ours, mask, rtol=1e-6, atol=1e-7)


def test_dkd_keeps_the_per_instance_scale(logits):
    s, t, labels, temp_T, _ = logits
    per_instance = instance_dkd_loss(
        s, t, labels, temp_T, temp_T, reduction='none')
    # The official code's broadcast would give mean(DKD_i) * mean(T_i^2).
    unscaled = instance_dkd_loss(s, t, labels, 1.0, 1.0, reduction='none')
    assert per_instance.mean() != pytest.approx(unscaled.mean() *
                                                (temp_T**2).mean())


@pytest.mark.parametrize('reduction', ['batchmean', 'sum'])
@pytest.mark.parametrize('tau', [1.0, 4.0])
def test_dkd_with_one_temperature_equals_mmrazor(logits, tau, reduction):
    s, t, labels = logits[:3]
    ours = InstanceDKDLoss(
        alpha=1.0, beta=2.0, reduction=reduction, loss_weight=0.5)(
            s, t, labels, temperature=tau)
    with pytest.warns(UserWarning):  # MMRazor's deprecated size_average
        razor = DKDLoss(
            tau=tau, alpha=1.0, beta=2.0, reduction=reduction,
            loss_weight=0.5)(s, t, labels)
    torch.testing.assert_close(ours, razor, rtol=1e-5, atol=1e-5)


def test_dkd_stays_finite_when_the_target_probability_rounds_to_one():
    s = torch.zeros(2, 5)
    t = torch.zeros(2, 5)
    s[:, 0] = t[:, 0] = 200.0  # p_g = 1 in float32
    labels = torch.zeros(2, dtype=torch.long)
    temp = torch.tensor([1.0, 2.0], requires_grad=True)
    s.requires_grad_()
    loss = instance_dkd_loss(s, t, labels, temp, temp)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(s.grad).all() and torch.isfinite(temp.grad).all()


@pytest.mark.parametrize('cls,kwargs', [
    (InstanceKDLoss, dict(reduction='avg')),
    (InstanceKDLoss, dict(tau=0)),
    (InstanceDKDLoss, dict(reduction='mean')),
    (InstanceDKDLoss, dict(tau=-1)),
])
def test_invalid_arguments(cls, kwargs):
    with pytest.raises(ValueError):
        cls(**kwargs)


def test_dkd_warmup_scales_the_loss_by_the_epoch(logits):
    from mmengine.logging import MessageHub
    s, t, labels = logits[:3]
    full = InstanceDKDLoss(beta=2.0)(s, t, labels, temperature=4.0)
    ramped = InstanceDKDLoss(beta=2.0, warmup=20)
    hub = MessageHub.get_instance('dkd_loss_warmup_test')
    try:
        hub.update_info('epoch', 4)  # the 5th epoch, 0-based as the runner's
        torch.testing.assert_close(
            ramped(s, t, labels, temperature=4.0), 5 / 20 * full)
        hub.update_info('epoch', 30)
        torch.testing.assert_close(ramped(s, t, labels, temperature=4.0), full)
    finally:  # this hub stays the current one: leave no training progress
        hub.pop_info('epoch')
    with pytest.raises(ValueError, match='warmup'):
        InstanceDKDLoss(warmup=-1)
