# ImageNet-1k with MMPretrain's standard pipeline (RandomResizedCrop 224 and
# flip; resize 256 and centre crop 224 for testing), 32 images per GPU. Put
# the data set under data/imagenet as MMPretrain's docs describe. The
# preprocessor gets an explicit type because distillation models are built
# in scope mmrazor.
_base_ = ['mmpretrain::_base_/datasets/imagenet_bs32.py']
data_preprocessor = dict(type='mmpretrain.ClsDataPreprocessor')
