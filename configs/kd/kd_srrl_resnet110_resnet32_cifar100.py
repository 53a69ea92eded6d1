# SRRL + vanilla KD, ResNet-110 -> ResNet-32 on CIFAR-100 (RLKD paper Table 3:
# 73.48 %). The plug-in protocol of CTKD and RLKD: 0.1 * CE + 0.9 * KD at a
# fixed tau = 4, plus SRRL (Yang et al., ICLR 2021): feature matching plus
# softmax regression through the teacher's classifier, weight 1. The loss
# modules live in the distiller, so the student's optimizer trains them.
_base_ = [
    './kd_resnet110_resnet32_cifar100.py',
    '../_base_/distill/srrl_classifier.py',
]

model = dict(
    distiller=dict(
        student_recorders={{_base_.srrl_student_recorders}},
        teacher_recorders={{_base_.srrl_teacher_recorders}},
        distill_losses=dict(
            loss_srrl=dict(
                type='mmrlkd.SRRLLoss',
                student_channels=64,
                teacher_channels=64)),
        loss_forward_mappings={{_base_.srrl_loss_forward_mappings}}))
