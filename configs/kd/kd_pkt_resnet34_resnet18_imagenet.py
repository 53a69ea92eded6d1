# PKT + vanilla KD, ResNet-34 -> ResNet-18 on ImageNet-1k (RLKD paper Table
# 2: 70.92 % top-1, 90.25 % top-5). CTKD's ImageNet plug-in protocol:
# 1.0 * CE + 1.0 * KD at a fixed tau = 4, plus PKT (Passalis & Tefas, ECCV
# 2018) on the pooled 512-d features, weight 30000.
_base_ = [
    './kd_resnet34_resnet18_imagenet.py',
    '../_base_/distill/pkt_classifier.py',
]

model = dict(distiller={{_base_.pkt_distiller}})
