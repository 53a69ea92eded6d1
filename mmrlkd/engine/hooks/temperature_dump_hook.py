"""Opt-in dump of per-instance temperatures, for histograms.

The distiller logs only mean/std/min/max per iteration; histograms (CTKD
issue #16 asks for them) need every instance's temperature, which is too
much to log every iteration. This hook records them at chosen iterations.
"""
import json
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmrlkd.registry import HOOKS

DUMP_FILE = 'temperatures.jsonl'


def _as_list(temperature, num_instances):
    t = temperature.detach().float().reshape(-1).cpu()
    if t.numel() == 1:
        t = t.expand(num_instances)
    return t.tolist()


@HOOKS.register_module()
class TemperatureDumpHook(Hook):
    """Writes the provider's per-instance temperatures at chosen iterations.

    One JSON line per chosen iteration goes to
    ``<work_dir>/<timestamp>/temperatures.jsonl`` (next to ``vis_data``):
    ``{"iter": n, "epoch": e, "teacher": [...], "student": [...]}``, n the
    1-based iteration as in the scalar logs; a scalar temperature is
    repeated for every instance. Only the main process writes (its own
    batch). ``tools/analysis/plot_temperatures.py`` draws the histograms.

    Args:
        iters (list[int]): 1-based iterations to dump. Defaults to ().
        interval (int, optional): Also dump every this many iterations.
            Defaults to None.

    Examples:
        >>> custom_hooks = [dict(type='mmrlkd.TemperatureDumpHook',
        ...                      iters=[1, 1000], interval=5000)]
    """

    priority = 'LOW'

    def __init__(self, iters=(), interval=None):
        if interval is not None and interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        if not iters and interval is None:
            raise ValueError('give iters=[...] or interval=N')
        self.iters = set(int(i) for i in iters)
        self.interval = interval
        self._handle = None
        self._captured = None
        self._armed = False

    def _chosen(self, iteration):
        return iteration in self.iters or (self.interval is not None
                                           and iteration % self.interval == 0)

    def _capture(self, module, inputs, output):
        if self._armed:
            self._captured = (output, len(inputs[0]))

    def before_train(self, runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        provider = getattr(model, 'temperature_provider', None)
        if provider is None:
            raise TypeError('TemperatureDumpHook needs a model with a '
                            'temperature provider (mmrlkd.RLKDDistill), got '
                            f'{type(model).__name__}')
        self._handle = provider.register_forward_hook(self._capture)

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self._armed = is_main_process() and self._chosen(runner.iter + 1)
        self._captured = None

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        if not self._armed or self._captured is None:
            return
        output, num_instances = self._captured
        record = dict(
            iter=runner.iter + 1,
            epoch=runner.epoch + 1,
            teacher=_as_list(output.teacher, num_instances),
            student=_as_list(output.student, num_instances))
        with open(osp.join(runner.log_dir, DUMP_FILE), 'a') as f:
            f.write(json.dumps(record) + '\n')
        self._armed = False
        self._captured = None

    def after_train(self, runner):
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
