# DigitPairs (mmrlkd.DigitPairs): 100 classes, 16x32 RGB, built from the
# handwritten digits that ship with scikit-learn; nothing is downloaded.
dataset_type = 'mmrlkd.DigitPairs'
data_preprocessor = dict(
    type='mmpretrain.ClsDataPreprocessor',
    num_classes=100,
    mean=[86.0, 86.0, 86.0],
    std=[110.0, 110.0, 110.0],
    to_rgb=False)

train_pipeline = [
    dict(type='RandomCrop', crop_size=(16, 32), padding=2),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]

# The images live in memory, so the loaders need no worker processes.
# persistent_workers=False is explicit because MMPretrain's own
# tools/train.py defaults it to True, which needs num_workers > 0.
train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type=dataset_type,
        split='train',
        num_samples=5000,
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=256,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type=dataset_type,
        split='test',
        num_samples=10000,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
