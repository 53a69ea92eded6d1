"""Does the RLKD agent learn per-instance temperatures from one batch reward?

A benchmark of the agent alone (plain PyTorch, no OpenMMLab, minutes on one
CPU thread). Each episode is a batch of synthetic instances whose states are
computed like real RLKD states: random student and teacher logits
(:func:`sample_logits`) go through ``mmrlkd.agents.instance_states``
(student max-probability, teacher max-probability, student top-1 minus
top-2 margin). A hidden best temperature ``T*(s)`` (``--function``) gives
each instance an effect ``e_i = -(T_i - T*(s_i))^2 / D``, and the episode's
only reward is ``R = mean_i e_i + noise * N(0, 1)``: what RLKD's agent gets
from a change of batch accuracy.

Signal and noise. ``D = E_s[(5 - T*(s))^2]`` makes the signal 1: an
untrained policy samples temperatures centred on 5 (``10 * sigmoid(a)``
with ``a`` symmetric around ~0), and moving every mean to ``T*(s)`` (same
spread) raises the expected reward by exactly 1. So ``--noise`` is the noise
std in units of the whole signal, and ``--snr X`` means ``--noise 1/X``.
Real training (issue 17): the reward's batch-sampling noise has a std of
about 0.04 (batch accuracy at 90 %, batches of 64) while one SGD step gains
about 1e-3 accuracy, and the temperatures' share of that gain is smaller
still. Perfect temperatures can therefore add at most ~1e-3 to a reward
whose noise is 0.04: ``--noise real`` is SNR 0.025 (noise 40), an upper
bound on the real SNR; set ``--snr`` from a measured one. The real reward
is a difference of two batches' accuracies, so its noise is correlated
(-0.5 lag-1); here it is independent.

Variants (``--variants``), all built like ``RLKDTemperature``'s defaults:

- ``per_instance``: the upper bound, perfect credit assignment.
  ``PPOUpdater.update`` gets every instance's own effect (plus the batch's
  shared noise) as its reward, with ``gamma=0``: GAE then gives
  ``A_i = r_i - V(s_i)``, each instance's advantage is its own reward and
  none of the later instances' (the default ``gamma=0.99, lambda=0.95``
  would add the rewards of the instances after it in the batch, which has
  no order). A shared noise term cancels in the advantage normalisation.
- ``default``: ``RLKDAgent.learn`` with reward calibration (the reward
  corrector) and the state updater.
- ``calibration``: the reward corrector, no state updater.
- ``no_calibration``: neither; the batch reward sits on the episode's last
  step (``reward_calibration=False, state_update=False``).
- ``frozen``: the untrained policy (the lower bound); it never learns, so
  its error is measured once.

The score is mean ``|T - T*|`` of the deterministic policy (its mean
temperature) on a fixed held-out set of states, the same for every seed and
variant. A seed fixes the policy's initial weights (the same in every
variant), the agent's sampling, the training states and the noise.
::

    python tools/analysis/credit_assignment.py [--function student] \\
        [--noise 0 | --noise real | --snr 0.1] [--episodes 1000] \\
        [--seeds 3] [--corrector epochs=4] [--plot credit.png] \\
        [--json credit.json]

It prints a markdown table of the error at 0, 10 %, 50 % and 100 % of the
episodes (mean +- std over seeds) and, per variant and seed, the final
diagnostics that tell a stuck agent's cause: the policy's std, the share of
saturated tanh means, the spread of the mean temperature and its
correlation with T*, the state updater's mask per feature, the critic's
explained variance and how well the reward corrector's credit tracks the
instances' true advantages (``credit corr``: the stuck seed of issue 17
had the std, masks and critic of the seeds that learnt, and a credit that
had stopped tracking the temperature). ``--corrector KEY=VALUE`` changes the
corrector's arguments in the calibrated variants, ``--ppo KEY=VALUE`` the
PPO updater's in the batch-reward variants (``anneal_lr=True`` anneals over
``--episodes``). A 240-epoch CIFAR run has ~188k episodes (240 x 782).
"""
import argparse
import ast
import importlib.util
import json
import math
import os.path as osp
import sys
import time

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: State columns of ``instance_states``.
FEATURES = ('student', 'teacher', 'margin')
#: The untrained policy's temperatures are centred here (10 * sigmoid(0)).
UNTRAINED_TEMPERATURE = 5.0
#: Reward signal-to-noise ratio of real training, an upper bound: a gain of
#: ~1e-3 batch accuracy per step against a noise std of ~0.04 (issue 17).
REAL_SNR = 1e-3 / 0.04
VARIANTS = ('per_instance', 'default', 'calibration', 'no_calibration',
            'frozen')
