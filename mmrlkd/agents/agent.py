"""The whole RLKD agent: what the policy sees, and how an episode trains it.

:meth:`RLKDAgent.act` turns a batch's instance states into temperatures and
an :class:`Episode`; :meth:`RLKDAgent.learn` trains on one closed episode
and its single batch reward, in this order:

1. the batch reward is standardised by its running mean and std (a
   batch-accuracy gain is ~1e-2 around a drifting mean, and Adam's step
   size, not the gradient's, sets how fast small networks move);
2. the reward corrector (instance reward calibration, eqs. 10-11) learns
   from it and splits it over the instances (their *credit*);
3. the state updater (eqs. 12-13) learns which state features predict each
   instance's credit;
4. PPO learns from the per-instance rewards (the credit mapped back to
   reward units, so they sum to the batch reward; the official code
   computes them but its PPO never sees them).

The policy acts on the updated states ``m(s) * s`` and PPO learns on the
very states it acted on, so the probability ratio compares the old and the
new policy on the same input (the official code masks only the update's
states).

What makes it safe on GPUs and several processes (see
``shared/design.md``): it acts and learns in float32 with autocast off;
everything it holds follows :meth:`RLKDAgent.to`; its random draws come
from its own generator, seeded per process (:meth:`RLKDAgent.seed_for_rank`)
so processes explore differently; every process learns from the episodes
of all processes, gathered in one collective and padded to a fixed
capacity, by the same update, so their networks stay identical without a
collective per optimizer step; one host read of the gathered headers
decides, for every process at once, whether to learn; diagnostics stay on
the device. What makes it cheap on a GPU: acting and learning are
functions of tensors (:meth:`RLKDAgent.acting_step`,
:meth:`RLKDAgent.learning_step`) that change the agent's tensors in place,
so on CUDA each replays as one CUDA graph (``capture``).
"""
import contextlib
import math

import torch

from .capture import GraphedFunction
from .episode import HEADER, Episode, pack_episode, unpack_episodes
from .optim import check_int
from .rng import (generator_state, make_generator, moved_generator,
                  rank_seed, restore_generator)
from .statistics import RunningMoments, masked_moments

#: Episodes are padded to a multiple of this many steps (see
#: :meth:`RLKDAgent._gather`).
CAPACITY_STEP = 32

#: The agent's own diagnostics (PPO's are :data:`ppo.DIAGNOSTICS`).
DIAGNOSTICS = ('corrector_loss', 'calibrated_reward_std',
               'state_updater_loss', 'state_updater_mse', 'mask_mean',
               'sparsity_gate', 'reward_std', 'corrector_heldout_prediction',
               'corrector_target')


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


@contextlib.contextmanager
def one_thread(device):
    """Act and learn on one intra-op thread on the CPU.

    The networks are too small to gain from more, and on a busy machine
    extra threads mostly wait for each other (a whole agent update was
    measured 3x slower with 2 threads than with 1 on a busy 2-core
    machine).
    """
    threads = torch.get_num_threads()
    if device.type != 'cpu' or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def episode_is_finite(episode, reward):
    """Whether every value of ``episode`` and ``reward`` is finite (a 0-dim
    bool on the device: no host read; one test over all the values)."""
    fields = (episode.states, episode.policy_states, episode.actions,
              episode.log_probs, episode.values, reward)
    return torch.isfinite(torch.cat([t.reshape(-1) for t in fields])).all()


