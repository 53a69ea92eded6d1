# MMPretrain's runtime, with logs every 20 iterations and only the last
# checkpoint kept (the runs are short).
_base_ = ['mmpretrain::_base_/default_runtime.py']
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1),
    # Random states in every checkpoint, so --resume continues exactly
    # (a default hook: configs that set custom_hooks keep it).
    random_state=dict(type='mmrlkd.RandomStateHook'),
    # Checks before and during the run (docs/en/troubleshooting.md): labels
    # outside the heads' classes, a teacher at chance level, a loss that
    # stays NaN.
    label_range=dict(type='mmrlkd.LabelRangeHook'),
    teacher_check=dict(type='mmrlkd.TeacherCheckHook'),
    finite_loss=dict(type='mmrlkd.FiniteLossHook'))
randomness = dict(seed=0, deterministic=False)
