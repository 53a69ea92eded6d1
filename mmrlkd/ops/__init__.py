"""Stand-ins for mmcv ops where the installed mmcv cannot run them."""
from .torchvision_fallback import (ENV_VAR, mmcv_has_cuda_ops, mode_from_env,
                                   ops_fallback_active, ops_fallback_mode,
                                   routes_to_torchvision, set_ops_fallback,
                                   set_ops_fallback_from_env, torchvision_nms)

__all__ = [
    'ENV_VAR', 'mmcv_has_cuda_ops', 'mode_from_env', 'ops_fallback_active',
    'ops_fallback_mode', 'routes_to_torchvision', 'set_ops_fallback',
    'set_ops_fallback_from_env', 'torchvision_nms'
]
