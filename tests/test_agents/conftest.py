import pytest
import torch


@pytest.fixture(autouse=True)
def single_thread():
    """Run the agent tests on one intra-op thread.

    The agent's networks are too small to gain from more, and on a busy
    2-core machine extra threads mostly wait for each other (a PPO update
    measured about 50x slower with 2 threads than with 1).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
