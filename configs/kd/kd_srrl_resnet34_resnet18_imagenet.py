# SRRL + vanilla KD, ResNet-34 -> ResNet-18 on ImageNet-1k (RLKD paper Table
# 2: 71.01 % top-1, 90.41 % top-5). CTKD's ImageNet plug-in protocol:
# 1.0 * CE + 1.0 * KD at a fixed tau = 4, plus SRRL (Yang et al., ICLR 2021)
# on the pooled 512-d features: feature matching plus softmax regression
# through the teacher's classifier, weight 1. The SRRL connector lives in the
# distiller, so the student's optimizer trains it.
_base_ = ['./kd_resnet34_resnet18_imagenet.py']

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
                student_channels=512,
                teacher_channels=512)),
        loss_forward_mappings=dict(
            loss_srrl=dict(
                s_feature=dict(from_student=True, recorder='neck', data_idx=0),
                t_feature=dict(
                    from_student=False, recorder='neck', data_idx=0),
                t_logits=dict(from_student=False, recorder='fc'),
                t_fc_weight=dict(from_student=False, recorder='fc_weight'),
                t_fc_bias=dict(from_student=False, recorder='fc_bias')))))
