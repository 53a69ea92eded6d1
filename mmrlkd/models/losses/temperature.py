"""How a temperature reaches a logit loss: one value or one per instance."""
import torch


def as_instance_temperature(temperature, num_instances, like):
    """A (N, 1) float32 column of temperatures for logits shaped like ``like``.

    Args:
        temperature (float | Tensor): A scalar (shared by every instance) or
            a tensor of N temperatures (shape (N,) or (N, 1)).
        num_instances (int): N, the number of rows of the logits.
        like (Tensor): Tensor whose device the result takes.

    Returns:
        Tensor: Shape (N, 1), float32. Gradients flow through a tensor input
        (CTKD learns its temperature through the loss).
    """
    if torch.is_tensor(temperature):
        t = temperature.to(like.device).float()
    else:
        # A Python number filled on the device: no host-to-device copy (a
        # GPU synchronisation) per call.
        t = like.new_full((), float(temperature), dtype=torch.float32)
    if t.dim() == 0:
        return t.expand(num_instances, 1)
    t = t.reshape(-1, 1)
    if t.shape[0] != num_instances:
        raise ValueError(f'got {t.shape[0]} temperatures for '
                         f'{num_instances} instances')
    return t


def split_temperature(temperature, default):
    """(teacher, student) temperatures from a provider output or a value.

    ``temperature`` may be None (use ``default`` for both), a scalar or
    tensor (the same for both), or an object with ``teacher`` and
    ``student`` attributes (a :class:`TemperatureOutput`).
    """
    if temperature is None:
        return default, default
    if hasattr(temperature, 'teacher') and hasattr(temperature, 'student'):
        return temperature.teacher, temperature.student
    return temperature, temperature
