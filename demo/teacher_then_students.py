"""What both demos do: a teacher (trained once), then students, one table.

Every run goes through MMEngine's Runner exactly as ``tools/train.py`` and
``tools/test.py`` would; the table gives each run's test metric, its time
and where its logs are.
"""
import os.path as osp
import shutil
import time

from mmengine.runner import Runner


def add_demo_arguments(parser, work_dir):
    """--work-dir, --epochs, --teacher-epochs and --retrain-teacher."""
    parser.add_argument(
        '--work-dir', default=work_dir, help='where checkpoints and logs go')
    parser.add_argument(
        '--epochs', type=int, help='override the students\' epochs')
    parser.add_argument(
        '--teacher-epochs', type=int, help='override the teacher\'s epochs')
    parser.add_argument(
        '--retrain-teacher',
        action='store_true',
        help='train the teacher even if its checkpoint exists')


def train_and_test(cfg, metric):
    """Train, then test the final model; returns (metric, seconds, logs).

    Prints the wall and CPU time (all threads) the run took: on a shared
    machine the wall time grows with the load, the CPU time much less.
    """
    start, cpu_start = time.time(), time.process_time()
    runner = Runner.from_cfg(cfg)
    runner.train()
    value = runner.test()[metric]
    seconds, cpu = time.time() - start, time.process_time() - cpu_start
    print(
        f'{metric} {value:.2f}: {seconds / 60:.1f} min, CPU time '
        f'{cpu / 60:.1f} min',
        flush=True)
    return value, seconds, runner.log_dir


def test_checkpoint(cfg, checkpoint, metric):
    """Test a saved model; returns (metric, logs)."""
    cfg.load_from = checkpoint
    runner = Runner.from_cfg(cfg)
    return runner.test()[metric], runner.log_dir


def run_teacher_then_students(args, load_config, teacher, students, metric):
    """Train (or reuse) the teacher, train every student, return the rows.

    Args:
        args (Namespace): With the flags of :func:`add_demo_arguments`.
        load_config (callable): ``load_config(path, work_dir, epochs,
            teacher_ckpt)`` returns the Config to run.
        teacher (tuple): (name, config path, run directory name, checkpoint
            file name); the checkpoint is kept in ``args.work_dir``, where
            the distillation configs read it.
        students (list[tuple]): (name, config path) of each student run.
        metric (str): The test metric to report, e.g. 'accuracy/top1'.

    Returns:
        list[tuple]: (name, metric, seconds or None if reused, log dir).
    """
    name, config, run_dir, checkpoint_name = teacher
    teacher_ckpt = osp.join(args.work_dir, checkpoint_name)
    teacher_dir = osp.join(args.work_dir, run_dir)
    cfg = load_config(config, teacher_dir, args.teacher_epochs, None)
    rows = []
    if osp.isfile(teacher_ckpt) and not args.retrain_teacher:
        print(f'Reusing the teacher checkpoint {teacher_ckpt}', flush=True)
        value, log_dir = test_checkpoint(cfg, teacher_ckpt, metric)
        rows.append((f'teacher {name} (reused)', value, None, log_dir))
    else:
        print(f'Training the teacher ({name})', flush=True)
        value, seconds, log_dir = train_and_test(cfg, metric)
        with open(osp.join(teacher_dir, 'last_checkpoint')) as f:
            shutil.copyfile(f.read().strip(), teacher_ckpt)
        rows.append((f'teacher {name}', value, seconds, log_dir))

    for name, config in students:
        print(f'Training: {name}', flush=True)
        work_dir = osp.join(args.work_dir,
                            osp.splitext(osp.basename(config))[0])
        cfg = load_config(config, work_dir, args.epochs, teacher_ckpt)
        rows.append((name, *train_and_test(cfg, metric)))
    return rows


def print_table(title, column, rows, root, precision=2):
    """The runs, their metric (``column``), time and logs (from ``root``)."""
    width = max(len(column), 6)
    print(f'\n{title}')
    print(f'{"run":<36} {column:>{width}} {"time":>8}  logs')
    for name, value, seconds, log_dir in rows:
        took = '-' if seconds is None else f'{seconds / 60:.1f} min'
        print(f'{name:<36} {value:>{width}.{precision}f} {took:>8}  '
              f'{osp.relpath(log_dir, root)}')
