"""Run a function in a forked child process and return its result.

``torch.compile`` starts autograd's worker threads in the process that
compiles, and a process with those threads can no longer fork a child that
uses autograd (the two-process tests of the same pytest worker would then
fail). Tests that compile do so in a child, which takes those threads with
it when it exits.
"""
import multiprocessing


def run_in_child(function, *args):
    """``function(*args)`` (a module-level function) in a forked child."""
    with multiprocessing.get_context('fork').Pool(1) as pool:
        return pool.apply(function, args)
