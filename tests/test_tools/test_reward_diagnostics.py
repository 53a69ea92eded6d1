"""tools/analysis/reward_diagnostics.py on rows the hook would write."""
import importlib.util
import json
import math
import os.path as osp

import numpy as np
import pytest

from mmrlkd.engine.hooks.reward_diagnostics_hook import reward_statistics


def load_tool(repo_root):
    path = osp.join(repo_root, 'tools', 'analysis', 'reward_diagnostics.py')
    spec = importlib.util.spec_from_file_location('reward_diagnostics', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def epochs_of_rewards(seed=0):
    """Three epochs: a warm-up without rewards, then two of drifting
    rewards with held-out predictions of varying quality."""
    rng = np.random.default_rng(seed)
    epochs = [([], [], [])]
    for size, shift, quality in ((30, 0.01, 0.3), (40, -0.02, 0.8)):
        targets = rng.normal(shift * 10, 1.0, size=size - 2)
        predictions = quality * targets + rng.normal(0, 0.5, size=size - 2)
        epochs.append((rng.normal(shift, 0.04, size=size).tolist(),
                       predictions.tolist(), targets.tolist()))
    return epochs


def write_rows(path, epochs):
    with open(path, 'w') as f:
        for epoch, window in enumerate(epochs, start=1):
            stats = reward_statistics(*window)
            row = dict(epoch=epoch, iter=50 * epoch)
            row.update({
                key: value if math.isfinite(value) else None
                for key, value in stats.items()
            })
            f.write(json.dumps(row) + '\n')


def test_the_whole_run_row_pools_the_epochs_exactly(repo_root, tmp_path):
    tool = load_tool(repo_root)
    epochs = epochs_of_rewards()
    write_rows(tmp_path / 'reward_diagnostics.jsonl', epochs)
    rows = tool.load_rows(str(tmp_path))
    assert len(rows) == 3
    whole = tool.pooled(rows)
    rewards, predictions, targets = (
        sum((list(window[i]) for window in epochs), []) for i in range(3))
    expected = reward_statistics(rewards, predictions, targets)
    for key in ('count', 'mean', 'std', 'episodes', 'explained_variance'):
        assert whole[key] == pytest.approx(expected[key], rel=1e-9), key
    autocorrs = [(len(w[0]), reward_statistics(*w)['lag1_autocorr'])
                 for w in epochs[1:]]
    assert whole['lag1_autocorr'] == pytest.approx(
        sum(n * r for n, r in autocorrs) / sum(n for n, _ in autocorrs))
    assert whole['iter'] == 150


def test_cli_prints_a_markdown_table(repo_root, tmp_path, run_tool):
    path = tmp_path / 'run.jsonl'
    write_rows(path, epochs_of_rewards())
    result = run_tool(run_tool.python, 'tools/analysis/reward_diagnostics.py',
                      str(path))
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith('| epoch | iter | rewards | mean | std |')
    assert lines[1] == '|' + '---|' * 8
    assert len(lines) == 2 + 3 + 1
    cells = [line.strip('|').split('|') for line in lines[2:]]
    assert [c[0].strip() for c in cells] == ['1', '2', '3', 'all']
    # The warm-up epoch has no rewards: its statistics are '-'.
    assert [c.strip() for c in cells[0][2:]] == ['0', '-', '-', '-', '0', '-']
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert cells[1][3].strip() == f'{rows[1]["mean"]:+.5f}'
    assert cells[2][7].strip() == f'{rows[2]["explained_variance"]:+.3f}'
    assert cells[3][2].strip() == '70'


def test_a_work_dir_is_read_and_an_empty_file_fails(repo_root, tmp_path,
                                                    run_tool):
    write_rows(tmp_path / 'reward_diagnostics.jsonl', epochs_of_rewards())
    result = run_tool(run_tool.python, 'tools/analysis/reward_diagnostics.py',
                      str(tmp_path))
    assert '| all |' in result.stdout
    empty = tmp_path / 'empty.jsonl'
    empty.write_text('')
    result = run_tool(
        run_tool.python,
        'tools/analysis/reward_diagnostics.py',
        str(empty),
        check=False)
    assert result.returncode == 1
    assert 'No rows' in result.stderr
