# VID + vanilla KD, WRN-40-2 -> WRN-40-1 on CIFAR-100 (RLKD paper Table 3:
# 73.60 %). The plug-in protocol of CTKD and RLKD: 0.1 * CE + 0.9 * KD at a
# fixed tau = 4, plus VID (Ahn et al., CVPR 2019) on the three stage outputs,
# weight 1 each (the official RLKD code counts the KD term twice here; we do
# not). The loss modules live in the distiller, so the student's optimizer
# trains them.
_base_ = [
    './kd_wrn40-2_wrn40-1_cifar100.py',
    '../_base_/distill/vid_classifier.py',
]

model = dict(
    distiller=dict(
        student_recorders={{_base_.vid_stage_recorders}},
        teacher_recorders={{_base_.vid_stage_recorders}},
        distill_losses=dict(
            loss_vid_1=dict(
                type='mmrlkd.VIDLoss',
                student_channels=16,
                teacher_channels=32),
            loss_vid_2=dict(
                type='mmrlkd.VIDLoss',
                student_channels=32,
                teacher_channels=64),
            loss_vid_3=dict(
                type='mmrlkd.VIDLoss',
                student_channels=64,
                teacher_channels=128)),
        loss_forward_mappings={{_base_.vid_loss_forward_mappings}}))
