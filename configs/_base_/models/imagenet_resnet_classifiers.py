# MMPretrain's ImageNet ResNets (torchvision layout: 7x7 stem, max-pool, four
# stages) as 1000-way classifiers, for the ResNet-34 -> ResNet-18 setting of
# the KD literature. Configs pick one with {{_base_.resnet34}} etc. The
# teacher's weights are MMPretrain's model zoo checkpoint (see
# resnet34_teacher_ckpt), whose keys match these classifiers.
def _classifier(depth, in_channels):
    return dict(
        _scope_='mmpretrain',
        type='ImageClassifier',
        backbone=dict(
            type='ResNet',
            depth=depth,
            num_stages=4,
            out_indices=(3, ),
            style='pytorch'),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=1000,
            in_channels=in_channels,
            loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
            topk=(1, 5)))


resnet34 = _classifier(34, 512)
resnet18 = _classifier(18, 512)
# MMPretrain's resnet34_8xb32_in1k: 73.62 top-1, 91.59 top-5.
resnet34_teacher_ckpt = 'https://download.openmmlab.com/mmclassification/v0/resnet/resnet34_8xb32_in1k_20210831-f257d4e6.pth'  # noqa: E501
