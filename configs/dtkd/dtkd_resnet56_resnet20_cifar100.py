# DTKD, ResNet-56 -> ResNet-20 on CIFAR-100. The official DTKD recipe
# (mdistiller's CIFAR schedule: 240 epochs, SGD 0.05, batch 64, the same as
# our vanilla KD config) and its res56_res20 weights:
#   1.0 * CE + min(epoch / 20, 1) * (1.0 * L_DTKD + 0.5 * L_KD),
# L_DTKD with per-instance teacher/student temperatures from the max logits
# around the reference tau = 4, L_KD vanilla KD at tau = 4.
_base_ = ['../kd/kd_resnet56_resnet20_cifar100.py']

reference_tau = 4.0
model = dict(
    architecture=dict(head=dict(loss=dict(loss_weight=1.0))),
    distiller=dict(
        temperature_provider=dict(
            _delete_=True,
            type='mmrlkd.DTKDTemperature',
            tau=reference_tau,
            sharpness='max_logit'),
        distill_losses=dict(
            _delete_=True,
            loss_dtkd=dict(
                type='mmrlkd.DTKDLoss',
                alpha=1.0,
                beta=0.5,
                tau=reference_tau,
                warmup=20)),
        loss_forward_mappings=dict(
            _delete_=True,
            loss_dtkd=dict(
                preds_S=dict(from_student=True, recorder='fc'),
                preds_T=dict(from_student=False, recorder='fc')))))
