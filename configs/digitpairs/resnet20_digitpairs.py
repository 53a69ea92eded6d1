# Second DigitPairs teacher (for the two-teacher MTKD-RL config) and the
# demo's teacher: CIFAR ResNet-20 trained from scratch with the teacher
# schedule. demo/digitpairs_demo.py trains it and keeps it at
# work_dirs/digitpairs/teacher_resnet20.pth; or train it with
#   python tools/train.py configs/digitpairs/resnet20_digitpairs.py \
#       --work-dir work_dirs/digitpairs/resnet20_teacher
# and copy the last checkpoint to work_dirs/digitpairs/teacher_resnet20.pth.
_base_ = [
    '../_base_/models/cifar_resnet_classifiers.py',
    '../_base_/datasets/digit_pairs.py',
    '../_base_/schedules/digit_pairs_sgd.py',
    '../_base_/digit_pairs_runtime.py',
]
model = {{_base_.resnet20}}
