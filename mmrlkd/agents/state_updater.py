"""State updater: a learned mask on what the policy sees.

RLKD (arXiv 2407.00115, Sec. 4.2, eqs. 12-13) rescales each instance's
state by a mask ``m(s)`` in (0, 1), ``s' = m(s) * s``, trained with

    L_SU = lambda1 * ||m(s)||_1 + lambda2 * MSE(h(m(s) * s), G)

where h is a small estimator of the instance's return G from the updated
state: the sparsity term shrinks the masks, the regression term keeps the
information that predicts the return. The policy acts, and PPO learns, on
the updated states. In the official code h has no parameters and the
regression term is a single-class cross-entropy, which is identically zero,
so only the sparsity term trains the masks; here h is an MLP and the term
is a real mean squared error.

Three choices, each found on the batch-reward bandit test
(tests/test_agents/test_bandit.py), keep the masks meaningful:

- A learnable h undoes any common scale of ``m * s``, so with the literal
  ``h(m * s)`` nothing resists the sparsity term and every mask drifts to 0
  (mean mask 0.14 after 1000 Adam steps, and the policy, which sees
  ``m * s``, stopped learning). By default h is trained on
  ``m * s + (1 - m) * eps``, eps Gaussian noise with the episode's feature
  means and deviations (as in information-bottleneck attribution, Schulz
  et al., ICLR 2020): a small mask now hides a feature rather than
  rescaling it.
- One mask per feature (the paper's elementwise product); the official code
  has one scalar per state (``per_feature=False``).
- h also sees the instance's normalised temperature u: given the state
  alone, a feature stops predicting the return exactly when the policy has
  learnt to use it, and its mask then closed on the feature the policy
  needs. ``h(s', u)`` keeps the features that decide how the temperature
  pays off.
"""
import math

import torch
import torch.nn as nn

from .optim import (adam, check_int, check_range, descend, move_optimizer,
                    optimizer_tensors)
from .statistics import RunningMoments, masked_moments, weighted_mean


def state_updater_loss(masks,
                       predictions,
                       targets,
                       sparsity_weight=5e-3,
                       regression_weight=1.0,
                       weights=None):
    """Eq. (13): ``lambda1 * mean_t ||m_t||_1 + lambda2 * MSE(h_t, G_t)``.

    Args:
        masks (Tensor): m(s_t) of shape (N, K) (K = 1: one scalar a state).
        predictions (Tensor): The estimator's returns h_t of shape (N,).
        targets (Tensor): G_t of shape (N,).
        sparsity_weight (float): lambda1. Defaults to 5e-3.
        regression_weight (float): lambda2. Defaults to 1.0.
        weights (Tensor, optional): Each instance's weight in the means
            (they sum to 1; 0 on padding), the shape of ``targets``.
            Defaults to equal weights.

    Returns:
        tuple[Tensor]: The total loss, the sparsity term ``mean_t ||m_t||_1``
        and the MSE, each a scalar (the terms unweighted).
    """
    sparsity = weighted_mean(masks.abs().sum(-1), weights)
    mse = weighted_mean((predictions - targets).square(), weights)
    return sparsity_weight * sparsity + regression_weight * mse, sparsity, mse


def _mlp(in_dim, hidden_dim, out_dim):
    return nn.Sequential(
        nn.Linear(in_dim, hidden_dim), nn.ReLU(),
        nn.Linear(hidden_dim, out_dim))


class StateMaskNet(nn.Module):
    """Mask network m(s) and return estimator h.

    States are probabilities and margins in [0, 1]; the mask network sees
    them centred to [-1, 1]. The masks start near 1 (``initial_mask``), so
    the policy first sees almost the raw states, and only the sparsity term
    and the estimator's needs move them.

    Args:
        state_dim (int): Features per state.
        hidden_dim (int): Width of both hidden layers. Defaults to 16.
        per_feature (bool): One mask per feature (``m(s) * s``
            elementwise) instead of one scalar per state (the official
            code). Defaults to True.
        initial_mask (float): Mask value the output bias starts at, in
            (0, 1). Defaults to 0.95.
    """

    def __init__(self,
                 state_dim,
                 hidden_dim=16,
                 per_feature=True,
                 initial_mask=0.95):
        super().__init__()
        self.mask = _mlp(state_dim, hidden_dim,
                         state_dim if per_feature else 1)
        nn.init.zeros_(self.mask[-1].weight)
        nn.init.constant_(self.mask[-1].bias,
                          math.log(initial_mask / (1 - initial_mask)))
        self.estimator = _mlp(state_dim + 1, hidden_dim, 1)

    def masks(self, states):
        """m(s) of shape (N, D) (or (N, 1) per state), in (0, 1)."""
        return torch.sigmoid(self.mask(2 * states - 1))

    def forward(self, states, temperatures, noise=None):
        """Masks (N, D or 1) and the estimator's returns (N,).

        Args:
            states (Tensor): Raw states (N, D).
            temperatures (Tensor): Normalised temperatures in [0, 1], (N,).
            noise (Tensor, optional): What replaces the masked-out part,
                shape (N, D): h sees ``m * s + (1 - m) * noise``. None:
                ``m * s``.
        """
        masks = self.masks(states)
        updated = masks * states
        if noise is not None:
            updated = updated + (1 - masks) * noise
        inputs = torch.cat([updated, temperatures.unsqueeze(-1)], dim=-1)
        return masks, self.estimator(inputs).squeeze(-1)


