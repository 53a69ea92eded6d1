"""Every tensor an object holds, found by walking its attributes."""
from collections import deque

import torch


def held_tensors(obj, path='', seen=None):
    """Yield ``(path, tensor)`` for every tensor reachable from ``obj``.

    Walks attributes, dicts, lists, tuples, deques, modules (parameters,
    buffers, submodules) and optimizers (their per-parameter state), so a
    tensor hidden anywhere in an agent shows up.
    """
    seen = set() if seen is None else seen
    if id(obj) in seen or obj is None or isinstance(
            obj, (str, bytes, int, float, bool, torch.Generator)):
        return
    seen.add(id(obj))
    if torch.is_tensor(obj):
        yield path, obj
        return
    if isinstance(obj, torch.optim.Optimizer):
        for index, state in enumerate(obj.state.values()):
            yield from held_tensors(state, f'{path}.state[{index}]', seen)
        return
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, (list, tuple, deque)):
        items = enumerate(obj)
    elif hasattr(obj, '__dict__'):
        items = vars(obj).items()
    else:
        return
    for key, value in items:
        yield from held_tensors(value, f'{path}.{key}', seen)


def misplaced_tensors(obj, device):
    """Paths of the tensors ``obj`` holds that are not on ``device``."""
    device = torch.device(device)
    return [
        f'{path} on {tensor.device}' for path, tensor in held_tensors(obj)
        if tensor.device.type != device.type
    ]
