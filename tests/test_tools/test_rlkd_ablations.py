"""The RLKD ablation configs (paper Tables 5-8) train for a few iterations.

CIFAR-100 is not on this machine, so each config's training set is swapped
for 40 DigitPairs images (inside the same exploration wrapper), the teacher
is left untrained and the warm-ups are shortened to one epoch; everything
else (provider switches, hooks, mixing slices) is the config's own.
"""
import itertools
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmrlkd.utils import register_all_modules

pytestmark = pytest.mark.slow

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PAIR = 'resnet56_resnet20_cifar100'
CONFIGS = [f'configs/rlkd/rlkd_{PAIR}.py'] + [
    f'configs/rlkd/ablations/rlkd_{name}_{PAIR}.py'
    for name in ('wo-uncertainty', 'wo-calibration', 'wo-exploration',
                 'hq0-10', 'hq10-20')
]
_names = itertools.count()


def digitpairs_runner(path, work_dir):
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(osp.join(ROOT, path))
    cfg.model.teacher_ckpt = None
    cfg.model.data_preprocessor = dict(
        type='mmpretrain.ClsDataPreprocessor',
        num_classes=100,
        mean=[127.5] * 3,
        std=[127.5] * 3)
    assert cfg.train_dataloader.dataset.type == \
        'mmrlkd.EfficientExplorationDataset'
    cfg.train_dataloader.dataset.dataset = dict(
        type='mmrlkd.DigitPairs',
        split='train',
        num_samples=40,
        pipeline=[dict(type='PackInputs')])
    cfg.train_dataloader.update(
        batch_size=10, num_workers=0, persistent_workers=False)
    cfg.train_cfg = dict(by_epoch=True, max_epochs=3, val_interval=100)
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.test_dataloader = cfg.test_evaluator = cfg.test_cfg = None
    cfg.param_scheduler = None
    for hook in cfg.custom_hooks:
        if hook.type == 'mmrlkd.RLKDAgentHook':
            hook.update(agent_warmup=1, reward_warmup=1)
        else:
            hook.update(explore_epochs=1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=3)
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = f'ablation_{next(_names)}'
    return Runner.from_cfg(cfg)


@pytest.mark.parametrize(
    'path', CONFIGS, ids=[osp.basename(p) for p in CONFIGS])
def test_ablation_config_trains(path, tmp_path):
    runner = digitpairs_runner(path, tmp_path)
    provider = runner.model.temperature_provider
    initial = {
        key: value.clone()
        for key, value in provider.policy.state_dict().items()
    }
    runner.train()
    hooks = {type(hook).__name__: hook for hook in runner.hooks}
    cfg_provider = runner.cfg.model.distiller.temperature_provider
    assert provider.use_uncertainty == cfg_provider.get(
        'use_uncertainty', True)
    assert provider.acting
    # The agent learned in epochs 2 and 3.
    assert any(not torch.equal(value,
                               provider.policy.state_dict()[key])
               for key, value in initial.items())
    exploring = 'EfficientExplorationHook' in hooks
    assert exploring == ('wo-exploration' not in path)
    dataset = runner.train_dataloader.dataset
    if exploring:
        checkpoint = torch.load(
            osp.join(tmp_path, 'epoch_3.pth'), weights_only=False)
        assert 'efficient_exploration' in checkpoint
    assert dataset.num_mixed == 0  # originals are back after exploring
