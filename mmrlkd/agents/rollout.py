"""Generalised advantage estimation over one episode's instance-steps.

In RLKD one training iteration is one episode: its instances are the steps,
in batch order, and the batch reward arrives after the last one.
"""
import functools

import torch

_GAE_BLOCK = 256


@functools.lru_cache(maxsize=16)
def _discount_matrix(size, discount, dtype, device):
    """``M[s, t] = discount^(s - t)`` for ``s >= t``, else 0 (size x size).

    A constant of the episode size, built once per size and device instead
    of in every update; ``deltas @ M`` sums each step's discounted future.
    """
    lags = torch.arange(size, dtype=dtype, device=device)
    lag = lags.unsqueeze(1) - lags.unsqueeze(0)  # s - t
    powers = torch.pow(float(discount), lag.clamp_min(0))
    return torch.where(lag >= 0, powers, torch.zeros_like(powers))


def _discounted_suffix_sums(deltas, discount):
    """``A_t = sum_{l >= 0} discount^l * delta_{t+l}`` along the last dim.

    A reverse scan written as matrix products over blocks of
    ``_GAE_BLOCK`` steps (a triangular matrix of powers inside a block, the
    next block's first value carried back into it), so it launches a few
    kernels per block, never a host round trip, and needs
    O(T * block) memory.
    """
    steps = deltas.shape[-1]
    within = _discount_matrix(
        min(steps, _GAE_BLOCK), float(discount), deltas.dtype, deltas.device)
    if steps <= _GAE_BLOCK:
        return deltas @ within
    advantages = torch.empty_like(deltas)
    carry = None
    for start in reversed(range(0, steps, _GAE_BLOCK)):
        end = min(start + _GAE_BLOCK, steps)
        size = end - start
        block = deltas[..., start:end] @ within[:size, :size]
        if carry is not None:
            # discount^(end - t) for t in [start, end): steps to the carry.
            block = block + within[size - 1, :size] * discount * carry
        advantages[..., start:end] = block
        carry = block[..., :1]
    return advantages


def compute_gae(rewards, values, gamma=0.99, gae_lambda=0.95, last_value=0.0):
    """Generalised advantage estimates and returns for episodes.

    GAE (Schulman et al., "High-Dimensional Continuous Control Using
    Generalized Advantage Estimation", ICLR 2016) is the exponentially
    weighted sum of TD errors::

        delta_t = r_t + gamma * V(s_{t+1}) - V(s_t)
        A_t = sum_{l >= 0} (gamma * lambda)^l * delta_{t+l}

    ``gae_lambda = 1`` gives the discounted Monte-Carlo return minus the
    value, ``gae_lambda = 0`` gives the one-step TD(0) error. The episode is
    terminal after its last step: ``V(s_T)`` is replaced by ``last_value``
    (0 by default; pass a critic estimate to bootstrap instead). The returns,
    i.e. the critic's regression targets, are ``A_t + V(s_t)``. An episode
    padded with zero rewards and zero values ends where its steps end: the
    padding's TD errors are 0, so it adds nothing.

    The backward sweep is a discounted reverse scan, computed on the
    device in double precision by blocked matrix products (no Python loop
    over steps, no host sync).

    Args:
        rewards (Tensor): Rewards r_t of shape (T,), or (E, T) for E
            episodes.
        values (Tensor): Critic values V(s_t), the shape of ``rewards``.
        gamma (float): Discount factor. Defaults to 0.99.
        gae_lambda (float): GAE lambda. Defaults to 0.95.
        last_value (float | Tensor): Value after the last step.
            Defaults to 0.0.

    Returns:
        tuple[Tensor, Tensor]: ``advantages`` and ``returns``, each of the
        shape of ``rewards``, on the device and with the dtype of
        ``values``.
    """
    if rewards.dim() not in (1, 2) or rewards.shape != values.shape:
        raise ValueError('rewards and values must both have shape (T,) or '
                         f'(E, T), got {tuple(rewards.shape)} and '
                         f'{tuple(values.shape)}')
    values = values.detach()
    rewards64 = rewards.detach().double()
    values64 = values.double()
    if torch.is_tensor(last_value):
        last = last_value.detach().to(values64).expand(
            values64.shape[:-1] + (1, ))
    else:
        last = values64.new_full(values64.shape[:-1] + (1, ),
                                 float(last_value))
    next_values = torch.cat([values64[..., 1:], last], dim=-1)
    deltas = rewards64 + gamma * next_values - values64
    advantages = _discounted_suffix_sums(deltas, gamma * gae_lambda)
    advantages = advantages.to(values.dtype)
    return advantages, advantages + values
