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
