"""MMRazor's CRD loss fed from MMPretrain data samples.

Contrastive representation distillation (Tian et al., ICLR 2020) needs each
instance's dataset index (its slot in the memory bank) and, for the paper's
"exact" sampling, the indices of negatives of other classes, which
``mmrazor.CRDDataset`` adds as ``contrast_sample_idxs``. MMRazor's
``CRDLoss`` expects both as tensors made by its ``PackCRDClsInputs``, which
needs the retired mmcls; MMPretrain's ``PackInputs`` keeps ``sample_idx`` as
an int and ``contrast_sample_idxs`` (listed in its ``algorithm_keys``) as a
numpy array. This subclass converts them on the features' device, draws
uniform negatives there when the dataset gives none (MMRazor draws them on
the CPU, which fails on GPU, from an alias table whose Python loop over the
data set costs 3 s per model on CIFAR; we skip that table), and applies
``loss_weight`` (MMRazor's ``forward`` ignores it). The memory bank and the
NCE loss are MMRazor's. ``t_feats`` is not detached: it is the output of the
teacher-side embedding, which CRD trains (the teacher's own features come
from its ``no_grad`` forward). The loss runs in float32 under autocast too:
its similarities are divided by a temperature of 0.07 before ``exp``, so
fp16/bf16 rounding of the products shows in the loss (and the fp32 memory
bank is then used as it is, not cast).
"""
import math

import torch
import torch.nn as nn
from mmrazor.models.losses import CRDLoss
from mmrazor.models.losses.crd_loss import ContrastLoss, ContrastMemory

from mmrlkd.registry import MODELS
from .float32 import float32_loss


class IndexedContrastMemory(ContrastMemory):
    """MMRazor's memory bank, always given its sample indices."""

    def __init__(self, dim_out, n_sample, neg_sample, T=0.07, momentum=0.5):
        nn.Module.__init__(self)
        self.n_sample = n_sample
        self.neg_sample = neg_sample
        self.register_buffer('params',
                             torch.tensor([neg_sample, T, -1, -1, momentum]))
        stdv = 1. / math.sqrt(dim_out / 3)
        for name in ('memory_v1', 'memory_v2'):
            self.register_buffer(
                name,
                torch.rand(n_sample, dim_out).mul_(2 * stdv).add_(-stdv))


@MODELS.register_module()
class MMPretrainCRDLoss(CRDLoss):
    """CRD for MMPretrain classifiers; arguments as MMRazor's ``CRDLoss``.

    Embed the student and teacher penultimate features with MMRazor's
    ``CRDConnector`` (``dim_out`` = this loss's ``dim_out``) in the
    distiller's ``connectors``, and map ``data_samples`` from a student
    ``MethodInputs`` recorder on ``mmpretrain.models.heads.ClsHead.loss``
    (``data_idx=1``). ``sample_n`` must be the training set's size.

    Examples:
        >>> loss_crd = dict(type='mmrlkd.MMPretrainCRDLoss', loss_weight=0.8,
        ...                 neg_num=16384, sample_n=50000, dim_out=128)
    """

    def __init__(self,
                 loss_weight=1.0,
                 temperature=0.07,
                 neg_num=16384,
                 sample_n=50000,
                 dim_out=128,
                 momentum=0.5,
                 eps=1e-7):
        nn.Module.__init__(self)
        self.loss_weight = loss_weight
        self.eps = eps
        self.contrast = IndexedContrastMemory(dim_out, sample_n, neg_num,
                                              temperature, momentum)
        self.criterion_s_t = ContrastLoss(sample_n, eps=eps)

    @float32_loss
    def forward(self, s_feats, t_feats, data_samples):
        device = s_feats.device
        idx = torch.as_tensor([int(ds.sample_idx) for ds in data_samples],
                              dtype=torch.long,
                              device=device)
        if all('contrast_sample_idxs' in ds for ds in data_samples):
            contrast = torch.stack([
                torch.as_tensor(ds.contrast_sample_idxs, device=device)
                for ds in data_samples
            ]).long()
        else:
            n_data, neg_num = self.contrast.n_sample, self.contrast.neg_sample
            contrast = torch.randint(
                0, n_data, (len(idx), neg_num + 1), device=device)
            contrast[:, 0] = idx
        out_s, out_t = self.contrast(s_feats, t_feats, idx, contrast)
        loss = self.criterion_s_t(out_s) + self.criterion_s_t(out_t)
        return self.loss_weight * loss.sum()
