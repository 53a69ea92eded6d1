"""Deterministic training on CUDA needs cuBLAS told so before it starts."""
import os

#: cuBLAS workspace setting that PyTorch's deterministic mode asks for.
CUBLAS_WORKSPACE_CONFIG = ':4096:8'


def set_cublas_workspace_config(cfg, environ=None):
    """Set ``CUBLAS_WORKSPACE_CONFIG`` when the config asks for determinism.

    With ``randomness=dict(deterministic=True)`` MMEngine calls
    ``torch.use_deterministic_algorithms(True)``; on CUDA every cuBLAS matmul
    then raises unless ``CUBLAS_WORKSPACE_CONFIG`` was set before cuBLAS
    started. Setting it here, when the config is read and before the model
    reaches the GPU, covers every launcher (plain, torchrun, Slurm). A value
    the user set is kept; without CUDA the variable is harmless.

    Args:
        cfg (mmengine.Config): The run's config.
        environ (MutableMapping, optional): Environment to update. Defaults
            to ``os.environ``.

    Returns:
        bool: Whether the config asks for deterministic algorithms.
    """
    environ = os.environ if environ is None else environ
    deterministic = bool((cfg.get('randomness') or {}).get('deterministic'))
    if deterministic:
        environ.setdefault('CUBLAS_WORKSPACE_CONFIG', CUBLAS_WORKSPACE_CONFIG)
    return deterministic
