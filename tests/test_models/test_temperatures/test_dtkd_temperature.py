"""DTKDTemperature: equal sharpness per instance, and the fallback guard."""
import pytest
import torch

from mmrlkd.models import DTKDTemperature


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


def test_non_positive_sharpness_falls_back_to_tau_and_is_counted():
    student, teacher = positive_logits(num=6)
    teacher[1] = -0.1 * torch.rand(10) - 0.1  # x < 0 < x + y
    student[1, 0] = 5.0
    student[2] = -torch.rand(10) - 20.0  # y < 0 and x + y < 0
    student[3] = torch.linspace(-3.0, 2.0, 10)  # x + y == 0
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
