# RLKD: per-instance temperatures from a PPO agent (arXiv 2407.00115),
# ResNet-56 -> ResNet-8 (width 4) on DigitPairs. Same student, teacher,
# schedule and 0.1 * CE + 0.9 * KD loss as the vanilla KD config; the fixed
# tau = 4 is replaced by the agent's temperatures after a 2-epoch warm-up
# (the paper: 20 of 240 epochs).
_base_ = [
    '../_base_/models/cifar_resnet_classifiers.py',
    '../_base_/datasets/digit_pairs.py',
    '../_base_/schedules/digit_pairs_student_sgd.py',
    '../_base_/digit_pairs_runtime.py',
    '../_base_/distill/instance_kd_classifier.py',
]
teacher_ckpt = 'work_dirs/digitpairs/teacher_resnet56.pth'
model = dict(
    architecture={{_base_.resnet8_w4_kd}},
    teacher={{_base_.resnet56}},
    teacher_ckpt=teacher_ckpt,
    distiller=dict(
        temperature_provider=dict(
            _delete_=True,
            type='mmrlkd.RLKDTemperature',
            warmup_temperature=4.0)))

# RewardDiagnosticsHook writes the reward's per-epoch statistics to
# <work_dir>/reward_diagnostics.jsonl (issue 17, item 2); it only reads
# logged scalars, so it does not change training.
custom_hooks = [
    dict(type='mmrlkd.RLKDAgentHook', agent_warmup=2, reward_warmup=2),
    dict(type='mmrlkd.RewardDiagnosticsHook'),
]
