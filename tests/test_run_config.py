from mmengine.config import Config

from mmrlkd.utils import set_max_epochs


def test_set_max_epochs_stretches_cosine_only():
    cfg = Config(
        dict(
            train_cfg=dict(max_epochs=10),
            param_scheduler=[
                dict(type='CosineAnnealingLR', T_max=10),
                dict(type='MultiStepLR', milestones=[5, 8]),
            ]))
    set_max_epochs(cfg, 4)
    assert cfg.train_cfg.max_epochs == 4
    assert cfg.param_scheduler[0].T_max == 4
    assert cfg.param_scheduler[1].milestones == [5, 8]
