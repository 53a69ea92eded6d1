"""tools/analysis/compare_methods.py: run configs, the result cache, and a
tiny comparison that trains its missing teachers and then reuses its runs."""
import argparse
import importlib.util
import json
import os.path as osp

import pytest


def load_tool(repo_root):
    path = osp.join(repo_root, 'tools', 'analysis', 'compare_methods.py')
    spec = importlib.util.spec_from_file_location('compare_methods', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_args(tmp_path, epochs=3, cfg_options=None):
    return argparse.Namespace(
        epochs=epochs,
        cfg_options=cfg_options,
        teacher_ckpt='teacher.pth',
        teacher2_ckpt='teacher2.pth',
        work_dir=str(tmp_path))


def test_methods_and_their_run_configs(repo_root, tmp_path):
    tool = load_tool(repo_root)
    assert {'student', 'kd', 'ctkd', 'dtkd', 'rlkd',
            'mtkd_rl'} <= set(tool.METHODS)
    for config in tool.METHODS.values():
        assert osp.isfile(osp.join(tool.CONFIGS, config)), config
    for config, _ in tool.TEACHER_CONFIGS.values():
        assert osp.isfile(osp.join(tool.CONFIGS, config)), config
    args = run_args(tmp_path)
    ctkd = tool.method_config(args, 'ctkd', seed=4)
    assert ctkd.train_cfg.max_epochs == 3
    assert ctkd.train_cfg.val_interval == 3  # one validation, at the end
    assert ctkd.model.teacher_ckpt == 'teacher.pth'
    assert ctkd.randomness.seed == 4
    assert ctkd.work_dir == osp.join(str(tmp_path), 'ctkd', 'seed_4')
    assert [h.type for h in ctkd.custom_hooks] == ['mmrlkd.CTKDCurriculumHook']
    dtkd = tool.method_config(args, 'dtkd', seed=0)
    assert dtkd.model.distiller.temperature_provider.type == \
        'mmrlkd.DTKDTemperature'
    # MTKD-RL reads both teachers, in the order of its config's teachers.
    mtkd = tool.method_config(args, 'mtkd_rl', seed=1)
    assert mtkd.model.teacher_ckpts == ['teacher.pth', 'teacher2.pth']
    assert [t.backbone.depth for t in mtkd.model.teachers] == [56, 20]
    assert 'teacher_ckpt' not in tool.method_config(args, 'student', 0).model


def test_result_is_reused_only_with_the_same_settings(repo_root, tmp_path):
    tool = load_tool(repo_root)
    args = run_args(tmp_path, cfg_options={'optim_wrapper.optimizer.lr': 0.2})
    cfg = tool.method_config(args, 'kd', seed=0)
    settings = tool.run_settings(args, 'kd', cfg)
    assert settings['epochs'] == 3 and settings['teacher_ckpts'] == [
        'teacher.pth'
    ]
    assert tool.cached_top1(cfg.work_dir, settings) is None  # not run yet
    tool.save_result(cfg.work_dir, settings, 91.5, seconds=60)
    with open(osp.join(cfg.work_dir, 'result.json')) as f:
        assert json.load(f)['top1'] == 91.5
    assert tool.cached_top1(cfg.work_dir, settings) == 91.5

    def settings_with(**changes):
        changed = run_args(tmp_path, **changes)
        return tool.run_settings(changed, 'kd',
                                 tool.method_config(changed, 'kd', seed=0))

    assert settings_with(
        cfg_options={'optim_wrapper.optimizer.lr': 0.2}) == settings
    assert tool.cached_top1(cfg.work_dir, settings_with(epochs=4)) is None
    assert tool.cached_top1(
        cfg.work_dir,
        settings_with(cfg_options={'optim_wrapper.optimizer.lr': 0.1})) is None


TINY_DATA = [
    'train_dataloader.batch_size=8',
    'train_dataloader.dataset.num_samples=16',
    'val_dataloader.dataset.num_samples=16',
    'test_dataloader.dataset.num_samples=16',
]


@pytest.mark.slow
def test_tiny_comparison_trains_teachers_then_reuses_runs(
        repo_root, tmp_path, capsys):
    tool = load_tool(repo_root)
    teachers = [str(tmp_path / 'resnet56.pth'), str(tmp_path / 'resnet20.pth')]
    work_dir = str(tmp_path / 'compare')
    # Teachers of one epoch on 16 images are at chance level: the teacher
    # check would rightly stop the distillation.
    argv = [
        '--methods', 'student', 'mtkd_rl', '--seeds', '1', '--epochs', '1',
        '--teacher-epochs', '1', '--teacher-ckpt', teachers[0],
        '--teacher2-ckpt', teachers[1], '--work-dir', work_dir,
        '--cfg-options', *TINY_DATA, 'default_hooks.teacher_check.enabled=0',
        '--teacher-cfg-options', *TINY_DATA
    ]

    first = tool.main(argv)
    out = capsys.readouterr().out
    for teacher, config in zip(teachers, ['resnet56', 'resnet20']):
        assert f'Teacher {teacher} not found: training it once with ' \
            f'configs/digitpairs/{config}_digitpairs.py' in out
        assert osp.isfile(teacher)
    assert 'cached' not in out
    assert set(first) == {'student', 'mtkd_rl'}
    for method in first:
        with open(osp.join(work_dir, method, 'seed_0', 'result.json')) as f:
            result = json.load(f)
        assert [result['top1']] == first[method]
        assert result['settings']['epochs'] == 1
        assert result['settings']['cfg_options'][
            'train_dataloader.dataset.num_samples'] == 16
    with open(osp.join(work_dir, 'mtkd_rl', 'seed_0', 'result.json')) as f:
        assert json.load(f)['settings']['teacher_ckpts'] == teachers
    assert 'mtkd_rl' in out.split('DigitPairs test top-1')[1]
    assert osp.isfile(osp.join(work_dir, 'compare_methods.png'))

    # Same settings: both runs come from their result.json, nothing trains.
    again = tool.main(argv)
    out = capsys.readouterr().out
    assert again == first
    assert out.count('(cached, ') == 2 and 'not found' not in out

    # --rerun trains again; --seed-list picks the seeds.
    tool.main(argv + ['--rerun', '--methods', 'student', '--seed-list', '3'])
    out = capsys.readouterr().out
    assert 'cached' not in out and '[1/1] student  seed 3' in out
    assert 'over 1 seeds' in out
    assert osp.isfile(osp.join(work_dir, 'student', 'seed_3', 'result.json'))
