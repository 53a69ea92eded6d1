"""Registries of the ``mmrlkd`` scope.

Every node is a child of the MMRazor node of the same name, which is a child
of MMEngine's root node. So inside scope ``mmrlkd`` (``_scope_='mmrlkd'`` or
``default_scope='mmrlkd'``) a lookup finds our components first, then
MMRazor's (``SingleTeacherDistill``, recorders, losses), then MMEngine's.
MMDetection and MMPretrain are siblings: reach them with a ``_scope_`` key
(``dict(_scope_='mmpretrain', type='ImageClassifier', ...)``, so that their
own sub-components resolve too), a prefix (``type='mmdet.FasterRCNN'``) or
``cfg_path='mmdet::...'``.

MMEngine resolves a prefixed name (``type='mmrlkd.X'``) only among the direct
children of a registry or of the root, so each node is also linked from
MMEngine's root node under ``mmrlkd``: ``type='mmrlkd.X'`` then works from
any scope. ``MODELS`` inherits MMRazor's build function, so ``cfg_path``
model configs work here too. ``locations`` make MMEngine import the right
subpackage when ``default_scope='mmrlkd'``.
"""
from mmengine.registry import Registry
from mmrazor.registry import DATA_SAMPLERS as RAZOR_DATA_SAMPLERS
from mmrazor.registry import DATASETS as RAZOR_DATASETS
from mmrazor.registry import HOOKS as RAZOR_HOOKS
from mmrazor.registry import LOOPS as RAZOR_LOOPS
from mmrazor.registry import METRICS as RAZOR_METRICS
from mmrazor.registry import MODEL_WRAPPERS as RAZOR_MODEL_WRAPPERS
from mmrazor.registry import MODELS as RAZOR_MODELS
from mmrazor.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as RAZOR_OPTIM_WRAPPER_CONSTRUCTORS
from mmrazor.registry import OPTIM_WRAPPERS as RAZOR_OPTIM_WRAPPERS
from mmrazor.registry import OPTIMIZERS as RAZOR_OPTIMIZERS
from mmrazor.registry import PARAM_SCHEDULERS as RAZOR_PARAM_SCHEDULERS
from mmrazor.registry import RUNNERS as RAZOR_RUNNERS
from mmrazor.registry import TASK_UTILS as RAZOR_TASK_UTILS
from mmrazor.registry import TRANSFORMS as RAZOR_TRANSFORMS
from mmrazor.registry import VISBACKENDS as RAZOR_VISBACKENDS
from mmrazor.registry import VISUALIZERS as RAZOR_VISUALIZERS

SCOPE = 'mmrlkd'


def _child(name, parent, locations=()):
    node = Registry(
        name, parent=parent, scope=SCOPE, locations=list(locations))
    root = node._get_root_registry()
    if SCOPE not in root.children:
        root._add_child(node)
    return node


RUNNERS = _child('runner', RAZOR_RUNNERS)
LOOPS = _child('loop', RAZOR_LOOPS, ['mmrlkd.engine'])
HOOKS = _child('hook', RAZOR_HOOKS, ['mmrlkd.engine'])
DATASETS = _child('dataset', RAZOR_DATASETS, ['mmrlkd.datasets'])
DATA_SAMPLERS = _child('data sampler', RAZOR_DATA_SAMPLERS,
                       ['mmrlkd.datasets'])
TRANSFORMS = _child('transform', RAZOR_TRANSFORMS, ['mmrlkd.datasets'])
MODELS = _child('model', RAZOR_MODELS, ['mmrlkd.models'])
MODEL_WRAPPERS = _child('model_wrapper', RAZOR_MODEL_WRAPPERS)
OPTIMIZERS = _child('optimizer', RAZOR_OPTIMIZERS)
OPTIM_WRAPPERS = _child('optimizer_wrapper', RAZOR_OPTIM_WRAPPERS)
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer wrapper constructor',
                                    RAZOR_OPTIM_WRAPPER_CONSTRUCTORS)
PARAM_SCHEDULERS = _child('parameter scheduler', RAZOR_PARAM_SCHEDULERS)
METRICS = _child('metric', RAZOR_METRICS)
TASK_UTILS = _child('task util', RAZOR_TASK_UTILS, ['mmrlkd.models'])
VISUALIZERS = _child('visualizer', RAZOR_VISUALIZERS)
VISBACKENDS = _child('vis_backend', RAZOR_VISBACKENDS)
