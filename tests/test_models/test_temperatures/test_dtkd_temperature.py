"""DTKDTemperature: equal sharpness per instance, and the fallback guard."""
import pytest
import torch
from mmengine.logging import MessageHub

from mmrlkd.models import DTKDTemperature
from mmrlkd.models.temperatures import dtkd
from mmrlkd.utils.host_reads import HostReads


def positive_logits(num=12, classes=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    student = 2 * torch.randn(num, classes, generator=g)
    teacher = 4 * torch.randn(num, classes, generator=g)
    # Positive maxima of different sizes on both sides.
    student[:, 0] = torch.rand(num, generator=g) * 5 + 0.5
    teacher[:, 0] = torch.rand(num, generator=g) * 15 + 0.5
    return student, teacher


@pytest.mark.parametrize('sharpness', ['max_logit', 'logsumexp'])
def test_scaled_sharpness_is_equal_per_instance(sharpness):
    student, teacher = positive_logits()
    out = DTKDTemperature(tau=4.0, sharpness=sharpness)(student, teacher)
    assert out.teacher.shape == out.student.shape == (12, )
    if sharpness == 'max_logit':
        x, y = teacher.max(1).values, student.max(1).values
    else:
        x, y = teacher.logsumexp(1), student.logsumexp(1)
    torch.testing.assert_close(x / out.teacher, y / out.student)
    torch.testing.assert_close(out.teacher + out.student,
                               torch.full((12, ), 8.0))
    # The per-instance formula, one instance at a time.
    for i in range(12):
        xi, yi = float(x[i]), float(y[i])
        assert out.teacher[i].item() == pytest.approx(2 * xi / (xi + yi) * 4)
        assert out.student[i].item() == pytest.approx(2 * yi / (xi + yi) * 4)


def test_gradient_flows_through_the_student_sharpness_unless_detached():
    student, teacher = positive_logits()
    student.requires_grad_(True)
    DTKDTemperature()(student, teacher).student.sum().backward()
    assert student.grad.abs().sum() > 0
    out = DTKDTemperature(detach_temperature=True)(student, teacher)
    assert not out.student.requires_grad and not out.teacher.requires_grad


def test_mixed_sign_sharpness_falls_back_to_tau_and_is_counted():
    student, teacher = positive_logits(num=6)
    teacher[1] = -0.1 * torch.rand(10) - 0.1  # x < 0 < x + y
    student[1, 0] = 5.0
    student[2] = -torch.rand(10) - 20.0  # y < 0 < x, x + y < 0
    student[3] = torch.linspace(-3.0, 2.0, 10)  # y > 0 > x, x + y == 0
    teacher[3] = -2.0
    student.requires_grad_(True)
    provider = DTKDTemperature(tau=3.0).train()
    out = provider(student, teacher)
    fallback = torch.tensor([False, True, True, True, False, False])
    assert torch.equal(out.teacher[fallback], torch.full((3, ), 3.0))
    assert torch.equal(out.student[fallback], torch.full((3, ), 3.0))
    assert (out.teacher[~fallback] != 3.0).all()
    assert torch.isfinite(out.teacher).all() and (out.student > 0).all()
    (out.teacher.sum() + out.student.sum()).backward()
    assert torch.isfinite(student.grad).all()
    assert provider.fallback_count.item() == 3
    stats = out.statistics(6)
    assert stats['fallbacks'].item() == 3
    # Cumulative over iterations, not counted in evaluation.
    provider(student, teacher)
    assert provider.fallback_count.item() == 6
    provider.eval()(student, teacher)
    assert provider.fallback_count.item() == 6


def test_the_fallback_count_is_read_once_per_epoch_and_warned_once(
        monkeypatch):
    warnings = []
    monkeypatch.setattr(dtkd, 'print_log',
                        lambda message, **kwargs: warnings.append(message))
    good = positive_logits(num=4)
    bad = (-torch.rand(4, 10) - 1.0, good[1])  # y < 0 < x: all fall back
    provider = DTKDTemperature(tau=3.0).train()
    hub = MessageHub.get_instance('dtkd_fallback_read_test')

    def reads(epoch, logits, forwards):
        hub.update_info('epoch', epoch)
        with HostReads() as counter:
            for _ in range(forwards):
                provider(*logits)
        return len(counter.reads)

    try:
        assert reads(0, good, 5) == 1  # the first forward of the epoch
        assert reads(0, bad, 3) == 0 and warnings == []
        assert reads(1, bad, 4) == 1
        assert len(warnings) == 1 and '16 instance(s)' in warnings[0]
        assert reads(2, bad, 3) == 0  # warned: never read again
        assert int(provider.fallback_count) == 40
        assert len(warnings) == 1
        # Without epochs (an iteration-based loop, or no runner): every
        # CHECK_EVERY training forwards.
        monkeypatch.setattr(dtkd, 'CHECK_EVERY', 3)
        fresh = DTKDTemperature(tau=3.0).train()
        hub.pop_info('epoch')
        with HostReads() as counter:
            for _ in range(7):
                fresh(*good)
        assert len(counter.reads) == 3  # forwards 1, 4 and 7
    finally:  # this hub stays the current one: leave no training progress
        hub.pop_info('epoch')


def test_both_maxima_negative_use_the_official_formula():
    # x, y < 0: x + y < 0 too, so 2x / (x + y) and 2y / (x + y) are
    # positive and still give equal sharpness; no fallback is needed.
    g = torch.Generator().manual_seed(3)
    student = -torch.rand(5, 10, generator=g) * 4 - 0.5
    teacher = -torch.rand(5, 10, generator=g) * 9 - 0.2
    provider = DTKDTemperature(tau=2.0).train()
    out = provider(student, teacher)
    for i in range(5):
        xi = max(float(v) for v in teacher[i])
        yi = max(float(v) for v in student[i])
        assert xi < 0 and yi < 0
        assert out.teacher[i].item() == pytest.approx(2 * xi / (xi + yi) * 2)
        assert out.student[i].item() == pytest.approx(2 * yi / (xi + yi) * 2)
    assert (out.teacher > 0).all() and (out.student > 0).all()
    torch.testing.assert_close(out.teacher + out.student, torch.full((5, ),
                                                                     4.0))
    assert provider.fallback_count.item() == 0


def test_only_mixed_signs_or_a_zero_maximum_fall_back():
    # Rows: (+, +), (-, -), (-, +), (+, -), sum 0, teacher max exactly 0.
    student = torch.full((6, 4), -9.0)
    teacher = torch.full((6, 4), -9.0)
    maxima = [(2.0, 1.0), (-2.0, -1.0), (-2.0, 1.0), (2.0, -1.0), (-1.5, 1.5),
              (0.0, 3.0)]
    for i, (x, y) in enumerate(maxima):
        teacher[i, 1], student[i, 2] = x, y
    out = DTKDTemperature(tau=4.0).train()(student, teacher)
    official = [(8 * x / (x + y), 8 * y / (x + y)) for x, y in maxima[:2]]
    for i, (t_tea, t_stu) in enumerate(official):
        assert out.teacher[i].item() == pytest.approx(t_tea)
        assert out.student[i].item() == pytest.approx(t_stu)
    assert torch.equal(out.teacher[2:], torch.full((4, ), 4.0))
    assert torch.equal(out.student[2:], torch.full((4, ), 4.0))
    assert out.statistics(6)['fallbacks'].item() == 4


def test_statistics_cover_both_sides():
    student, teacher = positive_logits()
    out = DTKDTemperature()(student, teacher)
    stats = out.statistics(12)
    assert stats['mean'].item() == pytest.approx(out.student.mean().item())
    assert stats['teacher_mean'].item() == pytest.approx(
        out.teacher.mean().item())
    assert stats['teacher_max'].item() == pytest.approx(
        out.teacher.max().item())
    assert stats['fallbacks'].item() == 0


def test_invalid_arguments():
    with pytest.raises(ValueError, match='sharpness'):
        DTKDTemperature(sharpness='entropy')
    with pytest.raises(ValueError, match='tau'):
        DTKDTemperature(tau=0)
