"""Scope 'mmrlkd' is a child of MMRazor's and reaches the other packages."""
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import DefaultScope

from mmrlkd import registry
from mmrlkd.models import ResNetCIFAR


def test_every_node_is_a_child_of_mmrazor():
    import mmrazor.registry as razor
    for name in ('MODELS', 'HOOKS', 'DATASETS', 'TRANSFORMS', 'TASK_UTILS',
                 'LOOPS', 'METRICS', 'OPTIMIZERS', 'PARAM_SCHEDULERS'):
        node = getattr(registry, name)
        assert node.scope == 'mmrlkd'
        assert node.parent is getattr(razor, name), name


SCOPES = ('mmrlkd', 'mmpretrain', 'mmdet', 'mmrazor', 'mmengine')


def test_prefixed_names_resolve_from_every_scope():
    import mmdet.registry
    import mmpretrain.registry
    import mmrazor.registry
    for node in (ROOT_MODELS, registry.MODELS, mmrazor.registry.MODELS,
                 mmdet.registry.MODELS, mmpretrain.registry.MODELS):
        assert node.get('mmrlkd.ResNetCIFAR') is ResNetCIFAR, node.scope


def test_prefixed_type_builds_under_every_default_scope():
    for scope in SCOPES:
        with DefaultScope.overwrite_default_scope(scope):
            backbone = ROOT_MODELS.build(
                dict(type='mmrlkd.ResNetCIFAR', depth=8))
        assert isinstance(backbone, ResNetCIFAR), scope


def test_scope_key_builds_under_every_default_scope():
    for scope in SCOPES:
        with DefaultScope.overwrite_default_scope(scope):
            backbone = ROOT_MODELS.build(
                dict(_scope_='mmrlkd', type='ResNetCIFAR', depth=8))
        assert isinstance(backbone, ResNetCIFAR), scope


def test_mmrlkd_scope_reaches_mmrazor_mmdet_and_mmpretrain():
    from mmdet.models import FasterRCNN
    from mmpretrain.models import ImageClassifier
    from mmrazor.models import SingleTeacherDistill
    assert registry.MODELS.get('SingleTeacherDistill') is SingleTeacherDistill
    assert registry.MODELS.get('mmdet.FasterRCNN') is FasterRCNN
    assert registry.MODELS.get('mmpretrain.ImageClassifier') \
        is ImageClassifier
    assert registry.MODELS.get('mmrazor.SingleTeacherDistill') \
        is SingleTeacherDistill


def test_build_mmpretrain_classifier_with_our_backbone():
    cfg = dict(
        _scope_='mmpretrain',
        type='ImageClassifier',
        backbone=dict(type='mmrlkd.ResNetCIFAR', depth=8),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=64))
    with DefaultScope.overwrite_default_scope('mmrlkd'):
        model = ROOT_MODELS.build(cfg)
    assert isinstance(model.backbone, ResNetCIFAR)


def test_cfg_path_build_is_inherited_from_mmrazor():
    import mmrazor.registry as razor
    assert registry.MODELS.build_func is razor.MODELS.build_func
