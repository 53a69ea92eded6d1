"""tools/model_converters/: RepDistiller teachers in, plain students out.

RepDistiller checkpoints are made here with the key layout of its
``models/resnet.py``, ``wrn.py``, ``vgg.py`` and ``resnetv2.py`` (written out
below from those architectures), and run through a functional forward pass
that follows the same architectures; the converted weights must give our
classifiers the same logits.
"""
import importlib.util
import os.path as osp
import pickle
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from mmengine.registry import MODELS, DefaultScope
from mmengine.runner import load_checkpoint

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONVERTERS = osp.join(ROOT, 'tools', 'model_converters')


def load_tool(name):
    spec = importlib.util.spec_from_file_location(
        name, osp.join(CONVERTERS, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


repdistiller = load_tool('repdistiller_to_mmrlkd')
distilled = load_tool('distilled_to_student')

# RepDistiller-layout state dicts ------------------------------------------


class StateDict(OrderedDict):
    """Adds random tensors under RepDistiller's names."""

    def __init__(self, seed=0):
        super().__init__()
        self.gen = torch.Generator().manual_seed(seed)

    def conv(self, name, out_c, in_c, k, bias=False):
        fan_in = in_c * k * k
        self[f'{name}.weight'] = torch.randn(
            out_c, in_c, k, k, generator=self.gen) * (2 / fan_in)**0.5
        if bias:
            self[f'{name}.bias'] = 0.1 * torch.randn(out_c, generator=self.gen)

    def bn(self, name, c):
        self[f'{name}.weight'] = 1 + 0.1 * torch.randn(c, generator=self.gen)
        self[f'{name}.bias'] = 0.1 * torch.randn(c, generator=self.gen)
        self[f'{name}.running_mean'] = 0.1 * torch.randn(c, generator=self.gen)
        self[f'{name}.running_var'] = 1 + torch.rand(c, generator=self.gen)
        self[f'{name}.num_batches_tracked'] = torch.tensor(100)

    def linear(self, name, out_f, in_f):
        self[f'{name}.weight'] = torch.randn(
            out_f, in_f, generator=self.gen) / in_f**0.5
        self[f'{name}.bias'] = 0.1 * torch.randn(out_f, generator=self.gen)


def resnet_state(n, widths, classes=10):
    """models/resnet.py: conv1, bn1, layer1-3 of BasicBlocks, fc."""
    sd = StateDict()
    sd.conv('conv1', widths[0], 3, 3)
    sd.bn('bn1', widths[0])
    in_c = widths[0]
    for k in range(1, 4):
        out_c = widths[k]
        for j in range(n):
            p = f'layer{k}.{j}'
            sd.conv(f'{p}.conv1', out_c, in_c, 3)
            sd.bn(f'{p}.bn1', out_c)
            sd.conv(f'{p}.conv2', out_c, out_c, 3)
            sd.bn(f'{p}.bn2', out_c)
            if j == 0 and (k > 1 or in_c != out_c):
                sd.conv(f'{p}.downsample.0', out_c, in_c, 1)
                sd.bn(f'{p}.downsample.1', out_c)
            in_c = out_c
    sd.linear('fc', classes, widths[3])
    return sd


def wrn_state(depth, k, classes=10):
    """models/wrn.py: conv1, block1-3.layer.J, bn1, fc."""
    sd = StateDict(1)
    n = (depth - 4) // 6
    sd.conv('conv1', 16, 3, 3)
    in_c = 16
    for g in range(1, 4):
        out_c = 16 * k * 2**(g - 1)
        for j in range(n):
            p = f'block{g}.layer.{j}'
            sd.bn(f'{p}.bn1', in_c)
            sd.conv(f'{p}.conv1', out_c, in_c, 3)
            sd.bn(f'{p}.bn2', out_c)
            sd.conv(f'{p}.conv2', out_c, out_c, 3)
            if in_c != out_c:
                sd.conv(f'{p}.convShortcut', out_c, in_c, 1)
            in_c = out_c
    sd.bn('bn1', in_c)
    sd.linear('fc', classes, in_c)
    return sd


def vgg_state(convs_per_block, classes=10):
    """models/vgg.py with BN: blockK = [conv, bn, relu]*m minus last relu."""
    sd = StateDict(2)
    in_c = 3
    for b, (m, width) in enumerate(
            zip(convs_per_block, (64, 128, 256, 512, 512))):
        for i in range(m):
            sd.conv(f'block{b}.{3 * i}', width, in_c, 3, bias=True)
            sd.bn(f'block{b}.{3 * i + 1}', width)
            in_c = width
    sd.linear('classifier', classes, 512)
    return sd


def resnetv2_state(blocks, bottleneck, classes=10):
    """models/resnetv2.py: conv1, bn1, layer1-4 (shortcut.0/1), linear."""
    sd = StateDict(3)
    sd.conv('conv1', 64, 3, 3)
    sd.bn('bn1', 64)
    in_c, expansion = 64, 4 if bottleneck else 1
    for k, n in enumerate(blocks, start=1):
        planes = 64 * 2**(k - 1)
        for j in range(n):
            p = f'layer{k}.{j}'
            stride = 2 if j == 0 and k > 1 else 1
            if bottleneck:
                sd.conv(f'{p}.conv1', planes, in_c, 1)
                sd.bn(f'{p}.bn1', planes)
                sd.conv(f'{p}.conv2', planes, planes, 3)
                sd.bn(f'{p}.bn2', planes)
                sd.conv(f'{p}.conv3', planes * 4, planes, 1)
                sd.bn(f'{p}.bn3', planes * 4)
            else:
                sd.conv(f'{p}.conv1', planes, in_c, 3)
                sd.bn(f'{p}.bn1', planes)
                sd.conv(f'{p}.conv2', planes, planes, 3)
                sd.bn(f'{p}.bn2', planes)
            if stride != 1 or in_c != planes * expansion:
                sd.conv(f'{p}.shortcut.0', planes * expansion, in_c, 1)
                sd.bn(f'{p}.shortcut.1', planes * expansion)
            in_c = planes * expansion
    sd.linear('linear', classes, in_c)
    return sd


# Functional forward passes with those weights ------------------------------


def conv(sd, name, x, stride=1):
    w = sd[f'{name}.weight']
    return F.conv2d(x, w, sd.get(f'{name}.bias'), stride, w.shape[-1] // 2)


def bn(sd, name, x):
    return F.batch_norm(x, sd[f'{name}.running_mean'],
                        sd[f'{name}.running_var'], sd[f'{name}.weight'],
                        sd[f'{name}.bias'])


def head(sd, name, x):
    return F.linear(x.mean((2, 3)), sd[f'{name}.weight'], sd[f'{name}.bias'])


def resnet_forward(sd, n, x):
    x = F.relu(bn(sd, 'bn1', conv(sd, 'conv1', x)))
    for k in range(1, 4):
        for j in range(n):
            p, stride = f'layer{k}.{j}', 2 if j == 0 and k > 1 else 1
            out = F.relu(bn(sd, f'{p}.bn1', conv(sd, f'{p}.conv1', x, stride)))
            out = bn(sd, f'{p}.bn2', conv(sd, f'{p}.conv2', out))
            if f'{p}.downsample.0.weight' in sd:
                x = bn(sd, f'{p}.downsample.1',
                       conv(sd, f'{p}.downsample.0', x, stride))
            x = F.relu(out + x)
    return head(sd, 'fc', x)


def wrn_forward(sd, depth, x):
    x = conv(sd, 'conv1', x)
    for g in range(1, 4):
        for j in range((depth - 4) // 6):
            p, stride = f'block{g}.layer.{j}', 2 if j == 0 and g > 1 else 1
            pre = F.relu(bn(sd, f'{p}.bn1', x))
            out = F.relu(
                bn(sd, f'{p}.bn2', conv(sd, f'{p}.conv1', pre, stride)))
            out = conv(sd, f'{p}.conv2', out)
            if f'{p}.convShortcut.weight' in sd:
                x = conv(sd, f'{p}.convShortcut', pre, stride)
            x = x + out
    return head(sd, 'fc', F.relu(bn(sd, 'bn1', x)))


def vgg_forward(sd, convs_per_block, x):
    for b, m in enumerate(convs_per_block):
        if 1 <= b <= 3:
            x = F.max_pool2d(x, 2)
        for i in range(m):
            x = F.relu(
                bn(sd, f'block{b}.{3 * i + 1}', conv(sd, f'block{b}.{3 * i}',
                                                     x)))
    return head(sd, 'classifier', x)


def resnetv2_basic_forward(sd, blocks, x):
    x = F.relu(bn(sd, 'bn1', conv(sd, 'conv1', x)))
    for k, n in enumerate(blocks, start=1):
        for j in range(n):
            p, stride = f'layer{k}.{j}', 2 if j == 0 and k > 1 else 1
            out = F.relu(bn(sd, f'{p}.bn1', conv(sd, f'{p}.conv1', x, stride)))
            out = bn(sd, f'{p}.bn2', conv(sd, f'{p}.conv2', out))
            if f'{p}.shortcut.0.weight' in sd:
                x = bn(sd, f'{p}.shortcut.1',
                       conv(sd, f'{p}.shortcut.0', x, stride))
            x = F.relu(out + x)
    return head(sd, 'linear', x)


def classifier(backbone, in_channels, classes=10):
    return MODELS.build(
        dict(
            _scope_='mmpretrain',
            type='ImageClassifier',
            backbone=backbone,
            neck=dict(type='GlobalAveragePooling'),
            head=dict(
                type='LinearClsHead',
                num_classes=classes,
                in_channels=in_channels)))


def converted_logits(model, state, x):
    model.load_state_dict(repdistiller.convert_state_dict(state), strict=True)
    with torch.no_grad():
        return model.eval()(x, mode='tensor')


X = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(9))


def test_resnet_checkpoint_gives_the_same_logits():
    # ResNet-8x4's widths: stem 32, stages 64/128/256 (shortcut in stage 1)
    state = resnet_state(1, (32, 64, 128, 256))
    assert repdistiller.detect_arch(state) == 'resnet'
    model = classifier(
        dict(
            type='mmrlkd.ResNetCIFAR',
            depth=8,
            stem_channels=32,
            base_channels=64), 256)
    torch.testing.assert_close(
        converted_logits(model, state, X), resnet_forward(state, 1, X))


def test_resnet_checkpoint_with_identity_first_stage():
    state = resnet_state(2, (16, 16, 32, 64))  # ResNet-14
    model = classifier(dict(type='mmrlkd.ResNetCIFAR', depth=14), 64)
    torch.testing.assert_close(
        converted_logits(model, state, X), resnet_forward(state, 2, X))


@pytest.mark.parametrize('depth,k', [(10, 2), (10, 1)])
def test_wrn_checkpoint_gives_the_same_logits(depth, k):
    state = wrn_state(depth, k)
    assert repdistiller.detect_arch(state) == 'wrn'
    model = classifier(
        dict(type='mmrlkd.WideResNetCIFAR', depth=depth, widen_factor=k),
        64 * k)
    torch.testing.assert_close(
        converted_logits(model, state, X), wrn_forward(state, depth, X))


def test_vgg_checkpoint_gives_the_same_logits():
    convs = (1, 1, 1, 1, 1)
    state = vgg_state(convs)
    assert repdistiller.detect_arch(state) == 'vgg'
    model = classifier(dict(type='mmrlkd.VGGCIFAR', depth=8), 512)
    torch.testing.assert_close(
        converted_logits(model, state, X),
        vgg_forward(state, convs, X),
        rtol=1e-4,
        atol=1e-4)


def test_imagenet_style_resnet_checkpoint_gives_the_same_logits():
    blocks = (2, 2, 2, 2)
    state = resnetv2_state(blocks, bottleneck=False)
    assert repdistiller.detect_arch(state) == 'resnet_imagenet_style'
    model = classifier(dict(type='mmrlkd.FourStageResNetCIFAR', depth=18), 512)
    torch.testing.assert_close(
        converted_logits(model, state, X),
        resnetv2_basic_forward(state, blocks, X),
        rtol=1e-4,
        atol=1e-4)


def test_resnet50_teacher_layout_loads_strictly():
    state = resnetv2_state((3, 4, 6, 3), bottleneck=True, classes=100)
    model = classifier(
        dict(type='mmrlkd.FourStageResNetCIFAR', depth=50), 2048, 100)
    model.load_state_dict(repdistiller.convert_state_dict(state), strict=True)


def test_unknown_keys_are_errors_not_dropped():
    state = resnet_state(1, (16, 16, 32, 64))
    state['extra.weight'] = torch.zeros(1)
    with pytest.raises(ValueError, match='extra.weight'):
        repdistiller.convert_state_dict(state)
    with pytest.raises(ValueError, match='--arch'):
        repdistiller.detect_arch({'foo.weight': torch.zeros(1)})


def test_repdistiller_cli_writes_a_weights_only_teacher_checkpoint(
        tmp_path, run_tool):
    state = wrn_state(10, 2, classes=100)
    src, dst = tmp_path / 'ckpt_epoch_240.pth', tmp_path / 'teacher.pth'
    # mdistiller/RepDistiller save {'model': ..., 'epoch', 'accuracy', ...};
    # a DataParallel run adds 'module.'.
    torch.save(
        dict(
            model=OrderedDict(('module.' + k, v) for k, v in state.items()),
            epoch=240,
            accuracy=torch.tensor(75.61)), src)
    run_tool(run_tool.python, osp.join(CONVERTERS,
                                       'repdistiller_to_mmrlkd.py'), str(src),
             str(dst))
    converted = torch.load(dst, weights_only=True)
    assert converted['meta']['arch'] == 'wrn'
    assert converted['meta']['source_epoch'] == 240
    assert converted['meta']['source_accuracy'] == pytest.approx(75.61)
    teacher = classifier(
        dict(type='mmrlkd.WideResNetCIFAR', depth=10, widen_factor=2), 128,
        100)
    load_checkpoint(teacher, str(dst), strict=True)
    with torch.no_grad():
        logits = teacher.eval()(X, mode='tensor')
    torch.testing.assert_close(logits, wrn_forward(state, 10, X))


# Distilled checkpoint -> plain student -------------------------------------


def tiny_distill_model():
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/kd/kd_resnet56_resnet20_cifar100.py'))
    cfg.model.teacher.backbone.depth = 8
    cfg.model.architecture.backbone.depth = 8
    cfg.model.teacher_ckpt = None
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    return model, cfg.model.architecture


def test_distilled_checkpoint_round_trips_to_a_plain_student(
        tmp_path, run_tool):
    torch.manual_seed(0)
    model, student_cfg = tiny_distill_model()
    src, dst = tmp_path / 'epoch_3.pth', tmp_path / 'student.pth'
    buffer = HistoryBuffer()
    buffer.update(1.0)
    torch.save(
        dict(
            meta=dict(
                epoch=3,
                iter=12,
                cfg='model = dict(...)',
                dataset_meta=dict(classes=('a', 'b')),
                hook_msgs=dict(last_ckpt=str(src))),
            state_dict=model.state_dict(),
            message_hub=dict(log_scalars={'loss': buffer}),
            optimizer=dict(state={}, param_groups=[])), src)
    # torch >= 2.6 refuses the original checkpoint without weights_only=False
    with pytest.raises(pickle.UnpicklingError):
        torch.load(src, weights_only=True)

    run_tool(run_tool.python, osp.join(CONVERTERS, 'distilled_to_student.py'),
             str(src), str(dst))
    converted = torch.load(dst, weights_only=True)
    assert converted['meta']['epoch'] == 3
    assert converted['meta']['dataset_meta'] == dict(classes=('a', 'b'))
    assert 'cfg' not in converted['meta']
    keys = set(converted['state_dict'])
    assert keys == {
        k[len('architecture.'):]
        for k in model.state_dict() if k.startswith('architecture.')
    }

    with DefaultScope.overwrite_default_scope('mmpretrain'):
        student = MODELS.build(student_cfg)
    load_checkpoint(student, str(dst), strict=True)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        expected = model.architecture.eval()(x, mode='tensor')
        torch.testing.assert_close(student.eval()(x, mode='tensor'), expected)


def test_student_prefix_must_exist():
    with pytest.raises(ValueError, match='teacher'):
        distilled.extract_student({'teacher.w': torch.zeros(1)})


def test_only_plain_meta_values_are_kept():
    converted = distilled.convert_checkpoint(
        dict(
            state_dict={'architecture.w': torch.zeros(1)},
            meta=dict(epoch=1, seed=object(), time=[1, object()])))
    assert converted['meta']['epoch'] == 1
    assert 'seed' not in converted['meta'] and 'time' not in converted['meta']
