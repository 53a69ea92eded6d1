from .distributed import finish_distributed, prepare_distributed
from .run_config import (add_common_arguments, build_runner, load_config,
                         set_max_epochs)
from .setup_env import register_all_modules

__all__ = [
    'add_common_arguments', 'build_runner', 'finish_distributed',
    'load_config', 'prepare_distributed', 'register_all_modules',
    'set_max_epochs'
]