#: Fractions of the episodes reported in the table.
TABLE_FRACTIONS = (0.1, 0.5, 1.0)
#: Seed of the held-out states and of the Monte-Carlo signal scale.
EVAL_SEED = 2024


def load_agents():
    """``mmrlkd.agents`` without importing ``mmrlkd`` (and so OpenMMLab).

    The agents package uses only torch and relative imports; loading it on
    its own keeps this tool fast and runnable with plain PyTorch.
    """
    if 'mmrlkd.agents' in sys.modules:
        return sys.modules['mmrlkd.agents']
    name = '_credit_assignment_agents'
    if name in sys.modules:
        return sys.modules[name]
    package = osp.join(ROOT, 'mmrlkd', 'agents')
    if not osp.isfile(osp.join(package, '__init__.py')):
        import mmrlkd.agents  # not a source checkout
        return mmrlkd.agents
    spec = importlib.util.spec_from_file_location(
        name,
        osp.join(package, '__init__.py'),
        submodule_search_locations=[package])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except ImportError:
        del sys.modules[name]
        import mmrlkd.agents
        return mmrlkd.agents
    return module


# --------------------------------------------------------------- the task


def _student(states):
    return 3 + 4 * states[:, 0]


def _teacher(states):
    return 7 - 4 * states[:, 1]


def _margin(states):
    return 3 + 4 * states[:, 2]


def _constant(states):
    return torch.full_like(states[:, 0], 4.0)


def _student_bump(states):
    return 7 - 4 * (2 * states[:, 0] - 1).abs()


#: name -> (T*(s), the one feature it depends on or None, formula). Every
#: T* stays inside (2.69, 7.31), the range of the policy's mean temperature
#: ``10 * sigmoid(tanh(.))``, so the upper bound can reach zero error.
FUNCTIONS = {
    'student': (_student, 'student', '3 + 4 p_s'),
    'teacher': (_teacher, 'teacher', '7 - 4 p_t'),
    'margin': (_margin, 'margin', '3 + 4 (p_s(1) - p_s(2))'),
    'constant': (_constant, None, '4'),
    'student_bump': (_student_bump, 'student', '7 - 4 |2 p_s - 1|'),
}


def best_temperature(function, states):
    """The hidden ``T*(s)`` of shape (N,) for states (N, 3)."""
    if function not in FUNCTIONS:
        raise ValueError(f'unknown function {function!r}; choose from '
                         f'{", ".join(FUNCTIONS)}')
    return FUNCTIONS[function][0](states)


def sample_logits(num, generator, num_classes=100):
    """Student and teacher logits (N, C) of a half-trained KD batch.

    Each instance has a true class and a confusable second class. The
    teacher's logit margin on the true class is uniform in [3, 12], the
    student's a random 30-100 % of it, so both confidences and the margin
    cover (0, 1); the teacher is the surer of the two, as in training. The
    student's logit noise shares half its variance with the teacher's, and
    the second class takes a random share of the student's margin (half of
    it for the teacher), so the margin is not just a function of the
    student's confidence. (A trained teacher on its own training set is
    surer than this; a wider spread makes a teacher-dependent T*
    learnable.)
    """
    if num_classes < 2:
        raise ValueError(f'num_classes must be >= 2, got {num_classes}')

    def uniform():
        return torch.rand(num, generator=generator)

    labels = torch.randint(num_classes, (num, ), generator=generator)
    other = torch.randint(num_classes - 1, (num, ), generator=generator)
    confused = (labels + 1 + other) % num_classes
    rows = torch.arange(num)
    teacher_strength = 3 + 9 * uniform()
    student_strength = teacher_strength * (0.3 + 0.7 * uniform())
    confusion = uniform()
    shared = torch.randn(num, num_classes, generator=generator)
    own = torch.randn(num, num_classes, generator=generator)
    teacher = shared.clone()
    student = math.sqrt(0.5) * (shared + own)
    teacher[rows, labels] += teacher_strength
    teacher[rows, confused] += 0.5 * confusion * teacher_strength
    student[rows, labels] += student_strength
    student[rows, confused] += confusion * student_strength
    return student, teacher


