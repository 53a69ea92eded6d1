# SP (Tung & Mori, ICCV 2019) as a loss next to the KD term: the batch's
# similarity matrices of the last stage's output matched, weight 3000 (the
# CTKD and RLKD code's). An SP config adds it to a KD config:
#
#   _base_ = ['./kd_<pair>.py', '../_base_/distill/sp_classifier.py']
#   model = dict(distiller={{_base_.sp_distiller}})
sp_distiller = dict(
    student_recorders=dict(
        last_stage=dict(type='ModuleOutputs', source='backbone')),
    teacher_recorders=dict(
        last_stage=dict(type='ModuleOutputs', source='backbone')),
    distill_losses=dict(loss_sp=dict(type='mmrlkd.SPLoss', loss_weight=3000)),
    loss_forward_mappings=dict(
        loss_sp=dict(
            s_feature=dict(
                from_student=True, recorder='last_stage', data_idx=0),
            t_feature=dict(
                from_student=False, recorder='last_stage', data_idx=0))))
