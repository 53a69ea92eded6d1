# MTKD-RL (Yang et al., AAAI 2025, arXiv 2502.18510): a pool of three
# CIFAR-100 teachers, ResNet-32x4, WRN-40-2 and ResNet-110, -> ResNet-8x4.
# Loss: CE + sum_m w_l^m KD_m (tau = 4) + 5 * sum_m w_f^m MSE_m on the last
# feature maps (all 8x8 here); the agent weighs the teachers per image from
# epoch 1 on (epoch 0: every weight 1) and is updated every 1000 batches and
# at the end of each epoch. The official recipe: SGD with Nesterov momentum
# 0.9, lr 0.05, weight decay 1e-4, batch 64, 240 epochs, x0.1 at 150/180/210.
#
# The official pool is RegNetY-400MF, RegNetX-400MF, ResNet-32x4, WRN-28-4;
# this one uses the CIFAR zoo of mmrlkd (see README.md). Teacher checkpoints
# are not shipped: train the teachers, or convert RepDistiller ones, and put
# them at the paths below.
_base_ = [
    '../_base_/models/cifar_resnet_classifiers.py',
    '../_base_/models/cifar_zoo_classifiers.py',
    '../_base_/datasets/cifar100_bs64.py',
    '../_base_/schedules/cifar_240e.py',
    '../_base_/cifar_runtime.py',
]
teacher_ckpts = [
    'work_dirs/cifar100/teacher_resnet32x4.pth',
    'work_dirs/cifar100/teacher_wrn_40_2.pth',
    'work_dirs/cifar100/teacher_resnet110.pth',
]
model = dict(
    _scope_='mmrlkd',
    type='MTKDRLDistill',
    architecture={{_base_.resnet8x4}},
    teachers=[{{_base_.resnet32x4}}, {{_base_.wrn_40_2}},
              {{_base_.resnet110}}],
    teacher_ckpts=teacher_ckpts,
    feature=dict(source='backbone', data_idx=-1),
    logits=dict(source='head.fc'),
    input_shape=(3, 32, 32),
    tau=4.0,
    kd_weight=1.0,
    feat_weight=5.0,
    warmup_weights='ones',
    # dynamic=True is the paper's "w/ dynamic" column (the better choice is
    # network-dependent); update_rule='policy_gradient' is our corrected
    # update (docs/en/user_guides/mtkd_rl.md).
    agent=dict(dynamic=False, update_rule='upstream', lr=0.1))

optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4, nesterov=True))
custom_hooks = [dict(type='mmrlkd.MTKDAgentHook', agent_step=1000, warmup=1)]
