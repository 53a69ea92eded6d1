# Teacher: CIFAR ResNet-56 trained on DigitPairs from scratch, the one the
# distillation configs of this folder read. tools/analysis/compare_methods.py
# trains it when missing; or train it with
#   python tools/train.py configs/digitpairs/resnet56_digitpairs.py \
#       --work-dir work_dirs/digitpairs/resnet56_teacher
# and copy the last checkpoint to work_dirs/digitpairs/teacher_resnet56.pth.
_base_ = [
    '../_base_/models/cifar_resnet_classifiers.py',
    '../_base_/datasets/digit_pairs.py',
    '../_base_/schedules/digit_pairs_sgd.py',
    '../_base_/digit_pairs_runtime.py',
]
model = {{_base_.resnet56}}
