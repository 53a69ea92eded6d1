"""tools/dataset_converters/make_shapes_coco.py writes a valid COCO set."""
import importlib.util
import json
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from pycocotools.coco import COCO

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(ROOT, 'tools/dataset_converters/make_shapes_coco.py')
DATASET_CONFIG = osp.join(ROOT, 'configs/_base_/datasets/shapes_coco.py')


def load_script():
    spec = importlib.util.spec_from_file_location('make_shapes_coco', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def script():
    return load_script()


def generate(script, out_dir, *options):
    script.main([
        str(out_dir), '--num-train', '12', '--num-val', '4', '--image-size',
        '96', *options
    ])
    return str(out_dir)


def annotations(out_dir, split='train'):
    return COCO(osp.join(out_dir, 'annotations', f'instances_{split}.json'))


def test_layout_and_coco_fields(script, tmp_path):
    out = generate(script, tmp_path / 'shapes', '--empty-fraction', '0')
    for split, num in (('train', 12), ('val', 4)):
        coco = annotations(out, split)
        assert len(coco.getImgIds()) == num
        assert [c['name'] for c in coco.loadCats(coco.getCatIds())
                ] == ['rectangle', 'ellipse', 'triangle']
        for image in coco.loadImgs(coco.getImgIds()):
            pixels = cv2.imread(osp.join(out, split, image['file_name']))
            assert pixels.shape == (96, 96, 3)
            anns = coco.loadAnns(coco.getAnnIds(imgIds=image['id']))
            assert 1 <= len(anns) <= 4  # --empty-fraction 0: never empty
            for ann in anns:
                x, y, w, h = ann['bbox']
                assert x >= 0 and y >= 0 and x + w <= 96 and y + h <= 96
                assert w >= 1 and h >= 1 and ann['area'] == w * h
                assert ann['iscrowd'] == 0


def test_boxes_are_tight_around_the_drawn_shape(script, tmp_path):
    """The last-drawn shape is unoccluded: its pixels span exactly its box.

    Shapes are flat colours drawn over a noisy background, so the pixels of
    exactly the shape's colour are the shape (read at a pixel every shape
    covers: the bottom-centre of its box).
    """
    out = generate(script, tmp_path / 'shapes', '--empty-fraction', '0')
    coco = annotations(out)
    checked = 0
    for image in coco.loadImgs(coco.getImgIds()):
        pixels = cv2.imread(osp.join(out, 'train', image['file_name']))
        last = coco.loadAnns(coco.getAnnIds(imgIds=image['id']))[-1]
        x, y, w, h = (int(v) for v in last['bbox'])
        colour = pixels[y + h - 1, x + w // 2]
        ys, xs = np.nonzero((pixels == colour).all(2))
        assert [xs.min(), ys.min(),
                xs.max() + 1, ys.max() + 1] == [x, y, x + w, y + h]
        checked += 1
    assert checked == 12


def test_same_seed_same_files_and_empty_images(script, tmp_path):
    a = generate(script, tmp_path / 'a', '--seed', '3')
    b = generate(script, tmp_path / 'b', '--seed', '3')
    c = generate(script, tmp_path / 'c', '--seed', '4')
    path = osp.join('annotations', 'instances_train.json')
    with open(osp.join(a, path)) as fa, open(osp.join(b, path)) as fb, \
            open(osp.join(c, path)) as fc:
        ja, jb, jc = json.load(fa), json.load(fb), json.load(fc)
    assert ja == jb and ja['annotations'] != jc['annotations']
    image = osp.join('train', '000000.png')
    assert np.array_equal(
        cv2.imread(osp.join(a, image)), cv2.imread(osp.join(b, image)))
    empty = generate(script, tmp_path / 'empty', '--empty-fraction', '1')
    assert annotations(empty).getAnnIds() == []


def test_the_shapes_config_loads_it_with_mmdet(script, tmp_path):
    from mmdet.registry import DATASETS
    out = generate(script, tmp_path / 'shapes', '--empty-fraction', '0.3')
    cfg = Config.fromfile(DATASET_CONFIG).train_dataloader.dataset
    cfg.data_root = out + '/'
    with DefaultScope.overwrite_default_scope('mmdet'):
        dataset = DATASETS.build(cfg)
        items = [dataset[i]['data_samples'] for i in range(len(dataset))]
    coco = annotations(out)
    # Images without objects are kept (filter_empty_gt=False).
    assert len(items) == 12
    assert any(len(s.gt_instances) == 0 for s in items)
    for sample in items:
        anns = coco.loadAnns(coco.getAnnIds(imgIds=sample.img_id))
        boxes = sample.gt_instances.bboxes.tensor.numpy().copy()
        if sample.flip:
            boxes[:, [0, 2]] = 96 - boxes[:, [2, 0]]
        expected = [[x, y, x + w, y + h]
                    for x, y, w, h in (a['bbox'] for a in anns)]
        np.testing.assert_allclose(boxes, np.array(expected).reshape(-1, 4))
        assert sample.gt_instances.labels.tolist() == [
            a['category_id'] - 1 for a in anns
        ]
        assert sample.scale_factor == (1.0, 1.0)
