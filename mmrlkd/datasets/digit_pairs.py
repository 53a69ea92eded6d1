"""DigitPairs: a 100-class image data set built from scikit-learn's digits.

scikit-learn ships 1,797 real 8x8 handwritten digits. Plain 10-class digits
are too easy to compare distillation methods (a ResNet-8 reaches 99.5 %
alone), so each DigitPairs image puts two digits side by side: 100 classes
"00"-"99" (CIFAR-100's class count), 16x32 RGB after a 2x upscale. Train pairs
come only from a fixed 80 % of the digit images and test pairs only from the
other 20 %, so no handwritten digit is seen in both splits; every run with the
same arguments sees the same images.
"""
import numpy as np
from mmpretrain.datasets import BaseDataset

from mmrlkd.registry import DATASETS

CLASSES = tuple(f'{i:02d}' for i in range(100))


def make_digit_pairs(split,
                     num_samples,
                     seed=0,
                     split_seed=0,
                     train_fraction=0.8):
    """Images (N, 16, 32, 3) uint8 and labels (N,) int64 of one split.

    Args:
        split (str): 'train' or 'test'.
        num_samples (int): Number of pairs to draw.
        seed (int): Seed of the pair sampling.
        split_seed (int): Seed of the 80/20 split of the digit images; keep
            it equal for the train and test sets of one experiment.
        train_fraction (float): Share of digit images in the train pool.
    """
    from sklearn.datasets import load_digits
    if split not in ('train', 'test'):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if num_samples < 1:
        raise ValueError(f'num_samples must be >= 1, got {num_samples}')
    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)
    order = np.random.default_rng(split_seed).permutation(len(images))
    num_train = int(round(train_fraction * len(images)))
    pool = order[:num_train] if split == 'train' else order[num_train:]

    rng = np.random.default_rng([seed, 0 if split == 'train' else 1])
    left, right = rng.choice(pool, size=(2, num_samples))
    pairs = np.concatenate([images[left], images[right]], axis=2)  # N,8,16
    pairs = pairs.repeat(2, axis=1).repeat(2, axis=2)  # N,16,32
    rgb = np.repeat(pairs[..., None], 3, axis=3)
    labels = 10 * digits.target[left] + digits.target[right]
    return np.ascontiguousarray(rgb), labels.astype(np.int64)


@DATASETS.register_module()
class DigitPairs(BaseDataset):
    """MMPretrain dataset of two handwritten digits side by side (100 classes).

    Args:
        split (str): 'train' or 'test'. Defaults to 'train'.
        num_samples (int, optional): Number of pairs. Defaults to 5,000 for
            'train' and 10,000 for 'test'.
        seed (int): Seed of the pair sampling. Defaults to 0.
        split_seed (int): Seed of the 80/20 digit split. Defaults to 0.
        pipeline (Sequence[dict]): Transforms, as for any MMPretrain dataset.
        **kwargs: Other arguments of :class:`mmpretrain.datasets.BaseDataset`.

    Examples:
        >>> dataset = dict(
        ...     type='mmrlkd.DigitPairs', split='train',
        ...     pipeline=[dict(type='PackInputs')])
    """

    METAINFO = dict(classes=CLASSES)
    DEFAULT_SIZES = dict(train=5000, test=10000)

    def __init__(self,
                 split='train',
                 num_samples=None,
                 seed=0,
                 split_seed=0,
                 pipeline=(),
                 **kwargs):
        if split not in self.DEFAULT_SIZES:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        self.split = split
        self.num_samples = num_samples or self.DEFAULT_SIZES[split]
        self.seed = seed
        self.split_seed = split_seed
        kwargs.setdefault('test_mode', split == 'test')
        super().__init__(ann_file='', pipeline=pipeline, **kwargs)

    def load_data_list(self):
        images, labels = make_digit_pairs(self.split, self.num_samples,
                                          self.seed, self.split_seed)
        return [
            dict(img=img, gt_label=int(label))
            for img, label in zip(images, labels)
        ]
