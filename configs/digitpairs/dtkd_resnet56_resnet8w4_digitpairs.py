# DTKD: per-instance teacher/student temperatures of equal max-logit
# sharpness (arXiv 2404.12711), ResNet-56 -> ResNet-8 (width 4) on
# DigitPairs. Same student, teacher and schedule as the vanilla KD config,
# with DTKD's own loss: 1.0 * CE + w * (1.0 * L_DTKD + 0.5 * L_KD), tau = 4,
# the upstream weights of its ResNet-56 -> ResNet-20 pair; the warm-up w
# reaches 1 after 2 epochs (upstream: 20 of 240).
_base_ = [
    '../_base_/models/cifar_resnet_classifiers.py',
    '../_base_/datasets/digit_pairs.py',
    '../_base_/schedules/digit_pairs_student_sgd.py',
    '../_base_/digit_pairs_runtime.py',
    '../_base_/distill/instance_kd_classifier.py',
]
teacher_ckpt = 'work_dirs/digitpairs/teacher_resnet56.pth'
reference_tau = 4.0
model = dict(
    architecture={{_base_.resnet8_w4}},
    teacher={{_base_.resnet56}},
    teacher_ckpt=teacher_ckpt,
    distiller=dict(
        temperature_provider=dict(
            _delete_=True, type='mmrlkd.DTKDTemperature', tau=reference_tau),
        distill_losses=dict(
            _delete_=True,
            loss_dtkd=dict(
                type='mmrlkd.DTKDLoss',
                alpha=1.0,
                beta=0.5,
                tau=reference_tau,
                warmup=2)),
        loss_forward_mappings=dict(
            _delete_=True,
            loss_dtkd=dict(
                preds_S=dict(from_student=True, recorder='fc'),
                preds_T=dict(from_student=False, recorder='fc')))))
