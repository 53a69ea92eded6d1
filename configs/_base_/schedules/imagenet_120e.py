# The ImageNet KD recipe of CTKD and RLKD: 120 epochs of SGD, lr 0.1,
# momentum 0.9, weight decay 1e-4, x0.1 at epochs 30, 60 and 90; 8 GPUs x 32
# images = 256 (auto_scale_lr rescales the lr for other batch sizes when
# tools/train.py gets --auto-scale-lr).
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(
        type='MultiStepLR', by_epoch=True, milestones=[30, 60, 90], gamma=0.1)
]
train_cfg = dict(by_epoch=True, max_epochs=120, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
