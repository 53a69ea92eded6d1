# SRRL + vanilla KD, ResNet-32x4 -> ShuffleNetV2 on CIFAR-100 (RLKD paper Table
# 3: 75.90 %). The plug-in protocol of CTKD and RLKD: 0.1 * CE + 0.9 * KD at a
# fixed tau = 4, plus SRRL (Yang et al., ICLR 2021): feature matching plus
# softmax regression through the teacher's classifier, weight 1. The loss
# modules live in the distiller, so the student's optimizer trains them.
_base_ = ['./kd_resnet32x4_shufflenetv2_cifar100.py']

model = dict(
    distiller=dict(
        student_recorders=dict(neck=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(
            neck=dict(type='ModuleOutputs', source='neck'),
            fc_weight=dict(type='Parameter', source='head.fc.weight'),
            fc_bias=dict(type='Parameter', source='head.fc.bias')),
        distill_losses=dict(
            loss_srrl=dict(
                type='mmrlkd.SRRLLoss',
                student_channels=1024,
                teacher_channels=256)),
        loss_forward_mappings=dict(
            loss_srrl=dict(
                s_feature=dict(from_student=True, recorder='neck', data_idx=0),
                t_feature=dict(
                    from_student=False, recorder='neck', data_idx=0),
                t_logits=dict(from_student=False, recorder='fc'),
                t_fc_weight=dict(from_student=False, recorder='fc_weight'),
                t_fc_bias=dict(from_student=False, recorder='fc_bias')))))
