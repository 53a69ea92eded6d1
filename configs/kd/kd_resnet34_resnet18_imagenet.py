# Vanilla KD, ResNet-34 -> ResNet-18 on ImageNet-1k (RLKD paper Table 2:
# 70.83 % top-1, 90.31 % top-5; teacher 73.96 %, student 70.26 %). The CTKD
# ImageNet recipe, which RLKD follows: 120 epochs, SGD lr 0.1 (x0.1 at 30,
# 60, 90), weight decay 1e-4, 8 GPUs x 32 images, 1.0 * CE + 1.0 * KD at a
# fixed tau = 4. The teacher is MMPretrain's model zoo ResNet-34 (73.62 %),
# downloaded when the model is built.
_base_ = [
    '../_base_/models/imagenet_resnet_classifiers.py',
    '../_base_/datasets/imagenet_bs32.py',
    '../_base_/schedules/imagenet_120e.py',
    '../_base_/imagenet_runtime.py',
    '../_base_/distill/instance_kd_classifier.py',
]
teacher_ckpt = {{_base_.resnet34_teacher_ckpt}}
model = dict(
    architecture={{_base_.resnet18}},
    teacher={{_base_.resnet34}},
    teacher_ckpt=teacher_ckpt,
    distiller=dict(distill_losses=dict(loss_kd=dict(loss_weight=1.0))))
