"""The two statistics the agent and its diagnostics share.

- :class:`RunningMoments`: bias-corrected exponential moving averages of a
  vector of moments (the reward's mean and square, the state updater's fit),
  kept on the device so that updating them never waits for it.
- :func:`explained_variance`: how much of a target's variance a prediction
  explains (PPO's critic, the reward corrector on held-out episodes);
- :func:`weighted_mean` and :func:`masked_moments`: means and deviations
  over padded episodes' valid steps.
"""
import math

import torch


class RunningMoments:
    """Bias-corrected EMAs (as in Adam) of a 1-D tensor of moments.

    The first update returns the values themselves; later ones weigh the
    past by ``momentum``. The averages and the count are tensors updated in
    place (saved in checkpoints): a captured learning step reads and
    writes them at fixed addresses, and the bias correction follows the
    count on the device rather than freezing a Python number into a graph.

    Args:
        momentum (float): Weight of the past, in [0, 1). Defaults to 0.99.
    """

    def __init__(self, momentum=0.99):
        if not 0 <= momentum < 1:
            raise ValueError(f'momentum must be in [0, 1), got {momentum}')
        self.momentum = momentum
        self.sums = None  # EMA, not bias-corrected
        self.counts = None  # updates so far (0-dim float)

    @property
    def count(self):
        """Updates so far, an int (a host read: not for the hot path)."""
        return 0 if self.counts is None else int(self.counts)

    def update(self, values):
        """Fold ``values`` in; return the bias-corrected averages."""
        values = values.detach()
        if self.sums is None:
            self.sums = torch.zeros_like(values)
            # float64: ``1 - momentum ** count`` is a small difference of
            # numbers near 1 (float32 would put a 1e-6 error into the
            # mean, and the reward's std is a difference of such means).
            self.counts = values.new_zeros((), dtype=torch.float64)
        self.sums.mul_(self.momentum).add_(values, alpha=1 - self.momentum)
        self.counts.add_(1)
        return self.mean()

    def mean(self):
        """The bias-corrected averages (None before the first update)."""
        if self.sums is None:
            return None
        return self.sums / (1 - torch.pow(self.momentum, self.counts))

    def tensors(self):
        """What a captured step reads and writes (none before the first
        update)."""
        return [] if self.sums is None else [self.sums, self.counts]

    def to(self, device):
        if self.sums is not None:
            self.sums = self.sums.to(device)
            self.counts = self.counts.to(device)
        return self

    def state_dict(self):
        # A copy: the averages change in place.
        sums = None if self.sums is None else self.sums.clone()
        return dict(sums=sums, count=self.count)

    def load_state_dict(self, state):
        sums = state['sums']
        self.sums = None if sums is None else sums.clone()
        self.counts = None if sums is None else torch.tensor(
            float(state['count']), dtype=torch.float64, device=sums.device)


def weighted_mean(values, weights=None):
    """``sum(w * x)`` for weights that sum to 1, else the plain mean."""
    return values.mean() if weights is None else (values * weights).sum()


def masked_moments(values, valid, dim=None):
    """Mean and unbiased std of ``values`` where ``valid`` is 1, over
    ``dim`` (every dim if None), kept as size-1 dims, and the count; the
    std is 0 for fewer than two valid values.

    One account of the padded episodes' statistics: PPO's per-episode
    advantage standardisation, the state updater's per-episode noise, the
    calibrated rewards' spread.
    """
    dims = tuple(range(values.dim())) if dim is None else dim
    count = valid.sum(dims, keepdim=True)
    mean = (values * valid).sum(dims, keepdim=True) / count.clamp_min(1)
    var = ((values - mean).square() * valid).sum(
        dims, keepdim=True) / (count - 1).clamp_min(1)
    return mean, var.sqrt(), count


def explained_variance(predictions, targets, weights=None):
    """``1 - mean((y - p)^2) / Var(y)`` (0-dim), NaN where undefined.

    Undefined for fewer than two targets, and for targets equal up to
    rounding (an even split of one reward): there is no variance to
    explain and the ratio would be noise. Works on the device, no host read.

    Args:
        predictions (Tensor): p, shape (N,) (or any shape).
        targets (Tensor): y, the shape of ``predictions``.
        weights (Tensor, optional): Each value's weight in the means (they
            sum to 1; 0 on padding). Defaults to equal weights.
    """
    predictions = torch.as_tensor(predictions, dtype=torch.float64)
    targets = torch.as_tensor(targets, dtype=torch.float64,
                              device=predictions.device)
    if targets.numel() < 2:
        return targets.new_full((), math.nan)
    if weights is None:
        weights = torch.full_like(targets, 1 / targets.numel())
    weights = weights.to(targets)
    var = weighted_mean((targets - weighted_mean(targets, weights)).square(),
                        weights)
    value = 1 - weighted_mean((targets - predictions).square(), weights) / var
    defined = (var > 1e-10 * weighted_mean(targets.square(), weights)) & \
        ((weights > 0).sum() > 1)
    return torch.where(defined, value, value.new_full((), math.nan))
