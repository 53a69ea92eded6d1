# DKD (Zhao et al., CVPR 2022) in place of the KD term of a config built on
# instance_kd_classifier.py: the target and non-target parts of the KD loss
# weighted apart, alpha * TCKD + beta * NCKD, at the temperature(s) of the
# distiller's provider (fixed, CTKD's or RLKD's). mmrlkd.InstanceDKDLoss reads
# the labels from the gt_labels recorder of instance_kd_classifier.py. A DKD
# config states the CE weight and the pair's alpha and beta:
#
#   _base_ = ['./kd_<pair>.py', '../_base_/distill/dkd_classifier.py']
#   model = dict(
#       architecture=dict(head=dict(loss=dict(loss_weight=1.0))),
#       distiller=dict(
#           distill_losses=dict(
#               _delete_=True,
#               loss_dkd=dict(
#                   type='mmrlkd.InstanceDKDLoss', alpha=1.0, beta=2.0)),
#           loss_forward_mappings={{_base_.dkd_loss_forward_mappings}}))
dkd_loss_forward_mappings = dict(
    _delete_=True,  # the KD term's mapping goes with the KD term
    loss_dkd=dict(
        preds_S=dict(from_student=True, recorder='fc'),
        preds_T=dict(from_student=False, recorder='fc'),
        gt_labels=dict(from_student=True, recorder='gt_labels', data_idx=1)))
