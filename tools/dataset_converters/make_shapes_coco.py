"""Generate "Shapes", a small COCO-format detection data set.

Each image is a noisy background with up to ``--max-objects`` filled shapes
(rectangle, ellipse, triangle), each in a colour far from the background.
Boxes are the shapes' tight bounds, so a detector can learn them in a few
CPU epochs: enough to run detection distillation end to end (train, COCO
evaluation with pycocotools) without downloading COCO. Some images have no
object at all (``--empty-fraction``), which training must tolerate.

Layout (what ``configs/_base_/datasets/shapes_coco.py`` reads)::

    OUT_DIR/annotations/instances_{train,val}.json
    OUT_DIR/{train,val}/000000.png ...

    python tools/dataset_converters/make_shapes_coco.py [OUT_DIR]
        [--num-train 200] [--num-val 50] [--image-size 128] [--seed 0]

The same seed gives the same files.
"""
import argparse
import json
import os
import os.path as osp

import cv2
import numpy as np

CLASSES = ('rectangle', 'ellipse', 'triangle')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out_dir', nargs='?', default='data/shapes')
    parser.add_argument('--num-train', type=int, default=200)
    parser.add_argument('--num-val', type=int, default=50)
    parser.add_argument('--image-size', type=int, default=128)
    parser.add_argument(
        '--max-objects', type=int, default=4, help='objects per image, max')
    parser.add_argument(
        '--min-size', type=int, help='smallest box side (default size / 8)')
    parser.add_argument(
        '--empty-fraction',
        type=float,
        default=0.05,
        help='fraction of images without any object')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def _iou(a, b):
    """IoU of two [x1, y1, x2, y2] boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return inter / (area - inter)


def _contrasting_colour(rng, background):
    """A colour at least 100 away (L1 over BGR) from the background."""
    while True:
        colour = rng.integers(0, 256, 3)
        if np.abs(colour - background).sum() >= 100:
            return tuple(int(c) for c in colour)


def _draw(image, label, box, rng, colour):
    """Draw a shape filling ``box``; returns its tight [x1, y1, x2, y2]."""
    x1, y1, x2, y2 = box
    if CLASSES[label] == 'rectangle':
        cv2.rectangle(image, (x1, y1), (x2 - 1, y2 - 1), colour, -1)
    elif CLASSES[label] == 'ellipse':
        centre = ((x1 + x2 - 1) // 2, (y1 + y2 - 1) // 2)
        axes = ((x2 - x1 - 1) // 2, (y2 - y1 - 1) // 2)
        cv2.ellipse(image, centre, axes, 0, 0, 360, colour, -1)
    else:  # triangle: apex on the top edge, base on the bottom edge
        apex = int(rng.integers(x1, x2))
        points = np.array([[apex, y1], [x1, y2 - 1], [x2 - 1, y2 - 1]],
                          np.int32)
        cv2.fillPoly(image, [points], colour)
    # Tight bounds of what was actually drawn (ellipse rounding).
    mask = np.zeros(image.shape[:2], np.uint8)
    if CLASSES[label] == 'rectangle':
        return [x1, y1, x2, y2]
    if CLASSES[label] == 'ellipse':
        cv2.ellipse(mask, centre, axes, 0, 0, 360, 1, -1)
    else:
        cv2.fillPoly(mask, [points], 1)
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def make_image(rng, size, max_objects, min_size, empty):
    """One image and its objects as (label, [x1, y1, x2, y2])."""
    background = rng.integers(0, 256, 3)
    image = np.empty((size, size, 3), np.float32)
    image[:] = background
    image += rng.normal(0, 12, image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    objects = []
    if empty:
        return image, objects
    max_size = max(min_size + 1, size // 2)
    for _ in range(int(rng.integers(1, max_objects + 1))):
        for _attempt in range(20):
            w, h = rng.integers(min_size, max_size + 1, 2)
            x1 = int(rng.integers(0, size - w + 1))
            y1 = int(rng.integers(0, size - h + 1))
            box = [x1, y1, x1 + int(w), y1 + int(h)]
            if all(_iou(box, other) < 0.2 for _, other in objects):
                break
        else:
            continue
        label = int(rng.integers(len(CLASSES)))
        colour = _contrasting_colour(rng, background)
        objects.append((label, _draw(image, label, box, rng, colour)))
    return image, objects


def make_split(out_dir, split, num_images, rng, args):
    """Write one split's images and return its COCO annotation dict."""
    image_dir = osp.join(out_dir, split)
    os.makedirs(image_dir, exist_ok=True)
    min_size = args.min_size or max(4, args.image_size // 8)
    coco = dict(
        info=dict(description=f'Shapes {split} (make_shapes_coco.py)'),
        licenses=[],
        images=[],
        annotations=[],
        categories=[
            dict(id=i + 1, name=name, supercategory='shape')
            for i, name in enumerate(CLASSES)
        ])
    for index in range(num_images):
        empty = rng.random() < args.empty_fraction
        image, objects = make_image(rng, args.image_size, args.max_objects,
                                    min_size, empty)
        file_name = f'{index:06d}.png'
        cv2.imwrite(osp.join(image_dir, file_name), image)
        coco['images'].append(
            dict(
                id=index,
                file_name=file_name,
                width=args.image_size,
                height=args.image_size))
        for label, (x1, y1, x2, y2) in objects:
            w, h = x2 - x1, y2 - y1
            coco['annotations'].append(
                dict(
                    id=len(coco['annotations']) + 1,
                    image_id=index,
                    category_id=label + 1,
                    bbox=[float(x1), float(y1),
                          float(w), float(h)],
                    area=float(w * h),
                    iscrowd=0))
    return coco


def generate(args):
    """Write both splits as ``args`` (from :func:`parse_args`) asks."""
    rng = np.random.default_rng(args.seed)
    os.makedirs(osp.join(args.out_dir, 'annotations'), exist_ok=True)
    for split, num in (('train', args.num_train), ('val', args.num_val)):
        coco = make_split(args.out_dir, split, num, rng, args)
        path = osp.join(args.out_dir, 'annotations', f'instances_{split}.json')
        with open(path, 'w') as f:
            json.dump(coco, f)


def main(argv=None):
    args = parse_args(argv)
    generate(args)
    print(f'wrote {args.num_train} train and {args.num_val} val images of '
          f'{args.image_size}x{args.image_size} to {args.out_dir}')


if __name__ == '__main__':
    main()
