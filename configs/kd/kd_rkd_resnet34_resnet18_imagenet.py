# RKD + vanilla KD, ResNet-34 -> ResNet-18 on ImageNet-1k (RLKD paper Table
# 2: 70.94 % top-1, 90.33 % top-5). CTKD's ImageNet plug-in protocol:
# 1.0 * CE + 1.0 * KD at a fixed tau = 4, plus RKD (Park et al., CVPR 2019)
# on the pooled 512-d features: 25 * distance-wise + 50 * angle-wise, on the
# raw features as in RepDistiller/CTKD (MMRazor's losses L2-normalise them
# by default, hence with_l2_norm=False).
_base_ = ['./kd_resnet34_resnet18_imagenet.py']

model = dict(
    distiller=dict(
        student_recorders=dict(neck=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(neck=dict(type='ModuleOutputs', source='neck')),
        distill_losses=dict(
            loss_rkd_distance=dict(
                type='DistanceWiseRKD', loss_weight=25.0, with_l2_norm=False),
            loss_rkd_angle=dict(
                type='AngleWiseRKD', loss_weight=50.0, with_l2_norm=False)),
        loss_forward_mappings=dict(
            loss_rkd_distance=dict(
                preds_S=dict(from_student=True, recorder='neck', data_idx=0),
                preds_T=dict(from_student=False, recorder='neck', data_idx=0)),
            loss_rkd_angle=dict(
                preds_S=dict(from_student=True, recorder='neck', data_idx=0),
                preds_T=dict(from_student=False, recorder='neck',
                             data_idx=0)))))
