# Student schedule for the DigitPairs benchmark: 20 epochs of SGD lr 0.1 with
# cosine decay. Measured over 5 seeds (docs/en/notes/agent_learning.md) it is
# the first setting where the ResNet-8 (width 4) student alone is trained to a
# plateau and vanilla KD's gain is clear with a std below 1 %. The teacher
# keeps the shorter digit_pairs_sgd.py schedule.
max_epochs = 20
optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True,
         convert_to_iter_based=True)
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)
