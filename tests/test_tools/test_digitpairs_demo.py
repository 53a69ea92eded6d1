"""demo/digitpairs_demo.py: the RLKD runs record temperature by confidence.

The demo itself trains for ~15 minutes; this runs its config loader and its
hook on the tiny DigitPairs config for one epoch and checks the record and
the closing table built from it.
"""
import importlib.util
import json
import os.path as osp
import sys

import pytest
from mmengine.runner import Runner
from tiny_digitpairs import TINY


@pytest.fixture(scope='module')
def demo(repo_root):
    sys.path.insert(0, osp.join(repo_root, 'demo'))
    try:
        path = osp.join(repo_root, 'demo', 'digitpairs_demo.py')
        spec = importlib.util.spec_from_file_location('digitpairs_demo', path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(osp.join(repo_root, 'demo'))


def test_only_rlkd_runs_get_the_hook_and_validate_at_the_end(demo, tmp_path):
    configs = dict(demo.STUDENTS)
    hooks = {}
    for name, config in configs.items():
        cfg = demo.load_config(
            osp.join(demo.CONFIGS, config), str(tmp_path), 3, 'teacher.pth')
        hooks[name] = [h['type'] for h in cfg.get('custom_hooks', [])]
        if 'teacher_ckpt' in cfg.model:
            assert cfg.train_cfg.val_interval == 3
    assert [n for n, h in hooks.items()
            if 'TemperatureByConfidence' in h] == [demo.RLKD, demo.FROZEN]


@pytest.mark.usefixtures('one_thread')
def test_the_record_counts_every_last_epoch_instance(demo, tmp_path):
    cfg = demo.load_config(
        osp.join(demo.CONFIGS,
                 dict(demo.STUDENTS)[demo.RLKD]), str(tmp_path / 'rlkd'), 2,
        None)
    cfg.merge_from_dict(TINY)
    cfg.experiment_name = 'demo_by_confidence'
    runner = Runner.from_cfg(cfg)
    runner.train()
    with open(tmp_path / 'rlkd' / demo.BY_CONFIDENCE_FILE) as f:
        record = json.load(f)
    assert record['epoch'] == 2
    assert sum(record['count']) == 32  # the last epoch: 4 batches of 8
    for count, mean in zip(record['count'], record['mean_temperature']):
        if count:  # the agent warms up for 2 epochs: T = 4 everywhere
            assert mean == pytest.approx(4.0)
    rows = [(demo.RLKD, 1.0, 1.0, runner.log_dir),
            ('vanilla KD', 1.0, 1.0, str(tmp_path / 'kd' / 'x'))]
    lines = demo.confidence_table(rows, (demo.RLKD, demo.FROZEN))
    assert any(line.startswith(demo.RLKD) and '4.00' in line for line in lines)
    assert not any('vanilla KD' in line for line in lines)
    counts = [line for line in lines if line.startswith('  instances')]
    assert len(counts) == 1 and counts[0].split()[-5:] == [
        str(n) for n in record['count']
    ]
