"""tools/analysis/compare_methods.py: every method has a config, and a
method's run config is the DigitPairs config with the run's settings."""
import argparse
import importlib.util
import os.path as osp


def load_tool(repo_root):
    path = osp.join(repo_root, 'tools', 'analysis', 'compare_methods.py')
    spec = importlib.util.spec_from_file_location('compare_methods', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_methods_and_their_run_configs(repo_root, tmp_path):
    tool = load_tool(repo_root)
    assert {'student', 'kd', 'ctkd', 'dtkd', 'rlkd'} <= set(tool.METHODS)
    for config in tool.METHODS.values():
        assert osp.isfile(osp.join(tool.CONFIGS, config)), config
    args = argparse.Namespace(
        epochs=3,
        cfg_options=None,
        teacher_ckpt='teacher.pth',
        work_dir=str(tmp_path))
    ctkd = tool.method_config(args, 'ctkd', seed=4)
    assert ctkd.train_cfg.max_epochs == 3
    assert ctkd.model.teacher_ckpt == 'teacher.pth'
    assert ctkd.randomness.seed == 4
    assert ctkd.work_dir == osp.join(str(tmp_path), 'ctkd', 'seed_4')
    assert [h.type for h in ctkd.custom_hooks] == ['mmrlkd.CTKDCurriculumHook']
    dtkd = tool.method_config(args, 'dtkd', seed=0)
    assert dtkd.model.distiller.temperature_provider.type == \
        'mmrlkd.DTKDTemperature'
