"""Feature losses next to the instance-temperature KD term in one distiller.

Their learnable modules (VID regressors and variances, SRRL's connector,
CRD's embeddings) must sit in the model, receive gradients from the distill
loss and be updated by the optimizer built from the model, i.e. the
student's optimizer (the official RLKD code never trains them).
"""
import numpy as np
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DATASETS, DefaultScope
from mmpretrain.datasets import BaseDataset
from mmpretrain.structures import DataSample

from mmrlkd.models.losses import MMPretrainCRDLoss
from mmrlkd.registry import MODELS


def classifier(base_channels):
    return dict(
        _scope_='mmpretrain',
        type='ImageClassifier',
        backbone=dict(
            type='mmrlkd.ResNetCIFAR',
            depth=8,
            base_channels=base_channels,
            out_indices=(3, )),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=10,
            in_channels=4 * base_channels,
            loss=dict(type='CrossEntropyLoss', loss_weight=0.1)))


def stage_recorders():
    recorders = {
        f'stage{i}': dict(type='ModuleOutputs', source=f'backbone.stages.{i}')
        for i in range(3)
    }
    recorders['fc'] = dict(type='ModuleOutputs', source='head.fc')
    recorders['neck'] = dict(type='ModuleOutputs', source='neck')
    return recorders


def feature(name, from_student, data_idx=None, connector=None):
    mapping = dict(from_student=from_student, recorder=name)
    if data_idx is not None:
        mapping['data_idx'] = data_idx
    if connector is not None:
        mapping['connector'] = connector
    return mapping


def pair(name, data_idx=None):
    return dict(
        s_feature=feature(name, True, data_idx),
        t_feature=feature(name, False, data_idx))


NUM_SAMPLES = 8


def build_model():
    student_recorders = stage_recorders()
    student_recorders.update(
        gt_labels=dict(type='ModuleInputs', source='head.loss_module'),
        data_samples=dict(
            type='MethodInputs',
            source='mmpretrain.models.heads.ClsHead.loss'))
    teacher_recorders = stage_recorders()
    teacher_recorders.update(
        fc_weight=dict(type='Parameter', source='head.fc.weight'),
        fc_bias=dict(type='Parameter', source='head.fc.bias'))
    vid = {
        f'loss_vid_{i}':
        dict(
            type='mmrlkd.VIDLoss',
            student_channels=4 * 2**i,
            teacher_channels=8 * 2**i)
        for i in range(3)
    }
    vid_mappings = {f'loss_vid_{i}': pair(f'stage{i}') for i in range(3)}
    cfg = dict(
        _scope_='mmrazor',
        type='mmrlkd.RLKDDistill',
        architecture=classifier(4),
        teacher=classifier(8),
        distiller=dict(
            type='mmrlkd.InstanceTemperatureDistiller',
            temperature_provider=dict(
                type='mmrlkd.FixedTemperature', temperature=4.0),
            logits=dict(
                student=dict(recorder='fc'), teacher=dict(recorder='fc')),
            student_recorders=student_recorders,
            teacher_recorders=teacher_recorders,
            connectors=dict(
                crd_s=dict(type='CRDConnector', dim_in=16, dim_out=8),
                crd_t=dict(type='CRDConnector', dim_in=32, dim_out=8)),
            distill_losses=dict(
                loss_kd=dict(type='mmrlkd.InstanceKDLoss', loss_weight=0.9),
                loss_pkt=dict(type='mmrlkd.PKTLoss', loss_weight=300),
                loss_sp=dict(type='mmrlkd.SPLoss', loss_weight=30),
                loss_srrl=dict(
                    type='mmrlkd.SRRLLoss',
                    student_channels=16,
                    teacher_channels=32),
                loss_crd=dict(
                    type='mmrlkd.MMPretrainCRDLoss',
                    neg_num=4,
                    sample_n=NUM_SAMPLES,
                    dim_out=8),
                **vid),
            loss_forward_mappings=dict(
                loss_kd=dict(
                    preds_S=feature('fc', True), preds_T=feature('fc', False)),
                loss_pkt=pair('neck', data_idx=0),
                loss_sp=pair('stage2'),
                loss_srrl=dict(
                    **pair('neck', data_idx=0),
                    t_logits=feature('fc', False),
                    t_fc_weight=feature('fc_weight', False),
                    t_fc_bias=feature('fc_bias', False)),
                loss_crd=dict(
                    s_feats=feature('neck', True, 0, 'crd_s'),
                    t_feats=feature('neck', False, 0, 'crd_t'),
                    data_samples=feature('data_samples', True, 1)),
                **vid_mappings)))
    return MODELS.build(cfg)


