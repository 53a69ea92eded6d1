"""Validation of ``out_indices``, shared by the CIFAR backbones."""


def check_out_indices(out_indices, num_outputs):
    """``out_indices`` as a tuple, each in ``0 .. num_outputs - 1``.

    Feature-KD methods pick stage outputs by index; a wrong index should fail
    when the model is built, not as a missing feature inside a loss.
    """
    out_indices = tuple(out_indices)
    if not out_indices or any(not 0 <= i < num_outputs for i in out_indices):
        raise ValueError(f'out_indices must be in 0..{num_outputs - 1}, '
                         f'got {out_indices}')
    return out_indices
