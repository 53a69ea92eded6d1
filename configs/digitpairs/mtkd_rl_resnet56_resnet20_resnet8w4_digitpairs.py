# MTKD-RL (Yang et al., AAAI 2025, arXiv 2502.18510) with two teachers,
# ResNet-56 and ResNet-20 -> ResNet-8 (width 4) on DigitPairs. Loss:
# CE + sum_m w_l^m KD_m (tau = 4) + 5 * sum_m w_f^m MSE_m, with per-instance
# teacher weights from the agent after a 1-epoch warm-up (all weights 1),
# the agent updated at the end of each epoch (79 batches < agent_step).
# Same student and schedule as the KD and RLKD configs of this folder.
#
# Teacher checkpoints: ResNet-56 from
# configs/digitpairs/resnet56_digitpairs.py, ResNet-20 from
# configs/digitpairs/resnet20_digitpairs.py (see those files;
# demo/digitpairs_demo.py puts the ResNet-20 at the path below).
_base_ = [
    '../_base_/models/cifar_resnet_classifiers.py',
    '../_base_/datasets/digit_pairs.py',
    '../_base_/schedules/digit_pairs_student_sgd.py',
    '../_base_/digit_pairs_runtime.py',
]
teacher_ckpts = [
    'work_dirs/digitpairs/teacher_resnet56.pth',
    'work_dirs/digitpairs/teacher_resnet20.pth',
]
model = dict(
    _scope_='mmrlkd',
    type='MTKDRLDistill',
    architecture={{_base_.resnet8_w4}},
    teachers=[{{_base_.resnet56}}, {{_base_.resnet20}}],
    teacher_ckpts=teacher_ckpts,
    feature=dict(source='backbone', data_idx=-1),
    logits=dict(source='head.fc'),
    input_shape=(3, 16, 32),
    tau=4.0,
    kd_weight=1.0,
    feat_weight=5.0,
    warmup_weights='ones',
    agent=dict(dynamic=False, update_rule='upstream', lr=0.1))

custom_hooks = [dict(type='mmrlkd.MTKDAgentHook', agent_step=1000, warmup=1)]
