# PKT (Passalis & Tefas, ECCV 2018) as a loss next to the KD term: the
# probability distributions of pairwise feature similarities in a batch,
# matched on the pooled features, weight 30000 (the CTKD and RLKD code's).
# A PKT config adds it to a KD config:
#
#   _base_ = ['./kd_<pair>.py', '../_base_/distill/pkt_classifier.py']
#   model = dict(distiller={{_base_.pkt_distiller}})
pkt_distiller = dict(
    student_recorders=dict(neck=dict(type='ModuleOutputs', source='neck')),
    teacher_recorders=dict(neck=dict(type='ModuleOutputs', source='neck')),
    distill_losses=dict(
        loss_pkt=dict(type='mmrlkd.PKTLoss', loss_weight=30000)),
    loss_forward_mappings=dict(
        loss_pkt=dict(
            s_feature=dict(from_student=True, recorder='neck', data_idx=0),
            t_feature=dict(from_student=False, recorder='neck', data_idx=0))))
