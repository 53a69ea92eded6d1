# Distillation between two MMPretrain classifiers through mmrlkd's
# instance-temperature losses: logits from head.fc, labels from the inputs of
# head.loss_module. Configs add `architecture`, `teacher`, `teacher_ckpt`, and
# swap `temperature_provider` (with _delete_=True) for CTKD, DTKD or RLKD.
# With the fixed tau = 4 below this is vanilla KD, numerically the same as
# MMRazor's KLDivergence. Loss: 0.1 * CE (set on the student's head) +
# 0.9 * KD.
model = dict(
    _scope_='mmrazor',
    type='mmrlkd.RLKDDistill',
    distiller=dict(
        type='mmrlkd.InstanceTemperatureDistiller',
        temperature_provider=dict(
            type='mmrlkd.FixedTemperature', temperature=4.0),
        logits=dict(student=dict(recorder='fc'), teacher=dict(recorder='fc')),
        gt_labels=dict(recorder='gt_labels', data_idx=1),
        student_recorders=dict(
            fc=dict(type='ModuleOutputs', source='head.fc'),
            gt_labels=dict(type='ModuleInputs', source='head.loss_module')),
        teacher_recorders=dict(
            fc=dict(type='ModuleOutputs', source='head.fc')),
        distill_losses=dict(
            loss_kd=dict(type='mmrlkd.InstanceKDLoss', loss_weight=0.9)),
        loss_forward_mappings=dict(
            loss_kd=dict(
                preds_S=dict(from_student=True, recorder='fc'),
                preds_T=dict(from_student=False, recorder='fc')))))
