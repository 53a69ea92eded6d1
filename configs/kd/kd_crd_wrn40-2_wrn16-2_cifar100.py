# CRD + vanilla KD, WRN-40-2 -> WRN-16-2 on CIFAR-100 (RLKD paper Table 3:
# 75.53 %). The plug-in protocol of CTKD and RLKD: 0.1 * CE + 0.9 * KD at a
# fixed tau = 4, plus CRD (Tian et al., ICLR 2020) on the pooled features
# embedded in 128 dimensions, 16384 negatives of other classes, weight 0.8. The
# loss modules live in the distiller, so the student's optimizer trains them.
_base_ = ['./kd_wrn40-2_wrn16-2_cifar100.py']

model = dict(
    distiller=dict(
        student_recorders=dict(
            neck=dict(type='ModuleOutputs', source='neck'),
            data_samples=dict(
                type='MethodInputs',
                source='mmpretrain.models.heads.ClsHead.loss')),
        teacher_recorders=dict(neck=dict(type='ModuleOutputs', source='neck')),
        connectors=dict(
            crd_s=dict(type='CRDConnector', dim_in=128, dim_out=128),
            crd_t=dict(type='CRDConnector', dim_in=128, dim_out=128)),
        distill_losses=dict(
            loss_crd=dict(
                type='mmrlkd.MMPretrainCRDLoss',
                loss_weight=0.8,
                temperature=0.07,
                neg_num=16384,
                sample_n=50000,
                dim_out=128,
                momentum=0.5)),
        loss_forward_mappings=dict(
            loss_crd=dict(
                s_feats=dict(
                    from_student=True,
                    recorder='neck',
                    data_idx=0,
                    connector='crd_s'),
                t_feats=dict(
                    from_student=False,
                    recorder='neck',
                    data_idx=0,
                    connector='crd_t'),
                data_samples=dict(
                    from_student=True, recorder='data_samples', data_idx=1)))))

# CRD needs each image's index and negatives of other classes: MMRazor's
# CRDDataset adds them, MMPretrain's PackInputs keeps them.
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='mmrazor.CRDDataset',
        neg_num=16384,
        percent=1.0,
        dataset=dict(
            type='mmpretrain.CIFAR100',
            data_root='data/cifar100',
            split='train',
            download=False,
            pipeline=[
                dict(type='RandomCrop', crop_size=32, padding=4),
                dict(type='RandomFlip', prob=0.5, direction='horizontal'),
                dict(
                    type='PackInputs', algorithm_keys=['contrast_sample_idxs'])
            ])))