def batch(n=4):
    gen = torch.Generator().manual_seed(0)
    samples = []
    for i in range(n):
        sample = DataSample(metainfo=dict(sample_idx=i)).set_gt_label(i % 3)
        negatives = np.array([i] + [(i + k) % NUM_SAMPLES
                                    for k in (1, 2, 3, 4)])
        sample.set_field(negatives, 'contrast_sample_idxs')
        samples.append(sample)
    return torch.randn(n, 3, 16, 16, generator=gen), samples


def learnable_loss_modules(model):
    distiller = model.distiller
    modules = dict(distiller.connectors.items())
    for name in ('loss_srrl', 'loss_vid_0', 'loss_vid_1', 'loss_vid_2'):
        modules[name] = distiller.distill_losses[name]
    return modules


def test_every_feature_loss_is_computed_next_to_kd():
    torch.manual_seed(0)
    model = build_model()
    losses = model.loss(*batch())
    for name in ('kd', 'pkt', 'sp', 'srrl', 'crd', 'vid_0', 'vid_1', 'vid_2'):
        value = losses[f'distill.loss_{name}']
        assert value.dim() == 0 and torch.isfinite(value), name
    assert losses['distill.loss_crd'] > 0


def test_loss_modules_are_trained_by_the_students_optimizer():
    torch.manual_seed(0)
    model = build_model()
    modules = learnable_loss_modules(model)
    model_params = {id(p) for p in model.parameters()}
    optim_wrapper = build_optim_wrapper(
        model, dict(optimizer=dict(type='SGD', lr=0.1)))
    optimized = {
        id(p)
        for group in optim_wrapper.optimizer.param_groups
        for p in group['params']
    }
    before = {
        name: [p.detach().clone() for p in module.parameters()]
        for name, module in modules.items()
    }
    teacher_before = [p.detach().clone() for p in model.teacher.parameters()]
    for name, module in modules.items():
        params = list(module.parameters())
        assert params, name
        assert all(
            id(p) in model_params and id(p) in optimized and p.requires_grad
            for p in params), name

    loss, _ = model.parse_losses(model.loss(*batch()))
    optim_wrapper.update_params(loss)

    for name, module in modules.items():
        changed = [
            not torch.equal(old, new.detach())
            for old, new in zip(before[name], module.parameters())
        ]
        assert all(changed), name
    assert all(
        torch.equal(old, new)
        for old, new in zip(teacher_before, model.teacher.parameters()))


class BalancedToyDataset(BaseDataset):
    """Twelve 8x8 images, three per class (CRDDataset needs balance)."""

    METAINFO = dict(classes=('a', 'b', 'c', 'd'))

    def load_data_list(self):
        return [
            dict(img=np.full((8, 8, 3), i, dtype=np.uint8), gt_label=i % 4)
            for i in range(12)
        ]


def test_crd_gets_its_indices_from_mmrazor_crd_dataset_and_mmpretrain():
    """mmrazor.CRDDataset + MMPretrain's PackInputs feed MMPretrainCRDLoss."""
    pack = dict(type='PackInputs', algorithm_keys=['contrast_sample_idxs'])
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        dataset = DATASETS.build(
            dict(
                type='mmrazor.CRDDataset',
                neg_num=5,
                percent=1.0,
                dataset=BalancedToyDataset(ann_file='', pipeline=[pack])))
    samples = [dataset[i]['data_samples'] for i in (0, 5, 10)]
    for i, sample in zip((0, 5, 10), samples):
        assert sample.sample_idx == i
        positive, *negatives = sample.contrast_sample_idxs.tolist()
        assert positive == i
        assert all(k % 4 != i % 4 for k in negatives)  # other classes only
    loss = MMPretrainCRDLoss(neg_num=5, sample_n=12, dim_out=8)
    f_s = torch.nn.functional.normalize(torch.randn(3, 8), dim=1)
    f_t = torch.nn.functional.normalize(torch.randn(3, 8), dim=1)
    value = loss(f_s, f_t, samples)
    assert value.dim() == 0 and torch.isfinite(value)
