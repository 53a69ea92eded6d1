"""Dataset wrapper that serves RLKD's mixed high-quality images (Sec. 4.3).

Mix-up must blend decoded pixels, before any augmentation and long before
the data preprocessor normalises the batch. So the wrapped dataset's
pipeline is cut in two: its leading ``Load*`` transforms (decoding; none for
in-memory data sets such as CIFAR or DigitPairs) and the rest (augmentation
and packing). A mixed slot decodes both of its images, blends them, and only
then augments and packs the blend.
"""
import numpy as np
import torch
from mmengine.dataset import Compose

from mmrlkd.registry import DATASETS


def mix_images(first, second, lam):
    """``lam * first + (1 - lam) * second`` in ``first``'s dtype and shape.

    Integer images are rounded and clipped to their dtype's range, so the
    rest of the pipeline sees the kind of image it expects. A ``second``
    image of another height or width is resized to ``first``'s first.
    """
    if first.shape[:2] != second.shape[:2]:
        import mmcv
        second = mmcv.imresize(second, (first.shape[1], first.shape[0]))
    if first.shape != second.shape:
        raise ValueError('cannot mix images of shapes '
                         f'{first.shape} and {second.shape}')
    mixed = lam * first.astype(np.float64) + (1 - lam) * second.astype(
        np.float64)
    if np.issubdtype(first.dtype, np.integer):
        limits = np.iinfo(first.dtype)
        mixed = np.clip(np.rint(mixed), limits.min, limits.max)
    return mixed.astype(first.dtype)


