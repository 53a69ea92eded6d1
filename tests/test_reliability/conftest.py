"""One thread per test, and the Runner's process-wide flags undone."""
import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread_and_restored_flags():
    """One intra-op thread; undo the Runner's process-wide determinism."""
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(1)
    yield
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
    torch.set_num_threads(threads)
