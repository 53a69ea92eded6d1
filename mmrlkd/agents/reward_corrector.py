"""Instance reward calibration: return decomposition after RUDDER.

RLKD rewards a whole batch with one number (the student's performance
gain), so PPO alone cannot tell which instances' temperatures earned it.
RUDDER (Arjona-Medina et al., NeurIPS 2019; RLKD's ref. [3] and Sec. 4.2)
trains a model g to predict the episode's return at every step and
redistributes the return as the differences of its predictions,
``r_t = g_t - g_{t-1}``. Here an episode is one batch of instances in batch
order, and g is causal and additive:

    g_t = b + sum_{i <= t} c(s_i, u_i) / sqrt(N)

with a small MLP c over the instance's state and normalised temperature
``u = sigmoid(a)``, a learned baseline b and N the episode length. Every
step's prediction comes from one cumulative sum (no recurrence, no loop over
instances), and its differences are exactly the per-instance contributions
``c_t / sqrt(N)``. In a batch whose reward is a sum (or mean) of
per-instance effects this is the right structure, and the auxiliary loss on
every step makes the contribution the centred effect of instance t,
``E[G | steps <= t] - E[G | steps < t]`` (instances come in random order).
(The official code's "LSTM" is commented out, leaving a per-step
linear map; an LSTM over 64..256 steps costs more than the whole PPO update
on a CPU.)
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .optim import (adam, check_int, check_range, descend, move_optimizer,
                    optimizer_tensors)


def return_decomposition_loss(predictions,
                              episode_return,
                              step_returns=None,
                              final_weight=1.0,
                              aux_weight=0.5,
                              lengths=None,
                              reduction='mean'):
    """RLKD's eq. (11) as a mean of squares.

    ``w1 * (g_{N-1} - G)^2 + w2 * mean_t (g_t - G_t)^2``: the last step must
    predict the episode's return, and (RUDDER's auxiliary task) every step
    predicts its return target ``G_t``, the episode's return by default. The
    official code squares a mean instead, which makes both terms the same
    number.

    Args:
        predictions (Tensor): g_t of shape (N,), or (E, N) for E episodes
            padded to N steps.
        episode_return (Tensor | float): G, a scalar (or shape (E,)).
        step_returns (Tensor, optional): G_t of the predictions' shape.
            Defaults to G at every step.
        final_weight (float): w1. Defaults to 1.0.
        aux_weight (float): w2. Defaults to 0.5.
        lengths (Tensor, optional): Steps of each of the E episodes; steps
            beyond them are padding and ignored. Defaults to all N.
        reduction (str): 'mean' over episodes or 'none'. Defaults to 'mean'.

    Returns:
        Tensor: The loss, a scalar (or shape (E,) with ``reduction='none'``).
    """
    episode_return = torch.as_tensor(
        episode_return, dtype=predictions.dtype, device=predictions.device)
    if step_returns is None:
        step_returns = episode_return.unsqueeze(-1)
    errors = (predictions - step_returns).square()
    if lengths is None:
        last_prediction = predictions[..., -1]
        aux = errors.mean(-1)
    else:
        last_prediction = predictions.gather(
            -1, (lengths - 1).clamp_min(0).unsqueeze(-1)).squeeze(-1)
        steps = torch.arange(predictions.shape[-1], device=lengths.device)
        valid = steps < lengths.unsqueeze(-1)
        aux = (errors * valid).sum(-1) / lengths.clamp_min(1)
    final = (last_prediction - episode_return).square()
    loss = final_weight * final + aux_weight * aux
    return loss.mean() if reduction == 'mean' else loss


def redistribute_return(predictions,
                        episode_return,
                        initial_prediction=0.0,
                        lengths=None):
    """Per-step rewards from return predictions that sum to the return.

    ``r_t = g_t - g_{t-1}`` with ``g_{-1}`` the prediction before any step
    (RUDDER's redistribution); the part of the return the predictions miss,
    ``G - sum_t r_t = G - (g_{N-1} - g_{-1})``, is spread evenly over the
    N steps, so ``sum_t r_t = G`` exactly.

    Args:
        predictions (Tensor): g_t of shape (N,), N >= 1, or (E, N) for E
            episodes padded to N steps (constant past each one's end).
        episode_return (Tensor | float): G, or each episode's G (E,).
        initial_prediction (Tensor | float): g_{-1}. Defaults to 0.0.
        lengths (Tensor, optional): Steps of each of the E episodes; the
            padding gets 0. Defaults to all N.

    Returns:
        Tensor: Rewards of the predictions' shape, detached.
    """
    with torch.no_grad():
        predictions = predictions.detach()
        initial = torch.as_tensor(
            initial_prediction,
            dtype=predictions.dtype,
            device=predictions.device).expand(predictions.shape[:-1] + (1, ))
        previous = torch.cat([initial, predictions[..., :-1]], dim=-1)
        rewards = predictions - previous
        episode_return = torch.as_tensor(
            episode_return, dtype=predictions.dtype,
            device=predictions.device)
        if episode_return.dim():
            episode_return = episode_return.unsqueeze(-1)
        residual = episode_return - rewards.sum(-1, keepdim=True)
        if lengths is None:
            return rewards + residual / predictions.shape[-1]
        steps = torch.arange(predictions.shape[-1], device=lengths.device)
        valid = (steps < lengths.unsqueeze(-1)).to(predictions.dtype)
        share = residual / lengths.clamp_min(1).unsqueeze(-1)
        return rewards + share * valid


class ReturnDecompositionNet(nn.Module):
    """Causal additive return predictor ``g_t = b + cumsum(c)_t / sqrt(N)``.

    With the return normalised to O(1) and made of N comparable independent
    instance effects, ``1 / sqrt(N)`` keeps each contribution c O(1). The
    inputs (probabilities, margins, normalised temperatures in [0, 1]) are
    centred to [-1, 1]. The output layer starts at zero, so before the
    network has learnt anything every instance gets an even share of the
    batch reward (rather than a random function of its state, which PPO
    would chase).

    Args:
        state_dim (int): Features per state.
        hidden_dim (int): Width of the hidden layer. Defaults to 32.
    """

    def __init__(self, state_dim, hidden_dim=32):
        super().__init__()
        self.contribution = nn.Sequential(
            nn.Linear(state_dim + 1, hidden_dim), nn.ReLU(),
            nn.Linear(hidden_dim, 1))
        nn.init.zeros_(self.contribution[-1].weight)
        nn.init.zeros_(self.contribution[-1].bias)
        self.baseline = nn.Parameter(torch.zeros(1))

    def contributions(self, states, temperatures):
        """c(s_t, u_t) of shape (..., N)."""
        inputs = torch.cat([states, temperatures.unsqueeze(-1)], dim=-1)
        return self.contribution(2 * inputs - 1).squeeze(-1)

    def forward(self, states, temperatures, lengths=None):
        """Return predictions g_t of shape (..., N).

        Args:
            states (Tensor): Shape (..., N, D).
            temperatures (Tensor): Normalised temperatures in [0, 1], shape
                (..., N).
            lengths (Tensor, optional): Steps of each of E episodes padded
                to N, shape (E,); padding contributes nothing.
                Defaults to all N.
        """
        contributions = self.contributions(states, temperatures)
        if lengths is None:
            norm = math.sqrt(contributions.shape[-1])
        else:
            steps = torch.arange(
                contributions.shape[-1], device=contributions.device)
            contributions = contributions * (steps < lengths.unsqueeze(-1))
            norm = lengths.clamp_min(1).to(
                contributions.dtype).sqrt().unsqueeze(-1)
        return self.baseline + contributions.cumsum(-1) / norm


class ReplayRing:
    """The latest ``size`` entries of E padded episodes, in fixed tensors.

    Written in place at a slot counted on the device, so that adding an
    entry and reading the batch never waits for the device and a captured
    learning step finds the replay at the same addresses every time. Slots
    not yet written hold episodes of length 0, which weigh nothing. The
    tensors are made again (the entries kept) only when an entry's shape
    differs: a longer capacity, or another number of episodes.

    Args:
        size (int): Entries kept.
    """

    def __init__(self, size):
        self.size = int(size)
        self.tensors = None  # states, temperatures, returns, lengths
        self.count = None  # entries written so far (0-dim int64)

    def add(self, states, temperatures, returns, lengths):
        """Write one entry (states (E, N, D), temperatures (E, N), returns
        and lengths (E,)) over the oldest."""
        rows, length = temperatures.shape
        if self.tensors is None or self.tensors[1].shape[1] != rows or \
                self.tensors[1].shape[2] < length:
            self._reshape(rows, length, states)
        pad = self.tensors[1].shape[2] - length
        if pad:
            states = F.pad(states, (0, 0, 0, pad))
            temperatures = F.pad(temperatures, (0, pad))
        slot = self.count.remainder(self.size).reshape(1)
        for buffer, value in zip(self.tensors,
                                 (states, temperatures, returns, lengths)):
            buffer.index_copy_(0, slot, value.unsqueeze(0).to(buffer))
        self.count.add_(1)
        return slot

    def batch(self):
        """Every slot's episodes as one (size * E, ...) batch (views)."""
        return tuple(t.flatten(0, 1) for t in self.tensors)

    def entries(self):
        """The written entries, oldest first (a host read: checkpoints and
        inspection, not the hot path)."""
        if self.tensors is None:
            return []
        count = int(self.count)
        slots = [(count - k) % self.size
                 for k in range(min(count, self.size), 0, -1)]
        return [tuple(t[slot] for t in self.tensors) for slot in slots]

    def load(self, entries):
        """Start again from ``entries`` (oldest first): the latest ``size``
        of those with as many episodes as the newest."""
        self.tensors = self.count = None
        entries = [replay_entry(*entry) for entry in entries]
        if entries:
            rows = entries[-1][1].shape[0]
            for entry in [e for e in entries if e[1].shape[0] == rows][
                    -self.size:]:
                self.add(*entry)

    def _reshape(self, rows, length, like):
        """New tensors for entries of ``rows`` episodes of at least
        ``length`` steps, keeping the entries that have as many."""
        old = []
        if self.tensors is not None and self.tensors[1].shape[1] == rows:
            old = self.entries()
            length = max(length, self.tensors[1].shape[2])
        self.tensors = (like.new_zeros((self.size, rows, length,
                                        like.shape[-1])),
                        like.new_zeros((self.size, rows, length)),
                        like.new_zeros((self.size, rows)),
                        like.new_zeros((self.size, rows), dtype=torch.long))
        self.count = like.new_zeros((), dtype=torch.long)
        for entry in old:
            self.add(*entry)

    def to(self, device):
        if self.tensors is not None:
            self.tensors = tuple(t.to(device) for t in self.tensors)
            self.count = self.count.to(device)
        return self


class RewardCorrector:
    """Trains the return decomposition and calibrates the batch reward.

    Every :meth:`update` adds the episode to a replay of the latest
    ``replay_size`` episodes (RUDDER's lessons buffer) and takes ``epochs``
    Adam steps on eq. (11) averaged over them: an episode carries a single
    return, so one episode alone says little about which of its instances
    earned it. :meth:`redistribute` then splits the episode's return over
    its instances. Both work in whatever unit the caller gives G; keep it
    O(1) (the caller normalises the reward).

    Args:
        state_dim (int): Features per state.
        hidden_dim (int): Width of the contribution MLP. Defaults to 32.
        lr (float): Adam learning rate. Defaults to 1e-2 (the official
            1e-3 learns too slowly from one return per episode).
        epochs (int): Adam steps per episode. Defaults to 1 (the official
            code takes 9 on one episode; each step costs time in every
            iteration). One step lags a policy whose temperatures move
            (the credit benchmark's stuck seed; 4 steps fix it there), but
            with the paper's noisy reward 4 steps made DigitPairs RLKD
            worse in 5 seeds of 5 (docs/en/notes/agent_learning.md).
        replay_size (int): Episodes trained on together. Defaults to 16.
        final_weight (float): w1 of eq. (11). Defaults to 1.0.
        aux_weight (float): w2 of eq. (11). Defaults to 0.5.

    Attributes:
        last_heldout_prediction (Tensor, optional): The final prediction
            ``g_{N-1}`` of the latest episode's return, made by
            :meth:`update` before any step on it (0-dim, detached, in the
            caller's unit of G); None before the first update. Paired with
            the returns it predicts, it measures on unseen episodes how
            much of the return the states and temperatures explain (issue
            17, item 2).
    """

    def __init__(self,
                 state_dim,
                 hidden_dim=32,
                 lr=1e-2,
                 epochs=1,
                 replay_size=16,
                 final_weight=1.0,
                 aux_weight=0.5):
        check_int('state_dim', state_dim, 1)
        check_int('hidden_dim', hidden_dim, 1)
        check_range('lr', lr, 0, math.inf, low_open=True)
        check_int('epochs', epochs, 0)
        check_int('replay_size', replay_size, 1)
        check_range('final_weight', final_weight, 0, math.inf)
        check_range('aux_weight', aux_weight, 0, math.inf)
        self.network = ReturnDecompositionNet(int(state_dim), int(hidden_dim))
        self.epochs = int(epochs)
        self.replay_size = int(replay_size)
        self.ring = ReplayRing(replay_size)
        self.final_weight = final_weight
        self.aux_weight = aux_weight
        self.last_heldout_prediction = None
        self.params = list(self.network.parameters())
        self.optimizer = adam(self.params, lr)

    def loss(self,
             states,
             temperatures,
             episode_return,
             lengths=None,
             reduction='mean'):
        """Eq. (11), with gradients, for one or E padded episodes."""
        return self._predictions_and_loss(states, temperatures, episode_return,
                                          lengths, reduction)[1]

    def _predictions_and_loss(self,
                              states,
                              temperatures,
                              episode_return,
                              lengths=None,
                              reduction='mean'):
        """The cumulative predictions g and eq. (11) on them."""
        predictions = self.network(states, temperatures, lengths)
        return predictions, return_decomposition_loss(predictions,
                                                      episode_return, None,
                                                      self.final_weight,
                                                      self.aux_weight, lengths,
                                                      reduction)

    @property
    def replay(self):
        """The replayed entries, oldest first: (states (E, N, D),
        temperatures (E, N), returns (E,), lengths (E,)) each (a host
        read)."""
        return self.ring.entries()

    def update(self, states, temperatures, episode_return, lengths=None):
        """Train on the replay after adding this episode (or episodes).

        Args:
            states (Tensor): Shape (N, D), N >= 1, or (E, N, D) for E
                episodes of the same return (one per process) padded to N.
            temperatures (Tensor): Normalised temperatures, shape (N,) or
                (E, N).
            episode_return (Tensor | float): G of the episode(s) (one, or
                shape (E,)).
            lengths (Tensor, optional): Steps of each of the E episodes.
                Defaults to all N.

        Returns:
            Tensor: This episode's loss before any step (0-dim; the mean
            over its E episodes), i.e. on an episode the network has not
            seen; its final prediction of G from before that step is kept
            in ``last_heldout_prediction``.
        """
        if states.dim() == 2:
            states, temperatures = states.unsqueeze(0), temperatures.unsqueeze(
                0)
        if lengths is None:
            lengths = torch.full(states.shape[:1], states.shape[1],
                                 dtype=torch.long, device=states.device)
        returns = torch.as_tensor(
            episode_return, dtype=states.dtype,
            device=states.device).detach().expand(lengths.shape)
        slot = self.ring.add(states.detach(), temperatures.detach(), returns,
                             lengths)
        batch = self.ring.batch()
        # Episodes with no step (a process that saw no batch, a slot not
        # yet written) weigh 0.
        weights = (batch[3] > 0).to(states.dtype)
        weights = weights / weights.sum().clamp_min(1)
        # This entry's rows of the batch.
        new = (slot * lengths.shape[0] +
               torch.arange(lengths.shape[0], device=slot.device))
        episode_loss = None
        for _ in range(max(self.epochs, 1)):
            predictions, losses = self._predictions_and_loss(
                *batch, reduction='none')
            if episode_loss is None:
                # This episode's, before any step on it. Padding adds
                # nothing to the cumulative sum, so the last column holds
                # each episode's final prediction g_{N-1}.
                share = weights[new] / weights[new].sum().clamp_min(1e-12)
                episode_loss = (losses[new] * share).sum().detach()
                self.last_heldout_prediction = (predictions[new, -1] *
                                                share).sum().detach()
            if not self.epochs:
                break
            descend(self.optimizer, (losses * weights).sum())
        return episode_loss

    @torch.no_grad()
    def redistribute(self,
                     states,
                     temperatures,
                     episode_return,
                     lengths=None):
        """Calibrated per-instance rewards of shape (N,) summing to G, or
        (E, N) with each of the E episodes' rewards summing to G (and 0 on
        the padding past ``lengths``; ``episode_return`` is one G or each
        episode's, shape (E,))."""
        predictions = self.network(states, temperatures, lengths)
        return redistribute_return(predictions, episode_return,
                                   self.network.baseline, lengths)

    def tensors(self):
        """What :meth:`update` changes in place besides the network."""
        ring = [] if self.ring.tensors is None else [*self.ring.tensors,
                                                     self.ring.count]
        return optimizer_tensors(self.optimizer) + ring

    def state_dict(self):
        """Network, optimizer and replayed episodes."""
        return dict(
            network=self.network.state_dict(),
            optimizer=self.optimizer.state_dict(),
            replay=[tuple(t.clone() for t in entry) for entry in self.replay])

    def load_state_dict(self, state_dict):
        """Restore what :meth:`state_dict` returned, on the network's device.
        """
        self.network.load_state_dict(state_dict['network'])
        self.optimizer.load_state_dict(state_dict['optimizer'])
        self.ring.load(state_dict['replay'])
        self.to(self.network.baseline.device)

    def to(self, device):
        """Move the network, the optimizer's state, the replay and the
        held-out prediction."""
        self.network.to(device)
        if self.last_heldout_prediction is not None:
            self.last_heldout_prediction = self.last_heldout_prediction.to(
                device)
        self.params = list(self.network.parameters())
        move_optimizer(self.optimizer, self.params, device)
        self.ring.to(device)
        return self


def replay_entry(states, temperatures, episode_return, lengths=None):
    """A replayed episode as (states (E, N, D), temperatures (E, N), G,
    lengths (E,)); replays saved before episodes were batched hold one
    (N, D) episode without lengths."""
    if states.dim() == 2:
        states, temperatures = states.unsqueeze(0), temperatures.unsqueeze(0)
    if lengths is None:
        lengths = torch.full((states.shape[0], ), states.shape[1],
                             dtype=torch.long, device=states.device)
    return (states, temperatures, episode_return.expand(lengths.shape),
            lengths)
