"""tools/analysis/credit_assignment.py: the benchmark's mechanics."""
import argparse
import importlib.util
import json
import os.path as osp

import pytest
import torch


@pytest.fixture(scope='module')
def tool(repo_root):
    path = osp.join(repo_root, 'tools', 'analysis', 'credit_assignment.py')
    spec = importlib.util.spec_from_file_location('credit_assignment', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# name -> (state column it reads or None, [(feature value, T*)]), from the
# formulas in the tool's docstring, written out by hand.
EXPECTED = {
    'student': (0, [(0.0, 3.0), (0.5, 5.0), (1.0, 7.0)]),
    'teacher': (1, [(0.0, 7.0), (0.25, 6.0), (1.0, 3.0)]),
    'margin': (2, [(0.0, 3.0), (0.75, 6.0), (1.0, 7.0)]),
    'constant': (None, [(0.0, 4.0), (1.0, 4.0)]),
    'student_bump': (0, [(0.0, 3.0), (0.25, 5.0), (0.5, 7.0), (1.0, 3.0)]),
}


def test_every_hidden_function_is_tested(tool):
    assert set(tool.FUNCTIONS) == set(EXPECTED)


@pytest.mark.parametrize('function', sorted(EXPECTED))
def test_hidden_function_depends_only_on_its_feature(tool, function):
    column, points = EXPECTED[function]
    generator = torch.Generator().manual_seed(0)
    states = torch.rand(256, 3, generator=generator)
    best = tool.best_temperature(function, states)
    for other in range(3):
        if other == column:
            continue
        changed = states.clone()
        changed[:, other] = torch.rand(256, generator=generator)
        assert torch.equal(tool.best_temperature(function, changed), best)
    if column is not None:
        changed = states.clone()
        changed[:, column] = torch.rand(256, generator=generator)
        assert not torch.allclose(
            tool.best_temperature(function, changed), best)
    for value, expected in points:
        probe = states[:4].clone()
        if column is not None:
            probe[:, column] = value
        assert tool.best_temperature(function, probe).tolist() == \
            pytest.approx([expected] * 4)
    # Reachable by the policy's mean temperature 10 * sigmoid(tanh(.)).
    grid = torch.cartesian_prod(*[torch.linspace(0, 1, 11)] * 3)
    reach = 10 * torch.sigmoid(torch.tensor(1.0))
    values = tool.best_temperature(function, grid)
    assert values.min() > 10 - reach and values.max() < reach


def test_states_are_instance_states_of_the_logits(tool, repo_root):
    from mmrlkd.agents import instance_states
    student, teacher = tool.sample_logits(4096,
                                          torch.Generator().manual_seed(3))
    states = tool.sample_states(4096, torch.Generator().manual_seed(3))
    assert torch.equal(states, instance_states(student, teacher))
    # Each feature covers most of (0, 1), as the docstring says.
    low = states.quantile(0.05, dim=0)
    high = states.quantile(0.95, dim=0)
    assert (low < 0.2).all() and (high > 0.9).all()


def test_signal_is_one_reward_unit(tool):
    """Moving an untrained policy's temperatures (centred on 5) onto T*,
    same spread, gains 1 in expected reward: noise is in signal units."""
    generator = torch.Generator().manual_seed(5)
    scale = tool.signal_scale('teacher')
    states = tool.sample_states(1 << 15, generator)
    best = tool.best_temperature('teacher', states)
    untrained = 10 * torch.sigmoid(
        torch.randn(len(best), generator=generator) * 0.6)
    centred = best + (untrained - 5)
    gain = (tool.instance_effects(centred, best, scale) -
            tool.instance_effects(untrained, best, scale)).mean()
    assert float(gain) == pytest.approx(1.0, abs=0.03)


def test_noise_flags(tool):
    assert tool.parse_args([]).noise_std == 0.0
    assert tool.parse_args(['--noise', '0.3']).noise_std == 0.3
    assert tool.parse_args(['--snr', '0.5']).noise_std == pytest.approx(2.0)
    # Real training: noise std 0.04 against a signal of 1e-3.
    assert tool.parse_args(['--noise', 'real']).noise_std == \
        pytest.approx(0.04 / 1e-3)
    for bad in (['--noise',
                 'loud'], ['--noise',
                           '-1'], ['--snr',
                                   '0'], ['--noise', '1', '--snr', '1']):
        with pytest.raises(SystemExit):
            tool.parse_args(bad)


@pytest.mark.parametrize('noise', [0.0, 0.2])
def test_noise_flag_sets_the_reward_variance(tool, noise):
    """Var(R) over many batches = Var(mean effect) + noise^2."""
    generator = torch.Generator().manual_seed(7)
    pool = tool.sample_states(8192, generator)
    pool_best = tool.best_temperature('student', pool)
    pool_temperature = 10 * torch.sigmoid(
        0.6 * torch.randn(len(pool), generator=generator))
    scale = tool.signal_scale('student')
    noise_std = tool.parse_args(['--snr', str(1 / noise)]).noise_std \
        if noise else tool.parse_args(['--noise', '0']).noise_std
    rewards, signals = [], []
    for _ in range(40):
        batches = torch.randperm(len(pool), generator=generator).view(-1, 64)
        for index in batches:
            effects = tool.instance_effects(pool_temperature[index],
                                            pool_best[index], scale)
            reward, _ = tool.batch_reward(effects, noise_std, generator)
            rewards.append(float(reward))
            signals.append(float(effects.mean()))
    rewards = torch.tensor(rewards, dtype=torch.float64)
    signal_var = torch.tensor(signals, dtype=torch.float64).var()
    assert signal_var > 0.01  # the signal's share is visible
    assert float(rewards.var()) == pytest.approx(
        float(signal_var) + noise**2, rel=0.06)
    assert float(rewards.mean()) == pytest.approx(
        sum(signals) / len(signals), abs=4 * noise / len(rewards)**0.5 + 1e-9)


def test_per_instance_upper_bound_recovers_t_star(tool):
    args = argparse.Namespace(
        episodes=30,
        batch_size=64,
        classes=100,
        function='teacher',
        curve_points=3)
    eval_states = tool.sample_states(512, torch.Generator().manual_seed(1))
    eval_best = tool.best_temperature('teacher', eval_states)
    scale = tool.signal_scale('teacher')
    frozen = tool.run('frozen', 0, args, eval_states, eval_best, scale, 0.0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the tool does; more only spin here
    try:
        upper = tool.run('per_instance', 0, args, eval_states, eval_best,
                         scale, 0.0)
    finally:
        torch.set_num_threads(threads)
    frozen_error = frozen['curve'][-1]['error']
    assert upper['curve'][0]['error'] == pytest.approx(frozen_error)
    assert frozen_error > 1.0
    assert upper['curve'][-1]['error'] < 0.35 * frozen_error
    assert upper['curve'][-1]['correlation'] > 0.9


def test_cli_end_to_end(tmp_path, run_tool, tool):
    import matplotlib.image as mpimg
    plot = tmp_path / 'curves.png'
    dump = tmp_path / 'curves.json'
    result = run_tool(
        run_tool.python,
        'tools/analysis/credit_assignment.py',
        '--episodes',
        '3',
        '--seeds',
        '2',
        '--batch-size',
        '16',
        '--eval-states',
        '64',
        '--noise',
        'real',
        '--function',
        'student_bump',
        '--plot',
        str(plot),
        '--json',
        str(dump),
        timeout=120)
    table = [
        line for line in result.stdout.splitlines()
        if line.startswith('| ') and '±' in line
    ]
    assert [line.split(' | ')[0][2:] for line in table] == list(tool.VARIANTS)
    assert mpimg.imread(str(plot)).ndim == 3
    saved = json.loads(dump.read_text())
    assert saved['args']['noise_std'] == pytest.approx(40.0)
    assert len(saved['results']) == 2 * len(tool.VARIANTS)
    for run in saved['results']:
        assert [p['episode'] for p in run['curve']] == [0, 1, 2, 3]


def test_corrector_keyword_arguments(tool):
    assert tool.keyword_arguments(['epochs=4', 'lr=1e-3']) == dict(
        epochs=4, lr=1e-3)
    assert tool.build_agent(
        'default', corrector=dict(epochs=4)).reward_corrector.epochs == 4
    for bad in (['epochs'], ['2x=1'], ['epochs=four']):
        with pytest.raises(ValueError):
            tool.keyword_arguments(bad)


def test_ppo_keyword_arguments_reach_the_batch_reward_variants(tool):
    args = tool.parse_args(['--ppo', 'gamma=0.5', 'actor_lr=1e-5'])
    assert args.ppo == dict(gamma=0.5, actor_lr=1e-5)
    for variant in ('default', 'calibration', 'no_calibration'):
        updater = tool.build_agent(variant, ppo=args.ppo).updater
        assert (updater.gamma, updater.actor_lr) == (0.5, 1e-5)
    # The upper bound keeps its own settings.
    updater = tool.build_agent('per_instance', ppo=dict(gamma=0.5)).updater
    assert (updater.gamma, updater.actor_lr) == (0.0, 1e-4)


def test_annealing_spans_the_episodes(tool):
    """--ppo anneal_lr=True: the run sets the horizon to --episodes, so the
    actor rate falls by 1/4 of actor_lr an episode (curve: actor_lr)."""
    args = argparse.Namespace(
        episodes=4,
        batch_size=16,
        classes=10,
        function='student',
        curve_points=4,
        ppo=dict(anneal_lr=True, actor_lr=1e-4))
    eval_states = tool.sample_states(32, torch.Generator().manual_seed(1))
    eval_best = tool.best_temperature('student', eval_states)
    scale = tool.signal_scale('student')
    result = tool.run('calibration', 0, args, eval_states, eval_best, scale,
                      1.0)
    rates = [point['actor_lr'] for point in result['curve'][1:]]
    assert rates == pytest.approx([1e-4, 7.5e-5, 5e-5, 2.5e-5])


def test_credit_correlation_tracks_a_trained_corrector(tool):
    """The 'credit corr' column: NaN without a corrector, ~0 for an
    untrained one, high once the corrector has learned per-instance
    effects from batch returns (noise-free, the policy held fixed)."""
    states = tool.sample_states(256, torch.Generator().manual_seed(1))
    best = tool.best_temperature('student', states)
    scale = tool.signal_scale('student')
    assert torch.isnan(
        torch.tensor(
            tool.credit_correlation(
                tool.build_agent('no_calibration'), states, best, scale)))
    torch.manual_seed(0)
    agent = tool.build_agent('calibration', corrector=dict(epochs=4))
    untrained = tool.credit_correlation(agent, states, best, scale)
    generator = torch.Generator().manual_seed(2)
    corrector = agent.reward_corrector
    for _ in range(200):
        batch = tool.sample_states(64, generator)
        actions = agent.policy.actor(agent.policy_states(batch)).squeeze(-1) \
            + 0.6 * torch.randn(64, generator=generator)
        temperatures = agent.policy.to_temperature(actions)
        effects = tool.instance_effects(
            temperatures, tool.best_temperature('student', batch), scale)
        corrector.update(batch,
                         torch.sigmoid(actions).detach(),
                         effects.mean().detach() * 8)
    trained = tool.credit_correlation(agent, states, best, scale)
    assert abs(untrained) < 0.5 and trained > 0.6, (untrained, trained)
