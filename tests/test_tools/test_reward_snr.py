"""tools/analysis/reward_snr.py: the paired reward probe's mechanics."""
import importlib.util
import math
import os.path as osp

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location(
        'reward_snr', osp.join(ROOT, 'tools/analysis/reward_snr.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_summary_against_a_hand_computation(tool):
    arms = dict(low=[0.0, 1.0, 2.0, 5.0], high=[1.0, 3.0, 2.0, 8.0])
    s = tool.summarise(arms)
    # Paired differences 1, 2, 0, 3: mean 1.5, sample variance 5/3.
    assert s['signal'] == pytest.approx(1.5)
    assert s['stderr'] == pytest.approx(math.sqrt(5 / 3) / 2)
    low_std = math.sqrt((2.0**2 + 1.0**2 + 0.0 + 3.0**2) / 3)
    high_std = math.sqrt((2.5**2 + 0.5**2 + 1.5**2 + 4.5**2) / 3)
    assert s['noise'] == pytest.approx((low_std + high_std) / 2)
    assert s['snr'] == pytest.approx(1.5 / s['noise'])


def test_equal_arms_start_from_the_same_state(tool, capsys):
    """Both arms at the same temperature take the very same step from the
    same restored state: every paired difference is exactly 0, while the
    rewards themselves vary from trial to trial."""
    results = tool.main([
        '--random-teacher', '--trials', '3', '--warmup-iters', '2', '--low',
        '4', '--high', '4', '--threads', '1'
    ])
    assert set(results) == {(r, p)
                            for r in tool.REWARDS
                            for p in tool.PERFORMANCES}
    for arms in results.values():
        assert arms['low'] == arms['high']
        assert len(arms['low']) == 3
    assert len(set(results[('same_batch', 'neg_ce')]['low'])) == 3
    out = capsys.readouterr().out
    assert '| same_batch | neg_ce |' in out
    assert '| next_batch | accuracy |' in out


def test_different_arms_give_different_rewards(tool):
    results = tool.main([
        '--random-teacher', '--trials', '2', '--warmup-iters', '1', '--low',
        '1', '--high', '8', '--threads', '1'
    ])
    arms = results[('same_batch', 'neg_ce')]
    assert arms['low'] != arms['high']


def test_a_missing_teacher_says_how_to_get_one(tool, tmp_path):
    with pytest.raises(FileNotFoundError, match='compare_methods'):
        tool.main(['--teacher-ckpt', str(tmp_path / 'none.pth')])
