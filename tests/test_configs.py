"""Every shipped config builds its model and trains it for one iteration.

The configs are found by walking configs/, so a new one is covered without
editing this file. Teachers are built without their checkpoints. The batch
is two random images at a small size chosen by the training set (so the
whole sweep stays in seconds per config on one CPU thread), labelled at
random; detectors get MMDetection's demo inputs. A config whose kind of
batch is unknown here fails, so that it gets one.
"""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS, DefaultScope
from mmpretrain.models.utils import ClsDataPreprocessor
from mmpretrain.structures import DataSample

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    path for path in glob.glob(
        osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in path)
BATCH_SIZE = 2  # the smallest batch BatchNorm trains on
# Small inputs the models of each training set take (VGG and MobileNetV2
# need 16 px, ImageNet ResNets downsample 32x, Faster R-CNN FPN 64x).
TINY_IMAGE_SHAPES = {
    'CIFAR100': (16, 16),
    'DigitPairs': (16, 32),
    'ImageNet': (32, 32),
    'CocoDataset': (64, 64),
}


@pytest.fixture(autouse=True)
def one_seeded_thread():
    """Fixed weights and batches; one thread, as the time budget assumes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    np.random.seed(0)
    yield
    torch.set_num_threads(threads)


def test_configs_are_found():
    assert len(CONFIGS) >= 8


def innermost_train_dataset(cfg):
    """The training set's config inside any wrappers (e.g. CRDDataset)."""
    dataset = cfg.train_dataloader.dataset
    while 'dataset' in dataset:
        dataset = dataset.dataset
    return dataset


def crd_negatives(cfg):
    """Negatives per image that mmrazor.CRDDataset adds, or None."""
    dataset = cfg.train_dataloader.dataset
    if dataset.get('type', '').split('.')[-1] == 'CRDDataset':
        return dataset.neg_num
    return None


def tiny_image_shape(cfg):
    dataset_type = innermost_train_dataset(cfg).type.split('.')[-1]
    if dataset_type not in TINY_IMAGE_SHAPES:
        pytest.fail(f'no tiny input size for training set {dataset_type!r}: '
                    'add one to TINY_IMAGE_SHAPES in tests/test_configs.py')
    return TINY_IMAGE_SHAPES[dataset_type]


def student_of(model):
    """The trained network: MMRazor's ``architecture`` or the model."""
    return getattr(model, 'architecture', model)


def classification_batch(shape, num_classes, neg_num=None):
    """Packed as MMPretrain's PackInputs does (with CRD's indices)."""
    inputs, data_samples = [], []
    for index in range(BATCH_SIZE):
        inputs.append(torch.randint(0, 256, (3, *shape), dtype=torch.uint8))
        sample = DataSample().set_gt_label(int(torch.randint(num_classes, ())))
        sample.set_metainfo(dict(sample_idx=index))
        if neg_num is not None:
            contrast = np.random.randint(0, BATCH_SIZE, neg_num + 1)
            contrast[0] = index
            sample.set_field(contrast, 'contrast_sample_idxs')
        data_samples.append(sample)
    return dict(inputs=inputs, data_samples=data_samples)


def tiny_batch(cfg, model):
    shape = tiny_image_shape(cfg)
    student = student_of(model)
    if isinstance(model.data_preprocessor, ClsDataPreprocessor):
        return classification_batch(shape, student.head.num_classes,
                                    crd_negatives(cfg))
    if isinstance(model.data_preprocessor, DetDataPreprocessor):
        return demo_mm_inputs(
            BATCH_SIZE, [(3, *shape)] * BATCH_SIZE,
            num_items=[2] * BATCH_SIZE,
            num_classes=student.roi_head.bbox_head.num_classes)
    pytest.fail('no tiny batch for a model whose data preprocessor is '
                f'{type(model.data_preprocessor).__name__}: add one to '
                'tests/test_configs.py')


def start_agents(model):
    """Agents act from the first iteration, as after their warm-up.

    In training their hooks switch them on (RLKDAgentHook,
    MTKDAgentHook); here the iteration then runs the policy's path.
    """
    for module in model.modules():
        if hasattr(module, 'acting'):
            module.acting = True


def train_one_iteration(model, cfg, batch):
    """``BaseModel.train_step`` with a look at the gradients before the step.

    Returns the logged losses and the names of the trainable parameters
    whose gradient is missing or not finite.
    """
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    with optim_wrapper.optim_context(model):
        data = model.data_preprocessor(batch, True)
        losses = model(**data, mode='loss')
    loss, log_vars = model.parse_losses(losses)
    assert torch.isfinite(loss), log_vars
    optim_wrapper.backward(loss)
    without_grad = [
        name for name, param in model.named_parameters()
        if param.requires_grad and param.grad is None
    ]
    bad_grad = [
        name for name, param in model.named_parameters()
        if param.grad is not None and not torch.isfinite(param.grad).all()
    ]
    optim_wrapper.step()
    return log_vars, without_grad, bad_grad


# The hooks are not run here (their own tests run them in a Runner).
@pytest.mark.filterwarnings('ignore:MTKDRLDistill without')
@pytest.mark.parametrize(
    'path', CONFIGS, ids=[osp.relpath(p, ROOT) for p in CONFIGS])
