"""Compute a loss in float32 even inside a mixed-precision (autocast) region.

Under ``--amp`` the distiller's losses run inside the model's autocast
region, which lowers matrix products to fp16 (CUDA) or bf16 (CPU). Some
losses' intermediates do not survive that: SP's Gram matrix overflows fp16
(inf once mean x^2 of a 16k-element feature is about 4), and PKT's and
CRD's similarities lose the digits their small differences are made of.
Their inputs are cheap to compute on in float32 (a batch-by-batch matrix, a
few logits per instance), so they always are: the returned loss is float32,
which is what AMP's gradient scaler expects, and gradients flow back to
lower-precision inputs through the cast.
"""
import functools

import torch


def _autocast_may_be_on(device_type):
    """Whether autocast is on for ``device_type`` (``meta`` has none)."""
    return torch.amp.is_autocast_available(device_type) and \
        torch.is_autocast_enabled(device_type)


def _as_float32(value):
    if torch.is_tensor(value) and value.is_floating_point():
        return value.float()
    return value


def float32_loss(func):
    """Decorator: run ``func`` on float32 tensors with autocast disabled.

    Floating-point tensor arguments (positional or keyword, not nested) are
    cast to float32; other arguments are passed unchanged. Autocast, when
    on, is turned off for the device of the first such tensor.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        tensors = [
            value for value in (*args, *kwargs.values())
            if torch.is_tensor(value) and value.is_floating_point()
        ]
        args = tuple(_as_float32(value) for value in args)
        kwargs = {key: _as_float32(value) for key, value in kwargs.items()}
        device_type = tensors[0].device.type if tensors else None
        if device_type is None or not _autocast_may_be_on(device_type):
            return func(*args, **kwargs)
        with torch.autocast(device_type=device_type, enabled=False):
            return func(*args, **kwargs)

    return wrapper
