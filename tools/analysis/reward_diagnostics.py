"""Print the RLKD reward's per-epoch diagnostics as a markdown table.

Reads the rows ``mmrlkd.RewardDiagnosticsHook`` writes (issue 17, item 2:
how noisy the reward is and how much of it the agent's states and
temperatures explain) and prints one row per epoch plus the whole run::

    python tools/analysis/reward_diagnostics.py WORK_DIR_OR_JSONL

The hook is on in the DigitPairs RLKD config; elsewhere add it after the
agent's hook::

    custom_hooks = [
        dict(type='mmrlkd.RLKDAgentHook', agent_warmup=2, reward_warmup=2),
        dict(type='mmrlkd.RewardDiagnosticsHook'),
    ]

The whole-run row pools the epochs exactly for the mean, the std and the
explained variance (from each epoch's count, mean, std, held-out MSE and
target mean and variance); its lag-1 autocorrelation is the epochs'
average weighted by their reward counts (pairs across an epoch boundary are
not counted).
"""
import argparse
import json
import math
import os.path as osp
import sys

DIAGNOSTICS_FILE = 'reward_diagnostics.jsonl'
# (row key, column title, format)
COLUMNS = (
    ('epoch', 'epoch', '{}'),
    ('iter', 'iter', '{}'),
    ('count', 'rewards', '{}'),
    ('mean', 'mean', '{:+.5f}'),
    ('std', 'std', '{:.5f}'),
    ('lag1_autocorr', 'lag-1 autocorr', '{:+.3f}'),
    ('episodes', 'held-out episodes', '{}'),
    ('explained_variance', 'held-out expl. var.', '{:+.3f}'),
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'path',
        help=f'the run\'s work dir (holding {DIAGNOSTICS_FILE}) or the file')
    return parser.parse_args(argv)


def load_rows(path):
    """The hook's rows, in file order."""
    if osp.isdir(path):
        path = osp.join(path, DIAGNOSTICS_FILE)
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _value(row, key):
    value = row.get(key)
    return math.nan if value is None else float(value)


def pooled(rows):
    """The whole run's statistics from the per-epoch rows."""
    nan = math.nan
    counted = [row for row in rows if row.get('count')]
    n = sum(row['count'] for row in counted)
    mean = sum(row['count'] * row['mean'] for row in counted) / n \
        if n else nan
    # Within-epoch plus between-epoch sums of squares, n - 1 denominator.
    within = sum((row['count'] - 1) * _value(row, 'std')**2 for row in counted
                 if row['count'] > 1)
    between = sum(row['count'] * (row['mean'] - mean)**2 for row in counted)
    autocorrs = [(row['count'], _value(row, 'lag1_autocorr'))
                 for row in counted]
    autocorrs = [(count, r) for count, r in autocorrs if math.isfinite(r)]
    weight = sum(count for count, _ in autocorrs)
    # Held-out pairs: MSE and the targets' variance (n denominators).
    held = [row for row in rows if row.get('episodes')]
    k = sum(row['episodes'] for row in held)
    mse = target_mean = target_var = nan
    if k:
        mse = sum(row['episodes'] * row['heldout_mse'] for row in held) / k
        target_mean = sum(row['episodes'] * row['target_mean']
                          for row in held) / k
        target_var = sum(row['episodes'] *
                         (row['target_var'] +
                          (row['target_mean'] - target_mean)**2)
                         for row in held) / k
    lag1 = sum(count * r for count, r in autocorrs) / weight \
        if weight else nan
    explained = 1 - mse / target_var if k > 1 and target_var > 0 else nan
    return dict(
        epoch='all',
        iter=max((row['iter'] for row in rows), default=0),
        count=n,
        mean=mean,
        std=math.sqrt((within + between) / (n - 1)) if n > 1 else nan,
        lag1_autocorr=lag1,
        episodes=k,
        explained_variance=explained)


def format_table(rows):
    """Markdown table of the rows and the pooled whole-run row."""

    def cell(row, key, fmt):
        value = row.get(key)
        if value is None or (isinstance(value, float)
                             and not math.isfinite(value)):
            return '-'
        return fmt.format(value)

    lines = [
        '| ' + ' | '.join(title for _, title, _ in COLUMNS) + ' |',
        '|' + '---|' * len(COLUMNS)
    ]
    for row in rows + [pooled(rows)]:
        lines.append('| ' + ' | '.join(
            cell(row, key, fmt) for key, _, fmt in COLUMNS) + ' |')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    rows = load_rows(args.path)
    if not rows:
        print(f'No rows in {args.path}', file=sys.stderr)
        return 1
    print(format_table(rows))
    return 0


if __name__ == '__main__':
    sys.exit(main())
