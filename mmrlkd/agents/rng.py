"""The agents' own random generators: seeded per process, saved, moved.

Every process builds its agent from the same seed, so the networks start
identical; its random draws (exploration noise, subsampling, Dirichlet
weights) must differ per process, or N processes explore like one. Each
agent therefore draws from a generator of its own, seeded with
:func:`rank_seed`, whose state goes into checkpoints.
"""
import torch

#: Spreads the per-process seeds (the golden ratio in 64 bits).
RANK_STRIDE = 0x9E3779B97F4A7C15


def make_generator(device, seed):
    """A generator on ``device`` seeded with ``seed`` (None on 'meta')."""
    device = torch.device(device)
    if device.type == 'meta':
        return None
    generator = torch.Generator(device=device)
    generator.manual_seed(seed % 2**63)
    return generator


def rank_seed(seed, rank):
    """Process ``rank``'s seed from the agent's shared one."""
    return seed + RANK_STRIDE * rank


def generator_state(generator):
    """The generator's state (a CPU byte tensor), or None."""
    return None if generator is None else generator.get_state()


def restore_generator(generator, state):
    """Set ``generator`` to ``state``; False if it does not fit here.

    A state saved on another kind of device does not fit (a CPU
    generator's 5,056 bytes against a CUDA generator's 16); the caller
    then keeps its generator as seeded.
    """
    if generator is None or state is None:
        return False
    try:
        generator.set_state(state.cpu())
    except RuntimeError:
        return False
    return True


def moved_generator(generator, device, seed):
    """A generator on ``device`` that continues ``generator``'s stream.

    A generator cannot change device: the new one is seeded with a number
    the old one draws (with ``seed`` when there is no old one).
    """
    device = torch.device(device)
    if generator is not None:
        if generator.device == device:
            return generator
        seed = int(
            torch.randint(
                2**62, (), generator=generator, device=generator.device))
    return make_generator(device, seed)
