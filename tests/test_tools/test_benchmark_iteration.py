"""tools/analysis/benchmark_iteration.py: the agent learns once per timed
block, as under RLKDAgentHook(update_interval=k), and the script runs."""
import importlib.util
import os.path as osp
import re

import pytest
import torch

SHAPES_RLKD = ('configs/detection/shapes/'
               'rlkd_roi_faster-rcnn_r18w32_faster-rcnn_r18w8_shapes.py')
CIFAR_RLKD = 'configs/rlkd/rlkd_resnet56_resnet20_cifar100.py'


@pytest.fixture(scope='module')
def tool(repo_root):
    """The script as a module, loaded once (it registers a provider)."""
    path = osp.join(repo_root, 'tools', 'analysis', 'benchmark_iteration.py')
    spec = importlib.util.spec_from_file_location('benchmark_iteration',
                                                  path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_update_interval_is_read_from_the_configs_hook(repo_root, tool):
    assert tool.update_interval(osp.join(repo_root, SHAPES_RLKD)) == 4
    assert tool.update_interval(osp.join(repo_root, CIFAR_RLKD)) == 1
    kd = osp.join(repo_root, 'configs/kd/kd_resnet56_resnet20_cifar100.py')
    assert tool.update_interval(kd) == 1  # no agent hook at all


def test_a_block_of_k_iterations_learns_once_at_its_end(repo_root, tool):
    tool.register_all_modules(init_default_scope=False)
    torch.manual_seed(0)
    model, optim_wrapper = tool.build(
        osp.join(repo_root, SHAPES_RLKD), 'cpu')
    args = type('Args', (), dict(batch_size=1, image_size=64))
    data = tool.make_detection_batch(args, model)
    agent = model.temperature_provider.agent
    learned = []
    learn = agent.learn

    def counting_learn(episode, *args, **kwargs):
        learned.append(episode.actions.shape[0])
        return learn(episode, *args, **kwargs)

    agent.learn = counting_learn
    runs = {'RLKD': (model, optim_wrapper)}
    seconds = tool.interleaved_block(runs, data, 'cpu', iterations=3)
    assert seconds['RLKD'] > 0
    # Iteration 1 only queues its episode, 2 drops iteration 1's, 3 learns
    # from iteration 2's (on at most max_episode_length of its RoIs).
    assert len(learned) == 1
    assert 0 < learned[0] <= 256
    tool.interleaved_block(runs, data, 'cpu', iterations=3)
    assert len(learned) == 2


@pytest.mark.parametrize('mode', ['classification', 'detection'])
def test_benchmark_runs_and_reports_both_methods(tool, monkeypatch, capsys,
                                                 mode):
    extra = ['--detection', '--image-size', '64'] if mode == 'detection' \
        else ['--same-batch-reward']
    monkeypatch.setattr('sys.argv', [
        'benchmark_iteration.py', '--pairs', '4', '--warmup', '0',
        '--batch-size', '2', *extra
    ])
    threads = torch.get_num_threads()
    try:
        tool.main()
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    interval = 4 if mode == 'detection' else 1
    assert f'agent update every {interval} iteration(s)' in out
    ratios = dict(re.findall(r'^(KD|RLKD)\s+median\s+[\d.]+ ms\s+ratio to KD '
                             r'([\d.]+)$', out, re.M))
    assert set(ratios) == {'KD', 'RLKD'}
    assert float(ratios['KD']) == 1.0
    assert float(ratios['RLKD']) > 0
    assert re.search(r'^  RLKD\s+[\d.]+  [\d.]+  [\d.]+$', out, re.M)
    if mode == 'classification':
        assert re.search(
            r'^RLKD, same-batch reward\s+median\s+[\d.]+ ms\s+ratio', out,
            re.M)
        assert re.search(r'^  RLKD, same-batch reward\s+\d+ \(\d+\)$', out,
                         re.M)
    # Host reads: the agent's decision whether to learn in every iteration
    # it learns in, its logged scalars in one iteration of ten.
    reads = {
        name: (int(plain), int(logging))
        for name, plain, logging in re.findall(
            r'^  (KD|RLKD)\s+(\d+) \((\d+)\)$', out, re.M)
    }
    assert reads['RLKD'] == (reads['KD'][0] + 1, reads['KD'][1] + 2)
