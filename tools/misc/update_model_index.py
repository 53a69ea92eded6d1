"""Write model-index.yml (for ``mim search mmrlkd``) from the configs' READMEs.

The result tables of ``configs/*/README.md`` are the single source of the
paper numbers: every config a table row links to becomes a model of the
index, with the number of that row's paper column for the link (for
example ``[rlkd](...)`` takes the ``+RLKD (paper)`` column) and our own
result, which is "not run yet" until a run of ours is reported::

    python tools/misc/update_model_index.py          # rewrite model-index.yml
    python tools/misc/update_model_index.py --check  # exit 1 if out of date

Only the standard library and PyYAML are needed.
"""
import argparse
import glob
import os.path as osp
import re
import sys

import yaml

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
INDEX = 'model-index.yml'
NOT_RUN = 'not run yet'

#: config name prefix -> (collection, paper); longest prefix first.
COLLECTIONS = (
    ('mtkd_rl_', 'MTKD-RL', 'https://arxiv.org/abs/2502.18510'),
    ('rlkd_', 'RLKD', 'https://arxiv.org/abs/2407.00115'),
    ('ctkd_', 'CTKD', 'https://arxiv.org/abs/2211.16231'),
    ('dtkd_', 'DTKD', 'https://arxiv.org/abs/2404.12711'),
    ('dkd_', 'DKD', 'https://arxiv.org/abs/2203.08679'),
    ('kd_', 'KD', 'https://arxiv.org/abs/1503.02531'),
    ('faster-rcnn_', 'Faster R-CNN', 'https://arxiv.org/abs/1506.01497'),
)
#: config name suffix -> (task, dataset, metric names of 'a / b' numbers).
DATASETS = (
    ('_cifar100', 'Image Classification', 'CIFAR-100', ('Top 1 Accuracy', )),
    ('_imagenet', 'Image Classification', 'ImageNet-1k', ('Top 1 Accuracy',
                                                          'Top 5 Accuracy')),
    ('_coco', 'Object Detection', 'COCO', ('box AP', )),
)
LINK = re.compile(r'\[([^\]]+)\]\(([^)\s]+\.py)\)')
NUMBERS = re.compile(r'^\s*(\d+(?:\.\d+)?)(?:\s*/\s*(\d+(?:\.\d+)?))?')


def split_row(line):
    return [cell.strip() for cell in line.strip().strip('|').split('|')]


def tables(text):
    """(header cells, data rows) of every markdown table in ``text``."""
    lines = text.splitlines()
    for i in range(len(lines) - 1):
        if (lines[i].startswith('|')
                and re.match(r'^\|[-|: ]+\|$', lines[i + 1].strip())
                and (i == 0 or not lines[i - 1].startswith('|'))):
            header, rows = split_row(lines[i]), []
            for line in lines[i + 2:]:
                if not line.startswith('|'):
                    break
                rows.append(split_row(line))
            yield header, rows


def paper_columns(header):
    """Index -> method text (lower case) of the paper-number columns."""
    columns = {}
    for index, name in enumerate(header):
        method = re.sub(r'\(.*?\)', '', name).strip().lower()
        notes = ' '.join(re.findall(r'\((.*?)\)', name)).lower()
        if 'paper' in notes or method == 'paper':
            columns[index] = '' if method == 'paper' else method
    return columns


def column_for(label, columns):
    """The paper column of a link labelled ``label`` in a row, or None."""
    label = label.lower()
    for method in ('rlkd', 'ctkd', 'dtkd', 'student'):
        if method in label:
            matches = [i for i, text in columns.items() if method in text]
            return matches[0] if matches else None
    base = {'', 'base', label, f'vanilla {label}'}
    matches = [i for i, text in columns.items() if text in base]
    return matches[0] if matches else None


def occurrences(root=ROOT):
    """(config, README, paper numbers or None) for every table link."""
    for readme in sorted(
            glob.glob(osp.join(root, 'configs', '*', 'README.md'))):
        with open(readme) as f:
            text = f.read()
        folder = osp.dirname(readme)
        for header, rows in tables(text):
            columns = paper_columns(header)
            for row in rows:
                for cell in row:
                    for label, target in LINK.findall(cell):
                        path = osp.normpath(osp.join(folder, target))
                        if not osp.isfile(path):
                            continue
                        column = column_for(label, columns)
                        numbers = None
                        if column is not None and column < len(row):
                            match = NUMBERS.match(row[column])
                            if match:
                                numbers = [
                                    float(n) for n in match.groups() if n
                                ]
                        config = osp.relpath(path, root)
                        yield config, osp.relpath(readme, root), numbers


def choose(found):
    """One occurrence per config: a number from its own folder's README
    first, then any number, then the first mention."""

    def rank(item):
        config, readme, numbers = item
        own = osp.dirname(readme) == osp.dirname(config)
        return (numbers is None, not own)

    chosen = {}
    for item in found:
        config = item[0]
        if config not in chosen or rank(item) < rank(chosen[config]):
            chosen[config] = item
    return [chosen[config] for config in sorted(chosen)]


def lookup(table, key, name):
    for entry in table:
        if key(name, entry[0]):
            return entry
    raise ValueError(f'{name}: no entry for it in update_model_index.py')


def model_entry(config, readme, numbers):
    name = osp.splitext(osp.basename(config))[0]
    _, collection, _ = lookup(COLLECTIONS, lambda n, p: n.startswith(p), name)
    _, task, dataset, metric_names = lookup(DATASETS,
                                            lambda n, s: n.endswith(s), name)
    metrics = {metric: NOT_RUN for metric in metric_names}
    for metric, value in zip(metric_names, numbers or []):
        metrics[f'{metric} (paper)'] = value
    return {
        'Name': name,
        'In Collection': collection,
        'Config': config.replace(osp.sep, '/'),
        'README': readme.replace(osp.sep, '/'),
        'Metadata': {
            'Training Data': dataset
        },
        'Results': [{
            'Task': task,
            'Dataset': dataset,
            'Metrics': metrics
        }],
    }


def build_index(root=ROOT):
    models = [model_entry(*item) for item in choose(occurrences(root))]
    used = {model['In Collection'] for model in models}
    collections = []
    for _, name, paper in COLLECTIONS:
        if name not in used:
            continue
        # The Faster R-CNN models are the detection students trained alone.
        technique = 'SGD' if name == 'Faster R-CNN' else \
            'Knowledge Distillation'
        collections.append({
            'Name': name,
            'Metadata': {
                'Training Techniques': [technique]
            },
            'Paper': {
                'URL': paper
            },
        })
    return {'Collections': collections, 'Models': models}


def render(index):
    return (
        '# Written by tools/misc/update_model_index.py from the tables of\n'
        '# configs/*/README.md; edit those, then run it.\n' +
        yaml.safe_dump(index, sort_keys=False, width=79))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--check',
        action='store_true',
        help='only check that model-index.yml is up to date')
    args = parser.parse_args(argv)
    text = render(build_index())
    path = osp.join(ROOT, INDEX)
    if args.check:
        current = open(path).read() if osp.exists(path) else ''
        if current != text:
            print(f'{INDEX} is out of date: run python '
                  'tools/misc/update_model_index.py')
            return 1
        return 0
    with open(path, 'w') as f:
        f.write(text)
    print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
