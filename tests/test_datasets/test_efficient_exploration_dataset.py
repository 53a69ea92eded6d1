"""EfficientExplorationDataset on DigitPairs (in memory) and on image files."""
import pickle

import mmcv
import numpy as np
import pytest
import torch
from mmpretrain.datasets.transforms import Solarize

from mmrlkd.datasets import (DigitPairs, EfficientExplorationDataset,
                             make_digit_pairs, mix_images)
from mmrlkd.utils import register_all_modules

register_all_modules(init_default_scope=False)

NUM = 20


def wrapped(pipeline=(dict(type='mmpretrain.PackInputs'), )):
    return EfficientExplorationDataset(
        dict(
            type='mmrlkd.DigitPairs',
            split='train',
            num_samples=NUM,
            pipeline=list(pipeline)))


@pytest.fixture(scope='module')
def pairs():
    return make_digit_pairs('train', NUM)


def expected_mix(first, second, lam):
    """lam * first + (1 - lam) * second, rounded to uint8, by loops."""
    out = np.empty_like(first)
    for pos in np.ndindex(first.shape):
        value = lam * float(first[pos]) + (1 - lam) * float(second[pos])
        out[pos] = min(255, max(0, int(np.floor(value + 0.5))))
    return out


def image_of(item):
    return item['inputs'].permute(1, 2, 0).numpy()


def test_without_a_plan_it_is_the_wrapped_dataset(pairs):
    dataset = wrapped()
    plain = DigitPairs(
        num_samples=NUM, pipeline=[dict(type='mmpretrain.PackInputs')])
    assert len(dataset) == NUM and dataset.metainfo == plain.metainfo
    for idx in (0, 7):
        item = dataset[idx]
        assert torch.equal(item['inputs'], plain[idx]['inputs'])
        meta = item['data_samples'].metainfo
        assert meta['sample_idx'] == idx and not meta['exploration_mixed']
        assert meta['exploration_lambda'] == 1.0


@pytest.mark.parametrize('slot_is_high', [True, False])
def test_slot_serves_the_mix_with_the_high_quality_label(pairs, slot_is_high):
    images, labels = pairs
    first, second, lam = 3, 11, 0.73
    assert labels[first] != labels[second]
    slot = first if slot_is_high else second
    dataset = wrapped()
    dataset.set_mix_plan([slot], [first], [second], [lam])
    item = dataset[slot]
    assert np.array_equal(
        image_of(item), expected_mix(images[first], images[second], lam))
    sample = item['data_samples']
    assert sample.gt_label.tolist() == [labels[first]]
    assert sample.sample_idx == slot and sample.exploration_mixed
    assert sample.exploration_lambda == lam
    assert sample.exploration_sources == (first, second)
    assert dataset.num_mixed == 1
    # The other slots are untouched, and clearing restores the original.
    other = second if slot_is_high else first
    assert np.array_equal(image_of(dataset[other]), images[other])
    dataset.clear_mix_plan()
    assert np.array_equal(image_of(dataset[slot]), images[slot])
    assert dataset[slot]['data_samples'].gt_label.tolist() == [labels[slot]]


def test_mixing_happens_before_the_augmentation(pairs):
    images, _ = pairs
    solarize = dict(type='mmpretrain.Solarize', thr=128, prob=1.0)
    dataset = wrapped([solarize, dict(type='mmpretrain.PackInputs')])
    dataset.set_mix_plan([2], [2], [9], [0.6])
    mixed = expected_mix(images[2], images[9], 0.6)
    solarized = Solarize(thr=128, prob=1.0)(dict(img=mixed.copy()))['img']
    assert not np.array_equal(solarized, mixed)  # the order is visible
    assert np.array_equal(image_of(dataset[2]), solarized)


def test_image_files_are_decoded_then_mixed(tmp_path):
    rng = np.random.default_rng(0)
    shapes = {'a/0.png': (12, 10), 'a/1.png': (12, 10), 'b/2.png': (7, 9)}
    for name, (height, width) in shapes.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        mmcv.imwrite(image, str(tmp_path / name))
    dataset = EfficientExplorationDataset(
        dict(
            type='mmpretrain.CustomDataset',
            data_root=str(tmp_path),
            pipeline=[
                dict(type='mmpretrain.LoadImageFromFile'),
                dict(type='mmpretrain.PackInputs')
            ]))
    assert len(dataset.load_pipeline.transforms) == 1
    paths = [dataset.get_data_info(i)['img_path'] for i in range(3)]
    labels = [dataset.get_data_info(i)['gt_label'] for i in range(3)]
    small = next(i for i, p in enumerate(paths) if p.endswith('2.png'))
    big = next(i for i, p in enumerate(paths) if p.endswith('0.png'))
    dataset.set_mix_plan([big], [big], [small], [0.8])
    item = dataset[big]
    first = mmcv.imread(paths[big])
    second = mmcv.imresize(mmcv.imread(paths[small]), (10, 12))
    assert np.array_equal(image_of(item), expected_mix(first, second, 0.8))
    assert item['data_samples'].gt_label.tolist() == [labels[big]]
    assert item['data_samples'].img_path == paths[big]


def test_float_images_are_mixed_without_rounding():
    first = np.full((2, 2, 3), 0.25, dtype=np.float32)
    second = np.full((2, 2, 3), 1.0, dtype=np.float32)
    mixed = mix_images(first, second, 0.9)
    assert mixed.dtype == np.float32
    assert np.allclose(mixed, 0.9 * 0.25 + 0.1 * 1.0)


def test_the_plan_travels_to_worker_copies():
    dataset = wrapped()
    dataset.set_mix_plan([1], [1], [2], [0.9])
    copy = pickle.loads(pickle.dumps(dataset))
    assert copy.mixed_slot(1) == (1, 2, 0.9)
    assert copy[1]['data_samples'].exploration_mixed


@pytest.mark.parametrize(
    'start_method',
    ['fork', pytest.param('spawn', marks=pytest.mark.slow)])
def test_persistent_workers_serve_the_plan_set_between_epochs(start_method):
    from mmengine.dataset import pseudo_collate
    from torch.utils.data import DataLoader
    dataset = wrapped()
    loader = DataLoader(
        dataset,
        batch_size=8,
        num_workers=1,
        persistent_workers=True,
        collate_fn=pseudo_collate,
        multiprocessing_context=start_method)

    def epoch():
        """slot -> (sources, lam) of the mixed samples of one epoch."""
        return {
            sample.sample_idx:
            (sample.exploration_sources, sample.exploration_lambda)
            for batch in loader
            for sample in batch['data_samples'] if sample.exploration_mixed
        }

    assert epoch() == {}  # the worker starts without a plan
    dataset.set_mix_plan([3, 11], [3, 4], [5, 6], [0.8, 0.9])
    assert epoch() == {3: ((3, 5), 0.8), 11: ((4, 6), 0.9)}
    dataset.set_mix_plan([7], [1], [2], [0.75])
    assert epoch() == {7: ((1, 2), 0.75)}
    dataset.clear_mix_plan()
    assert epoch() == {}


def test_invalid_plans_and_datasets_are_rejected():
    dataset = wrapped()
    with pytest.raises(ValueError, match='length'):
        dataset.set_mix_plan([1, 2], [1], [3], [0.9])
    with pytest.raises(ValueError, match='one mix'):
        dataset.set_mix_plan([1, 1], [1, 2], [3, 4], [0.9, 0.8])
    with pytest.raises(IndexError):
        dataset.set_mix_plan([1], [1], [NUM], [0.9])
    with pytest.raises(TypeError, match='get_data_info'):
        EfficientExplorationDataset(list(range(5)))
