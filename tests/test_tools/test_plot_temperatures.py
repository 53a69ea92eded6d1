"""tools/analysis/plot_temperatures.py on a synthetic work dir."""
import importlib.util
import json
import os.path as osp

import pytest


def load_tool(repo_root):
    path = osp.join(repo_root, 'tools', 'analysis', 'plot_temperatures.py')
    spec = importlib.util.spec_from_file_location('plot_temperatures', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_run(work_dir, timestamp, iters, offset=0.0, dumps=(), teacher=False):
    """A run's scalars.json (train rows and a val row) and dumps."""
    run = work_dir / timestamp
    (run / 'vis_data').mkdir(parents=True)
    with open(run / 'vis_data' / 'scalars.json', 'w') as f:
        for i in iters:
            row = {
                'iter': i,
                'loss': 1.0,
                'ctkd/lambda': min(i / 10, 1.0),
                'distill.temperature_mean': 4.0 + offset + 0.01 * i,
                'distill.temperature_std': 0.5,
                'distill.temperature_min': 3.0,
                'distill.temperature_max': 5.0,
            }
            if teacher:
                row.update({
                    'distill.temperature_teacher_mean': 4.0 - 0.01 * i,
                    'distill.temperature_teacher_std': 0.3,
                    'distill.temperature_teacher_min': 3.5,
                    'distill.temperature_teacher_max': 4.5,
                })
            f.write(json.dumps(row) + '\n')
        f.write(json.dumps({'accuracy/top1': 50.0, 'step': 1}) + '\n')
    with open(run / 'temperatures.jsonl', 'w') as f:
        for i in dumps:
            f.write(
                json.dumps(
                    dict(
                        iter=i,
                        epoch=1,
                        student=[3.0 + 0.1 * k for k in range(20)],
                        teacher=[5.0 - 0.1 * k for k in range(20)] if teacher
                        else [3.0 + 0.1 * k for k in range(20)])) + '\n')


def test_resumed_runs_are_joined_later_values_win(repo_root, tmp_path):
    tool = load_tool(repo_root)
    write_run(tmp_path, '20240101_000000', range(1, 11), dumps=[5])
    write_run(
        tmp_path, '20240101_010000', range(9, 16), offset=1.0, dumps=[12])
    rows = tool.load_scalars(str(tmp_path))
    assert [row['iter'] for row in rows] == list(range(1, 16))
    by_iter = {row['iter']: row['distill.temperature_mean'] for row in rows}
    assert by_iter[8] == pytest.approx(4.08)
    assert by_iter[9] == pytest.approx(5.09)  # from the resumed run
    assert sorted(tool.load_dumps(str(tmp_path))) == [5, 12]


@pytest.mark.parametrize('teacher', [False, True])
def test_cli_draws_trajectories_and_histograms(repo_root, tmp_path, run_tool,
                                               teacher):
    import matplotlib.image as mpimg
    write_run(
        tmp_path,
        '20240101_000000',
        range(1, 31),
        dumps=[1, 10, 30],
        teacher=teacher)
    out = tmp_path / 'plots' / 'temps.png'
    out.parent.mkdir()
    result = run_tool(run_tool.python, 'tools/analysis/plot_temperatures.py',
                      str(tmp_path), '--hist-iters', '2', '29', '--out',
                      str(out))
    assert 'histograms at iterations [1, 30]' in result.stdout
    for path in (out, tmp_path / 'plots' / 'temps_hist.png'):
        image = mpimg.imread(str(path))
        assert image.shape[0] > 100 and image.shape[1] > 100


def test_histograms_without_dumps_explain_how_to_get_them(
        repo_root, tmp_path, run_tool):
    write_run(tmp_path, '20240101_000000', range(1, 5))
    result = run_tool(
        run_tool.python,
        'tools/analysis/plot_temperatures.py',
        str(tmp_path),
        '--hist-iters',
        '3',
        check=False)
    assert result.returncode != 0
    assert 'TemperatureDumpHook' in result.stderr
    assert osp.isfile(tmp_path / 'temperatures.png')


def test_a_work_dir_without_temperatures(repo_root, tmp_path, run_tool):
    result = run_tool(
        run_tool.python,
        'tools/analysis/plot_temperatures.py',
        str(tmp_path),
        check=False)
    assert result.returncode != 0
    assert 'distill.temperature_mean' in result.stderr


def write_by_confidence(work_dir, means):
    work_dir.mkdir(parents=True)
    with open(work_dir / 'temperature_by_confidence.json', 'w') as f:
        json.dump(
            dict(
                epoch=20,
                edges=[0.0, 0.5, 0.8, 1.0],
                count=[3, 0, 7],
                mean_temperature=means), f)


def test_by_confidence_draws_every_run(repo_root, tmp_path, run_tool):
    import matplotlib.image as mpimg
    write_by_confidence(tmp_path / 'rlkd', [2.5, float('nan'), 3.0])
    write_by_confidence(tmp_path / 'frozen', [5.0, float('nan'), 4.9])
    out = tmp_path / 'by_confidence.png'
    result = run_tool(run_tool.python, 'tools/analysis/plot_temperatures.py',
                      str(tmp_path / 'rlkd'), '--by-confidence',
                      str(tmp_path / 'frozen'), '--out', str(out))
    assert str(out) in result.stdout
    image = mpimg.imread(str(out))
    assert image.shape[0] > 100 and image.shape[1] > 100


def test_by_confidence_without_the_record_says_what_writes_it(
        repo_root, tmp_path, run_tool):
    result = run_tool(
        run_tool.python,
        'tools/analysis/plot_temperatures.py',
        str(tmp_path),
        '--by-confidence',
        check=False)
    assert result.returncode != 0
    assert 'digitpairs_demo.py' in result.stderr
