"""The whole RLKD agent: what the policy sees, and how an episode trains it.

One closed episode (a batch of instances and its single batch reward)
trains, in order:

1. the reward corrector (instance reward calibration, eqs. 10-11), which
   splits the batch reward over the instances;
2. the state updater (eqs. 12-13), on each instance's share of the return;
3. PPO, on the calibrated per-instance rewards (the official code computes
   them but its PPO never sees them).

The policy acts on the updated states ``m(s) * s`` and PPO learns on the
very states it acted on, so the probability ratio compares the old and the
new policy on the same input (the official code masks only the update's
states).

The corrector and the state updater see the reward standardised by its
running mean and standard deviation: a batch-accuracy gain is ~1e-2 around
a drifting mean, and Adam's step size, not the gradient's, sets how fast
small networks move. The calibrated rewards are mapped back, so they sum to
the batch reward.

What makes it safe on GPUs and several processes (see
``shared/design.md``): it acts and learns in float32 with autocast off;
everything it holds follows :meth:`RLKDAgent.to`; its random draws come
from its own generator, seeded per process (:meth:`RLKDAgent.seed_for_rank`)
so processes explore differently while :class:`AgentSync` keeps their
networks identical; one host sync per update decides, for every process at
once, whether to learn; diagnostics stay on the device.
"""
import contextlib
import math

import torch

_OWN_KEYS = ('corrector_loss', 'calibrated_reward_std', 'state_updater_loss',
             'state_updater_mse', 'mask_mean', 'reward_std',
             'corrector_heldout_prediction', 'corrector_target', 'credit_gate')
#: PPO settings for an agent whose reward corrector credits each instance
#: (opt-in, with ``RewardCorrector(gate_credit=True)``; docs/en/user_guides/
#: rlkd.md says what they gain on the credit benchmark and lose on
#: DigitPairs).
#: The instances of a batch are a contextual bandit: one instance's
#: temperature does not change the next one's state, so discounting
#: (gamma > 0) only adds the credit of the instances after it, in batch
#: order, to its advantage; and standardising the advantages over the
#: episode would blow an even, uninformative credit (see
#: ``RewardCorrector(gate_credit=True)``) up to unit-size steps. Measured
#: with ``tools/analysis/credit_assignment.py`` (issue 17).
CALIBRATED_PPO = dict(gamma=0.0, normalize_advantages=False)
#: Spreads the per-process seeds (the golden ratio in 64 bits).
_RANK_STRIDE = 0x9E3779B97F4A7C15


@contextlib.contextmanager
def full_precision(device):
    """Autocast off on ``device``: the agent computes in float32.

    Under the model's autocast the agent's small networks would run in
    fp16 while PPO recomputes the log-probabilities in float32, and the
    first probability ratio would not be 1.
    """
    if device.type in ('cpu', 'cuda', 'xpu', 'mps', 'hpu') and \
            torch.is_autocast_enabled(device.type):
        with torch.autocast(device.type, enabled=False):
            yield
    else:
        yield


def make_generator(device, seed):
    """A generator on ``device`` seeded with ``seed`` (None on 'meta')."""
    if device.type == 'meta':
        return None
    generator = torch.Generator(device=device)
    generator.manual_seed(seed % 2**63)
    return generator