def sample_states(num, generator, num_classes=100):
    """States (N, 3) as ``instance_states`` computes them from logits."""
    student, teacher = sample_logits(num, generator, num_classes)
    return load_agents().instance_states(student, teacher)


def signal_scale(function, num_classes=100, samples=1 << 16):
    """``D = E_s[(5 - T*(s))^2]``, the effect's unit (Monte Carlo).

    The untrained policy's temperatures are centred on 5, so with effects
    ``-(T - T*)^2 / D`` a policy whose mean is T* everywhere earns exactly
    1 more reward than the untrained one at the same spread.
    """
    generator = torch.Generator().manual_seed(EVAL_SEED + 1)
    states = sample_states(samples, generator, num_classes)
    best = best_temperature(function, states)
    return float((UNTRAINED_TEMPERATURE - best).square().mean())


def instance_effects(temperatures, best, scale):
    """Per-instance effects ``-(T - T*)^2 / D`` of shape (N,)."""
    return -(temperatures - best).square() / scale


def batch_reward(effects, noise, generator):
    """The episode's one reward: the mean effect plus Gaussian noise.

    Returns:
        tuple[Tensor, Tensor]: The reward and the noise term (0-dim).
    """
    eps = noise * torch.randn((), generator=generator)
    return effects.mean() + eps, eps


def noise_level(noise=None, snr=None):
    """Noise std from ``--noise`` (a number or 'real') or ``--snr``."""
    if snr is not None:
        if not snr > 0:
            raise ValueError(f'--snr must be positive, got {snr}')
        return 1.0 / snr
    if noise is None:
        return 0.0
    if noise == 'real':
        return 1.0 / REAL_SNR
    try:
        value = float(noise)
    except ValueError:
        raise ValueError(f"--noise must be a number or 'real', got "
                         f'{noise!r}') from None
    if not value >= 0:
        raise ValueError(f'--noise must be >= 0, got {noise}')
    return value


# ------------------------------------------------------------- the agents


def build_agent(variant, state_dim=3, corrector=None, ppo=None):
    """An agent as ``RLKDTemperature`` builds it with default arguments.

    ``per_instance`` differs only in ``gamma=0`` (see the module docstring)
    and has neither corrector nor state updater. ``corrector`` (dict,
    optional) overrides ``RewardCorrector``'s keyword arguments in the
    calibrated variants (``--corrector``); ``ppo`` (dict, optional)
    overrides ``PPOUpdater``'s in the batch-reward variants (``--ppo``).
    """
    agents = load_agents()
    if variant not in VARIANTS:
        raise ValueError(f'unknown variant {variant!r}; choose from '
                         f'{", ".join(VARIANTS)}')
    policy = agents.TemperaturePolicy(
        state_dim, t_min=0.0, t_max=10.0, t_floor=1e-2)
    calibration = variant in ('default', 'calibration')
    ppo = dict(gamma=0.0) if variant == 'per_instance' else dict(ppo or {})
    return agents.RLKDAgent(
        policy,
        agents.PPOUpdater(policy, **ppo),
        reward_corrector=agents.RewardCorrector(state_dim, **(corrector or {}))
        if calibration else None,
        state_updater=agents.StateUpdater(state_dim)
        if variant == 'default' else None,
        max_episode_length=None)


def learn(agent, variant, episode, effects, reward, eps):
    """One learning step; the diagnostics as floats."""
    if variant == 'per_instance':
        diagnostics = agent.updater.update(episode.states, episode.actions,
                                           episode.log_probs, episode.values,
                                           effects + eps)
    else:
        diagnostics = agent.learn(episode, reward)
    return {key: float(value) for key, value in diagnostics.items()}


