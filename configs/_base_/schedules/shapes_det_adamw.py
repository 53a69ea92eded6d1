# Short schedule for the Shapes detection set: 12 epochs (a "1x" in
# miniature), AdamW (the detectors start from random weights; AdamW gets the
# teacher to about 0.35 mAP in 12 epochs where SGD at lr 0.02 stays near
# 0.02), linear warm-up, lr x0.1 at epochs 8 and 11.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12, val_interval=4)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(
        type='MultiStepLR',
        begin=0,
        end=12,
        by_epoch=True,
        milestones=[8, 11],
        gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05),
    clip_grad=dict(max_norm=35, norm_type=2))