class RLKDAgent:
    """Policy, PPO and the optional calibration and state updater.

    Args:
        policy (TemperaturePolicy): The actor-critic.
        updater (PPOUpdater): PPO on ``policy``.
        reward_corrector (RewardCorrector, optional): Calibrates the batch
            reward; None puts the whole reward on the episode's last step
            (the "w/o calibration" ablation). Defaults to None.
        state_updater (StateUpdater, optional): Masks the policy's states;
            None gives the policy the raw states. Defaults to None.
        reward_momentum (float): EMA momentum of the reward's running mean
            and variance. Defaults to 0.99.
        cpu_threads (int, optional): Intra-op threads while the agent acts
            and learns on the CPU; None keeps the process's setting. Defaults
            to 1: the networks are too small to gain from more, and on a
            busy machine extra threads mostly wait for each other (measured
            here: a whole agent update 3x slower with 2 threads).
        max_episode_length (int, optional): Learn from at most this many of
            an episode's instances, drawn at random with their order kept;
            None learns from all. For detection, where an episode holds
            every sampled RoI of the batch (~1000): PPO's cost grows with
            the episode while RoIs of one image say much the same. Defaults
            to None.
        seed (int, optional): Seed of the agent's own generator (sampling
            noise, state-updater noise, subsampling, minibatch shuffles);
            None draws it from torch's global generator, so a seeded run is
            reproducible. Defaults to None.

    Attributes:
        skipped_updates (int): Episodes not learnt from (empty or not
            finite on some process), since the start.
    """

    def __init__(self,
                 policy,
                 updater,
                 reward_corrector=None,
                 state_updater=None,
                 reward_momentum=0.99,
                 cpu_threads=1,
                 max_episode_length=None,
                 seed=None):
        if cpu_threads is not None and (int(cpu_threads) != cpu_threads
                                        or cpu_threads < 1):
            raise ValueError(f'cpu_threads must be an int >= 1 or None, got '
                             f'{cpu_threads}')
        if max_episode_length is not None and (int(max_episode_length)
                                               != max_episode_length
                                               or max_episode_length < 1):
            raise ValueError('max_episode_length must be an int >= 1 or '
                             f'None, got {max_episode_length}')
        if not 0 <= reward_momentum < 1:
            raise ValueError('reward_momentum must be in [0, 1), got '
                             f'{reward_momentum}')
        self.policy = policy
        self.updater = updater
        self.reward_corrector = reward_corrector
        self.state_updater = state_updater
        self.reward_momentum = reward_momentum
        self.cpu_threads = cpu_threads
        self.max_episode_length = max_episode_length
        self._reward_moments = None  # EMAs of G and G^2, not bias-corrected
        self._reward_count = 0
        self.skipped_updates = 0
        self._sync = None
        self._seed = int(torch.randint(2**62, ())) if seed is None \
            else int(seed)
        self._set_generator(make_generator(self.device, self._seed))

    @property
    def device(self):
        """Where the networks, and everything the agent holds, live."""
        return self.policy.log_std.device

    def networks(self):
        """Every module with learnable parameters (to move or broadcast)."""
        modules = [self.policy]
        for part in (self.reward_corrector, self.state_updater):
            if part is not None:
                modules.append(part.network)
        return modules

    def _parts(self):
        return [
            part for part in (self.updater, self.reward_corrector,
                              self.state_updater) if part is not None
        ]

    @property
    def sync(self):
        """The :class:`AgentSync` of every optimizer (None: one process)."""
        return self._sync

    @sync.setter
    def sync(self, sync):
        self._sync = sync
        for part in self._parts():
            part.sync = sync

    def _set_generator(self, generator):
        self.generator = generator
        for part in (self.updater, self.state_updater):
            if part is not None:
                part.generator = generator

    def seed_for_rank(self, rank):
        """Reseed the agent's generator for process ``rank``.

        Every process builds its agent from the same seed; its random draws
        must differ per process, or N processes explore like one.
        """
        self._set_generator(
            make_generator(self.device, self._seed + _RANK_STRIDE * rank))

    def get_rng_state(self):
        """The agent's generator state (a CPU byte tensor) or None."""
        return None if self.generator is None else self.generator.get_state()

    def set_rng_state(self, state):
        """Restore :meth:`get_rng_state`; False if it does not fit here.

        A state saved on another kind of device (a CPU generator's state on
        a GPU, say) does not fit; the caller then keeps a fresh seed.
        """
        if self.generator is None or state is None:
            return False
        try:
            self.generator.set_state(state.cpu())
        except RuntimeError:
            return False
        return True

    def to(self, device):
        """Move the networks, optimizer states, replay, statistics and RNG.
        """
        device = torch.device(device)
        if device == self.device:
            return self
        old_generator = self.generator
        for module in self.networks():
            module.to(device)
        for part in self._parts():
            part.to(device)
        if self._reward_moments is not None:
            self._reward_moments = self._reward_moments.to(device)
        # A generator cannot change device: continue from a seed it draws.
        seed = self._seed if old_generator is None else int(
            torch.randint(
                2**62, (),
                generator=old_generator,
                device=old_generator.device))
        self._set_generator(make_generator(device, seed))
        return self

    def policy_states(self, states):
        """What the policy sees: the updated states, or the raw ones."""
        if self.state_updater is None:
            return states
        return self.state_updater.update_states(states)

    @torch.no_grad()
    def act(self, states, deterministic=False):
        """:meth:`TemperaturePolicy.act` on the updated states, in float32.

        Returns:
            dict[str, Tensor]: The policy's outputs plus ``policy_states``,
            the states it acted on (store them for PPO).
        """
        with self._threads(states.device), full_precision(states.device):
            policy_states = self.policy_states(states.float())
            out = self.policy.act(policy_states, deterministic, self.generator)
        out['policy_states'] = policy_states
        return out

    def _reward_statistics(self, reward):
        """Update the reward's running mean and std; return both (0-dim).

        Bias-corrected EMAs (as in Adam) of G and G^2, this episode's G
        included, so the standardised reward is bounded (by about
        ``1 / sqrt(1 - momentum)``) from the first episode on.
        """
        reward = reward.detach()
        moments = torch.stack([reward, reward.square()])
        if self._reward_moments is None:
            self._reward_moments = torch.zeros_like(moments)
        momentum = self.reward_momentum
        self._reward_moments = momentum * self._reward_moments + (
            1 - momentum) * moments
        self._reward_count += 1
        mean, mean_sq = self._reward_moments / (1 -
                                                momentum**self._reward_count)
        std = (mean_sq - mean.square()).clamp_min(0).sqrt()
        return mean, std + 1e-8

    @contextlib.contextmanager
    def _threads(self, device):
        """Run the update on ``cpu_threads`` threads (CPU only)."""
        threads = torch.get_num_threads()
        if self.cpu_threads is None or device.type != 'cpu' or \
                threads == self.cpu_threads:
            yield
            return
        torch.set_num_threads(self.cpu_threads)
        try:
            yield
        finally:
            torch.set_num_threads(threads)

    def learn(self, episode, batch_reward):
        """Train every part on one closed episode, in float32.

        Args:
            episode (dict[str, Tensor]): ``states`` (raw, (N, D)),
                ``policy_states`` (what the policy acted on, (N, D)),
                ``actions``, ``log_probs`` and ``values`` ((N,)).
            batch_reward (float | Tensor): The episode's one reward (the
                same on every process).

        Returns:
            dict[str, Tensor]: 0-dim diagnostics on the agent's device:
            PPO's plus the calibration and state-updater ones (NaN where a
            part is off) and, with the state updater, ``mask_{k}``, feature
            k's mean mask; ``skipped`` is 1 when the episode or reward is
            empty or not finite on any process (nothing trained).
        """
        device = episode['actions'].device
        with self._threads(device), full_precision(device):
            episode = {key: value.float() for key, value in episode.items()}
            return self._learn(self._subsample(episode), batch_reward)

    def _subsample(self, episode):
        """At most ``max_episode_length`` random steps, in their order."""
        num = episode['actions'].shape[0]
        if self.max_episode_length is None or num <= self.max_episode_length:
            return episode
        device = episode['actions'].device
        keep = torch.randperm(
            num, generator=self.generator,
            device=device)[:self.max_episode_length].sort().values
        return {key: value[keep] for key, value in episode.items()}

    def _learn(self, episode, batch_reward):
        states = episode['states']
        actions = episode['actions']
        reward = torch.as_tensor(
            batch_reward, device=actions.device).to(actions.dtype).reshape(())
        num = actions.shape[0]
        inputs = (states, episode['policy_states'], actions,
                  episode['log_probs'], episode['values'], reward)
        nan = actions.new_full((), math.nan)
        diagnostics = dict.fromkeys(_OWN_KEYS, nan)
        sizes = self.updater.agreed_sizes(inputs)
        if sizes is None:
            self.skipped_updates += 1
            diagnostics.update(self.updater._skipped())
            return diagnostics

        mean, std = self._reward_statistics(reward)
        normalised = (reward - mean) / std
        temperatures = torch.sigmoid(actions)
        if self.reward_corrector is not None:
            diagnostics['corrector_loss'] = self.reward_corrector.update(
                states, temperatures, normalised)
            # Its prediction of this return before training on it, and the
            # return (standardised): held-out pairs for the reward's
            # explained variance (issue 17, item 2).
            diagnostics['corrector_heldout_prediction'] = \
                self.reward_corrector.last_heldout_prediction
            diagnostics['corrector_target'] = normalised
            diagnostics['credit_gate'] = self.reward_corrector.credit_gate
            credit = self.reward_corrector.redistribute(
                states, temperatures, normalised)
            # Back to reward units; the mean is shared evenly, so the
            # rewards sum to mean + std * normalised = G.
            rewards = credit * std + mean / num
            diagnostics['calibrated_reward_std'] = rewards.std() \
                if num > 1 else torch.zeros_like(nan)
        else:
            credit = normalised.expand(num) / num
            rewards = torch.zeros_like(actions)
            rewards[-1] = reward
        if self.state_updater is not None:
            # Each instance's share in units of one instance's typical share.
            terms = self.state_updater.update(states, temperatures,
                                              credit * math.sqrt(num))
            diagnostics.update(
                state_updater_loss=terms['loss'],
                state_updater_mse=terms['mse'],
                mask_mean=terms['mask_mean'],
                sparsity_gate=terms['sparsity_gate'])
            for k, mask in enumerate(terms['feature_masks'].unbind()):
                diagnostics[f'mask_{k}'] = mask
        diagnostics.update(
            self.updater.update(
                episode['policy_states'],
                actions,
                episode['log_probs'],
                episode['values'],
                rewards,
                sizes=sizes))
        diagnostics['reward_std'] = std
        return diagnostics

    def state_dict(self):
        """Networks, optimizers, replay, reward statistics and the RNG."""
        state = dict(
            policy=self.policy.state_dict(),
            updater=self.updater.state_dict(),
            reward_moments=self._reward_moments,
            reward_count=self._reward_count,
            skipped_updates=self.skipped_updates,
            seed=self._seed,
            rng_state=self.get_rng_state())
        if self.reward_corrector is not None:
            state['reward_corrector'] = self.reward_corrector.state_dict()
        if self.state_updater is not None:
            state['state_updater'] = self.state_updater.state_dict()
        return state

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned, on the agent's device.

        Returns:
            list[str]: Parts this agent has but ``state`` lacks (saved with
            the part switched off, or by an older version); they keep their
            fresh state.
        """
        self.policy.load_state_dict(state['policy'])
        self.updater.load_state_dict(state['updater'])
        missing = []
        for name in ('reward_corrector', 'state_updater'):
            part = getattr(self, name)
            if part is None:
                continue
            if name in state:
                part.load_state_dict(state[name])
            else:
                missing.append(name)
        if 'reward_count' in state:
            self._reward_moments = state['reward_moments']
            self._reward_count = state['reward_count']
        else:
            missing.append('reward_std')
        self.skipped_updates = state.get('skipped_updates', 0)
        if 'seed' in state:
            self._seed = state['seed']
            self._set_generator(make_generator(self.device, self._seed))
        if not self.set_rng_state(state.get('rng_state')):
            missing.append('rng_state')
        # Everything the state brought lands where the networks are.
        device = self.device
        for part in self._parts():
            part.to(device)
        if self._reward_moments is not None:
            self._reward_moments = self._reward_moments.to(device)
        return missing
