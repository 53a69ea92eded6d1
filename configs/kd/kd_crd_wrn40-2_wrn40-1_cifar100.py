# CRD + vanilla KD, WRN-40-2 -> WRN-40-1 on CIFAR-100 (RLKD paper Table 3:
# 74.36 %). The plug-in protocol of CTKD and RLKD: 0.1 * CE + 0.9 * KD at a
# fixed tau = 4, plus CRD as ../_base_/distill/crd_cifar100.py sets it up
# (weight 0.8, 16384 negatives), on the pooled features: 64-d (student) and
# 128-d (teacher), embedded in 128 dimensions.
_base_ = [
    './kd_wrn40-2_wrn40-1_cifar100.py',
    '../_base_/distill/crd_cifar100.py',
]

model = dict(
    distiller=dict(
        student_recorders={{_base_.crd_student_recorders}},
        teacher_recorders={{_base_.crd_teacher_recorders}},
        connectors=dict(
            crd_s=dict(type='CRDConnector', dim_in=64, dim_out=128),
            crd_t=dict(type='CRDConnector', dim_in=128, dim_out=128)),
        distill_losses={{_base_.crd_distill_losses}},
        loss_forward_mappings={{_base_.crd_loss_forward_mappings}}))

train_dataloader = dict(dataset={{_base_.crd_train_dataset}})
