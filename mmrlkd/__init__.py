"""mmrlkd: instance-temperature knowledge distillation for OpenMMLab 2.x.

Importing the package first checks the installed stack and installs the
compatibility shims of :mod:`mmrlkd.compat` (mmrazor 1.0.0 on torch 2,
checkpoint loading on torch >= 2.6), then registers every component in the
``mmrlkd`` scope. Import it before anything imports mmrazor.
"""
from . import compat

compat.apply()

from . import datasets, engine, models  # noqa: E402,F401  (registration)
from .utils import register_all_modules  # noqa: E402
from .version import __version__  # noqa: E402

__all__ = ['__version__', 'compat', 'register_all_modules']
