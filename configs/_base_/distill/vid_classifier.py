# VID (Ahn et al., CVPR 2019) as a loss next to the KD term: the variational
# information of the teacher's three stage outputs given the student's, one
# loss per stage, weight 1 each (the official RLKD code also counts the KD
# term twice here; we do not). The regressors live in the distiller, so the
# student's optimizer trains them. A VID config adds the pieces below to a KD
# config and states the pair's stage widths:
#
#   _base_ = ['./kd_<pair>.py', '../_base_/distill/vid_classifier.py']
#   model = dict(
#       distiller=dict(
#           student_recorders={{_base_.vid_stage_recorders}},
#           teacher_recorders={{_base_.vid_stage_recorders}},
#           distill_losses=dict(
#               loss_vid_1=dict(
#                   type='mmrlkd.VIDLoss',
#                   student_channels=16,
#                   teacher_channels=16),
#               loss_vid_2=...,
#               loss_vid_3=...),
#           loss_forward_mappings={{_base_.vid_loss_forward_mappings}}))
vid_stage_recorders = dict(
    stage1=dict(type='ModuleOutputs', source='backbone.stages.0'),
    stage2=dict(type='ModuleOutputs', source='backbone.stages.1'),
    stage3=dict(type='ModuleOutputs', source='backbone.stages.2'))
vid_loss_forward_mappings = dict(
    loss_vid_1=dict(
        s_feature=dict(from_student=True, recorder='stage1'),
        t_feature=dict(from_student=False, recorder='stage1')),
    loss_vid_2=dict(
        s_feature=dict(from_student=True, recorder='stage2'),
        t_feature=dict(from_student=False, recorder='stage2')),
    loss_vid_3=dict(
        s_feature=dict(from_student=True, recorder='stage3'),
        t_feature=dict(from_student=False, recorder='stage3')))
