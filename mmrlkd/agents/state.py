"""Per-instance agent states from student and teacher logits.

RLKD (arXiv 2407.00115, Sec. 4.1) describes each instance by how sure the
student and the teacher are and how uncertain the student is. As in the
official code, "sure" is the maximum softmax probability (not the
ground-truth one) and the uncertainty is the student's top-1 minus top-2
probability margin, all at temperature 1.
"""
import torch


def state_dim(use_uncertainty=True):
    """Number of state features :func:`instance_states` returns.

    Args:
        use_uncertainty (bool): Whether the student margin is included.
            Defaults to True.

    Returns:
        int: 3 with the uncertainty feature, 2 without.
    """
    return 3 if use_uncertainty else 2


def instance_states(student_logits, teacher_logits, use_uncertainty=True):
    """Build one state vector per instance, without gradients.

    The columns are, in order: student confidence, teacher confidence and
    (optionally) student uncertainty ``p_s(1) - p_s(2)``. Softmax runs in
    float32 so that fp16 logits give the same features.

    Args:
        student_logits (Tensor): Student logits of shape (N, C).
        teacher_logits (Tensor): Teacher logits of shape (N, C).
        use_uncertainty (bool): Append the student's top-1 minus top-2
            probability (the "w/o US" ablation drops it). Defaults to True.

    Returns:
        Tensor: float32 states of shape (N, :func:`state_dim`), detached.
    """
    if student_logits.dim() != 2 or student_logits.shape != \
            teacher_logits.shape:
        raise ValueError('student and teacher logits must both have shape '
                         f'(N, C), got {tuple(student_logits.shape)} and '
                         f'{tuple(teacher_logits.shape)}')
    num_classes = student_logits.shape[1]
    if use_uncertainty and num_classes < 2:
        raise ValueError('the uncertainty feature needs at least 2 classes')

    with torch.no_grad():
        probs_s = student_logits.detach().float().softmax(dim=1)
        probs_t = teacher_logits.detach().float().softmax(dim=1)
        top = probs_s.topk(2 if use_uncertainty else 1, dim=1).values
        features = [top[:, 0], probs_t.amax(dim=1)]
        if use_uncertainty:
            features.append(top[:, 0] - top[:, 1])
        return torch.stack(features, dim=1)
