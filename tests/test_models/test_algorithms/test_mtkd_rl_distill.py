"""MTKDRLDistill: weights, losses against an independent computation,
reward, frozen teachers, checkpoints, MMPretrain ResNets."""
import statistics

import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from mmpretrain.structures import DataSample

from mmrlkd.registry import MODELS

NUM_CLASSES = 10


@pytest.fixture(autouse=True)
def single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def cifar_classifier(depth=8, base=4):
    return dict(
        _scope_='mmpretrain',
        type='ImageClassifier',
        backbone=dict(
            type='mmrlkd.ResNetCIFAR', depth=depth, base_channels=base),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=NUM_CLASSES,
            in_channels=4 * base,
            loss=dict(type='CrossEntropyLoss')))


def mmpretrain_resnet18(width=8):
    return dict(
        _scope_='mmpretrain',
        type='ImageClassifier',
        backbone=dict(
            type='ResNet', depth=18, stem_channels=width, base_channels=width),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=NUM_CLASSES,
            in_channels=8 * width,
            loss=dict(type='CrossEntropyLoss')))


def build(teachers, student=None, **kwargs):
    cfg = dict(
        type='mmrlkd.MTKDRLDistill',
        architecture=student or cifar_classifier(base=2),
        teachers=teachers)
    cfg.update(dict(input_shape=(3, 8, 8)), **kwargs)
    with DefaultScope.overwrite_default_scope('mmrlkd'):
        algorithm = MODELS.build(cfg)
    algorithm.hook_attached = True  # no runner in these tests
    return algorithm.train()


