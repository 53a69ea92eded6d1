# SRRL (Yang et al., ICLR 2021) as a loss next to the KD term: the student's
# pooled features, through a learned connector, matched to the teacher's and
# passed through the teacher's classifier (softmax regression), weight 1. The
# connector lives in the distiller, so the student's optimizer trains it. An
# SRRL config adds the pieces below to a KD config and states the pair's
# pooled feature sizes:
#
#   _base_ = ['./kd_<pair>.py', '../_base_/distill/srrl_classifier.py']
#   model = dict(
#       distiller=dict(
#           student_recorders={{_base_.srrl_student_recorders}},
#           teacher_recorders={{_base_.srrl_teacher_recorders}},
#           distill_losses=dict(
#               loss_srrl=dict(
#                   type='mmrlkd.SRRLLoss',
#                   student_channels=64,
#                   teacher_channels=64)),
#           loss_forward_mappings={{_base_.srrl_loss_forward_mappings}}))
srrl_student_recorders = dict(neck=dict(type='ModuleOutputs', source='neck'))
srrl_teacher_recorders = dict(
    neck=dict(type='ModuleOutputs', source='neck'),
    fc_weight=dict(type='Parameter', source='head.fc.weight'),
    fc_bias=dict(type='Parameter', source='head.fc.bias'))
srrl_loss_forward_mappings = dict(
    loss_srrl=dict(
        s_feature=dict(from_student=True, recorder='neck', data_idx=0),
        t_feature=dict(from_student=False, recorder='neck', data_idx=0),
        t_logits=dict(from_student=False, recorder='fc'),
        t_fc_weight=dict(from_student=False, recorder='fc_weight'),
        t_fc_bias=dict(from_student=False, recorder='fc_bias')))
