"""demo/digitpairs_demo.py: its run settings, and the temperature record.

The demo itself trains for about 9 minutes; this checks the settings its
config loader gives every run, and runs its hook on the tiny DigitPairs
config for two epochs to check the record and the closing table built from
it.
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


def test_no_run_validates_and_the_students_distil_from_resnet20(
        demo, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, 'argv', ['digitpairs_demo.py'])
    args = demo.parse_args()
    assert (args.epochs, args.threads) == (demo.STUDENT_EPOCHS, 1)
    teacher = demo.load_config(demo.TEACHER[1], str(tmp_path), None, None)
    assert teacher.model.backbone.depth == 20
    students = {}
    for name, config in demo.STUDENTS:
        students[name] = demo.load_config(
            osp.join(demo.CONFIGS, config), str(tmp_path), 3, 'teacher.pth')
    for cfg in [teacher, *students.values()]:
        epochs = cfg.train_cfg.max_epochs
        assert cfg.train_cfg.val_begin > epochs  # the test follows instead
        assert cfg.default_hooks.checkpoint.interval == epochs
    for cfg in students.values():
        assert cfg.train_cfg.max_epochs == 3
        if 'teacher_ckpt' in cfg.model:
            assert cfg.model.teacher == teacher.model
            assert cfg.model.teacher_ckpt == 'teacher.pth'
    assert [
        name for name, cfg in students.items() if 'TemperatureByConfidence' in
        [hook['type'] for hook in cfg.get('custom_hooks', [])]
    ] == [demo.RLKD, demo.FROZEN]


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
    assert 'accuracy/top1' in runner.test()  # what the table reads
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
