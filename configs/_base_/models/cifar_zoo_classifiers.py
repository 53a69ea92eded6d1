# The rest of the CIFAR KD zoo (WRN, VGG, MobileNetV2, ShuffleNetV1/V2,
# ResNet-50) as 100-way MMPretrain classifiers; the ResNets of 6n + 2 layers
# are in cifar_resnet_classifiers.py. Configs pick one with
# {{_base_.wrn_40_2}} etc. KD students (suffix _kd) weigh their CE by 0.1:
# the paper's 0.1 * CE + 0.9 * KD recipe.
def _classifier(backbone, in_channels, ce_weight=1.0):
    return dict(
        _scope_='mmpretrain',
        type='ImageClassifier',
        backbone=backbone,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=100,
            in_channels=in_channels,
            loss=dict(type='CrossEntropyLoss', loss_weight=ce_weight)))


def _wrn(depth, widen_factor, ce_weight=1.0):
    backbone = dict(
        type='mmrlkd.WideResNetCIFAR', depth=depth, widen_factor=widen_factor)
    return _classifier(backbone, 64 * widen_factor, ce_weight)


def _vgg(depth, ce_weight=1.0):
    return _classifier(
        dict(type='mmrlkd.VGGCIFAR', depth=depth), 512, ce_weight)


wrn_40_2 = _wrn(40, 2)
wrn_40_1 = _wrn(40, 1)
wrn_40_1_kd = _wrn(40, 1, ce_weight=0.1)
wrn_16_2 = _wrn(16, 2)
wrn_16_2_kd = _wrn(16, 2, ce_weight=0.1)
vgg13 = _vgg(13)
vgg8 = _vgg(8)
vgg8_kd = _vgg(8, ce_weight=0.1)
# "MobileNetV2" of the KD literature: width 0.5, expansion 6.
mobilenetv2 = _classifier(
    dict(type='mmrlkd.MobileNetV2CIFAR', widen_factor=0.5), 1280)
mobilenetv2_kd = _classifier(
    dict(type='mmrlkd.MobileNetV2CIFAR', widen_factor=0.5),
    1280,
    ce_weight=0.1)
shufflenetv1 = _classifier(
    dict(type='mmrlkd.ShuffleNetV1CIFAR', groups=3), 960)
shufflenetv1_kd = _classifier(
    dict(type='mmrlkd.ShuffleNetV1CIFAR', groups=3), 960, ce_weight=0.1)
shufflenetv2 = _classifier(
    dict(type='mmrlkd.ShuffleNetV2CIFAR', widen_factor=1.0), 1024)
shufflenetv2_kd = _classifier(
    dict(type='mmrlkd.ShuffleNetV2CIFAR', widen_factor=1.0),
    1024,
    ce_weight=0.1)
resnet50 = _classifier(
    dict(type='mmrlkd.FourStageResNetCIFAR', depth=50), 2048)