@torch.no_grad()
def credit_correlation(agent, states, best, scale, samples=256):
    """How well the reward corrector's credit tells good actions from bad.

    One action is sampled per held-out state (from a generator of its own,
    so the agent's random stream is untouched); its true advantage is its
    effect minus the state's expected effect under the policy (Monte Carlo
    over ``samples`` actions). Returns the correlation over the states
    between that and the corrector's credit for the action, or NaN without
    a corrector. With good credit it is near 1; near 0 the policy gradient
    has nothing to follow but noise.
    """
    if agent.reward_corrector is None:
        return math.nan
    generator = torch.Generator().manual_seed(EVAL_SEED + 2)
    policy = agent.policy
    mu = policy.actor(agent.act(states, deterministic=True)[1]
                      .policy_states).squeeze(-1)
    std = policy.log_std.exp()
    noise = torch.randn((samples + 1, ) + mu.shape, generator=generator)
    temperatures = policy.to_temperature(mu + std * noise)
    effects = instance_effects(temperatures, best, scale)
    advantage = effects[0] - effects[1:].mean(0)
    action = mu + std * noise[0]
    credit = agent.reward_corrector.redistribute(states, torch.sigmoid(action),
                                                 0.0)
    if credit.std() < 1e-12:
        return 0.0
    return float(torch.corrcoef(torch.stack([credit, advantage]))[0, 1])


@torch.no_grad()
def evaluate(agent, states, best, scale=None):
    """Error and policy diagnostics on the held-out states."""
    temperature, episode = agent.act(states, deterministic=True)
    mean_action = episode.actions  # tanh output of the actor
    result = dict(
        error=float((temperature - best).abs().mean()),
        temperature_spread=float(temperature.std()),
        saturated=float((mean_action.abs() > 0.99).float().mean()),
        mean_abs_mu=float(mean_action.abs().mean()))
    if temperature.std() > 1e-6 and best.std() > 1e-6:
        stacked = torch.stack([temperature, best])
        result['correlation'] = float(torch.corrcoef(stacked)[0, 1])
    else:
        result['correlation'] = math.nan
    if scale is not None:
        result['credit_corr'] = credit_correlation(agent, states, best, scale)
    if agent.state_updater is not None:
        updated = agent.state_updater.update_states(states)
        visible = states > 1e-3
        for k, feature in enumerate(FEATURES):
            ratio = updated[visible[:, k], k] / states[visible[:, k], k]
            result[f'mask_{feature}'] = float(ratio.mean())
    return result