class StateUpdater:
    """Trains the state mask and applies it to the policy's input.

    Args:
        state_dim (int): Features per state.
        hidden_dim (int): Width of the mask and estimator MLPs.
            Defaults to 16 (the official code's width).
        lr (float): Adam learning rate. Defaults to 1e-3 (official).
        epochs (int): Adam steps per episode. Defaults to 2 (the official
            code takes 10; each step costs time in every iteration).
        sparsity_weight (float): lambda1. Defaults to 5e-3 (official).
        regression_weight (float): lambda2. Defaults to 1.0 (official).
        per_feature (bool): One mask per feature instead of one per state
            (the official code). Defaults to True.
        initial_mask (float): Starting value of the masks. Defaults to
            0.95.
        gate_sparsity (bool): Weigh the sparsity term by the share of the
            return's variance h explains (running averages, in [0, 1]):
            with a return that is noise, no feature is worth more than
            another, and an ungated L1 term drives every mask to 0 (the
            policy then sees zeros; measured: all masks < 0.01 within 300
            noise episodes). Gated, masks shrink only once h predicts the
            return, and then only those h does not need. False is eq. 13
            as printed. Defaults to True.

    Attributes:
        generator (torch.Generator, optional): Draws the masked-out noise.
    """

    def __init__(self,
                 state_dim,
                 hidden_dim=16,
                 lr=1e-3,
                 epochs=2,
                 sparsity_weight=5e-3,
                 regression_weight=1.0,
                 per_feature=True,
                 initial_mask=0.95,
                 gate_sparsity=True):
        check_int('state_dim', state_dim, 1)
        check_int('hidden_dim', hidden_dim, 1)
        check_range('lr', lr, 0, math.inf, low_open=True)
        check_int('epochs', epochs, 0)
        check_range('sparsity_weight', sparsity_weight, 0, math.inf)
        check_range('regression_weight', regression_weight, 0, math.inf)
        if not 0 < initial_mask < 1:
            raise ValueError(f'initial_mask must be in (0, 1), got '
                             f'{initial_mask}')
        self.network = StateMaskNet(
            int(state_dim), int(hidden_dim), per_feature, initial_mask)
        self.epochs = int(epochs)
        self.sparsity_weight = sparsity_weight
        self.regression_weight = regression_weight
        self.gate_sparsity = gate_sparsity
        # Running means of h's squared error and of the return's variance.
        self._fit = RunningMoments(0.99)
        self.generator = None
        self.params = list(self.network.parameters())
        self.optimizer = adam(self.params, lr)

    @torch.no_grad()
    def update_states(self, states):
        """What the policy sees, ``m(s) * s``, shape (N, D)."""
        return self.network.masks(states) * states

    @staticmethod
    def noise_moments(states, valid=None):
        """Each episode's feature means and (unbiased) deviations, over its
        ``valid`` steps when episodes are padded (shape (E, N))."""
        if valid is None:
            valid = states.new_ones(states.shape[:-1])
        return masked_moments(states, valid.unsqueeze(-1), dim=-2)[:2]

    def standard_noise(self, shape, device):
        """The standard normal draws of one :meth:`update` on states of
        ``shape`` ((N, D) or (E, N, D)): float32 of shape
        ``(max(epochs, 1), *shape)``, from :attr:`generator`. A captured
        update takes them as an input: the generator stays outside the
        graph."""
        return torch.randn((max(self.epochs, 1), ) + tuple(shape),
                           generator=self.generator,
                           device=device)

    def noise(self, states, valid=None, moments=None, standard=None):
        """Replacement for the masked-out part: Gaussian noise with each
        episode's feature means and deviations (:meth:`noise_moments`, or
        ``moments`` already taken of these states), from ``standard``
        normal draws of the states' shape (drawn here if None)."""
        mean, std = moments or self.noise_moments(states, valid)
        if standard is None:
            standard = self.standard_noise(states.shape, states.device)[0]
        return mean + std * standard

    def loss(self, states, temperatures, targets, noise=None):
        """Eq. (13) with its two terms (see :func:`state_updater_loss`).

        Args:
            states (Tensor): Raw states (N, D).
            temperatures (Tensor): Normalised temperatures (N,).
            targets (Tensor): Returns G_t (N,).
            noise (Tensor, optional): See :meth:`StateMaskNet.forward`.
        """
        masks, predictions = self.network(states, temperatures, noise)
        return state_updater_loss(masks, predictions, targets,
                                  self.sparsity_weight, self.regression_weight)

    def update(self,
               states,
               temperatures,
               targets,
               valid=None,
               standard_noise=None):
        """Train on one episode (or E padded ones); returns the first
        step's terms (0-dim).

        Args:
            states (Tensor): Raw states of shape (N, D) or (E, N, D).
            temperatures (Tensor): Normalised temperatures, shape (N,) or
                (E, N).
            targets (Tensor): Each state's return G_t, likewise.
            valid (Tensor, optional): 1.0 on steps, 0.0 on padding, the
                shape of ``targets``. Defaults to every step valid.
            standard_noise (Tensor, optional): :meth:`standard_noise` of
                ``states``; drawn here if None.

        Returns:
            dict[str, Tensor]: ``loss``, ``sparsity``, ``mse``,
            ``mask_mean`` and ``feature_masks`` (each feature's mean mask,
            shape (K,)), measured before the first step.
        """
        states = states.detach()
        temperatures = temperatures.detach()
        targets = targets.detach()
        if valid is None:
            valid = torch.ones_like(targets)
        weights = valid / valid.sum()
        if standard_noise is None:
            standard_noise = self.standard_noise(states.shape, states.device)
        moments = self.noise_moments(states, valid)  # the same every epoch
        # The networks take every episode's steps as one flat batch (no
        # reshape around each layer, forward and backward).
        flat_states = states.flatten(0, -2)
        temperatures, targets, weights = (
            t.flatten() for t in (temperatures, targets, weights))
        first = gate = None
        for epoch in range(max(self.epochs, 1)):
            noise = self.noise(
                states, moments=moments,
                standard=standard_noise[epoch]).flatten(0, -2)
            masks, predictions = self.network(flat_states, temperatures,
                                              noise)
            if gate is None:
                gate = self._explained(predictions.detach(), targets,
                                       weights) \
                    if self.gate_sparsity else targets.new_ones(())
                sparsity_weight = self.sparsity_weight * gate
            loss, sparsity, mse = state_updater_loss(masks, predictions,
                                                     targets, sparsity_weight,
                                                     self.regression_weight,
                                                     weights)
            if first is None:
                with torch.no_grad():
                    feature_masks = (masks * weights.unsqueeze(-1)).sum(0)
                first = dict(
                    loss=loss.detach(),
                    sparsity=sparsity.detach(),
                    mse=mse.detach(),
                    mask_mean=feature_masks.mean(),
                    feature_masks=feature_masks,
                    sparsity_gate=gate)
            if not self.epochs:
                break
            descend(self.optimizer, loss)
        return first

    def _explained(self, predictions, targets, weights):
        """Share of the return's variance h explains, from running means.

        ``1 - E[(h - G)^2] / Var(G)`` clamped to [0, 1], with both moments
        averaged over episodes (one episode's estimate is too noisy: h
        fitted to noise would look useful now and then). 0-dim, on the
        device.
        """
        mean = weighted_mean(targets, weights)
        moments = torch.stack([
            weighted_mean((predictions - targets).square(), weights),
            weighted_mean((targets - mean).square(), weights)
        ])
        mse, var = self._fit.update(moments).unbind()
        return (1 - mse / var.clamp_min(1e-12)).clamp(0, 1)

    def tensors(self):
        """What :meth:`update` changes in place besides the networks."""
        return optimizer_tensors(self.optimizer) + self._fit.tensors()

    def state_dict(self):
        """Networks, optimizer state and the running fit of h."""
        return dict(
            network=self.network.state_dict(),
            optimizer=self.optimizer.state_dict(),
            fit=self._fit.state_dict())

    def load_state_dict(self, state_dict):
        """Restore what :meth:`state_dict` returned."""
        self.network.load_state_dict(state_dict['network'])
        self.optimizer.load_state_dict(state_dict['optimizer'])
        fit = state_dict.get('fit')
        if torch.is_tensor(fit):
            # Saved as a plain EMA (before RunningMoments): no bias left.
            fit = dict(sums=fit, count=10**4)
        self._fit = RunningMoments(0.99)
        if fit is not None:
            self._fit.load_state_dict(fit)

    def to(self, device):
        """Move the networks, the optimizer's state and the running fit."""
        self._fit.to(device)
        self.network.to(device)
        self.params = list(self.network.parameters())
        move_optimizer(self.optimizer, self.params, device)
        return self
