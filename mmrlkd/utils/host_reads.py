"""Count what would make the host wait for a GPU, on any device.

On CUDA, reading a tensor's value (``item``, ``float``, ``bool``,
``tolist``), ``nonzero`` and boolean-mask indexing each block the CPU until
the GPU has caught up. ``torch.cuda.set_sync_debug_mode`` counts them on a
GPU; :class:`HostReads` counts the same operations on the CPU too, so a test
without a GPU can hold the hot path to its budget.
"""
import torch
from torch.utils._python_dispatch import TorchDispatchMode

#: ATen operations that need a value on the host.
HOST_READ_OPS = ('aten._local_scalar_dense', 'aten.nonzero',
                 'aten.masked_select', 'aten.is_nonzero')


def _indexes_with_a_mask(name, args):
    """``x[mask]``: the mask's nonzero runs inside ``aten.index``."""
    if not name.startswith(('aten.index.', 'aten.index_put')) or \
            len(args) < 2:
        return False
    return any(
        torch.is_tensor(index) and index.dtype == torch.bool
        for index in args[1])


class HostReads(TorchDispatchMode):
    """Context manager that records each host read inside it.

    ``Tensor.tolist`` does not go through the dispatcher, so it is wrapped
    for the duration. Operations are recorded by name in :attr:`reads`.

    Examples:
        >>> with HostReads() as counter:
        ...     float(torch.ones(2).sum())
        >>> len(counter.reads)
        1
    """

    def __init__(self):
        super().__init__()
        self.reads = []
        self._tolist = None

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func)
        if name.startswith(HOST_READ_OPS) or _indexes_with_a_mask(name, args):
            self.reads.append(name)
        return func(*args, **(kwargs or {}))

    def __enter__(self):
        original = torch.Tensor.tolist
        reads = self.reads

        def tolist(tensor):
            reads.append('Tensor.tolist')
            return original(tensor)

        self._tolist = original
        torch.Tensor.tolist = tolist
        return super().__enter__()

    def __exit__(self, *exc_info):
        torch.Tensor.tolist = self._tolist
        return super().__exit__(*exc_info)