@DATASETS.register_module()
class EfficientExplorationDataset:
    """Wraps an MMPretrain dataset; serves mixed images while a plan is set.

    Without a plan it is the wrapped dataset. :class:`EfficientExplorationHook`
    sets a plan for each exploration epoch: slot ``i`` then serves ``lam *
    x_first + (1 - lam) * x_second`` with **the label (and all other
    annotations) of ``first``**, the high-quality instance. Every sample's
    metainfo carries ``sample_idx`` (the slot, so the hook can file the
    student's entropy under it), ``exploration_mixed``,
    ``exploration_lambda`` and ``exploration_sources`` (``(first, second)``;
    ``(i, i)`` and 1.0 for an unmixed sample).

    Args:
        dataset (dict | BaseDataset): The training set (e.g. ``CIFAR100``,
            ``mmrlkd.DigitPairs``, ``ImageNet``); its pipeline must end with
            ``PackInputs``.
        num_load_transforms (int, optional): How many leading transforms of
            its pipeline decode the image. Defaults to None: the leading
            transforms whose class name starts with ``Load``.

    Note:
        DataLoader workers hold copies of the dataset (forked or unpickled
        when they started), but the plan is kept in shared memory
        (``Tensor.share_memory_``), one row per slot, which the copies
        share: a plan set between two epochs (before the next epoch's
        iterator asks for samples) is what every worker serves in that
        epoch, persistent workers included, without restarting them.
        Setting it while an epoch's samples are being loaded would mix two
        plans in that epoch. A plain ``pickle`` copy gets its own plan.

    Examples:
        >>> train_dataloader = dict(dataset=dict(
        ...     type='mmrlkd.EfficientExplorationDataset',
        ...     dataset=dict(type='CIFAR100', data_root='data/cifar100',
        ...                  split='train', pipeline=train_pipeline)))
    """

    def __init__(self, dataset, num_load_transforms=None):
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        transforms = getattr(
            getattr(dataset, 'pipeline', None), 'transforms', None)
        if transforms is None or not hasattr(dataset, 'get_data_info'):
            raise TypeError(
                'EfficientExplorationDataset wraps a dataset with '
                '`get_data_info` and a `pipeline` (an MMEngine/MMPretrain '
                f'BaseDataset), got {type(dataset).__name__}')
        if num_load_transforms is None:
            num_load_transforms = 0
            while (num_load_transforms < len(transforms)
                   and type(transforms[num_load_transforms]
                            ).__name__.startswith('Load')):
                num_load_transforms += 1
        if not 0 <= num_load_transforms <= len(transforms):
            raise ValueError(
                f'num_load_transforms must be in [0, {len(transforms)}], '
                f'got {num_load_transforms}')
        self.dataset = dataset
        self.load_pipeline = Compose(transforms[:num_load_transforms])
        self.augment_pipeline = Compose(transforms[num_load_transforms:])
        # Slot i serves lam[i] * x[sources[i, 0]] + (1 - lam[i]) *
        # x[sources[i, 1]]; sources[i, 0] = -1: slot i is not mixed.
        size = len(dataset)
        self._sources = torch.full((size, 2), -1,
                                   dtype=torch.long).share_memory_()
        self._lam = torch.ones(size, dtype=torch.float64).share_memory_()

    @property
    def metainfo(self):
        return self.dataset.metainfo

    def full_init(self):
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()

    def get_data_info(self, idx):
        return self.dataset.get_data_info(idx)

    def __len__(self):
        return len(self.dataset)

    @property
    def num_mixed(self):
        """Number of slots that serve a mix now."""
        return int((self._sources[:, 0] >= 0).sum())

    def mixed_slot(self, idx):
        """``(first, second, lam)`` served at slot ``idx``, or None."""
        first, second = self._sources[idx].tolist()
        if first < 0:
            return None
        return first, second, float(self._lam[idx])

    def set_mix_plan(self, slots, first, second, lam):
        """Serve ``lam[k] * x_first[k] + (1 - lam[k]) * x_second[k]`` at
        ``slots[k]`` from now on (replaces any previous plan)."""
        slots, first, second = (
            np.asarray(x, dtype=np.int64).tolist()
            for x in (slots, first, second))
        lam = np.asarray(lam, dtype=np.float64).tolist()
        if not len(slots) == len(first) == len(second) == len(lam):
            raise ValueError('slots, first, second and lam differ in length')
        if len(set(slots)) != len(slots):
            raise ValueError('a slot can serve only one mix')
        size = len(self)
        for idx in slots + first + second:
            if not 0 <= idx < size:
                raise IndexError(f'index {idx} is out of range [0, {size})')
        self.clear_mix_plan()
        if slots:
            self._sources[slots] = torch.tensor([first, second]).T
            self._lam[slots] = torch.tensor(lam, dtype=torch.float64)

    def clear_mix_plan(self):
        """Serve the original images again."""
        self._sources.fill_(-1)
        self._lam.fill_(1.0)

    def _decode(self, idx):
        return self.load_pipeline(self.dataset.get_data_info(idx))

    def prepare_data(self, idx):
        """Decode (and mix), augment and pack slot ``idx``; None on failure."""
        mix = self.mixed_slot(idx)
        mixed = mix is not None
        first, second, lam = mix if mixed else (idx, idx, 1.0)
        results = self._decode(first)
        if results is not None and mixed:
            other = self._decode(second)
            if other is None:
                return None
            results['img'] = mix_images(results['img'], other['img'], lam)
        if results is not None:
            results = self.augment_pipeline(results)
        if results is None:
            return None
        results['data_samples'].set_metainfo(
            dict(
                sample_idx=idx,
                exploration_mixed=mixed,
                exploration_lambda=lam,
                exploration_sources=(first, second)))
        return results

    def __getitem__(self, idx):
        if not getattr(self.dataset, '_fully_initialized', True):
            self.full_init()
        tries = 1 + getattr(self.dataset, 'max_refetch', 0)
        for _ in range(tries):
            data = self.prepare_data(idx)
            if data is not None:
                return data
            if getattr(self.dataset, 'test_mode', False):
                break
            idx = np.random.randint(0, len(self))
        raise RuntimeError(
            f'the pipeline returned None {tries} times in a row; check the '
            'image files and the pipeline')
