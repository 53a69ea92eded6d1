# MMPretrain's runtime; keeps the best and the last checkpoint (the KD
# literature reports the best test accuracy over epochs).
_base_ = ['mmpretrain::_base_/default_runtime.py']
default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook',
        interval=10,
        max_keep_ckpts=1,
        save_best='accuracy/top1',
        rule='greater'),
    # Random states in every checkpoint, so --resume continues exactly
    # (a default hook: configs that set custom_hooks keep it).
    random_state=dict(type='mmrlkd.RandomStateHook'),
    # Checks before and during the run (docs/en/troubleshooting.md): labels
    # outside the heads' classes, a teacher at chance level, a loss that
    # stays NaN.
    label_range=dict(type='mmrlkd.LabelRangeHook'),
    teacher_check=dict(type='mmrlkd.TeacherCheckHook'),
    finite_loss=dict(type='mmrlkd.FiniteLossHook'))
