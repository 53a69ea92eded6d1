"""Per-instance student-teacher terms of MTKD-RL for one teacher.

For instance i (official code, ``get_agent_state`` and the training loop)::

    KL_i  = tau^2 KL(softmax(z_t,i / tau) || softmax(z_s,i / tau))
    MSE_i = mean_{c,h,w} (F^_s,i - F_t,i)^2         F^_s: projected student
    cos_i = cosine(GAP(F^_s,i), GAP(F_t,i))        GAP(F_t): the embedding
    CE_i  = CE(z_t,i, y_i)                          the teacher's own CE

KL and MSE carry gradients to the student and its projector; cos and CE
only feed the agent's state.
"""
import torch.nn.functional as F

from ..losses.instance_kd import instance_kd_loss


def teacher_terms(student_logits, teacher_logits, projected, teacher_feature,
                  gt_labels, tau):
    """The four per-instance terms against one teacher.

    Args:
        student_logits (Tensor): (N, C).
        teacher_logits (Tensor): (N, C).
        projected (Tensor): The student's map projected to the teacher's
            shape, (N, C_t, H_t, W_t).
        teacher_feature (Tensor): The teacher's map, (N, C_t, H_t, W_t).
        gt_labels (Tensor): Class indices, (N,).
        tau (float): KD temperature.

    Returns:
        dict[str, Tensor]: ``kl``, ``mse``, ``cos``, ``ce``, (N,) each, in
        float32.
    """
    teacher_logits = teacher_logits.detach().float()
    teacher_feature = teacher_feature.detach().float()
    projected = projected.float()
    kl = instance_kd_loss(student_logits, teacher_logits, tau, tau,
                          'none').sum(1)
    mse = (projected - teacher_feature).pow(2).flatten(1).mean(1)
    cos = F.cosine_similarity(
        projected.detach().mean((2, 3)), teacher_feature.mean((2, 3)), dim=1)
    ce = F.cross_entropy(teacher_logits, gt_labels, reduction='none')
    return dict(kl=kl, mse=mse, cos=cos, ce=ce)
