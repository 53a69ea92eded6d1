"""Episode storage and generalised advantage estimation.

In RLKD one training iteration is one episode: its instances are the steps,
in batch order, and the batch reward arrives after the last one.
"""
import torch

_FIELDS = ('states', 'policy_states', 'actions', 'log_probs', 'values',
           'rewards')
_STATE_FIELDS = ('states', 'policy_states')

_GAE_BLOCK = 256


def _discounted_suffix_sums(deltas, discount):
    """``A_t = sum_{l >= 0} discount^l * delta_{t+l}`` on the device.

    A reverse scan written as matrix products over blocks of
    ``_GAE_BLOCK`` steps (a triangular matrix of powers inside a block, the
    next block's first value carried back into it), so it launches a few
    kernels per block, never a host round trip, and needs
    O(T * block) memory.
    """
    steps = deltas.shape[0]
    lags = torch.arange(
        min(steps, _GAE_BLOCK), dtype=deltas.dtype, device=deltas.device)
    lag = lags.unsqueeze(0) - lags.unsqueeze(1)  # s - t
    powers = torch.pow(float(discount), lag.clamp_min(0))
    within = torch.where(lag >= 0, powers, torch.zeros_like(powers))
    advantages = torch.empty_like(deltas)
    carry = None
    for start in reversed(range(0, steps, _GAE_BLOCK)):
        end = min(start + _GAE_BLOCK, steps)
        size = end - start
        block = within[:size, :size] @ deltas[start:end]
        if carry is not None:
            # discount^(end - t) for t in [start, end): steps to the carry.
            block = block + within[:size, size - 1] * discount * carry
        advantages[start:end] = block
        carry = block[0]
    return advantages


def compute_gae(rewards, values, gamma=0.99, gae_lambda=0.95, last_value=0.0):
    """Generalised advantage estimates and returns for one episode.

    GAE (Schulman et al., "High-Dimensional Continuous Control Using
    Generalized Advantage Estimation", ICLR 2016) is the exponentially
    weighted sum of TD errors::

        delta_t = r_t + gamma * V(s_{t+1}) - V(s_t)
        A_t = sum_{l >= 0} (gamma * lambda)^l * delta_{t+l}

    ``gae_lambda = 1`` gives the discounted Monte-Carlo return minus the
    value, ``gae_lambda = 0`` gives the one-step TD(0) error. The episode is
    terminal after its last step: ``V(s_T)`` is replaced by ``last_value``
    (0 by default; pass a critic estimate to bootstrap instead). The returns,
    i.e. the critic's regression targets, are ``A_t + V(s_t)``.

    The backward sweep is a discounted reverse scan, computed on the
    device in double precision by blocked matrix products (no Python loop
    over steps, no host sync).

    Args:
        rewards (Tensor): Rewards r_t of shape (T,).
        values (Tensor): Critic values V(s_t) of shape (T,).
        gamma (float): Discount factor. Defaults to 0.99.
        gae_lambda (float): GAE lambda. Defaults to 0.95.
        last_value (float | Tensor): Value after the last step.
            Defaults to 0.0.

    Returns:
        tuple[Tensor, Tensor]: ``advantages`` and ``returns``, each of shape
        (T,), on the device and with the dtype of ``values``.
    """
    if rewards.dim() != 1 or rewards.shape != values.shape:
        raise ValueError('rewards and values must both have shape (T,), got '
                         f'{tuple(rewards.shape)} and {tuple(values.shape)}')
    values = values.detach()
    rewards64 = rewards.detach().double()
    values64 = values.double()
    if torch.is_tensor(last_value):
        last = last_value.detach().reshape(1).to(values64)
    else:
        last = values64.new_full((1, ), float(last_value))
    next_values = torch.cat([values64[1:], last])
    deltas = rewards64 + gamma * next_values - values64
    advantages = _discounted_suffix_sums(deltas, gamma * gae_lambda)
    advantages = advantages.to(values.dtype)
    return advantages, advantages + values


