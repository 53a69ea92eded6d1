"""Instance state features against a per-instance loop over plain floats."""
import math

import pytest
import torch

from mmrlkd.agents import instance_states, state_dim


def softmax(row):
    peak = max(row)
    exps = [math.exp(x - peak) for x in row]
    return [e / sum(exps) for e in exps]


def reference_states(student, teacher, use_uncertainty):
    """One instance at a time, in Python floats (float64)."""
    rows = []
    for i in range(len(student)):
        p_s = softmax(student[i])
        p_t = softmax(teacher[i])
        row = [max(p_s), max(p_t)]
        if use_uncertainty:
            first, second = sorted(p_s, reverse=True)[:2]
            row.append(first - second)
        rows.append(row)
    return torch.tensor(rows, dtype=torch.float64)


@pytest.mark.parametrize('use_uncertainty', [True, False])
def test_features_match_a_per_instance_loop(use_uncertainty):
    torch.manual_seed(0)
    student = torch.randn(17, 10) * 3
    teacher = torch.randn(17, 10) * 3
    states = instance_states(student, teacher, use_uncertainty)
    expected = reference_states(student.tolist(), teacher.tolist(),
                                use_uncertainty)
    assert states.shape == (17, state_dim(use_uncertainty))
    assert states.dtype == torch.float32
    torch.testing.assert_close(states.double(), expected, rtol=0, atol=1e-6)


def test_fp16_logits_are_computed_in_float32():
    torch.manual_seed(1)
    student = (torch.randn(8, 100) * 4).half()
    teacher = (torch.randn(8, 100) * 4).half()
    states = instance_states(student, teacher)
    expected = reference_states(student.float().tolist(),
                                teacher.float().tolist(), True)
    assert states.dtype == torch.float32
    torch.testing.assert_close(states.double(), expected, rtol=0, atol=1e-6)


def test_states_are_detached_and_in_range():
    student = torch.randn(5, 4, requires_grad=True)
    teacher = torch.randn(5, 4)
    states = instance_states(student, teacher)
    assert not states.requires_grad
    assert ((states >= 0) & (states <= 1)).all()


def test_state_dim():
    assert state_dim() == 3
    assert state_dim(use_uncertainty=False) == 2


def test_empty_batch_gives_empty_states():
    states = instance_states(torch.zeros(0, 5), torch.zeros(0, 5))
    assert states.shape == (0, 3)


def test_bad_inputs_raise():
    logits = torch.randn(4, 3)
    with pytest.raises(ValueError, match='shape'):
        instance_states(logits, torch.randn(4, 5))
    with pytest.raises(ValueError, match='2 classes'):
        instance_states(torch.randn(4, 1), torch.randn(4, 1))
