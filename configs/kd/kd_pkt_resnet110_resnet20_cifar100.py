# PKT + vanilla KD, ResNet-110 -> ResNet-20 on CIFAR-100 (RLKD paper Table 3:
# 70.88 %). The plug-in protocol of CTKD and RLKD: 0.1 * CE + 0.9 * KD at a
# fixed tau = 4, plus PKT (Passalis & Tefas, ECCV 2018) on the pooled features,
# weight 30000. The loss modules live in the distiller, so the student's
# optimizer trains them.
_base_ = ['./kd_resnet110_resnet20_cifar100.py']

model = dict(
    distiller=dict(
        student_recorders=dict(neck=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(neck=dict(type='ModuleOutputs', source='neck')),
        distill_losses=dict(
            loss_pkt=dict(type='mmrlkd.PKTLoss', loss_weight=30000)),
        loss_forward_mappings=dict(
            loss_pkt=dict(
                s_feature=dict(from_student=True, recorder='neck', data_idx=0),
                t_feature=dict(
                    from_student=False, recorder='neck', data_idx=0)))))
