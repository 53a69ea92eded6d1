"""DTKDLoss against a per-instance loop, and its warm-up."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub

from mmrlkd.models import (DTKDLoss, DTKDTemperature, InstanceDKDLoss,
                           InstanceKDLoss)


def batch(num=10, classes=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    student = 2 * torch.randn(num, classes, generator=g) + 1
    teacher = 5 * torch.randn(num, classes, generator=g) + 2
    labels = torch.randint(0, classes, (num, ), generator=g)
    return student, teacher, labels


def kl_row(teacher_row, student_row, t_tea, t_stu):
    p = F.softmax(teacher_row / t_tea, 0)
    return (p * (p.log() - F.log_softmax(student_row / t_stu, 0))).sum()


@pytest.mark.parametrize('alpha, beta, tau', [(1.0, 0.5, 4.0),
                                              (3.0, 1.0, 2.0)])
def test_loss_equals_a_per_instance_loop(alpha, beta, tau):
    student, teacher, _ = batch()
    temps = DTKDTemperature(tau=tau)(student, teacher)
    loss = DTKDLoss(
        alpha=alpha, beta=beta, tau=tau, warmup=0)(
            student, teacher, temperature=temps)
    total = 0.0
    for i in range(len(student)):
        x, y = teacher[i].max(), student[i].max()
        t_tea, t_stu = 2 * x / (x + y) * tau, 2 * y / (x + y) * tau
        dynamic = t_tea * t_stu * kl_row(teacher[i], student[i], t_tea, t_stu)
        vanilla = tau**2 * kl_row(teacher[i], student[i], tau, tau)
        total = total + alpha * dynamic + beta * vanilla
    torch.testing.assert_close(loss, total / len(student))


def test_negative_maxima_keep_the_dynamic_temperatures():
    # All logits negative: the official formula still holds (no fallback
    # to tau), and the loss is the per-instance loop at those temperatures.
    student, teacher, _ = batch()
    student, teacher = student - 12.0, teacher - 25.0
    assert (student.max(1).values < 0).all()
    assert (teacher.max(1).values < 0).all()
    temps = DTKDTemperature(tau=4.0)(student, teacher)
    loss = DTKDLoss(
        alpha=1.0, beta=0.5, tau=4.0, warmup=0)(
            student, teacher, temperature=temps)
    total = 0.0
    for i in range(len(student)):
        x, y = teacher[i].max(), student[i].max()
        t_tea, t_stu = 2 * x / (x + y) * 4.0, 2 * y / (x + y) * 4.0
        assert t_tea != 4.0
        dynamic = t_tea * t_stu * kl_row(teacher[i], student[i], t_tea, t_stu)
        vanilla = 16.0 * kl_row(teacher[i], student[i], 4.0, 4.0)
        total = total + dynamic + 0.5 * vanilla
    torch.testing.assert_close(loss, total / len(student))


def test_reductions_and_gradient():
    student, teacher, _ = batch()
    student.requires_grad_(True)
    temps = DTKDTemperature()(student, teacher)
    per_instance = DTKDLoss(
        warmup=0, reduction='none')(
            student, teacher, temperature=temps)
    assert per_instance.shape == (10, )
    summed = DTKDLoss(
        warmup=0, reduction='sum')(
            student, teacher, temperature=temps)
    torch.testing.assert_close(summed, per_instance.sum())
    summed.backward()
    assert torch.isfinite(student.grad).all() and student.grad.abs().sum()


def test_alpha_term_is_instance_kd_at_the_dtkd_temperatures():
    student, teacher, labels = batch()
    temps = DTKDTemperature()(student, teacher)
    dtkd_only = DTKDLoss(
        alpha=1.0, beta=0.0, warmup=0)(
            student, teacher, temperature=temps)
    kd = InstanceKDLoss()(student, teacher, temperature=temps)
    torch.testing.assert_close(dtkd_only, kd)
    # Without temperatures both terms use tau: (alpha + beta) * KD(tau).
    plain = DTKDLoss(alpha=2.0, beta=0.5, tau=3.0, warmup=0)(student, teacher)
    torch.testing.assert_close(plain,
                               2.5 * InstanceKDLoss(tau=3.0)(student, teacher))
    # DKD with DTKD's temperatures (the paper's DTKD + DKD) is finite.
    dkd = InstanceDKDLoss(beta=2.0)(
        student, teacher, labels, temperature=temps)
    assert torch.isfinite(dkd) and dkd > 0


def test_warmup_follows_the_runner_epoch_or_iteration():
    student, teacher, _ = batch()
    full = DTKDLoss(warmup=0)(student, teacher)
    by_epoch = DTKDLoss(warmup=20)
    by_iter = DTKDLoss(warmup=20, warmup_by_epoch=False)
    hub = MessageHub.get_instance('dtkd_loss_warmup_test')
    try:
        hub.update_info('epoch', 4)  # the 5th epoch, 0-based as the runner's
        hub.update_info('iter', 9)
        assert by_epoch.warmup_factor() == pytest.approx(5 / 20)
        assert by_iter.warmup_factor() == pytest.approx(10 / 20)
        torch.testing.assert_close(by_epoch(student, teacher), 0.25 * full)
        hub.update_info('epoch', 25)
        assert by_epoch.warmup_factor() == 1.0
    finally:  # this hub stays the current one: leave no training progress
        hub.pop_info('epoch')
        hub.pop_info('iter')
    assert by_epoch.warmup_factor() == 1.0


def test_invalid_arguments():
    with pytest.raises(ValueError, match='reduction'):
        DTKDLoss(reduction='mean')
    with pytest.raises(ValueError, match='warmup'):
        DTKDLoss(warmup=-1)
