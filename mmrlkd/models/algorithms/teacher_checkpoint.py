"""Read a teacher's weights from the checkpoints people have, strictly.

MMEngine's ``load_checkpoint`` is lenient: keys that do not fit are printed
once and the model keeps its random initial weights, so a distillation run
can learn from a random teacher to the end. :func:`load_teacher` takes the
teacher's part of a checkpoint (a distiller's ``teacher.`` or
``architecture.`` part, an MMPretrain / MMDetection ``state_dict``, a plain
state dict, EMA weights) and stops when a teacher parameter or buffer is
missing or has another shape, with the likely fix.
"""
import logging
import os.path as osp
import pickle

import torch
from mmengine.logging import print_log
from mmengine.runner.checkpoint import _load_checkpoint

#: Keys under which a checkpoint nests its state dict, outermost first.
NESTING_KEYS = ('state_dict', 'model', 'module', 'net', 'params')
#: Keys of EMA copies kept next to the state dict (timm, DeiT, YOLO...).
EMA_KEYS = ('ema_state_dict', 'state_dict_ema', 'model_ema', 'ema')
#: Buffers old checkpoints lack; eval-mode outputs do not depend on them.
OPTIONAL_SUFFIXES = ('num_batches_tracked', )
#: How many keys of each kind an error lists.
SHOWN = 5


class TeacherCheckpointError(RuntimeError):
    """A teacher checkpoint that does not fit the teacher."""


def load_teacher(teacher,
                 path,
                 strict=True,
                 part='teacher',
                 ema=False,
                 name='teacher'):
    """Load ``teacher``'s weights from ``path``; say which part was taken.

    Args:
        teacher (nn.Module): The built teacher.
        path (str): A local path or a URL MMEngine can read.
        strict (bool): Stop when a parameter or buffer of the teacher is
            missing or has another shape. With False, the tensors that fit
            are loaded and the counts logged. Defaults to True.
        part (str): In a distiller's checkpoint (``architecture.*`` keys),
            the prefix of the part to take: ``'teacher'`` or the distilled
            ``'architecture'`` (MTKD-RL: ``'teachers.0'``, ...). In any
            other checkpoint, ``'teacher'`` takes the whole state dict and
            another value the keys under that prefix (e.g. ``'backbone'``).
            Defaults to 'teacher'.
        ema (bool): Take the checkpoint's EMA weights (MMEngine's EMAHook
            saves them as ``state_dict``; other tools under
            ``state_dict_ema``, ``model_ema``, ...). Defaults to False.
        name (str): How messages call this teacher. Defaults to 'teacher'.

    Returns:
        dict: ``matched``, ``total``, ``missing``, ``unexpected`` and
        ``wrong_shape`` (lists of keys) and ``source`` (the part taken).
    """
    checkpoint = _read(path, name)
    state, source = select_state_dict(checkpoint, part, ema, f'{name} '
                                      f'checkpoint {path!r}')
    fit = compare(teacher.state_dict(), state)
    fit['source'] = source
    if fit['missing'] or fit['wrong_shape']:
        message = mismatch_message(fit, teacher.state_dict(), state, path,
                                   name)
        if strict:
            raise TeacherCheckpointError(message + (
                f' (teacher_ckpt_strict=False loads the {fit["matched"]} '
                'tensors that fit and keeps the initial weights of the '
                'others)'))
        print_log(
            'teacher_ckpt_strict=False: ' + message,
            logger='current',
            level=logging.WARNING)
    loadable = {
        key: value
        for key, value in state.items()
        if key in fit['fitting']
    }
    teacher.load_state_dict(loadable, strict=False)
    teacher._is_init = True  # keep init_weights from overwriting it
    teacher._mmrlkd_teacher_ckpt = path  # read by TeacherCheckHook
    unexpected = fit['unexpected']
    print_log(
        f'{name}: loaded {fit["matched"]}/{fit["total"]} parameters and '
        f'buffers from {path!r} ({source}{_meta_summary(checkpoint)})' +
        (f'; {len(unexpected)} keys of the checkpoint unused (a bigger '
         f'model?): {_shown(unexpected)}' if unexpected else ''),
        logger='current',
        level=logging.WARNING if unexpected else logging.INFO)
    return fit