class RewardScale:
    """Standardises the batch reward by its running mean and std.

    Bias-corrected running averages of G and G^2, this episode's G
    included, so the standardised reward is bounded (by about
    ``1 / sqrt(1 - momentum)``) from the first episode on.
    """

    def __init__(self, momentum=0.99):
        self.moments = RunningMoments(momentum)

    def standardise(self, reward):
        """Fold ``reward`` (0-dim) in.

        Returns:
            tuple[Tensor]: ``(G - mean) / std``, the mean and the std.
        """
        mean, mean_sq = self.moments.update(
            torch.stack([reward, reward.square()])).unbind()
        std = (mean_sq - mean.square()).clamp_min(0).sqrt() + 1e-8
        return (reward - mean) / std, mean, std


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
        max_episode_length (int, optional): Learn from at most this many of
            an episode's instances, drawn at random with their order kept;
            None learns from all. For detection, where an episode holds
            every sampled RoI of the batch (~1000): PPO's cost grows with
            the episode while RoIs of one image say much the same. Defaults
            to None.
        seed (int, optional): Seed of the agent's own generator (sampling
            noise, state-updater noise, subsampling); None draws it from
            torch's global generator, so a seeded run is reproducible.
            Defaults to None.
        rollout_episodes (int): Learn from this many rewarded episodes
            together, in one update (each with its own reward; none
            dropped, unlike the hook's ``update_interval``): one gather and
            one PPO update for k iterations. 1 is the paper's, an update
            per iteration. Defaults to 1.
        capture (bool): On CUDA, replay the acting and the learning step
            as CUDA graphs (:class:`GraphedFunction`: checked against eager
            once per shape, eager with a warning if capture fails).
            Defaults to True.

    Attributes:
        skipped_updates (int): Episodes not learnt from (empty or not
            finite on some process), since the start.
    """

    def __init__(self,
                 policy,
                 updater,
                 reward_corrector=None,
                 state_updater=None,
                 max_episode_length=None,
                 seed=None,
                 rollout_episodes=1,
                 capture=True):
        if max_episode_length is not None:
            check_int('max_episode_length', max_episode_length, 1)
        check_int('rollout_episodes', rollout_episodes, 1)
        self.rollout_episodes = int(rollout_episodes)
        #: Rewarded (episode, reward) pairs waiting for a full rollout.
        self.rollout = []
        self.policy = policy
        self.updater = updater
        self.reward_corrector = reward_corrector
        self.state_updater = state_updater
        self.max_episode_length = max_episode_length
        self.reward_scale = RewardScale()
        self.skipped_updates = 0
        self.sync = None
        self.capacity = 0
        self._seed = int(torch.randint(2**62, ())) if seed is None \
            else int(seed)
        self.generator = make_generator(self.device, self._seed)
        self._set_learn_generator(make_generator(self.device, self._seed))
        self.graphed_acting = GraphedFunction(
            self.acting_step, self._network_tensors, enabled=capture)
        self.graphed_learning = GraphedFunction(
            self.learning_step,
            self._learning_tensors,
            enabled=capture,
            updates=True,
            capturing=self._capturable)
        #: The names of :meth:`learning_step`'s outputs.
        self._learning_keys = None

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

    def _network_tensors(self):
        """Every parameter and buffer the networks hold."""
        return [t for module in self.networks() for t in module.state_dict(
            keep_vars=True).values()]

    def _learning_tensors(self):
        """Every tensor :meth:`learning_step` reads or changes in place."""
        tensors = self._network_tensors() + \
            self.reward_scale.moments.tensors()
        for part in self._parts():
            tensors += part.tensors()
        return tensors

    @contextlib.contextmanager
    def _capturable(self):
        """The optimizers marked capturable while a step is captured (their
        device-side step counts make them so; the mark lets them run
        inside a capture)."""
        groups = [
            group for part in self._parts()
            for group in part.optimizer.param_groups
        ]
        for group in groups:
            group['capturable'] = True
        try:
            yield
        finally:
            for group in groups:
                group['capturable'] = False

    def _parts(self):
        return [
            part for part in (self.updater, self.reward_corrector,
                              self.state_updater) if part is not None
        ]

    def _set_learn_generator(self, generator):
        self.learn_generator = generator
        if self.state_updater is not None:
            self.state_updater.generator = generator

    def seed_for_rank(self, rank):
        """Reseed the acting generator for process ``rank``.

        Every process builds its agent from the same seed; its exploration
        noise must differ per process, or N processes explore like one.
        The learning generator (the state updater's noise) stays the same
        on every process: they all run the same update.
        """
        self.generator = make_generator(self.device,
                                        rank_seed(self._seed, rank))

    def get_rng_state(self):
        """The acting generator's state (a CPU byte tensor) or None."""
        return generator_state(self.generator)

    def set_rng_state(self, state):
        """Restore :meth:`get_rng_state`; False if it does not fit here
        (saved on another kind of device): the generator then stays as
        seeded."""
        return restore_generator(self.generator, state)

    def to(self, device):
        """Move the networks, optimizer states, replay, statistics and RNG.
        """
        device = torch.device(device)
        if device == self.device:
            return self
        for module in self.networks():
            module.to(device)
        for part in self._parts():
            part.to(device)
        self.reward_scale.moments.to(device)
        self.rollout = [(episode.to(device), reward.to(device))
                        for episode, reward in self.rollout]
        self.generator = moved_generator(self.generator, device, self._seed)
        self._set_learn_generator(
            moved_generator(self.learn_generator, device, self._seed))
        return self

    def policy_states(self, states):
        """What the policy sees: the updated states, or the raw ones."""
        if self.state_updater is None:
            return states
        return self.state_updater.update_states(states)

    @torch.no_grad()
    def act(self, states, deterministic=False):
        """Temperatures for a batch's instances, and the episode to learn.

        Args:
            states (Tensor): Raw instance states, shape (N, D).
            deterministic (bool): The policy's mean action (evaluation).

        Returns:
            tuple[Tensor, Episode]: Temperatures (N,), and the episode:
            the raw states, the states the policy acted on (updated by the
            state updater), actions, log-probs and values.
        """
        with one_thread(states.device), full_precision(states.device):
            states = states.float()
            if deterministic:
                noise = states.new_zeros(states.shape[:-1])
            else:
                noise = torch.randn(
                    states.shape[:-1],
                    generator=self.generator,
                    dtype=states.dtype,
                    device=states.device)
            temperatures, *fields = self.graphed_acting(states, noise)
        return temperatures, Episode(states, *fields)

    @torch.no_grad()
    def acting_step(self, states, noise):
        """:meth:`act` on given standard normal draws (N,): a pure function
        of tensors, with no host read, that compiles whole
        (``torch.compile(fullgraph=True)``) and is captured on CUDA.

        Returns:
            tuple[Tensor]: Temperatures, then the :class:`Episode` fields
            after ``states``: policy states, actions, log-probs, values.
        """
        policy_states = self.policy_states(states)
        out = self.policy.act_on_noise(policy_states, noise)
        return (out['temperatures'], policy_states, out['actions'],
                out['log_probs'], out['values'])

    def learn(self, episode, batch_reward):
        """Train every part on one closed episode, in float32.

        Under several processes, the episodes of all processes are
        gathered once (:meth:`_gather`) and every process runs the same
        update on all of them: the same math as averaging each step's
        gradients over processes, without a collective per step.

        Args:
            episode (Episode): What :meth:`act` returned.
            batch_reward (float | Tensor): The episode's one reward (the
                same on every process).

        Returns:
            dict[str, Tensor | float]: 0-dim diagnostics on the agent's
            device: :data:`DIAGNOSTICS` (NaN where a part is off), PPO's
            and, with the state updater, ``mask_{k}``, feature k's mean
            mask; ``skipped`` is 1 when no process has a step to learn
            from or some process's episode or reward is not finite
            (nothing trained); ``skipped_updates`` counts those (a float).
        """
        device = episode.actions.device
        with one_thread(device), full_precision(device):
            self.rollout.append((self._subsample(
                episode.map(lambda t: t.float())), torch.as_tensor(
                    batch_reward, dtype=torch.float32,
                    device=device).reshape(())))
            if len(self.rollout) < self.rollout_episodes:
                return dict(skipped_updates=float(self.skipped_updates))
            rollout, self.rollout = self.rollout, []
            rows = self._gather(rollout)
            if rows is not None:
                diagnostics = self._learn_from(rows)
            else:
                self.skipped_updates += 1
                diagnostics = dict.fromkeys(
                    DIAGNOSTICS, torch.full((), math.nan, device=device))
                diagnostics.update(self.updater.skipped_diagnostics())
        diagnostics['skipped_updates'] = float(self.skipped_updates)
        return diagnostics

    def _learn_from(self, rows):
        """:meth:`learning_step` on gathered rows, from a CUDA graph where
        captured. What changes from one update to the next outside the
        agent's tensors is set first: PPO's learning rate (a tensor the
        step reads) and the state updater's noise (an input)."""
        self.updater.advance_schedule()
        noise = rows.new_zeros(0) if self.state_updater is None else \
            self.state_updater.standard_noise(
                (rows.shape[0], self.capacity, self.policy.state_dim),
                rows.device)
        values = self.graphed_learning(rows, noise)  # sets _learning_keys
        diagnostics = dict(zip(self._learning_keys, values, strict=True))
        if self.reward_corrector is not None:
            # A replayed graph sets no Python attribute.
            self.reward_corrector.last_heldout_prediction = \
                diagnostics['corrector_heldout_prediction']
        return diagnostics

    def learning_step(self, rows, noise):
        """Steps 1-4 of the module docstring on the gathered rows of
        :meth:`_gather` (checked: some step, all finite), with the state
        updater's standard normal draws ``noise`` (empty without it).

        A function of tensors that changes the agent's tensors in place,
        with no host read and shapes fixed by the capacity: it is captured
        on CUDA. Returns the diagnostics' values (their names are kept in
        ``_learning_keys``).
        """
        batch = unpack_episodes(rows, self.capacity, self.policy.state_dim)
        diagnostics = self._learn(batch, rows[:, 2], noise)
        self._learning_keys = tuple(diagnostics)
        return tuple(diagnostics.values())

    def _learn(self, batch, rewards, noise):
        """:meth:`learning_step` on an :class:`EpisodeBatch` whose episode
        e has reward ``rewards[e]`` (the rollout's k rewards, repeated for
        each process)."""
        nan = rewards.new_full((), math.nan)
        diagnostics = dict.fromkeys(DIAGNOSTICS, nan)
        valid = batch.valid
        lengths = batch.lengths.unsqueeze(-1).to(valid)
        temperatures = torch.sigmoid(batch.actions)  # normalised, [0, 1]

        # 1. The rewards, standardised in the order they came.
        k = self.rollout_episodes
        scaled = [
            self.reward_scale.standardise(reward)
            for reward in rewards[:k].unbind()
        ]
        standardised, mean, std = (torch.stack(values).repeat(
            rewards.shape[0] // k).unsqueeze(-1) for values in zip(*scaled))
        reward = rewards.unsqueeze(-1)
        diagnostics['reward_std'] = scaled[-1][2]

        # 2. Credit: each instance's share of the standardised reward (each
        # episode's credit sums to it).
        if self.reward_corrector is not None:
            corrector = self.reward_corrector
            diagnostics.update(
                corrector_loss=corrector.update(batch.states, temperatures,
                                                standardised.squeeze(-1),
                                                batch.lengths),
                # Its prediction of this return before training on it, and
                # the return: held-out pairs for the reward's explained
                # variance (RewardDiagnosticsHook).
                corrector_heldout_prediction=corrector.last_heldout_prediction,
                corrector_target=scaled[-1][0])
            credit = corrector.redistribute(batch.states, temperatures,
                                            standardised.squeeze(-1),
                                            batch.lengths)
            # Back in reward units: the mean is shared evenly, so each
            # episode's rewards sum to mean + std * standardised = G.
            step_rewards = (credit * std +
                            mean / lengths.clamp_min(1)) * valid
            diagnostics['calibrated_reward_std'] = masked_moments(
                step_rewards, valid)[1].reshape(())
        else:
            # The "w/o calibration" ablation: the reward on the last step.
            credit = standardised * valid / lengths.clamp_min(1)
            last = (lengths.long() - 1).clamp_min(0)
            step_rewards = torch.zeros_like(valid).scatter(
                -1, last, reward) * valid

        # 3. The state mask, on each instance's credit in units of one
        # instance's typical share.
        if self.state_updater is not None:
            terms = self.state_updater.update(batch.states, temperatures,
                                              credit * lengths.sqrt(), valid,
                                              noise)
            diagnostics.update(
                state_updater_loss=terms['loss'],
                state_updater_mse=terms['mse'],
                mask_mean=terms['mask_mean'],
                sparsity_gate=terms['sparsity_gate'])
            for k, mask in enumerate(terms['feature_masks'].unbind()):
                diagnostics[f'mask_{k}'] = mask

        # 4. PPO on the per-instance rewards.
        diagnostics.update(
            self.updater.train(batch.policy_states, batch.actions,
                               batch.log_probs, batch.values, step_rewards,
                               valid))
        return diagnostics

    def _gather(self, rollout):
        """Every process's rollout, padded to the agent's capacity, with
        each episode's reward, or None when some process's episode or
        reward is not finite, or no process has a step.

        One collective (:meth:`AgentSync.gather`, none when alone) and one
        host read of the gathered headers, so that all processes decide
        alike: learning must not split them. The capacity only grows (to
        the longest episode seen, rounded up to ``CAPACITY_STEP``): the
        gathered shapes stay the same from one update to the next. When an
        episode outgrows it, every process sees so in the headers and
        gathers again at the new capacity (the first update does so too).

        Returns:
            Tensor: The rows of :func:`pack_episode`, (E, ...),
            process-major: process p's k episodes are rows ``p * k`` to
            ``p * k + k - 1``.
        """
        finite = [episode_is_finite(episode, reward)
                  for episode, reward in rollout]
        if self.sync is None or not self.sync.active:
            # Alone, the capacity follows the episodes without a look.
            self._grow_capacity(max(len(episode) for episode, _ in rollout))
        while True:
            row = torch.cat([
                pack_episode(episode, self.capacity, ok, reward)
                for (episode, reward), ok in zip(rollout, finite)
            ])
            rows = row.unsqueeze(0) if self.sync is None else \
                self.sync.gather(row)
            rows = rows.reshape(-1, row.shape[0] // len(rollout))
            headers = rows[:, :HEADER].tolist()  # the one host read
            longest = max(int(length) for _, length, _ in headers)
            if longest <= self.capacity:
                break
            self._grow_capacity(longest)
        if not all(ok > 0 for ok, _, _ in headers) or longest == 0:
            return None
        return rows

    def _grow_capacity(self, length):
        """Room for an episode of ``length`` steps (it never shrinks)."""
        needed = -(-length // CAPACITY_STEP) * CAPACITY_STEP
        self.capacity = max(self.capacity, needed)

    def _subsample(self, episode):
        """At most ``max_episode_length`` random steps, in their order."""
        num = len(episode)
        if self.max_episode_length is None or num <= self.max_episode_length:
            return episode
        keep = torch.randperm(
            num, generator=self.generator,
            device=episode.actions.device)[:self.max_episode_length]
        keep = keep.sort().values
        return episode.map(lambda t: t[keep])

    def state_dict(self):
        """Networks, optimizers, replay, reward statistics and the RNG."""
        moments = self.reward_scale.moments.state_dict()
        state = dict(
            policy=self.policy.state_dict(),
            updater=self.updater.state_dict(),
            reward_moments=moments['sums'],
            reward_count=moments['count'],
            skipped_updates=self.skipped_updates,
            seed=self._seed,
            rollout=[(episode.state_dict(), reward.clone())
                     for episode, reward in self.rollout],
            rng_state=self.get_rng_state(),
            learn_rng_state=generator_state(self.learn_generator))
        if self.reward_corrector is not None:
            state['reward_corrector'] = self.reward_corrector.state_dict()
        if self.state_updater is not None:
            state['state_updater'] = self.state_updater.state_dict()
        return state

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned, on the agent's device.

        A generator state saved on another kind of device does not fit
        this one's; the generator is then seeded from the saved seed and
        ``rng_state`` is reported missing (the draws differ from the saved
        run's from here on; everything else continues exactly).

        Returns:
            list[str]: Parts this agent has but ``state`` lacks (saved with
            the part switched off, or by an older version), or whose saved
            state does not fit here; they start fresh.
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
            self.reward_scale.moments.load_state_dict(
                dict(sums=state['reward_moments'],
                     count=state['reward_count']))
        else:
            missing.append('reward_std')
        self.skipped_updates = state.get('skipped_updates', 0)
        self.rollout = [(Episode.from_state_dict(episode).to(self.device),
                         reward.to(self.device))
                        for episode, reward in state.get('rollout', [])]
        if 'seed' in state:
            self._seed = state['seed']
            self.generator = make_generator(self.device, self._seed)
        # Saved before learning had its own generator: seeded alike on
        # every process, which is all the update needs.
        self._set_learn_generator(make_generator(self.device, self._seed))
        restore_generator(self.learn_generator, state.get('learn_rng_state'))
        if not self.set_rng_state(state.get('rng_state')):
            missing.append('rng_state')
        # Everything the state brought lands where the networks are.
        device = self.device
        for part in self._parts():
            part.to(device)
        self.reward_scale.moments.to(device)
        return missing
