"""A DigitPairs config shrunk to seconds: 4 iterations of 8 images."""
import itertools

from mmengine.config import Config

from mmrlkd.utils import register_all_modules

#: ResNet-8 teacher without checkpoint, 32 training and 16 test images,
#: a log line every iteration.
TINY = {
    'model.teacher.backbone.depth': 8,
    'model.teacher_ckpt': None,
    'train_dataloader.batch_size': 8,
    'train_dataloader.dataset.num_samples': 32,
    'val_dataloader.dataset.num_samples': 16,
    'default_hooks.logger.interval': 1,
}
_names = itertools.count()


def tiny_config(config, work_dir, epochs=1, **options):
    """``config`` with :data:`TINY` and ``options`` merged in; its own
    work dir and a fresh experiment name (MMLogger instances are global).
    """
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(config)
    cfg.merge_from_dict({**TINY, 'train_cfg.max_epochs': epochs, **options})
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = f'tiny_{next(_names)}'
    return cfg
