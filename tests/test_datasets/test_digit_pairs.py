import numpy as np
import pytest
from sklearn.datasets import load_digits

from mmrlkd.datasets import DigitPairs, make_digit_pairs


@pytest.fixture(scope='module')
def digits():
    data = load_digits()
    images = np.rint(data.images * (255.0 / 16.0)).astype(np.uint8)
    return images, data.target


def find_digit(half, images):
    """Index of the 8x8 digit whose 2x upscale is `half` (16x16)."""
    small = half[::2, ::2]
    matches = np.flatnonzero((images == small).all(axis=(1, 2)))
    assert len(matches) >= 1
    return matches


def test_images_are_two_digits_with_the_pair_label(digits):
    images, targets = digits
    pairs, labels = make_digit_pairs('train', 50, seed=3)
    assert pairs.shape == (50, 16, 32, 3) and pairs.dtype == np.uint8
    for img, label in zip(pairs, labels):
        gray = img[..., 0]
        assert (img == gray[..., None]).all()
        assert (gray == np.kron(gray[::2, ::2], np.ones((2, 2)))).all()
        left = find_digit(gray[:, :16], images)
        right = find_digit(gray[:, 16:], images)
        assert label // 10 in targets[left]
        assert label % 10 in targets[right]


def test_train_and_test_use_disjoint_handwriting(digits):
    images, _ = digits
    train, _ = make_digit_pairs('train', 3000)
    test, _ = make_digit_pairs('test', 3000)

    def used(pairs):
        ids = set()
        for img in pairs[..., 0]:
            for half in (img[:, :16], img[:, 16:]):
                ids.update(find_digit(half, images).tolist())
        return ids

    train_ids, test_ids = used(train), used(test)
    # Duplicated 8x8 images in sklearn could match both; none do here.
    assert not train_ids & test_ids
    assert len(train_ids) > 0.75 * len(images)
    assert len(test_ids) < 0.25 * len(images)


def test_fixed_seed_gives_the_same_data():
    a = make_digit_pairs('test', 100)
    b = make_digit_pairs('test', 100)
    c = make_digit_pairs('test', 100, seed=1)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_all_hundred_classes_appear():
    _, labels = make_digit_pairs('train', 5000)
    counts = np.bincount(labels, minlength=100)
    assert len(counts) == 100 and counts.min() > 20


def test_dataset_packs_for_mmpretrain():
    dataset = DigitPairs(
        split='test', num_samples=8, pipeline=[dict(type='PackInputs')])
    assert len(dataset) == 8
    assert dataset.metainfo['classes'][42] == '42'
    sample = dataset[0]
    assert tuple(sample['inputs'].shape) == (3, 16, 32)
    assert 0 <= int(sample['data_samples'].gt_label) < 100


@pytest.mark.parametrize('kwargs', [dict(split='val'), dict(num_samples=0)])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        make_digit_pairs(**{'split': 'train', 'num_samples': 4, **kwargs})
