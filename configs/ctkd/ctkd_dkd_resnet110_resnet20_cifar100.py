# DKD + CTKD (global), ResNet-110 -> ResNet-20 on CIFAR-100 (RLKD paper Table
# 3: 71.65 %, DKD 71.28 %). The official CTKD script's DKD setting: 1.0 * CE +
# 1.0 * DKD, no warm-up, alpha = 1, beta = 2 (the official RLKD code's beta for
# this pair: 8 for the ResNet-32x4 students, 2 otherwise), with the DKD
# temperature given by the learnable CTKD temperature (curriculum over 10
# epochs).
_base_ = ['../kd/kd_resnet110_resnet20_cifar100.py']

model = dict(
    architecture=dict(head=dict(loss=dict(loss_weight=1.0))),
    distiller=dict(
        temperature_provider=dict(
            _delete_=True,
            type='mmrlkd.CTKDGlobalTemperature',
            t_start=1.0,
            t_range=20.0,
            init=1.0),
        distill_losses=dict(
            _delete_=True,
            loss_dkd=dict(
                type='mmrlkd.InstanceDKDLoss',
                alpha=1.0,
                beta=2.0,
                loss_weight=1.0)),
        loss_forward_mappings=dict(
            _delete_=True,
            loss_dkd=dict(
                preds_S=dict(from_student=True, recorder='fc'),
                preds_T=dict(from_student=False, recorder='fc'),
                gt_labels=dict(
                    from_student=True, recorder='gt_labels', data_idx=1)))))

custom_hooks = [dict(type='mmrlkd.CTKDCurriculumHook', decay_epochs=10)]
