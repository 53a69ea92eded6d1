"""Stop a run whose loss stays NaN or infinite, on every rank at once.

After a non-finite loss the optimizer writes NaN into the weights and the
run trains on NaN to the end. The loss is tested on its device each
iteration (no host sync); the longest streak of non-finite iterations is
read every ``interval`` iterations, maximised over the ranks, and the run
stops on all ranks when it reaches ``patience``. MMDetection's
``CheckInvalidLossHook`` stops at the first NaN with a bare
``AssertionError`` and on the rank that saw it only, so under several
processes the others wait in the next all-reduce.
"""
import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook

from mmrlkd.registry import HOOKS


class NonFiniteLossError(FloatingPointError):
    """The training loss was NaN or infinite for several iterations."""


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Stop when the training loss is non-finite ``patience`` iterations in
    a row.

    Args:
        patience (int): Consecutive non-finite iterations that stop the run
            (a single one, e.g. an fp16 overflow the loss scaler skips, does
            not). Defaults to 3.
        interval (int): Read the streak (one host sync, one all-reduce
            under several processes) every this many iterations and at the
            last one. Defaults to 5.
    """

    priority = 'NORMAL'

    def __init__(self, patience=3, interval=5):
        if patience < 1 or interval < 1:
            raise ValueError('patience and interval must be >= 1, got '
                             f'{patience} and {interval}')
        self.patience = patience
        self.interval = interval
        self._streak = None
        self._longest = None

    def before_train(self, runner):
        self._streak = self._longest = None

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        loss = (outputs or {}).get('loss')
        if isinstance(loss, torch.Tensor):
            bad = (~torch.isfinite(loss.detach()).all()).to(torch.int64)
            if self._streak is None:
                self._streak = torch.zeros_like(bad)
                self._longest = torch.zeros_like(bad)
            self._streak = (self._streak + 1) * bad
            self._longest = torch.maximum(self._longest, self._streak)
        if self._longest is not None and (
                self.every_n_train_iters(runner, self.interval)
                or self.is_last_train_iter(runner)):
            self._decide(runner, outputs)

    def _decide(self, runner, outputs):
        longest = self._longest.clone()
        if get_world_size() > 1:
            all_reduce(longest, op='max')
        self._longest = self._streak.clone()
        longest = int(longest.item())
        if longest < self.patience:
            return
        terms = [
            key for key, value in (outputs or {}).items()
            if isinstance(value, torch.Tensor)
            and not torch.isfinite(value.detach()).all()
        ]
        here = (f'; non-finite in the last iteration: {", ".join(terms)}'
                if terms else '')
        raise NonFiniteLossError(
            f'the training loss was NaN or infinite for {longest} '
            f'consecutive iterations (up to iteration {runner.iter + 1})'
            f'{here}. The weights are now likely NaN: stop and fix the '
            'cause: lower the learning rate or add gradient clipping '
            '(optim_wrapper.clip_grad), under --amp keep the dynamic loss '
            'scale, look for NaN or empty inputs, and check the teacher '
            'checkpoint for NaN weights; then resume from the last finite '
            'checkpoint')
