"""MTKD-RL: multi-teacher KD with RL-chosen teacher weights (AAAI 2025)."""
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmrazor.models import BaseAlgorithm
from mmrazor.models.task_modules import RecorderManager
from mmrazor.models.utils import add_prefix

from mmrlkd.agents import MTKDAgent, mtkd_state, normalised_reward
from mmrlkd.registry import MODELS
from .mtkd_rl_projector import FeatureProjector
from .mtkd_rl_terms import teacher_terms
from .teacher_checkpoint import load_teacher

WARMUP_WEIGHTS = ('ones', 'average')


def gt_labels(data_samples, device):
    """Hard class labels (N,) from MMPretrain data samples."""
    if not data_samples or 'gt_label' not in data_samples[0]:
        raise ValueError('MTKD-RL needs data samples with gt_label')
    if 'gt_score' in data_samples[0]:
        raise ValueError('MTKD-RL needs hard labels, got soft gt_score '
                         '(remove Mixup/CutMix batch augments)')
    labels = torch.cat([sample.gt_label for sample in data_samples])
    if labels.numel() != len(data_samples):
        raise ValueError('MTKD-RL needs one label per image')
    return labels.to(device)


@MODELS.register_module()
class MTKDRLDistill(BaseAlgorithm):
    """Distil M frozen teachers with per-instance weights from an agent.

    Yang et al., "Multi-Teacher Knowledge Distillation with Reinforcement
    Learning for Visual Recognition", AAAI 2025 (arXiv 2502.18510). The
    student minimises::

        CE + kd_weight * mean_i sum_m w_l,i^m KL_i^m
           + feat_weight * mean_i sum_m w_f,i^m MSE_i^m

    (:mod:`.mtkd_rl_terms`); the weights come from an :class:`MTKDAgent`
    fed with each instance's state (:func:`mtkd_state`). Each instance's
    reward is its own loss, negated, normalised over the batch and clipped
    to [0, 1]; it is stored with the state for :class:`MTKDAgentHook`,
    which updates the agent and starts it after the warm-up (until then
    every weight is 1, the official epoch 0).

    Teachers are built, loaded and frozen as in MMRazor's
    ``SingleTeacherDistill`` and always kept in eval mode. One learnable
    :class:`FeatureProjector` per teacher maps the student's feature map
    onto the teacher's and is trained with the student. The agent is held
    outside the module tree (the student's optimizer and DDP never see
    it); the hook saves it with every checkpoint.

    Args:
        architecture (dict | BaseModel): The student, an MMPretrain
            classifier.
        teachers (Sequence[dict | BaseModel]): The M >= 1 teachers.
        teacher_ckpts (Sequence[str | None], optional): One checkpoint per
            teacher (None: keep the built weights). Defaults to None.
        teacher_ckpt_strict, teacher_ckpt_part, teacher_ckpt_ema: How
            every teacher checkpoint is read, as in :class:`RLKDDistill`.
        feature (dict, optional): Where every model's feature map is:
            ``source`` (a module name; its output is recorded) and
            ``data_idx`` (index into a tuple output, None for a tensor).
            Defaults to the last backbone output,
            ``dict(source='backbone', data_idx=-1)``; its global average
            pool is the teacher embedding of the state.
        logits (dict, optional): Where the logits are, same keys. Defaults to
            ``dict(source='head.fc')``.
        input_shape (Sequence[int]): (C, H, W) of a training image. Like
            the official code, one forward of a zero batch at build time
            finds the channels, sizes and classes of the models.
            Defaults to (3, 32, 32).
        tau (float): KD temperature. Defaults to 4.
        kd_weight (float): alpha, on the weighted logit KD. Defaults to 1.
        feat_weight (float): beta, on the weighted feature MSE.
            Defaults to 5.
        warmup_weights (str): Weights before the agent acts: 'ones' (each
            teacher 1, the official code: the KD term is the sum over the
            teachers) or 'average' (1/M each). Defaults to 'ones'.
        agent (dict, optional): :class:`MTKDAgent` arguments, e.g.
            ``dynamic``, ``update_rule``, ``lr``, ``buffer_size``.
        **kwargs: :class:`mmrazor.models.BaseAlgorithm` arguments.

    Examples:
        >>> model = dict(
        ...     type='mmrlkd.MTKDRLDistill',
        ...     architecture=student,
        ...     teachers=[teacher_a, teacher_b],
        ...     teacher_ckpts=['a.pth', 'b.pth'],
        ...     agent=dict(dynamic=False, update_rule='upstream'))
    """

    def __init__(self,
                 architecture,
                 teachers,
                 teacher_ckpts=None,
                 teacher_ckpt_strict=True,
                 teacher_ckpt_part='teacher',
                 teacher_ckpt_ema=False,
                 feature=None,
                 logits=None,
                 input_shape=(3, 32, 32),
                 tau=4.0,
                 kd_weight=1.0,
                 feat_weight=5.0,
                 warmup_weights='ones',
                 agent=None,
                 **kwargs):
        super().__init__(architecture, **kwargs)
        if not tau > 0:
            raise ValueError(f'tau must be positive, got {tau}')
        if warmup_weights not in WARMUP_WEIGHTS:
            raise ValueError(f'warmup_weights must be one of '
                             f'{WARMUP_WEIGHTS}, got {warmup_weights!r}')
        self.tau = float(tau)
        self.kd_weight = kd_weight
        self.feat_weight = feat_weight
        self.warmup_weights = warmup_weights
        self.feature = {
            'data_idx': None,
            **(feature or dict(source='backbone', data_idx=-1))
        }
        self.logits = {'data_idx': None, **(logits or dict(source='head.fc'))}
        self.teachers = nn.ModuleList()
        self._build_teachers(
            list(teachers), teacher_ckpts,
            dict(strict=teacher_ckpt_strict, part=teacher_ckpt_part,
                 ema=teacher_ckpt_ema))
        self._student_records = self._recorders(self.student)
        self._teacher_records = [self._recorders(t) for t in self.teachers]
        student_shape, teacher_shapes = self._probe(tuple(input_shape))
        self.projectors = nn.ModuleList(
            FeatureProjector(student_shape[0], channels)
            for channels, _ in teacher_shapes)
        self.agent = MTKDAgent([c + k for c, k in teacher_shapes],
                               **(agent or {}))
        self.acting = False  # set by MTKDAgentHook
        self.hook_attached = False  # set by MTKDAgentHook
        self._warned_no_hook = False
        self.last_weights = None  # (w_l, w_f) of the latest batch
        self.last_reward = None

    @property
    def student(self):
        """Alias for ``architecture``."""
        return self.architecture

    @property
    def num_teachers(self):
        return len(self.teachers)

    def _build_teachers(self, teachers, ckpts, ckpt_options):
        if not teachers:
            raise ValueError('MTKDRLDistill needs at least one teacher')
        ckpts = [None] * len(teachers) if ckpts is None else list(ckpts)
        if len(ckpts) != len(teachers):
            raise ValueError(f'{len(teachers)} teachers but {len(ckpts)} '
                             'teacher_ckpts')
        for i, (teacher, ckpt) in enumerate(zip(teachers, ckpts)):
            if isinstance(teacher, dict):
                teacher = MODELS.build(teacher)
            if not isinstance(teacher, BaseModel):
                raise TypeError('teachers must be dicts or BaseModels, got '
                                f'{type(teacher).__name__}')
            if ckpt:
                load_teacher(teacher, ckpt, name=f'teacher {i}',
                             **ckpt_options)
            for param in teacher.parameters():
                param.requires_grad = False
            self.teachers.append(teacher)
            self.set_module_inplace_false(teacher, f'self.teachers[{i}]')

    def _recorders(self, model):
        names = dict(model.named_modules())
        for spec in (self.feature, self.logits):
            if spec['source'] not in names:
                raise ValueError(f"no module {spec['source']!r} in "
                                 f'{type(model).__name__}')
        manager = RecorderManager(
            dict(
                feature=dict(
                    type='ModuleOutputs', source=self.feature['source']),
                logits=dict(
                    type='ModuleOutputs', source=self.logits['source'])))
        manager.initialize(model)
        return manager

    def _read(self, manager):
        """(feature map, logits) recorded by one model's recorders."""
        return tuple(
            manager.get_recorder(name).get_record_data(
                data_idx=spec['data_idx'])
            for name, spec in (('feature', self.feature), ('logits',
                                                           self.logits)))

    @torch.no_grad()
    def _probe(self, input_shape):
        """Channels of the student's map; (channels, classes) per teacher."""
        models = [self.student, *self.teachers]
        modes = [model.training for model in models]
        inputs = torch.zeros(2, *input_shape)
        shapes = []
        try:
            for model, records in zip(
                    models, [self._student_records, *self._teacher_records]):
                model.eval()
                with records:
                    model(inputs, mode='tensor')
                feature, logits = self._read(records)
                if feature.dim() != 4:
                    raise ValueError(
                        f"the feature at {self.feature['source']!r} must be "
                        f'an (N, C, H, W) map, got {tuple(feature.shape)}')
                shapes.append((feature.shape[1], logits.shape[1]))
        finally:
            for model, mode in zip(models, modes):
                model.train(mode)
        classes = {k for _, k in shapes}
        if len(classes) != 1:
            raise ValueError('student and teachers must predict the same '
                             f'classes, got logits of sizes {shapes}')
        return shapes[0], shapes[1:]

    def _apply(self, fn, *args, **kwargs):
        """Move the agent with the model (``.to``, ``.cuda``), its policy
        and buffer included; it stays in float32 (``.half()`` moves
        nothing)."""
        super()._apply(fn, *args, **kwargs)
        device = next(self.agent.policy.parameters()).device
        self.agent.to(fn(torch.empty(0, device=device)).device)
        return self

    def get_rng_state(self):
        """The agent's generator state, this process's own (saved per rank
        by :class:`RandomStateHook`)."""
        return self.agent.get_rng_state()

    def set_rng_state(self, state):
        """Restore :meth:`get_rng_state`; False if it does not fit here."""
        return self.agent.set_rng_state(state)

    def train(self, mode=True):
        """Teachers stay in eval mode."""
        super().train(mode)
        self.teachers.eval()
        return self

    def _teacher_outputs(self, batch_inputs, data_samples):
        outputs = []
        with torch.no_grad():
            for teacher, records in zip(self.teachers, self._teacher_records):
                with records:
                    teacher(batch_inputs, data_samples, mode='tensor')
                outputs.append(self._read(records))
        return outputs

    def _instance_terms(self, student_feature, student_logits, teacher_outputs,
                        labels):
        """kl, mse, cos, ce as (N, M) tensors."""
        per_teacher = [
            teacher_terms(student_logits, logits,
                          projector(student_feature, feature.shape[-2:]),
                          feature, labels, self.tau)
            for projector, (feature,
                            logits) in zip(self.projectors, teacher_outputs)
        ]
        return {
            key: torch.stack([t[key] for t in per_teacher], dim=1)
            for key in per_teacher[0]
        }

    def _weights(self, state):
        """(w_l, w_f): the agent's once it acts, the warm-up's before."""
        if self.acting:
            return self.agent.act(state, explore=self.training)
        fill = 1.0 if self.warmup_weights == 'ones' else 1 / self.num_teachers
        weights = state.new_full((len(state), self.num_teachers), fill)
        return weights, weights

    def _store_experience(self, state, weights, student_logits, labels, kd,
                          feat):
        """Reward = -(CE + alpha KD + beta feature loss) of each instance."""
        ce = F.cross_entropy(
            student_logits.detach().float(), labels, reduction='none')
        reward = normalised_reward(-(ce + self.kd_weight * kd.detach() +
                                     self.feat_weight * feat.detach()))
        self.last_reward = reward
        # Warm-up weights are no Dirichlet draws: nothing for the
        # policy gradient to learn from (the official update uses them).
        if self.acting or not self.agent.samples_actions:
            self.agent.store(state, reward, weights)

    def loss(self, batch_inputs, data_samples=None):
        """Student losses (``student.*``) and ``distill.loss_kd`` /
        ``distill.loss_feat``; in training, the agent's experience."""
        if self.training and not (self.hook_attached or self._warned_no_hook):
            warnings.warn('MTKDRLDistill without mmrlkd.MTKDAgentHook: the '
                          'agent never acts nor learns')
            self._warned_no_hook = True
        labels = gt_labels(data_samples, batch_inputs.device)
        teacher_outputs = self._teacher_outputs(batch_inputs, data_samples)
        with self._student_records:
            student_losses = self.student(
                batch_inputs, data_samples, mode='loss')
        feature, logits = self._read(self._student_records)
        terms = self._instance_terms(feature, logits, teacher_outputs, labels)
        state = mtkd_state(terms['cos'], terms['kl'], terms['ce'],
                           [f.mean((2, 3)) for f, _ in teacher_outputs],
                           [z for _, z in teacher_outputs])
        w_l, w_f = self._weights(state)
        kd = (w_l * terms['kl']).sum(1)
        feat = (w_f * terms['mse']).sum(1)
        self.last_weights = (w_l, w_f)
        if self.training:
            self._store_experience(state, (w_l, w_f), logits, labels, kd, feat)
        losses = add_prefix(student_losses, 'student')
        losses['distill.loss_kd'] = self.kd_weight * kd.mean()
        losses['distill.loss_feat'] = self.feat_weight * feat.mean()
        return losses
