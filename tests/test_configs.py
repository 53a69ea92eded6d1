"""Every shipped config parses and builds its model (no data, no weights)."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    path for path in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                               recursive=True) if '_base_' not in path)


def test_configs_are_found():
    assert len(CONFIGS) >= 8


@pytest.mark.parametrize(
    'path', CONFIGS, ids=[osp.relpath(p, ROOT) for p in CONFIGS])
def test_config_builds_its_model(path):
    cfg = Config.fromfile(path)
    model_cfg = cfg.model
    if 'teacher_ckpt' in model_cfg:
        assert model_cfg.teacher_ckpt, 'distillation configs name a teacher'
        model_cfg.teacher_ckpt = None  # not downloaded or trained in tests
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(model_cfg)
    provider = getattr(model, 'temperature_provider', None)
    if provider is not None and hasattr(provider, 'finish_iteration'):
        hooks = [hook['type'] for hook in cfg.get('custom_hooks', [])]
        assert 'mmrlkd.RLKDAgentHook' in hooks, 'RLKD needs its agent hook'
