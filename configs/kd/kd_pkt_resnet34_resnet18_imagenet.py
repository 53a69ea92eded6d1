# PKT + vanilla KD, ResNet-34 -> ResNet-18 on ImageNet-1k (RLKD paper Table
# 2: 70.92 % top-1, 90.25 % top-5). CTKD's ImageNet plug-in protocol:
# 1.0 * CE + 1.0 * KD at a fixed tau = 4, plus PKT (Passalis & Tefas, ECCV
# 2018) on the pooled 512-d features, weight 30000.
_base_ = ['./kd_resnet34_resnet18_imagenet.py']

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