def test_config_trains_one_iteration(path):
    cfg = Config.fromfile(path)
    model_cfg = cfg.model
    if 'teacher_ckpt' in model_cfg:
        assert model_cfg.teacher_ckpt, 'distillation configs name a teacher'
        model_cfg.teacher_ckpt = None  # not downloaded or trained in tests
    if 'teacher_ckpts' in model_cfg:  # multi-teacher (MTKD-RL)
        assert all(model_cfg.teacher_ckpts), 'configs name their teachers'
        model_cfg.teacher_ckpts = None
    if cfg.get('data_preprocessor') is not None:  # as the Runner does
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    hooks = [hook['type'] for hook in cfg.get('custom_hooks', [])]
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(model_cfg)
        provider = getattr(model, 'temperature_provider', None)
        if provider is not None and hasattr(provider, 'finish_iteration'):
            assert 'mmrlkd.RLKDAgentHook' in hooks, 'RLKD needs its hook'
        if type(provider).__name__.startswith('CTKD'):
            assert 'mmrlkd.CTKDCurriculumHook' in hooks, 'CTKD needs its hook'
        if type(model).__name__ == 'MTKDRLDistill':
            assert 'mmrlkd.MTKDAgentHook' in hooks, 'MTKD-RL needs its hook'
        start_agents(model)
        log_vars, without_grad, bad_grad = train_one_iteration(
            model, cfg, tiny_batch(cfg, model))

    # Every trainable parameter (the student's and the learnable parts of
    # the losses and temperatures) is reached by the loss, finitely.
    assert not without_grad, f'no gradient reaches {without_grad}'
    assert not bad_grad, f'non-finite gradients in {bad_grad}'
    distill_losses = model_cfg.get('distiller', {}).get('distill_losses', {})
    missing = [
        name for name in distill_losses if f'distill.{name}' not in log_vars
    ]
    assert not missing, f'configured losses {missing} were not computed'


MV2_STUDENT = osp.join(ROOT, 'configs', 'detection',
                       'faster-rcnn_mobilenetv2_fpn_1x_coco.py')
MV2_KD = osp.join(ROOT, 'configs', 'detection',
                  'kd_roi_faster-rcnn_r50_faster-rcnn_mobilenetv2_1x_coco.py')


def build_detector(path, options=None):
    cfg = Config.fromfile(path)
    if options:
        cfg.merge_from_dict(options)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return MODELS.build(cfg.model), cfg


@pytest.mark.parametrize(
    'options, channels', [(None, [24, 32, 96, 320]),
                          ({
                              'model.backbone.out_indices': (1, 2, 4, 7),
                              'model.neck.in_channels': [24, 32, 96, 1280],
                              'model.backbone.norm_cfg.requires_grad': True
                          }, [24, 32, 96, 1280])],
    ids=['mdistiller', 'mmdet_switch'])
def test_mobilenetv2_student_feeds_its_stage_outputs_to_the_fpn(
        options, channels):
    detector, cfg = build_detector(MV2_STUDENT, options)
    assert cfg.model.neck.in_channels == channels
    backbone = detector.backbone
    detector.train()
    outs = backbone(torch.zeros(1, 3, 64, 96))
    # Channels and strides 4, 8, 16, 32 of what the backbone returns.
    assert [o.shape[1] for o in outs] == channels
    assert [(o.shape[2], o.shape[3]) for o in outs] == [(16, 24), (8, 12),
                                                        (4, 6), (2, 3)]
    assert len(detector.neck(outs)) == 5
    norms = [
        m for m in backbone.modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
    ]
    # norm_eval: BN statistics frozen in training mode, either way.
    assert norms and not any(m.training for m in norms)
    affine_trained = options is not None
    assert all(p.requires_grad == affine_trained for m in norms
               for p in m.parameters())
    # mdistiller's: no 1,280-channel conv, and every kept parameter is
    # used (a forward/backward reaches all the trainable ones).
    assert hasattr(backbone, 'conv2') == affine_trained
    sum(o.sum() for o in backbone(torch.rand(1, 3, 64, 64))).backward()
    assert all(p.grad is not None for p in backbone.parameters()
               if p.requires_grad)


def test_detection_teacher_trains_with_frozen_bn_as_in_eval_mode():
    detector, _ = build_detector(MV2_KD, {'model.teacher_ckpt': None})
    teacher = detector.teacher
    detector.train()
    # MMRazor's SingleTeacherDistill.train: the teacher follows the model
    # into training mode, its BN layers are put back in eval mode.
    assert teacher.training and teacher.roi_head.bbox_head.training
    norms = [
        m for m in teacher.modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
    ]
    assert norms and not any(m.training for m in norms)
    assert not any(p.requires_grad for p in teacher.parameters())
    inputs = torch.rand(2, 3, 64, 64)
    rois = torch.tensor([[0, 2.0, 3.0, 40.0, 50.0], [1, 10.0, 0.0, 60.0, 30.0],
                         [1, 0.0, 0.0, 64.0, 64.0]])
    in_training = detector.teacher_roi_logits(inputs, rois)
    teacher.eval()
    torch.testing.assert_close(in_training,
                               detector.teacher_roi_logits(inputs, rois))
    assert in_training.shape == (3, 81)
