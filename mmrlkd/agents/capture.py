"""Replays a function of tensors as a CUDA graph.

On a GPU the agent's small networks cost what they launch, not what they
compute: one graph replay launches them all at once. A function qualifies
when it is a function of its tensor arguments and of tensors it reads (and
may update) in place, with no host read, no Python-side state that changes
between calls and no random draw: the agent's acting step
(:meth:`RLKDAgent.acting_step`) and its learning step
(:meth:`RLKDAgent.learning_step`, which updates its networks, optimizers
and statistics in place) are two.

Correct by construction, or eager: each new input shape is captured once and
its first replay is compared with the eager result (for a step that updates
state, from the same starting state, the state after it compared too); a
capture that fails, or a replay that differs, switches capture off for good
with one warning saying why, and the function runs eagerly from then on. A
graph reads and writes its tensors at the addresses they had at capture, so
it is captured again whenever one has moved (``.to()``, a replaced tensor).
"""
import contextlib
import warnings

import torch


class GraphedFunction:
    """``fn(*tensors)`` (a tuple of tensors) from CUDA graphs, or eager.

    Args:
        fn (callable): Function of tensors returning a tuple of them.
        tensors (callable): Returns the tensors ``fn`` reads besides its
            arguments (changed in place between calls, or by ``fn``).
        enabled (bool): Capture on CUDA inputs; False always runs eager.
            Defaults to True.
        updates (bool): ``fn`` changes ``tensors()`` in place (a learning
            step). Each input shape then runs eagerly until a call finds
            every tensor where the previous call left it (optimizers create
            their state in their first step), and the warm-up runs before
            capture are undone. Defaults to False.
        capturing (callable, optional): Returns a context manager to
            capture under (the optimizers' ``capturable`` switch).
        atol (float): Largest difference from eager that the first replay
            may show. Defaults to 1e-5.
        warmup (int): Eager runs on a side stream before capture (as CUDA
            graphs need). Defaults to 3.

    Attributes:
        failure (str, optional): Why capture was switched off, if it was.
    """

    def __init__(self,
                 fn,
                 tensors,
                 enabled=True,
                 updates=False,
                 capturing=None,
                 atol=1e-5,
                 warmup=3):
        self.fn = fn
        self.tensors = tensors
        self.enabled = enabled
        self.updates = updates
        self.capturing = capturing or contextlib.nullcontext
        self.atol = atol
        self.warmup = warmup
        self.failure = None
        self._graphs = {}
        self._previous = None

    def __getstate__(self):
        # Graphs are bound to this process's memory: a copy captures anew.
        return dict(self.__dict__, _graphs={}, _previous=None)

    def __call__(self, *args):
        if not self.enabled or self.failure is not None or \
                not all(t.is_cuda for t in args):
            return self.fn(*args)
        tensors = self.tensors()
        key = (tuple((tuple(t.shape), t.dtype, t.device) for t in args),
               tuple(t.data_ptr() for t in tensors))
        entry = self._graphs.get(key)
        if entry is not None:
            return self._replay(entry, args)
        if self.updates and key != self._previous:
            self._previous = key
            return self.fn(*args)
        start = _copies(tensors) if self.updates else []
        eager = None
        try:
            entry = self._capture(args, tensors, start)
            result = self._replay(entry, args)
            after = _copies(tensors) if self.updates else []
            _restore(tensors, start)
            eager = self.fn(*args)
            self._check(result, eager)
            if self.updates:
                self._check(after, tensors)
        except Exception as error:  # noqa: B902  (any failure: eager)
            return self._give_up(f'{type(error).__name__}: {error}', args,
                                 eager, tensors, start)
        if self.updates:
            # The state moved for good: graphs of its old addresses are
            # of no more use (and hold their memory).
            self._graphs.clear()
        self._graphs[key] = entry
        return eager

    def _capture(self, args, tensors, start):
        inputs = _copies(args)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(self.warmup):
                self.fn(*inputs)
        torch.cuda.current_stream().wait_stream(side)
        _restore(tensors, start)  # the warm-up steps undone
        graph = torch.cuda.CUDAGraph()
        # thread_local: CUDA calls of other threads (a DataLoader's pinning
        # thread) neither break this capture nor are broken by it.
        with self.capturing(), torch.cuda.graph(
                graph, capture_error_mode='thread_local'):
            outputs = self.fn(*inputs)
        return graph, inputs, outputs

    @staticmethod
    def _replay(entry, args):
        graph, inputs, outputs = entry
        for static, value in zip(inputs, args):
            static.copy_(value)
        graph.replay()
        # The next replay overwrites the outputs: hand out copies.
        return tuple(t.clone() for t in outputs)

    def _check(self, replayed, eager):
        for ours, theirs in zip(replayed, eager, strict=True):
            if not torch.allclose(
                    ours, theirs, rtol=0, atol=self.atol, equal_nan=True):
                raise RuntimeError('the replay differs from eager by '
                                   f'{(ours - theirs).abs().max().item():.3g}')

    def _give_up(self, reason, args, eager=None, tensors=(), start=()):
        """Warn once and run eagerly from the state before the call (the
        eager result, if it came before the failure, is kept)."""
        self.failure = reason
        self._graphs.clear()
        warnings.warn(
            f'CUDA-graph capture of {getattr(self.fn, "__name__", self.fn)} '
            f'is off ({reason}); it runs eagerly', RuntimeWarning)
        if eager is not None:
            return eager
        _restore(tensors, start)
        return self.fn(*args)


def _copies(tensors):
    return [t.detach().clone() for t in tensors]


def _restore(tensors, values):
    """Copy ``values`` back into ``tensors``, in place."""
    with torch.no_grad():
        for tensor, value in zip(tensors, values):
            tensor.copy_(value)
