# SRRL + vanilla KD, ResNet-34 -> ResNet-18 on ImageNet-1k (RLKD paper Table
# 2: 71.01 % top-1, 90.41 % top-5). CTKD's ImageNet plug-in protocol:
# 1.0 * CE + 1.0 * KD at a fixed tau = 4, plus SRRL (Yang et al., ICLR 2021)
# on the pooled 512-d features: feature matching plus softmax regression
# through the teacher's classifier, weight 1. The SRRL connector lives in the
# distiller, so the student's optimizer trains it.
_base_ = [
    './kd_resnet34_resnet18_imagenet.py',
    '../_base_/distill/srrl_classifier.py',
]

model = dict(
    distiller=dict(
        student_recorders={{_base_.srrl_student_recorders}},
        teacher_recorders={{_base_.srrl_teacher_recorders}},
        distill_losses=dict(
            loss_srrl=dict(
                type='mmrlkd.SRRLLoss',
                student_channels=512,
                teacher_channels=512)),
        loss_forward_mappings={{_base_.srrl_loss_forward_mappings}}))
