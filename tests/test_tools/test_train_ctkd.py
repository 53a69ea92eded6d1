"""CTKD on DigitPairs through tools/train.py, then plot_temperatures.py."""
import json
import os
import os.path as osp

import pytest

pytestmark = pytest.mark.slow

CTKD_CONFIG = 'configs/digitpairs/ctkd_resnet56_resnet8w4_digitpairs.py'


def test_ctkd_trains_through_tools_and_its_temperatures_plot(
        repo_root, tmp_path, run_tool):
    config = tmp_path / 'tiny_ctkd.py'
    config.write_text(f"""
_base_ = [{osp.join(repo_root, CTKD_CONFIG)!r}]
model = dict(teacher=dict(backbone=dict(depth=8)), teacher_ckpt=None)
train_dataloader = dict(batch_size=8, dataset=dict(num_samples=16))
val_dataloader = val_cfg = val_evaluator = None
test_dataloader = test_cfg = test_evaluator = None
train_cfg = dict(max_epochs=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=None)
custom_hooks = [
    dict(type='mmrlkd.CTKDCurriculumHook', decay_epochs=2),
    dict(type='mmrlkd.TemperatureDumpHook', iters=[1, 4]),
]
""")
    work_dir = tmp_path / 'work'
    run_tool(run_tool.python, 'tools/train.py', str(config), '--work-dir',
             str(work_dir))
    run, = [d for d in os.listdir(work_dir) if osp.isdir(work_dir / d)]
    with open(work_dir / run / 'vis_data' / 'scalars.json') as f:
        rows = [json.loads(line) for line in f]
    train = [row for row in rows if 'distill.loss_kd' in row]
    assert [row['iter'] for row in train] == [1, 2, 3, 4]
    assert [row['ctkd/lambda'] for row in train] == \
        pytest.approx([0.5, 0.5, 1.0, 1.0])
    taus = [row['distill.temperature_mean'] for row in train]
    assert all(1 < tau < 21 for tau in taus)
    assert taus[0] != taus[-1]  # the student's SGD moved the temperature

    result = run_tool(run_tool.python, 'tools/analysis/plot_temperatures.py',
                      str(work_dir), '--hist-iters', '1', '4')
    assert 'histograms at iterations [1, 4]' in result.stdout
    assert osp.getsize(work_dir / 'temperatures.png') > 0
    assert osp.getsize(work_dir / 'temperatures_hist.png') > 0
