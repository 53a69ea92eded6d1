# CRD (Tian et al., ICLR 2020) as a loss next to the KD term, on CIFAR-100:
# the pooled features of student and teacher embedded in 128 dimensions,
# 16384 negatives of other classes per image from a momentum memory of the
# 50000 training images, weight 0.8. The loss modules (connectors, memory)
# live in the distiller, so the student's optimizer trains them. A CRD
# config adds the pieces below to a KD config and states the pair's pooled
# feature sizes in the connectors:
#
#   _base_ = ['./kd_<pair>.py', '../_base_/distill/crd_cifar100.py']
#   model = dict(
#       distiller=dict(
#           student_recorders={{_base_.crd_student_recorders}},
#           teacher_recorders={{_base_.crd_teacher_recorders}},
#           connectors=dict(
#               crd_s=dict(type='CRDConnector', dim_in=64, dim_out=128),
#               crd_t=dict(type='CRDConnector', dim_in=64, dim_out=128)),
#           distill_losses={{_base_.crd_distill_losses}},
#           loss_forward_mappings={{_base_.crd_loss_forward_mappings}}))
#   train_dataloader = dict(dataset={{_base_.crd_train_dataset}})
crd_neg_num = 16384
crd_student_recorders = dict(
    neck=dict(type='ModuleOutputs', source='neck'),
    data_samples=dict(
        type='MethodInputs', source='mmpretrain.models.heads.ClsHead.loss'))
crd_teacher_recorders = dict(neck=dict(type='ModuleOutputs', source='neck'))
crd_distill_losses = dict(
    loss_crd=dict(
        type='mmrlkd.MMPretrainCRDLoss',
        loss_weight=0.8,
        temperature=0.07,
        neg_num=crd_neg_num,
        sample_n=50000,
        dim_out=128,
        momentum=0.5))
crd_loss_forward_mappings = dict(
    loss_crd=dict(
        s_feats=dict(
            from_student=True, recorder='neck', data_idx=0, connector='crd_s'),
        t_feats=dict(
            from_student=False, recorder='neck', data_idx=0,
            connector='crd_t'),
        data_samples=dict(
            from_student=True, recorder='data_samples', data_idx=1)))

# CRD needs each image's index and negatives of other classes: MMRazor's
# CRDDataset adds them, MMPretrain's PackInputs keeps them.
crd_train_dataset = dict(
    _delete_=True,
    type='mmrazor.CRDDataset',
    neg_num=crd_neg_num,
    percent=1.0,
    dataset=dict(
        type='mmpretrain.CIFAR100',
        data_root='data/cifar100',
        split='train',
        download=False,
        pipeline=[
            dict(type='RandomCrop', crop_size=32, padding=4),
            dict(type='RandomFlip', prob=0.5, direction='horizontal'),
            dict(type='PackInputs', algorithm_keys=['contrast_sample_idxs'])
        ]))
