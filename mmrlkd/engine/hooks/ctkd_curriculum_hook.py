"""CTKD's curriculum: the gradient-reversal strength follows a cosine."""
import math

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmrlkd.registry import HOOKS


def cosine_lambda(progress, length, lambda_min=0.0, lambda_max=1.0):
    """CTKD's lambda_n (paper Eq. 11; official ``CosineDecay`` negated).

    ``lambda_min + (lambda_max - lambda_min) * (1 - cos(pi * m / E)) / 2``
    with m = min(max(n, 0), E): lambda_min at n = 0, the midpoint at E / 2,
    lambda_max from n = E on.

    Args:
        progress (int | float): n, the 1-based epoch (or iteration); a
            fraction of epochs when the hook converts to iterations.
        length (int): E, the length of the curriculum; 0 means no
            curriculum (lambda_max at once).
    """
    if length <= 0:
        return lambda_max
    m = min(max(progress, 0), length)
    return lambda_min + (lambda_max -
                         lambda_min) * (1 - math.cos(math.pi * m / length)) / 2


@HOOKS.register_module()
class CTKDCurriculumHook(Hook):
    """Sets a CTKD provider's reversal strength lambda before each iteration.

    lambda rises from ``lambda_min`` to ``lambda_max`` along a cosine over
    ``decay_epochs`` (10 on CIFAR, 5 on ImageNet in the paper), then stays.
    As in the official code, lambda is constant within an epoch and epoch n
    (1-based) trains with lambda_n; with ``by_epoch=False`` the length and
    n count iterations (iteration-based schedules). With
    ``convert_to_iter_based=True`` the length stays in epochs but lambda
    moves every iteration: iteration k (1-based) trains with lambda at
    n = k / (iterations per epoch), so a curriculum of one epoch (the COCO
    configs) starts near lambda_min instead of at lambda_1 = lambda_max,
    whatever the number of GPUs. It is recomputed from the runner's epoch or
    iteration, so resuming needs no state. Logged as ``ctkd/lambda``.

    Args:
        decay_epochs (int): E, the curriculum's length. Defaults to 10.
        by_epoch (bool): E and n count epochs (else iterations).
            Defaults to True.
        convert_to_iter_based (bool): With ``by_epoch``, update lambda
            every iteration at fractional epochs (as MMEngine's parameter
            schedulers' option of that name). Defaults to False.
        lambda_min (float): Strength at the start. Defaults to 0.0.
        lambda_max (float): Strength from E on. Defaults to 1.0.

    Examples:
        >>> custom_hooks = [dict(type='mmrlkd.CTKDCurriculumHook',
        ...                      decay_epochs=10)]
    """

    priority = 'NORMAL'

    def __init__(self,
                 decay_epochs=10,
                 by_epoch=True,
                 convert_to_iter_based=False,
                 lambda_min=0.0,
                 lambda_max=1.0):
        if decay_epochs < 0:
            raise ValueError(f'decay_epochs must be >= 0, got {decay_epochs}')
        if not 0 <= lambda_min <= lambda_max:
            raise ValueError('need 0 <= lambda_min <= lambda_max, got '
                             f'{lambda_min} and {lambda_max}')
        if convert_to_iter_based and not by_epoch:
            raise ValueError('convert_to_iter_based=True needs by_epoch=True '
                             '(the curriculum is then counted in epochs)')
        self.decay_epochs = decay_epochs
        self.by_epoch = by_epoch
        self.convert_to_iter_based = convert_to_iter_based
        self.lambda_min = lambda_min
        self.lambda_max = lambda_max

    @staticmethod
    def _provider(runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        provider = getattr(model, 'temperature_provider', None)
        if provider is None or not hasattr(provider, 'grl_lambda'):
            raise TypeError(
                'CTKDCurriculumHook needs a model with a CTKD temperature '
                'provider (mmrlkd.RLKDDistill with mmrlkd.CTKDGlobal'
                'Temperature or CTKDInstanceTemperature), got '
                f'{type(provider).__name__} in {type(model).__name__}')
        return provider

    def before_train(self, runner):
        self._provider(runner)
        length = runner.max_epochs if self.by_epoch else runner.max_iters
        if self.decay_epochs > length:
            unit = 'epochs' if self.by_epoch else 'iterations'
            runner.logger.warning(
                f'CTKDCurriculumHook: the curriculum ({self.decay_epochs} '
                f'{unit}) is longer than training ({length} {unit}): lambda '
                'never reaches lambda_max')

    def current_lambda(self, runner):
        if self.convert_to_iter_based:
            progress = (runner.iter + 1) / len(runner.train_dataloader)
        else:
            progress = (runner.epoch if self.by_epoch else runner.iter) + 1
        return cosine_lambda(progress, self.decay_epochs, self.lambda_min,
                             self.lambda_max)

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        value = self.current_lambda(runner)
        self._provider(runner).grl_lambda = value
        runner.message_hub.update_scalar('train/ctkd/lambda', value)
