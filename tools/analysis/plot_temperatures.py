"""Plot the distillation temperatures of a training run.

Trajectories come from the scalars MMEngine's LocalVisBackend writes
(``<work_dir>/<timestamp>/vis_data/scalars.json``): the distiller logs the
student-side temperature's mean/std/min/max every logged iteration (DTKD
adds the teacher side, CTKD's hook adds ``ctkd/lambda``). Histograms need
per-instance temperatures, which only ``mmrlkd.TemperatureDumpHook`` writes
(``<work_dir>/<timestamp>/temperatures.jsonl``)::

    python tools/analysis/plot_temperatures.py WORK_DIR \
        [--hist-iters 100 2000] [--out temperatures.png]

Runs resumed into the same work dir are joined; where they overlap, the
later run's values win.

What an agent learned, as the mean temperature by student confidence, needs
``<work_dir>/temperature_by_confidence.json``, which
``demo/digitpairs_demo.py`` writes for its RLKD and frozen-agent runs; give
other work dirs to draw them on the same axes::

    python tools/analysis/plot_temperatures.py WORK_DIR \
        --by-confidence [OTHER_WORK_DIR ...] [--out by_confidence.png]
"""
import argparse
import glob
import json
import os.path as osp

import numpy

PREFIX = 'distill.temperature_'
BY_CONFIDENCE_FILE = 'temperature_by_confidence.json'
LAMBDA = 'ctkd/lambda'


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('work_dir', help='the run\'s work dir')
    parser.add_argument(
        '--hist-iters',
        nargs='+',
        type=int,
        default=[],
        help='iterations to draw histograms at (nearest dumped iteration)')
    parser.add_argument(
        '--prefix',
        default=PREFIX,
        help=f'key prefix of the temperature statistics (default {PREFIX})')
    parser.add_argument(
        '--by-confidence',
        nargs='*',
        metavar='OTHER_WORK_DIR',
        help='draw the mean temperature by student confidence of WORK_DIR '
        f'(and of these work dirs) from their {BY_CONFIDENCE_FILE} instead '
        'of the trajectories')
    parser.add_argument(
        '--out',
        help='trajectory PNG (default WORK_DIR/temperatures.png); '
        'histograms go next to it with the suffix _hist')
    return parser.parse_args()


def _runs(work_dir, relative_path):
    """Files at ``<work_dir>/<timestamp>/<relative_path>``, oldest first."""
    return sorted(glob.glob(osp.join(work_dir, '*', relative_path)))


def load_scalars(work_dir, prefix=PREFIX):
    """Rows that hold temperature statistics, one per iteration, by iter."""
    rows = {}
    for path in _runs(work_dir, osp.join('vis_data', 'scalars.json')):
        with open(path) as f:
            for line in f:
                row = json.loads(line)
                if f'{prefix}mean' in row and 'iter' in row:
                    rows[row['iter']] = row
    if not rows:
        raise SystemExit(
            f'no `{prefix}mean` scalars under {work_dir}/*/vis_data/: is it '
            'an mmrlkd distillation run with the LocalVisBackend?')
    return [rows[i] for i in sorted(rows)]


def load_dumps(work_dir):
    """Per-instance temperatures by iteration, from TemperatureDumpHook."""
    dumps = {}
    for path in _runs(work_dir, 'temperatures.jsonl'):
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                dumps[record['iter']] = record
    return dumps


def _series(rows, key):
    return [row.get(key, float('nan')) for row in rows]


def _draw_side(ax, rows, prefix, label, color):
    iters = [row['iter'] for row in rows]
    mean = _series(rows, f'{prefix}mean')
    std = _series(rows, f'{prefix}std')
    ax.plot(iters, mean, color=color, label=f'{label} mean')
    ax.fill_between(
        iters, [m - s for m, s in zip(mean, std)],
        [m + s for m, s in zip(mean, std)],
        color=color,
        alpha=0.25,
        label=f'{label} mean +- std')
    ax.plot(
        iters,
        _series(rows, f'{prefix}min'),
        color=color,
        linestyle=':',
        linewidth=1,
        label=f'{label} min / max')
    ax.plot(
        iters,
        _series(rows, f'{prefix}max'),
        color=color,
        linestyle=':',
        linewidth=1)


