"""Replays a pure function of tensors as a CUDA graph.

On a GPU the agent's small networks cost what they launch, not what they
compute: one graph replay launches them all at once. A function qualifies
when it is a pure function of its tensor arguments and of parameters
updated in place (no host read, no Python-side state, no random draw): the
agent's acting step (:meth:`RLKDAgent.acting_step`) is one.

Correct by construction, or eager: each new input shape is captured once and
its first replay is compared with the eager result; a capture that fails,
or a replay that differs, switches capture off for good with one warning
saying why, and the function runs eagerly from then on. A graph reads the
parameters at the addresses they had at capture, so it is captured again
whenever a parameter has moved (``.to()``, a replaced tensor).
"""
import warnings

import torch


class GraphedFunction:
    """``fn(*tensors)`` (a tuple of tensors) from CUDA graphs, or eager.

    Args:
        fn (callable): Pure function of tensors returning a tuple of them.
        parameters (callable): Returns the tensors ``fn`` reads besides its
            arguments (updated in place between calls).
        enabled (bool): Capture on CUDA inputs; False always runs eager.
            Defaults to True.
        atol (float): Largest difference from eager that the first replay
            may show. Defaults to 1e-5.
        warmup (int): Eager runs on a side stream before capture (as CUDA
            graphs need). Defaults to 3.

    Attributes:
        failure (str, optional): Why capture was switched off, if it was.
    """

    def __init__(self, fn, parameters, enabled=True, atol=1e-5, warmup=3):
        self.fn = fn
        self.parameters = parameters
        self.enabled = enabled
        self.atol = atol
        self.warmup = warmup
        self.failure = None
        self._graphs = {}

    def __getstate__(self):
        # Graphs are bound to this process's memory: a copy captures anew.
        return dict(self.__dict__, _graphs={})

    def __call__(self, *args):
        if not self.enabled or self.failure is not None or \
                not all(t.is_cuda for t in args):
            return self.fn(*args)
        key = tuple((tuple(t.shape), t.dtype, t.device) for t in args)
        addresses = tuple(p.data_ptr() for p in self.parameters())
        entry = self._graphs.get(key)
        if entry is None or entry[0] != addresses:
            try:
                entry = (addresses, *self._capture(args))
                result = self._replay(entry, args)
                self._check(result, self.fn(*args))
            except Exception as error:  # noqa: B902  (any failure: eager)
                return self._give_up(f'{type(error).__name__}: {error}',
                                     args)
            self._graphs[key] = entry
            return result
        return self._replay(entry, args)

    def _capture(self, args):
        inputs = [t.clone() for t in args]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(self.warmup):
                self.fn(*inputs)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        # thread_local: CUDA calls of other threads (a DataLoader's pinning
        # thread) neither break this capture nor are broken by it.
        with torch.cuda.graph(graph, capture_error_mode='thread_local'):
            outputs = self.fn(*inputs)
        return graph, inputs, outputs

    @staticmethod
    def _replay(entry, args):
        _, graph, inputs, outputs = entry
        for static, value in zip(inputs, args):
            static.copy_(value)
        graph.replay()
        # The next replay overwrites the outputs: hand out copies.
        return tuple(t.clone() for t in outputs)

    def _check(self, replayed, eager):
        for ours, theirs in zip(replayed, eager):
            if not torch.allclose(ours, theirs, rtol=0, atol=self.atol):
                raise RuntimeError('the replay differs from eager by '
                                   f'{(ours - theirs).abs().max().item():.3g}')

    def _give_up(self, reason, args):
        self.failure = reason
        self._graphs.clear()
        warnings.warn(
            f'CUDA-graph capture of {getattr(self.fn, "__name__", self.fn)} '
            f'is off ({reason}); it runs eagerly', RuntimeWarning)
        return self.fn(*args)
