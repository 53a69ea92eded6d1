# CIFAR ResNets (mmrlkd.ResNetCIFAR) as 100-way MMPretrain classifiers, for
# CIFAR-100 and DigitPairs (both 100 classes). Configs pick one with
# {{_base_.resnet56}} etc. KD students (suffix _kd) weigh their CE by 0.1:
# the paper's 0.1 * CE + 0.9 * KD recipe.
def _classifier(depth, base_channels=16, stem_channels=None, ce_weight=1.0):
    return dict(
        _scope_='mmpretrain',
        type='ImageClassifier',
        backbone=dict(
            type='mmrlkd.ResNetCIFAR',
            depth=depth,
            stem_channels=stem_channels or base_channels,
            base_channels=base_channels),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=100,
            in_channels=4 * base_channels,
            loss=dict(type='CrossEntropyLoss', loss_weight=ce_weight)))


resnet56 = _classifier(depth=56)
resnet20 = _classifier(depth=20)
resnet20_kd = _classifier(depth=20, ce_weight=0.1)
# DigitPairs' capacity-limited student: ResNet-8 with stages 4/8/16 wide.
resnet8_w4 = _classifier(depth=8, base_channels=4)
resnet8_w4_kd = _classifier(depth=8, base_channels=4, ce_weight=0.1)
# The rest of the CIFAR-100 ResNet zoo (RLKD Table 1 and 3).
resnet110 = _classifier(depth=110)
resnet32 = _classifier(depth=32)
resnet32_kd = _classifier(depth=32, ce_weight=0.1)
resnet32x4 = _classifier(depth=32, stem_channels=32, base_channels=64)
resnet8x4 = _classifier(depth=8, stem_channels=32, base_channels=64)
resnet8x4_kd = _classifier(
    depth=8, stem_channels=32, base_channels=64, ce_weight=0.1)