class EpisodeBuffer:
    """Preallocated storage for one episode of instance-steps.

    Rows are instances in the order they were stored. Storage grows (by
    reallocation) when an episode outgrows ``capacity``, e.g. detection with
    many RoIs per batch.

    Args:
        capacity (int): Steps allocated up front, e.g. the batch size.
        state_dim (int): Features per state.
        device (str | torch.device): Where the tensors live.
            Defaults to 'cpu'.

    Attributes:
        states (Tensor): Raw states, shape (capacity, state_dim).
        policy_states (Tensor): The states the policy acted on (the state
            updater's output), shape (capacity, state_dim).
        actions, log_probs, values, rewards (Tensor): Shape (capacity,).
    """

    def __init__(self, capacity, state_dim, device='cpu'):
        if int(capacity) != capacity or capacity < 1:
            raise ValueError(f'capacity must be a positive int, got '
                             f'{capacity}')
        if int(state_dim) != state_dim or state_dim < 1:
            raise ValueError(f'state_dim must be a positive int, got '
                             f'{state_dim}')
        self.state_dim = int(state_dim)
        self.device = torch.device(device)
        self._size = 0
        self._allocate(int(capacity))

    @property
    def capacity(self):
        return self.actions.shape[0]

    def _allocate(self, capacity):
        """(Re)allocate to ``capacity`` rows, keeping the filled part."""
        old = {name: getattr(self, name, None) for name in _FIELDS}
        kwargs = dict(dtype=torch.float32, device=self.device)
        for name in _FIELDS:
            shape = (capacity, self.state_dim) if name in _STATE_FIELDS \
                else (capacity, )
            setattr(self, name, torch.zeros(shape, **kwargs))
        if self._size:
            for name in _FIELDS:
                getattr(self, name)[:self._size] = old[name][:self._size]

    def __len__(self):
        return self._size

    def to(self, device):
        """Move the storage (and where later episodes go) to ``device``."""
        device = torch.device(device)
        if device != self.device:
            self.device = device
            for name in _FIELDS:
                setattr(self, name, getattr(self, name).to(device))
        return self

    def store(self, states, actions, log_probs, values, policy_states=None):
        """Append a whole iteration's instances; their rewards start at 0.

        Args:
            states (Tensor): Shape (N, state_dim).
            actions (Tensor): Pre-squash actions, shape (N,).
            log_probs (Tensor): Log-probabilities of ``actions``, shape (N,).
            values (Tensor): Critic values, shape (N,).
            policy_states (Tensor, optional): What the policy acted on,
                shape (N, state_dim). Defaults to ``states``.
        """
        num = states.shape[0]
        if policy_states is None:
            policy_states = states
        for name, tensor in (('states', states), ('policy_states',
                                                  policy_states)):
            if tensor.shape != (num, self.state_dim):
                raise ValueError(f'{name} must have shape (N, '
                                 f'{self.state_dim}), got '
                                 f'{tuple(tensor.shape)}')
        for name, tensor in (('actions', actions), ('log_probs', log_probs),
                             ('values', values)):
            if tensor.shape != (num, ):
                raise ValueError(f'{name} must have shape ({num},), got '
                                 f'{tuple(tensor.shape)}')
        end = self._size + num
        if end > self.capacity:
            self._allocate(max(2 * self.capacity, end))
        new = dict(
            states=states,
            policy_states=policy_states,
            actions=actions,
            log_probs=log_probs,
            values=values)
        for name, tensor in new.items():
            getattr(self, name)[self._size:end] = tensor.detach()
        self.rewards[self._size:end] = 0
        self._size = end

    def set_delayed_reward(self, reward):
        """Put the scalar episode reward on the last step, 0 elsewhere.

        Args:
            reward (float | Tensor): The batch reward (a 0-dim tensor stays
                on the device, no host sync).
        """
        if not self._size:
            raise ValueError('cannot reward an empty episode')
        self.rewards[:self._size] = 0
        self.rewards[self._size - 1] = reward

    def set_rewards(self, rewards):
        """Replace the per-step rewards, e.g. after reward calibration.

        Args:
            rewards (Tensor): Shape (len(self),).
        """
        if rewards.shape != (self._size, ):
            raise ValueError(f'rewards must have shape ({self._size},), got '
                             f'{tuple(rewards.shape)}')
        self.rewards[:self._size] = rewards.detach()

    def clear(self):
        """Start a new episode (storage is kept)."""
        self._size = 0

    def get(self):
        """Views (not copies) of the filled part, keyed by field name."""
        return {name: getattr(self, name)[:self._size] for name in _FIELDS}

    def state_dict(self):
        """Copies of the pending episode, so it survives a checkpoint."""
        state = {name: tensor.clone() for name, tensor in self.get().items()}
        state.update(capacity=self.capacity, state_dim=self.state_dim)
        return state

    def load_state_dict(self, state_dict):
        """Restore a pending episode saved by :meth:`state_dict`."""
        if state_dict['state_dim'] != self.state_dim:
            raise ValueError(f'saved state_dim {state_dict["state_dim"]} != '
                             f'{self.state_dim}')
        size = state_dict['actions'].shape[0]
        self._size = 0
        self._allocate(max(self.capacity, state_dict['capacity'], size))
        for name in _FIELDS:
            # Saved before the state updater existed: the policy saw the
            # raw states.
            saved = state_dict.get(name, state_dict['states']) \
                if name == 'policy_states' else state_dict[name]
            getattr(self, name)[:size] = saved
        self._size = size
