# CTKD (global): one learnable temperature trained through gradient reversal
# (arXiv 2211.16231), ResNet-56 -> ResNet-8 (width 4) on DigitPairs. Same
# student, teacher, schedule and 0.1 * CE + 0.9 * KD loss as the vanilla KD
# config; the fixed tau = 4 is replaced by tau = 1 + 20 * sigmoid(theta)
# (15.6 at the start), and the reversal strength rises to 1 over 2 epochs
# (the paper: 10 of 240 epochs; 2 of 20 as the RLKD config's warm-up).
_base_ = [
    '../_base_/models/cifar_resnet_classifiers.py',
    '../_base_/datasets/digit_pairs.py',
    '../_base_/schedules/digit_pairs_student_sgd.py',
    '../_base_/digit_pairs_runtime.py',
    '../_base_/distill/instance_kd_classifier.py',
]
teacher_ckpt = 'work_dirs/digitpairs/teacher_resnet56.pth'
model = dict(
    architecture={{_base_.resnet8_w4_kd}},
    teacher={{_base_.resnet56}},
    teacher_ckpt=teacher_ckpt,
    distiller=dict(
        temperature_provider=dict(
            _delete_=True, type='mmrlkd.CTKDGlobalTemperature')))

custom_hooks = [dict(type='mmrlkd.CTKDCurriculumHook', decay_epochs=2)]