def plot_trajectories(rows, path, prefix=PREFIX, title=''):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4))
    _draw_side(ax, rows, prefix, 'student', 'tab:blue')
    if any(f'{prefix}teacher_mean' in row for row in rows):
        _draw_side(ax, rows, f'{prefix}teacher_', 'teacher', 'tab:orange')
    ax.set_xlabel('iteration')
    ax.set_ylabel('temperature')
    handles, labels = ax.get_legend_handles_labels()
    if any(LAMBDA in row for row in rows):
        lam = ax.twinx()
        lam.plot([row['iter'] for row in rows],
                 _series(rows, LAMBDA),
                 color='tab:green',
                 linestyle='--',
                 label='CTKD lambda')
        lam.set_ylabel('gradient reversal lambda')
        lam.set_ylim(-0.05, 1.05)
        more_handles, more_labels = lam.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    ax.legend(handles, labels, loc='best', fontsize='small')
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_histograms(dumps, iters, path, title=''):
    """One histogram per requested iteration (the nearest dumped one)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    chosen = []
    for wanted in iters:
        nearest = min(dumps, key=lambda i: (abs(i - wanted), i))
        if nearest not in chosen:
            chosen.append(nearest)
    fig, axes = plt.subplots(
        1, len(chosen), figsize=(3.5 * len(chosen), 3), squeeze=False)
    for ax, iteration in zip(axes[0], chosen):
        record = dumps[iteration]
        both = record['teacher'] != record['student']
        values = record['student'] + (record['teacher'] if both else [])
        bins = numpy.histogram_bin_edges(values, bins=30)
        ax.hist(record['student'], bins=bins, alpha=0.7, label='student')
        if both:
            ax.hist(record['teacher'], bins=bins, alpha=0.5, label='teacher')
            ax.legend(fontsize='small')
        ax.set_title(f'iter {iteration} (epoch {record["epoch"]})')
        ax.set_xlabel('temperature')
    axes[0][0].set_ylabel('instances')
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return chosen


def load_by_confidence(work_dir):
    """The per-confidence-bin record of a run (see the module docstring)."""
    path = osp.join(work_dir, BY_CONFIDENCE_FILE)
    if not osp.isfile(path):
        raise SystemExit(f'no {path}: run demo/digitpairs_demo.py, whose '
                         'RLKD runs write it')
    with open(path) as f:
        return json.load(f)


def plot_by_confidence(records, path, title=''):
    """Mean temperature per confidence bin, one line per named record."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, record in records.items():
        edges = record['edges']
        labels = [f'{lo:.2f}-{hi:.2f}' for lo, hi in zip(edges, edges[1:])]
        ax.plot(labels, record['mean_temperature'], marker='o', label=name)
    ax.set_xlabel('student confidence (max softmax probability)')
    ax.set_ylabel('mean temperature')
    ax.legend(fontsize='small')
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main():
    args = parse_args()
    if args.by_confidence is not None:
        dirs = [args.work_dir] + args.by_confidence
        records = {
            osp.basename(osp.normpath(d)): load_by_confidence(d)
            for d in dirs
        }
        out = args.out or osp.join(args.work_dir, 'by_confidence.png')
        epoch = next(iter(records.values()))['epoch']
        plot_by_confidence(records, out,
                           f'mean temperature by confidence, epoch {epoch}')
        print(f'temperature by confidence: {out}')
        return
    rows = load_scalars(args.work_dir, args.prefix)
    title = osp.basename(osp.normpath(args.work_dir))
    out = args.out or osp.join(args.work_dir, 'temperatures.png')
    plot_trajectories(rows, out, args.prefix, title)
    last = rows[-1]
    print(f'{len(rows)} logged iterations, last (iter {last["iter"]}): '
          f'mean {last[args.prefix + "mean"]:.3f}, std '
          f'{last.get(args.prefix + "std", float("nan")):.3f}')
    print(f'trajectories: {out}')
    if args.hist_iters:
        dumps = load_dumps(args.work_dir)
        if not dumps:
            raise SystemExit(
                'no per-instance temperatures under '
                f'{args.work_dir}/*/temperatures.jsonl: add '
                "dict(type='mmrlkd.TemperatureDumpHook', iters=[...]) to "
                'custom_hooks and train again')
        root, ext = osp.splitext(out)
        hist = f'{root}_hist{ext or ".png"}'
        chosen = plot_histograms(dumps, args.hist_iters, hist, title)
        print(f'histograms at iterations {chosen}: {hist}')


if __name__ == '__main__':
    main()