def _read(path, name):
    if '://' not in path and not osp.isfile(path):
        raise FileNotFoundError(
            f'teacher_ckpt {path!r} of the {name} does not exist (train the '
            'teacher first, or fix the path in the config)')
    try:
        return _load_checkpoint(path, map_location='cpu')
    except (OSError, RuntimeError, EOFError, ValueError,
            pickle.UnpicklingError) as error:
        raise RuntimeError(
            f'teacher_ckpt {path!r} could not be read: {error}') from error


def _is_state_dict(value):
    """Tensors by name (``_extra_state`` entries may be other objects)."""
    return isinstance(value, dict) and any(
        isinstance(v, torch.Tensor) for v in value.values()) and not any(
            isinstance(v, dict) for v in value.values())


def _strip_module(state):
    """DataParallel / DDP saves prefix every key with ``module.``."""
    if state and all(key.startswith('module.') for key in state):
        return {key[len('module.'):]: value for key, value in state.items()}
    return state


def _ema_state(checkpoint, where):
    """The EMA weights and where they are, or raise when there are none."""
    mmengine_ema = checkpoint.get('ema_state_dict')
    if isinstance(mmengine_ema, dict) and 'steps' in mmengine_ema and \
            isinstance(checkpoint.get('state_dict'), dict):
        # EMAHook.before_save_checkpoint swaps the two: ``state_dict``
        # holds the averaged weights, ``ema_state_dict`` the raw ones.
        return checkpoint['state_dict'], "EMA weights (MMEngine's EMAHook " \
            "saves them as 'state_dict')"
    for key in EMA_KEYS:
        value = checkpoint.get(key)
        if isinstance(value, dict) and value:
            return value, f"EMA weights '{key}'"
    raise TeacherCheckpointError(
        f'teacher_ckpt_ema=True but the {where} holds no EMA weights (its '
        f'keys: {sorted(checkpoint)[:10]}); set teacher_ckpt_ema=False')


def _unnest(checkpoint, where):
    """The state dict inside ``checkpoint`` and the keys that led to it."""
    path, state = [], checkpoint
    while not _is_state_dict(state):
        key = next((k for k in NESTING_KEYS
                    if isinstance(state, dict) and isinstance(
                        state.get(k), dict)), None)
        if key is None:
            keys = sorted(state)[:10] if isinstance(state, dict) else []
            raise TeacherCheckpointError(
                f'the {where} holds no state dict of tensors (top-level '
                f'keys: {keys}): save the teacher with MMEngine, or as '
                '``torch.save(model.state_dict(), path)``')
        path.append(key)
        state = state[key]
    return state, path


def select_state_dict(checkpoint,
                      part='teacher',
                      ema=False,
                      where='checkpoint'):
    """The teacher's state dict in ``checkpoint``; a note of where it was.

    See :func:`load_teacher` for ``part`` and ``ema``.
    """
    if not isinstance(checkpoint, dict):
        raise TeacherCheckpointError(
            f'the {where} is a {type(checkpoint).__name__}, not a checkpoint'
            ' dict or a state dict')
    notes = []
    if ema:
        checkpoint, note = _ema_state(checkpoint, where)
        notes.append(note)
    state, nesting = _unnest(checkpoint, where)
    if not ema:
        notes.append(' -> '.join(nesting) if nesting else 'a plain state dict')
        if 'steps' in (checkpoint.get('ema_state_dict') or {}):
            notes.append("the averaged weights of MMEngine's EMAHook")
        spare = [k for k in EMA_KEYS[1:] if k in checkpoint]
        if spare:
            notes.append(f"not the EMA weights '{spare[0]}' "
                         '(teacher_ckpt_ema=True takes them)')
    state = _strip_module(state)
    prefixes = sorted({key.split('.', 1)[0] for key in state})
    distiller = 'architecture' in prefixes
    if distiller or part != 'teacher':
        taken = {
            key[len(part) + 1:]: value
            for key, value in state.items() if key.startswith(part + '.')
        }
        if not taken:
            kind = "a distiller's checkpoint" if distiller else 'a checkpoint'
            teachers = sorted({
                '.'.join(key.split('.', 2)[:2])
                for key in state if key.startswith('teachers.')
            })
            raise TeacherCheckpointError(
                f'the {where} is {kind} without a {part!r} part; its parts '
                f'are {prefixes + teachers}: set teacher_ckpt_part to one of '
                'them')
        state = taken
        notes.append(f"its '{part}.' part" +
                     (" (a distiller's checkpoint)" if distiller else ''))
    return state, ', '.join(notes)