def batch(n=6, size=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    inputs = torch.randn(n, 3, size, size, generator=gen)
    labels = torch.randint(0, NUM_CLASSES, (n, ), generator=gen)
    samples = [DataSample().set_gt_label(int(y)) for y in labels]
    return inputs, samples, labels


def independent_terms(algorithm, m, inputs, labels):
    """Teacher m's per-instance KL, MSE and the student CE, from the models'
    own modules and the spec's formulas (not the algorithm's code path)."""
    student, teacher = algorithm.student, algorithm.teachers[m]
    with torch.no_grad():
        t_feature = teacher.backbone(inputs)[-1]
        t_logits = teacher.head.fc(teacher.neck((t_feature, ))[-1])
    s_feature = student.backbone(inputs)[-1]
    s_logits = student.head.fc(student.neck((s_feature, ))[-1])
    tau = 4.0
    p_t = torch.softmax(t_logits / tau, dim=1)
    kl = tau**2 * (
        p_t *
        (torch.log(p_t) - torch.log_softmax(s_logits / tau, dim=1))).sum(1)
    projector = algorithm.projectors[m]
    projected = torch.relu(projector.bn(projector.conv(s_feature)))
    mse = ((projected - t_feature)**2).mean(dim=(1, 2, 3))
    ce = F.cross_entropy(s_logits, labels, reduction='none')
    return kl, mse, ce


@pytest.mark.parametrize('update_rule', ['upstream', 'policy_gradient'])
@pytest.mark.parametrize('dynamic', [False, True])
def test_weights_are_per_instance_distributions(update_rule, dynamic):
    torch.manual_seed(0)
    algorithm = build(
        [cifar_classifier(base=4),
         cifar_classifier(base=3)] * 2,
        agent=dict(update_rule=update_rule, dynamic=dynamic))
    algorithm.acting = True
    inputs, samples, _ = batch()
    algorithm.loss(inputs, samples)
    for weights in algorithm.last_weights:
        assert weights.shape == (6, 4) and (weights >= 0).all()
        torch.testing.assert_close(weights.sum(1), torch.ones(6))
    assert len(algorithm.agent) == 1


@pytest.mark.parametrize('acting', [False, True])
def test_one_teacher_is_kd_plus_feature_mse(acting):
    torch.manual_seed(0)
    algorithm = build([cifar_classifier(base=4)])
    algorithm.acting = acting
    inputs, samples, labels = batch()
    losses = algorithm.loss(inputs, samples)
    kl, mse, ce = independent_terms(algorithm, 0, inputs, labels)
    torch.testing.assert_close(losses['student.loss'], ce.mean())
    torch.testing.assert_close(losses['distill.loss_kd'], kl.mean())
    torch.testing.assert_close(losses['distill.loss_feat'], 5 * mse.mean())
    # Reward: the instance's own loss, negated, z-scored, clipped to [0, 1].
    reward = (-(ce + kl + 5 * mse)).tolist()
    mean, std = statistics.mean(reward), statistics.stdev(reward)
    expected = [min(max((r - mean) / std, 0), 1) for r in reward]
    stored = algorithm.agent.buffer[-1]['reward']
    assert stored.tolist() == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize('warmup_weights, scale', [('ones', 1.0),
                                                   ('average', 0.5)])
def test_warmup_weights_sum_or_average_the_teachers(warmup_weights, scale):
    torch.manual_seed(0)
    algorithm = build([cifar_classifier(base=4),
                       cifar_classifier(base=3)],
                      warmup_weights=warmup_weights,
                      kd_weight=0.7,
                      feat_weight=2.0)
    inputs, samples, labels = batch()
    losses = algorithm.loss(inputs, samples)
    terms = [independent_terms(algorithm, m, inputs, labels) for m in (0, 1)]
    kd = scale * sum(kl for kl, _, _ in terms).mean()
    feat = scale * sum(mse for _, mse, _ in terms).mean()
    torch.testing.assert_close(losses['distill.loss_kd'], 0.7 * kd)
    torch.testing.assert_close(losses['distill.loss_feat'], 2.0 * feat)


def test_acting_weights_are_the_agents_on_the_recorded_state():
    torch.manual_seed(0)
    algorithm = build([cifar_classifier(base=4), cifar_classifier(base=3)])
    algorithm.acting = True
    inputs, samples, labels = batch()
    losses = algorithm.loss(inputs, samples)
    state = algorithm.agent.buffer[-1]['state']
    w_l, w_f = algorithm.agent.policy(state)
    torch.testing.assert_close(algorithm.last_weights[0], w_l)
    terms = [independent_terms(algorithm, m, inputs, labels) for m in (0, 1)]
    kl = torch.stack([t[0] for t in terms], 1)
    mse = torch.stack([t[1] for t in terms], 1)
    torch.testing.assert_close(losses['distill.loss_kd'],
                               (w_l * kl).sum(1).mean())
    torch.testing.assert_close(losses['distill.loss_feat'],
                               5 * (w_f * mse).sum(1).mean())
    # The state's scalar columns are cos, KL, CE of each teacher.
    torch.testing.assert_close(state[:, 1], kl[:, 0].detach())
    teacher_ce = F.cross_entropy(
        algorithm.teachers[1](inputs, mode='tensor'), labels, reduction='none')
    block = 3 + 16 + NUM_CLASSES  # cos, KL, CE, embedding (16), logits
    torch.testing.assert_close(state[:, block + 2], teacher_ce)


def test_policy_gradient_learns_only_from_its_own_draws():
    algorithm = build([cifar_classifier(base=4),
                       cifar_classifier(base=3)],
                      agent=dict(update_rule='policy_gradient'))
    inputs, samples, _ = batch()
    algorithm.loss(inputs, samples)  # warm-up: all-ones weights
    assert len(algorithm.agent) == 0
    algorithm.acting = True
    algorithm.loss(inputs, samples)
    stored = algorithm.agent.buffer[-1]['actions']
    for action, used in zip(stored, algorithm.last_weights):
        assert torch.equal(action, used)


def test_teachers_are_frozen_and_the_agent_is_outside_the_model():
    algorithm = build([cifar_classifier(base=4), cifar_classifier(base=3)])
    assert all(not t.training for t in algorithm.teachers)
    assert algorithm.student.training and algorithm.projectors.training
    inputs, samples, _ = batch()
    losses = algorithm.loss(inputs, samples)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    for param in algorithm.teachers.parameters():
        assert not param.requires_grad and param.grad is None
    assert all(p.grad is not None for p in algorithm.projectors.parameters())
    model_params = {id(p) for p in algorithm.parameters()}
    assert not model_params & {
        id(p)
        for p in algorithm.agent.policy.parameters()
    }
    # The agent moves with the model's device but stays in float32.
    algorithm.to(torch.float64)
    assert all(p.dtype == torch.float32
               for p in algorithm.agent.policy.parameters())
    algorithm.to('meta')
    assert all(p.device.type == 'meta'
               for p in algorithm.agent.policy.parameters())


def test_teacher_checkpoints_are_loaded(tmp_path):
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmrlkd'):
        teacher = MODELS.build(cifar_classifier(base=3))
    path = str(tmp_path / 'teacher.pth')
    torch.save(dict(state_dict=teacher.state_dict()), path)
    algorithm = build([cifar_classifier(base=4),
                       cifar_classifier(base=3)],
                      teacher_ckpts=[None, path])
    for key, value in teacher.state_dict().items():
        assert torch.equal(algorithm.teachers[1].state_dict()[key], value)
    assert algorithm.teachers[1]._is_init

    with pytest.raises(FileNotFoundError, match='teacher 0'):
        build([cifar_classifier()], teacher_ckpts=[str(tmp_path / 'no.pth')])
    with pytest.raises(ValueError, match='teacher_ckpts'):
        build([cifar_classifier()], teacher_ckpts=[path, path])
    with pytest.raises(ValueError, match='at least one teacher'):
        build([])


def test_feature_source_is_configurable_and_checked():
    algorithm = build([cifar_classifier(base=4)],
                      feature=dict(source='backbone.stages.1'))
    # Stage 2 of the base-2 student is 4 wide, of the teacher 8 wide.
    assert algorithm.projectors[0].conv.weight.shape[:2] == (8, 4)
    inputs, samples, _ = batch()
    assert torch.isfinite(algorithm.loss(inputs, samples)['distill.loss_feat'])
    with pytest.raises(ValueError, match='no module'):
        build([cifar_classifier()], feature=dict(source='backbone.nope'))
    with pytest.raises(ValueError, match=r'\(N, C, H, W\)'):
        build([cifar_classifier()], feature=dict(source='neck', data_idx=-1))
    wrong_classes = cifar_classifier()
    wrong_classes['head']['num_classes'] = 7
    with pytest.raises(ValueError, match='same classes'):
        build([wrong_classes])


@pytest.mark.parametrize(
    'student, teachers', [
        (cifar_classifier(base=2), [mmpretrain_resnet18(),
                                    cifar_classifier()]),
        (mmpretrain_resnet18(4), [cifar_classifier(base=4)]),
    ],
    ids=['pooled-to-resnet18', 'upsampled-to-cifar'])
def test_mmpretrain_resnets(student, teachers):
    """ImageNet-style ResNets end in a 1x1 map on 32x32 images: the
    student's map is pooled down to it, or upsampled from it."""
    torch.manual_seed(0)
    algorithm = build(teachers, student=student, input_shape=(3, 32, 32))
    algorithm.acting = True
    inputs, samples, _ = batch(n=4, size=32)
    losses = algorithm.loss(inputs, samples)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    assert all(p.grad is not None for p in algorithm.projectors.parameters())
    assert algorithm.agent.update()['agent_batches'] == 1


def test_soft_labels_are_rejected():
    algorithm = build([cifar_classifier()])
    inputs, samples, _ = batch()
    for sample in samples:
        sample.set_gt_score(torch.full((NUM_CLASSES, ), 0.1))
    with pytest.raises(ValueError, match='hard labels'):
        algorithm.loss(inputs, samples)
