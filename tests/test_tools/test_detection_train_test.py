"""RLKD Faster R-CNN distillation end to end on generated Shapes data, CPU.

tools/dataset_converters/make_shapes_coco.py writes a few images,
tools/train.py runs the shipped RLKD Shapes config (tiny teacher and student,
random teacher) for 4 iterations with the agent acting from the start, and
tools/test.py evaluates the checkpoint with pycocotools' COCO bbox metric.
"""
import json
import os
import os.path as osp

import pytest
import torch

pytestmark = pytest.mark.slow

RLKD_CONFIG = ('configs/detection/shapes/'
               'rlkd_roi_faster-rcnn_r18w32_faster-rcnn_r18w8_shapes.py')


def scalars(work_dir):
    runs = sorted(
        d for d in os.listdir(work_dir)
        if osp.isdir(osp.join(work_dir, d, 'vis_data')))
    path = osp.join(work_dir, runs[-1], 'vis_data', 'scalars.json')
    with open(path) as f:
        return [json.loads(line) for line in f]


def write_config(repo_root, tmp_path, data_root):
    config = tmp_path / 'tiny_rlkd_det.py'
    config.write_text(f"""
_base_ = [{osp.join(repo_root, RLKD_CONFIG)!r}]
data_root = {data_root!r}
model = dict(teacher_ckpt=None)
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root))
val_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=2, val_interval=3)
default_hooks = dict(
    logger=dict(interval=1), checkpoint=dict(max_keep_ckpts=2),
    visualization=dict(draw=False))
custom_hooks = [
    dict(type='mmrlkd.RLKDAgentHook', agent_warmup=0, reward_warmup=1)
]
""")
    return str(config)


def test_rlkd_faster_rcnn_trains_and_tests_through_tools(
        repo_root, tmp_path, run_tool):
    data_root = str(tmp_path / 'shapes') + '/'
    run_tool(run_tool.python, 'tools/dataset_converters/make_shapes_coco.py',
             data_root, '--num-train', '8', '--num-val', '4', '--image-size',
             '96', '--empty-fraction', '0.25')
    config = write_config(repo_root, tmp_path, data_root)
    work_dir = str(tmp_path / 'work')
    threads = dict(OMP_NUM_THREADS='1')

    run_tool(
        run_tool.python,
        'tools/train.py',
        config,
        '--work-dir',
        work_dir,
        env=threads)
    rows = [row for row in scalars(work_dir) if 'distill.loss_kd' in row]
    assert [row['iter'] for row in rows] == [1, 2, 3, 4]
    for row in rows:
        # Per-RoI temperatures (spread over the RoIs) in the agent's range.
        assert 0 < row['distill.temperature_min'] < row[
            'distill.temperature_max'] < 2
        assert row['distill.temperature_std'] > 0
        assert row['distill.roi_count'] > 0
        assert row['distill.roi_skipped'] == 0
    updated = [row['iter'] for row in rows if 'rl/policy_loss' in row]
    assert updated == [2, 3, 4]

    first = torch.load(osp.join(work_dir, 'epoch_1.pth'), weights_only=False)
    second = torch.load(osp.join(work_dir, 'epoch_2.pth'), weights_only=False)
    assert 'rlkd_agent' in first and 'rlkd_agent' in second
    key = 'actor.0.weight'
    assert not torch.equal(first['rlkd_agent']['policy'][key],
                           second['rlkd_agent']['policy'][key])

    result = run_tool(
        run_tool.python,
        'tools/test.py',
        config,
        osp.join(work_dir, 'epoch_2.pth'),
        '--work-dir',
        work_dir,
        env=threads)
    output = result.stdout + result.stderr
    assert 'coco/bbox_mAP:' in output
    assert 'Average Precision' in output  # pycocotools' own summary
