"""The agent's optimisers and the checks of their arguments."""
import torch
import torch.nn as nn
from torch.optim.adam import adam as functional_adam


def check_range(name, value, low, high, low_open=False):
    """Raise unless ``low <= value <= high`` (``low < value`` if open)."""
    if value is None or not (low < value if low_open else low <= value) \
            or not value <= high:
        bracket = '(' if low_open else '['
        raise ValueError(f'{name} must be in {bracket}{low}, {high}], got '
                         f'{value}')


def check_int(name, value, low):
    """Raise unless ``value`` is an int >= ``low``."""
    if int(value) != value or value < low:
        raise ValueError(f'{name} must be an int >= {low}, got {value}')


def adam(params, lr=1e-3):
    """Adam, fused where this torch supports it for the parameters' device.

    The agent takes many small steps per update, so the per-tensor overhead
    of the unfused optimizer matters. ``params`` may be parameter groups,
    each with its own ``lr``.
    """
    try:
        return torch.optim.Adam(params, lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr)


def move_optimizer(optimizer, params, device):
    """Point ``optimizer`` at ``params`` and move its state to ``device``.

    Call it after moving the parameters' module. ``.to()`` swaps a
    parameter's data in place between devices of one kind (CPU, CUDA), but
    creates new parameter objects for others ('meta', or always under
    ``torch.__future__.set_overwrite_module_params_on_conversion``), which
    would leave the optimizer stepping the old ones. The state is moved
    too, and a tensor learning rate: ``Optimizer.load_state_dict`` puts
    the state on the parameters' device,
    a later ``.to()`` leaves it behind. An unfused, non-capturable optimizer
    keeps its step count on the CPU by design (it reads it on the host), so
    that one stays.

    Args:
        optimizer (Optimizer): Built on parameters in the same order.
        params (Iterable[Parameter]): The module's current parameters.
        device (torch.device): Where they now live.
    """
    params = list(params)
    old = [p for group in optimizer.param_groups for p in group['params']]
    if len(old) != len(params):
        raise ValueError(f'the optimizer has {len(old)} parameters, got '
                         f'{len(params)}')
    new = dict(zip(map(id, old), params))
    for group in optimizer.param_groups:
        group['params'] = [new[id(p)] for p in group['params']]
        if torch.is_tensor(group['lr']):  # a fused optimizer's tensor lr
            group['lr'] = group['lr'].to(device)
    on_host = 'step' if not (optimizer.defaults.get('fused')
                             or optimizer.defaults.get('capturable')) else None
    states = list(optimizer.state.items())
    optimizer.state.clear()
    for param, state in states:
        optimizer.state[new.get(id(param), param)] = {
            key:
            value.to(device)
            if torch.is_tensor(value) and key != on_host else value
            for key, value in state.items()
        }


def optimizer_tensors(optimizer):
    """Every tensor ``optimizer`` reads and writes in a step: its state
    (moments, step counts) and tensor learning rates."""
    return [
        value for state in optimizer.state.values()
        for value in state.values() if torch.is_tensor(value)
    ] + [
        group['lr'] for group in optimizer.param_groups
        if torch.is_tensor(group['lr'])
    ]


def descend(optimizer, loss, max_grad_norm=None, groups=()):
    """One Adam step of ``optimizer`` on ``loss``; the gradient of each
    parameter list in ``groups`` clipped to ``max_grad_norm`` first.

    Written so that ``torch.compile`` traces a whole learning step: the
    gradients are dropped by hand (``Optimizer.zero_grad`` is not traced),
    and while compiling the step goes through torch's functional Adam on
    the optimizer's own state (``Optimizer.step`` breaks the graph on
    purpose, and the fused kernel cannot be traced): the same update.
    """
    for group in optimizer.param_groups:
        for param in group['params']:
            param.grad = None
    loss.backward()
    if max_grad_norm is not None:
        for params in groups:
            nn.utils.clip_grad_norm_(params, max_grad_norm, foreach=True)
    if torch.compiler.is_compiling():
        _traced_adam_step(optimizer)
    else:
        optimizer.step()


@torch.no_grad()
def _traced_adam_step(optimizer):
    """``optimizer.step()`` of an Adam whose state exists, in operations
    ``torch.compile`` traces (foreach, with device-side step counts)."""
    for group in optimizer.param_groups:
        params = [p for p in group['params'] if p.grad is not None]
        states = [optimizer.state[p] for p in params]
        beta1, beta2 = group['betas']
        functional_adam(
            params, [p.grad for p in params],
            [state['exp_avg'] for state in states],
            [state['exp_avg_sq'] for state in states], [],
            [state['step'] for state in states],
            foreach=True,
            capturable=True,
            lr=group['lr'],
            beta1=beta1,
            beta2=beta2,
            weight_decay=group['weight_decay'],
            eps=group['eps'],
            amsgrad=group['amsgrad'],
            maximize=group['maximize'])
