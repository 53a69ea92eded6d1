"""CTKD: a learnable temperature that ascends the KD loss (arXiv 2211.16231).

Both providers map a raw output r to ``tau = t_start + t_range * sigmoid(r)``
(defaults 1 and 20, so tau in (1, 21)) behind a gradient-reversal layer of
strength lambda. Their parameters live in the distiller, so the student's
optimizer trains them (same lr and weight decay, as in the official code);
the reversal turns its descent into ascent of the distillation loss.
:class:`CTKDCurriculumHook` raises lambda from 0 to 1 along a cosine, from
easy to hard.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmrlkd.registry import MODELS
from .base import BaseTemperatureProvider, TemperatureOutput
from .grad_reverse import grad_reverse


class _CTKDTemperature(BaseTemperatureProvider):
    """The reversed, bounded mapping both CTKD providers share.

    ``grl_lambda`` is the current reversal strength; the curriculum hook sets
    it before every training iteration.
    """

    def __init__(self, t_start=1.0, t_range=20.0, grl_lambda=1.0):
        super().__init__()
        if t_start < 0 or not t_range > 0:
            raise ValueError('need t_start >= 0 and t_range > 0, got '
                             f't_start={t_start}, t_range={t_range}')
        self.t_start = float(t_start)
        self.t_range = float(t_range)
        self.grl_lambda = float(grl_lambda)

    def to_temperature(self, raw):
        """tau = t_start + t_range * sigmoid(GRL(raw))."""
        reversed_raw = grad_reverse(raw, self.grl_lambda)
        return self.t_start + self.t_range * torch.sigmoid(reversed_raw)


@MODELS.register_module()
class CTKDGlobalTemperature(_CTKDTemperature):
    """Global CTKD: one learnable temperature for every instance.

    The official ``Global_T``: a parameter theta initialised at 1, so the
    first temperature is ``1 + 20 * sigmoid(1) = 15.62``.

    Args:
        t_start (float): Temperature as theta -> -inf. Defaults to 1.0.
        t_range (float): Width of the range (the official ``t_end``):
            tau in (t_start, t_start + t_range). Defaults to 20.0.
        init (float): Initial theta. Defaults to 1.0.
        grl_lambda (float): Reversal strength until a
            :class:`CTKDCurriculumHook` sets it. Defaults to 1.0.

    Examples:
        >>> provider = dict(type='mmrlkd.CTKDGlobalTemperature')
        >>> custom_hooks = [dict(type='mmrlkd.CTKDCurriculumHook',
        ...                      decay_epochs=10)]
    """

    def __init__(self, t_start=1.0, t_range=20.0, init=1.0, grl_lambda=1.0):
        super().__init__(t_start, t_range, grl_lambda)
        self.theta = nn.Parameter(torch.tensor([float(init)]))

    def forward(self, preds_S, preds_T, gt_labels=None):
        tau = self.to_temperature(self.theta).reshape(())
        return TemperatureOutput.shared(tau)


@MODELS.register_module()
class CTKDInstanceTemperature(_CTKDTemperature):
    """Instance-wise CTKD: an MLP predicts each instance's temperature.

    The input is ``[softmax(z_t), softmax(z_s)]`` (N, 2C), detached; the MLP
    is Linear(2C, hidden) - BN - ReLU - Linear(hidden, 1) with the last layer
    zero-initialised, so every instance starts at ``t_start + t_range / 2``
    (11 by default). The official instance module was never released: this
    follows the paper's description (a two-layer MLP on the concatenated
    predictions); hidden width, BN and the zero init are our choices.

    Args:
        num_classes (int): C, the number of logits per instance.
        hidden_dim (int): Width of the hidden layer. Defaults to 256.
        t_start (float): Temperature as the output -> -inf. Defaults to 1.0.
        t_range (float): Width of the temperature range. Defaults to 20.0.
        grl_lambda (float): Reversal strength until a
            :class:`CTKDCurriculumHook` sets it. Defaults to 1.0.

    Examples:
        >>> provider = dict(type='mmrlkd.CTKDInstanceTemperature',
        ...                 num_classes=100)
    """

    def __init__(self,
                 num_classes,
                 hidden_dim=256,
                 t_start=1.0,
                 t_range=20.0,
                 grl_lambda=1.0):
        super().__init__(t_start, t_range, grl_lambda)
        self.num_classes = int(num_classes)
        self.mlp = nn.Sequential(
            nn.Linear(2 * self.num_classes, hidden_dim),
            nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, 1))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, preds_S, preds_T, gt_labels=None):
        if preds_S.shape[1] != self.num_classes:
            raise ValueError(
                f'CTKDInstanceTemperature was built for num_classes='
                f'{self.num_classes}, got logits with {preds_S.shape[1]}')
        x = torch.cat([
            F.softmax(preds_T.detach().float(), 1),
            F.softmax(preds_S.detach().float(), 1)
        ], 1)
        if self.training and len(x) < 2:
            # BatchNorm cannot normalise one instance; use its running stats.
            self.mlp.eval()
            raw = self.mlp(x)
            self.mlp.train()
        else:
            raw = self.mlp(x)
        return TemperatureOutput.shared(self.to_temperature(raw.squeeze(1)))