def compare(expected, given):
    """How ``given`` fits a model whose state dict is ``expected``."""
    missing, wrong_shape, fitting = [], [], set()
    for key, value in expected.items():
        if key not in given:
            if not key.endswith(OPTIONAL_SUFFIXES):
                missing.append(key)
        elif tuple(given[key].shape) != tuple(value.shape):
            wrong_shape.append(key)
        else:
            fitting.add(key)
    return dict(
        matched=len(fitting),
        total=len(expected),
        missing=missing,
        wrong_shape=wrong_shape,
        unexpected=[key for key in given if key not in expected],
        fitting=fitting)


def _shown(keys):
    more = f', ... ({len(keys) - SHOWN} more)' if len(keys) > SHOWN else ''
    return ', '.join(keys[:SHOWN]) + more


def _best_prefix(keys, targets, strip):
    """The prefix whose removal from (or addition to) ``keys`` makes most
    of them ``targets``; (prefix, count) or (None, 0)."""
    candidates = {
        '.'.join(key.split('.')[:depth])
        for key in (keys if strip else targets) for depth in (1, 2)
        if key.count('.') >= depth
    }
    best, count = None, 0
    for prefix in sorted(candidates):
        if strip:
            hits = sum(
                key.startswith(prefix + '.')
                and key[len(prefix) + 1:] in targets for key in keys)
        else:
            hits = sum(f'{prefix}.{key}' in targets for key in keys)
        if hits > count:
            best, count = prefix, hits
    return best, count


def likely_fix(fit, expected, given):
    """A sentence on what most probably went wrong, from the keys."""
    missing = set(fit['missing'])
    prefix, hits = _best_prefix(fit['unexpected'], missing, strip=True)
    if hits * 2 >= len(missing) > 0:
        return (f"the checkpoint's keys carry the prefix '{prefix}.': set "
                f"teacher_ckpt_part='{prefix}'")
    prefix, hits = _best_prefix(fit['unexpected'], missing, strip=False)
    if hits * 2 >= len(fit['unexpected']) > 0:
        return (f"the checkpoint holds only the teacher's '{prefix}' (its "
                f"keys lack the '{prefix}.' prefix) and the rest of the "
                'teacher would stay random: use a checkpoint of the whole '
                'teacher model')
    if fit['wrong_shape'] and not missing:
        key = fit['wrong_shape'][-1]
        return (f"the checkpoint has the same layers with other sizes (e.g. "
                f'{key}: {list(given[key].shape)} in the checkpoint, '
                f'{list(expected[key].shape)} in the teacher): another '
                'width or number of classes; build the teacher with the '
                "config the checkpoint was trained with, or train a teacher "
                'on this dataset')
    return ('the checkpoint is of another model: set model.teacher to the '
            'architecture the checkpoint was trained with (see the config '
            'saved next to it), or pass the right teacher_ckpt')


def mismatch_message(fit, expected, given, path, name='teacher'):
    """The error text: checkpoint, counts, first keys, likely fix."""
    parts = [
        f'{name} checkpoint {path!r} ({fit["source"]}) does not fit the '
        f'{name}: {fit["matched"]} of its {fit["total"]} parameters and '
        'buffers match'
    ]
    if fit['missing']:
        parts.append(f'missing ({len(fit["missing"])}): '
                     f'{_shown(fit["missing"])}')
    if fit['wrong_shape']:
        shapes = [
            f'{key} {list(given[key].shape)} vs {list(expected[key].shape)}'
            for key in fit['wrong_shape']
        ]
        parts.append(f'other shape (checkpoint vs {name}) '
                     f'({len(shapes)}): {_shown(shapes)}')
    if fit['unexpected']:
        parts.append(f'unexpected ({len(fit["unexpected"])}): '
                     f'{_shown(fit["unexpected"])}')
    parts.append('likely fix: ' + likely_fix(fit, expected, given))
    return '; '.join(parts)


def _meta_summary(checkpoint):
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    if not isinstance(meta, dict):
        return ''
    notes = [
        f'{key} {meta[key]}' for key in ('epoch', 'iter') if key in meta
    ]
    classes = (meta.get('dataset_meta') or {}).get('classes')
    if classes is not None:
        notes.append(f'{len(classes)} classes')
    return '; saved at ' + ', '.join(notes) if notes else ''