def checkpoints(episodes, points=40):
    """Episodes after which to evaluate: a regular grid plus the table's."""
    step = max(1, episodes // points)
    marks = set(range(0, episodes + 1, step))
    marks.update(table_episodes(episodes))
    marks.add(0)
    return sorted(marks)


def table_episodes(episodes):
    return [max(1, round(f * episodes)) for f in TABLE_FRACTIONS]


def run(variant, seed, args, eval_states, eval_best, scale, noise):
    """Train one variant from one seed; its curve and diagnostics."""
    torch.manual_seed(seed)
    agent = build_agent(
        variant,
        corrector=getattr(args, 'corrector', None),
        ppo=getattr(args, 'ppo', None))
    # The horizon of ``--ppo anneal_lr=True``: one update per episode.
    agent.updater.total_updates = args.episodes
    states_rng = torch.Generator().manual_seed(10_000 + seed)
    noise_rng = torch.Generator().manual_seed(20_000 + seed)
    marks = checkpoints(args.episodes, args.curve_points)
    curve = []
    if variant == 'frozen':
        result = evaluate(agent, eval_states, eval_best)
        curve = [dict(episode=m, **result) for m in marks]
        return dict(variant=variant, seed=seed, curve=curve, seconds=0.0)
    start = time.perf_counter()
    last = {}
    episode = 0
    for mark in marks:
        while episode < mark:
            states = sample_states(args.batch_size, states_rng, args.classes)
            temperatures, acted = agent.act(states)
            best = best_temperature(args.function, states)
            effects = instance_effects(temperatures, best, scale)
            reward, eps = batch_reward(effects, noise, noise_rng)
            last = learn(agent, variant, acted, effects, reward, eps)
            episode += 1
        point = dict(
            episode=mark, **evaluate(agent, eval_states, eval_best, scale))
        for key in ('std', 'explained_variance', 'mask_mean', 'corrector_loss',
                    'approx_kl', 'clip_fraction', 'actor_lr'):
            point[key] = last.get(key, math.nan)
        curve.append(point)
    return dict(
        variant=variant,
        seed=seed,
        curve=curve,
        seconds=time.perf_counter() - start)


# ---------------------------------------------------------------- reports


def _mean_std(values):
    values = torch.tensor(values, dtype=torch.float64)
    std = float(values.std()) if len(values) > 1 else 0.0
    return float(values.mean()), std


def _at(result, episode):
    return next(p for p in result['curve'] if p['episode'] == episode)


def error_table(results, variants, episodes):
    """Markdown: mean |T - T*| (mean +- std over seeds) at the checkpoints."""
    marks = [0] + table_episodes(episodes)
    header = ['variant'] + [
        f'ep {m}' + ('' if m == 0 else f' ({round(100 * m / episodes)}%)')
        for m in marks
    ]
    lines = [
        '| ' + ' | '.join(header) + ' |',
        '|' + '|'.join(['---'] + ['---:'] * len(marks)) + '|'
    ]
    for variant in variants:
        runs = [r for r in results if r['variant'] == variant]
        cells = []
        for mark in marks:
            mean, std = _mean_std([_at(r, mark)['error'] for r in runs])
            cells.append(f'{mean:.3f} ± {std:.3f}')
        lines.append(f'| {variant} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def diagnostics_table(results, variants):
    """Markdown: each run's final error and what it says about the agent."""
    columns = [('error', '|T-T*|'), ('correlation', 'corr(T,T*)'),
               ('temperature_spread', 'T spread'), ('std', 'policy std'),
               ('mean_abs_mu', 'mean |mu|'), ('saturated', 'tanh sat.'),
               ('explained_variance', 'critic EV'),
               ('credit_corr', 'credit corr'),
               ('mask_student', 'mask s'),
               ('mask_teacher', 'mask t'), ('mask_margin', 'mask u')]
    lines = [
        '| variant | seed | ' + ' | '.join(c[1] for c in columns) + ' |',
        '|---|---:|' + '---:|' * len(columns)
    ]
    for variant in variants:
        for result in (r for r in results if r['variant'] == variant):
            final = result['curve'][-1]
            cells = []
            for key, _ in columns:
                value = final.get(key, math.nan)
                cells.append('-' if math.isnan(value) else f'{value:.3f}')
            lines.append(f'| {variant} | {result["seed"]} | ' +
                         ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def plot_curves(results, variants, path, title):
    """Learning curves: every seed thin, the mean over seeds bold."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for index, variant in enumerate(variants):
        color = f'C{index}'
        runs = [r for r in results if r['variant'] == variant]
        episodes = [p['episode'] for p in runs[0]['curve']]
        errors = torch.tensor([[p['error'] for p in r['curve']] for r in runs])
        for row in errors:
            ax.plot(episodes, row, color=color, alpha=0.3, linewidth=0.8)
        ax.plot(
            episodes, errors.mean(0), color=color, linewidth=2, label=variant)
    ax.set_xlabel('episode (batch)')
    ax.set_ylabel('mean |T - T*| on held-out states')
    ax.set_title(title, fontsize=9)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------- main


def keyword_arguments(pairs):
    """``['epochs=4', ...]`` -> ``{'epochs': 4, ...}`` (Python literals)."""
    kwargs = {}
    for pair in pairs:
        key, sep, value = pair.partition('=')
        if not sep or not key.isidentifier():
            raise ValueError(f'expected KEY=VALUE, got {pair!r}')
        try:
            kwargs[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise ValueError(
                f'{pair!r}: the value is not a Python literal') from None
    return kwargs


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        '--function',
        default='student',
        choices=list(FUNCTIONS),
        help='the hidden best temperature T*(s) (default student)')
    level = parser.add_mutually_exclusive_group()
    level.add_argument(
        '--noise',
        default='0',
        help="std of the batch reward's Gaussian noise, in units of the "
        "signal, or 'real' (SNR 0.025, see the docstring); default 0")
    level.add_argument(
        '--snr',
        type=float,
        help='signal-to-noise ratio instead of --noise (noise = 1 / snr)')
    parser.add_argument(
        '--episodes',
        type=int,
        default=1000,
        help='episodes (batches) per run (default 1000; a 240-epoch CIFAR '
        'run has ~188k)')
    parser.add_argument(
        '--seeds', type=int, default=3, help='run seeds 0 .. N-1')
    parser.add_argument(
        '--seed-list', type=int, nargs='+', help='run these seeds instead')
    parser.add_argument(
        '--variants',
        nargs='+',
        default=list(VARIANTS),
        choices=list(VARIANTS))
    parser.add_argument(
        '--corrector',
        nargs='+',
        default=[],
        metavar='KEY=VALUE',
        help='RewardCorrector keyword arguments for the calibrated variants, '
        'e.g. --corrector epochs=4 (default: its defaults)')
    parser.add_argument(
        '--ppo',
        nargs='+',
        default=[],
        metavar='KEY=VALUE',
        help='PPOUpdater keyword arguments for the batch-reward variants, '
        'e.g. --ppo gamma=0.0 actor_lr=1e-5 (default: its defaults); with '
        'anneal_lr=True the actor learning rate falls to 0 over --episodes')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument(
        '--classes', type=int, default=100, help='classes of the logits')
    parser.add_argument(
        '--eval-states',
        type=int,
        default=2048,
        help='held-out states the error is measured on')
    parser.add_argument(
        '--threads', type=int, default=1, help='torch intra-op threads')
    parser.add_argument(
        '--curve-points',
        type=int,
        default=40,
        help='evaluations along each learning curve (plus the table\'s)')
    parser.add_argument('--plot', help='learning-curve PNG')
    parser.add_argument('--json', help='write every curve to this file')
    args = parser.parse_args(argv)
    try:
        args.noise_std = noise_level(args.noise, args.snr)
        args.corrector = keyword_arguments(args.corrector)
        args.ppo = keyword_arguments(args.ppo)
    except ValueError as error:
        parser.error(str(error))
    for name in ('episodes', 'batch_size', 'eval_states', 'threads', 'seeds',
                 'curve_points'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    seeds = args.seed_list or list(range(args.seeds))
    scale = signal_scale(args.function, args.classes)
    eval_states = sample_states(args.eval_states,
                                torch.Generator().manual_seed(EVAL_SEED),
                                args.classes)
    eval_best = best_temperature(args.function, eval_states)
    noise = args.noise_std
    snr = math.inf if noise == 0 else 1 / noise
    formula = FUNCTIONS[args.function][2]
    title = (f'T* = {formula} ({args.function}), noise {noise:g} '
             f'(SNR {snr:g}), batch {args.batch_size}, '
             f'{len(seeds)} seeds')
    for flag in ('corrector', 'ppo'):
        if getattr(args, flag):
            title += f', {flag} ' + ' '.join(
                f'{k}={v!r}' for k, v in getattr(args, flag).items())
    print(f'# credit assignment: {title}; effect unit D = {scale:.4f}')
    results = []
    for variant in args.variants:
        for seed in seeds:
            result = run(variant, seed, args, eval_states, eval_best, scale,
                         noise)
            results.append(result)
            final = result['curve'][-1]
            print(
                f'{variant} seed {seed}: |T-T*| '
                f'{result["curve"][0]["error"]:.3f} -> '
                f'{final["error"]:.3f} ({result["seconds"]:.0f} s)',
                flush=True)
    print()
    print(f'Mean |T - T*| of the deterministic policy on {args.eval_states} '
          f'held-out states, mean ± std over seeds {seeds}:')
    print()
    print(error_table(results, args.variants, args.episodes))
    print()
    print('Final diagnostics per run (T spread: std of the mean '
          'temperature over the held-out states; policy std: exp(log_std); '
          'mu: the tanh mean action, tanh sat.: share of |mu| > 0.99; '
          'critic EV: explained variance; credit corr: correlation of the '
          'reward corrector\'s credit with the instances\' true advantages; '
          'mask: the state updater\'s, per feature):')
    print()
    print(diagnostics_table(results, args.variants))
    if args.plot:
        plot_curves(results, args.variants, args.plot, title)
        print(f'\nplot: {args.plot}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(
                dict(
                    args={
                        k: v
                        for k, v in vars(args).items()
                        if k not in ('seed_list', )
                    },
                    seeds=seeds,
                    signal_scale=scale,
                    results=results),
                f,
                indent=1)
        print(f'json: {args.json}')
    return results


if __name__ == '__main__':
    main()
