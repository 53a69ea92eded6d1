# RoI-logit distillation of a two-stage detector (mdistiller's detection
# recipe): the teacher scores the student's sampled RoIs, each RoI is an
# instance, box regression is not distilled. Configs use
#   model = dict(_delete_=True, _scope_='mmrazor',
#                type='mmrlkd.StudentRoIDistill',
#                architecture=..., teacher=..., teacher_ckpt=...,
#                distiller={{_base_.student_roi_kd}})
# and swap the provider (with _delete_=True) for RLKD, or the loss for DKD.
# With the fixed T = 1 below this is vanilla KD on the (C + 1)-way RoI
# logits, averaged over the RoIs, weight 1.
student_roi_kd = dict(
    type='mmrlkd.RoITemperatureDistiller',
    temperature_provider=dict(type='mmrlkd.FixedTemperature', temperature=1.0),
    roi_losses=dict(
        loss_kd=dict(type='mmrlkd.InstanceKDLoss', tau=1.0, loss_weight=1.0)))
