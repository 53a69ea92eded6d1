"""Registration entry point, as every OpenMMLab package has one."""
import itertools

from mmengine import DefaultScope

_instance_ids = itertools.count()


def register_all_modules(init_default_scope=True):
    """Register mmrlkd, MMRazor, MMPretrain and MMDetection components.

    Args:
        init_default_scope (bool): Make ``mmrlkd`` the current default scope
            (a fresh :class:`~mmengine.DefaultScope` instance, so an earlier
            scope of another package is left intact). Defaults to True.
    """
    import mmdet.utils
    import mmpretrain.utils
    import mmrazor.utils
    mmrazor.utils.register_all_modules(False)
    mmpretrain.utils.register_all_modules(False)
    mmdet.utils.register_all_modules(False)
    if init_default_scope:
        DefaultScope.get_instance(
            f'mmrlkd-{next(_instance_ids)}', scope_name='mmrlkd')
