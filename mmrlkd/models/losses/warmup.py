"""The linear loss warm-up of mdistiller's DKD and of DTKD: w = min(e / W, 1).

A loss cannot see the runner, so it reads the current epoch (or iteration)
that MMEngine's ``RuntimeInfoHook`` puts in the ``MessageHub``; outside a
training loop there is none and the factor is 1.
"""
from mmengine.logging import MessageHub


def training_progress(by_epoch):
    """1-based epoch (or iteration) from the runner's MessageHub, or None."""
    value = MessageHub.get_current_instance().get_info(
        'epoch' if by_epoch else 'iter')
    return None if value is None else value + 1


def check_warmup(warmup):
    if warmup < 0:
        raise ValueError(f'warmup must be >= 0, got {warmup}')


def linear_warmup_factor(warmup, by_epoch=True):
    """min(e / W, 1) for the current 1-based epoch e; 1 if W = 0 or no run."""
    progress = training_progress(by_epoch)
    if warmup == 0 or progress is None:
        return 1.0
    return min(progress / warmup, 1.0)
