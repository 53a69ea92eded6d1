# Vanilla KD (Hinton et al.) with MMRazor's SingleTeacherDistill +
# ConfigurableDistiller + KLDivergence: ResNet-56 -> ResNet-8 (width 4) on
# DigitPairs. Loss: 0.1 * CE + 0.9 * tau^2 * KL(teacher || student), tau = 4.
#
# The teacher checkpoint comes from configs/digitpairs/resnet56_digitpairs.py
# (see that file). demo/digitpairs_demo.py runs this config with its ResNet-20
# teacher instead.
_base_ = [
    '../_base_/models/cifar_resnet_classifiers.py',
    '../_base_/datasets/digit_pairs.py',
    '../_base_/schedules/digit_pairs_student_sgd.py',
    '../_base_/digit_pairs_runtime.py',
]
teacher_ckpt = 'work_dirs/digitpairs/teacher_resnet56.pth'

model = dict(
    _scope_='mmrazor',
    type='SingleTeacherDistill',
    architecture={{_base_.resnet8_w4_kd}},
    teacher={{_base_.resnet56}},
    teacher_ckpt=teacher_ckpt,
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(
            fc=dict(type='ModuleOutputs', source='head.fc')),
        teacher_recorders=dict(
            fc=dict(type='ModuleOutputs', source='head.fc')),
        distill_losses=dict(
            loss_kl=dict(type='KLDivergence', tau=4, loss_weight=0.9)),
        loss_forward_mappings=dict(
            loss_kl=dict(
                preds_S=dict(from_student=True, recorder='fc'),
                preds_T=dict(from_student=False, recorder='fc')))))

# Validation evaluates the student only: on 2 CPU cores, evaluating the
# fixed teacher every epoch (mmrazor.SingleTeacherDistillValLoop) would double
# the run time; the demo reports the teacher once.
