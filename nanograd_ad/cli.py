"""The ``nanograd-ad`` command (also ``python -m nanograd_ad``).

    nanograd-ad list                             the experiments and what they show
    nanograd-ad reproduce NAME [options]         run one; a table, results.json, plots
    nanograd-ad reproduce NAME -h                that experiment's own options too
    nanograd-ad lessons --student DIR            the lessons as exercise notebooks
    nanograd-ad lessons --solutions DIR          ... and whole, with nbgrader's markers
    nanograd-ad course DIR                       an nbgrader course folder of the lessons

Common options of ``reproduce``: ``--quick`` (about a minute on a laptop), ``--runs N``,
``--epochs N``, ``--seed S``, ``--data digits|cifar10|cifar100``, ``--data-dir P``,
``--out DIR`` (default ``results/NAME``), ``--backend numpy|cupy``, ``--no-progress``; for
sweeps ``--workers N`` (a local Dask cluster), ``--scheduler ADDRESS`` (an existing one),
``--worker-threads N`` and ``--resume``.

Exit codes: 0 done; 1 training diverged; 2 bad options, unknown names, missing data or
an unavailable backend (the message says which, without a traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path

from .argtypes import folder, nonnegative_int, positive_float, positive_int, run_count

__all__ = ["build_parser", "main", "nonnegative_int", "positive_float", "positive_int"]

DATA_CHOICES = ("digits", "cifar10", "cifar100")
BACKENDS = ("numpy", "cupy")
#: `nanograd-ad list` wraps its lines to this many columns
LIST_WIDTH = 100


def _common_options() -> argparse.ArgumentParser:
    """The options every experiment takes (a parent parser)."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("common options")
    group.add_argument("--quick", action="store_true", help="a short version (about a minute on a laptop)")
    group.add_argument(
        "--runs",
        type=run_count,
        default=None,
        help="independent runs (seeds), at most 10000; default: the experiment's",
    )
    group.add_argument(
        "--epochs", type=positive_int, default=None, help="epochs per run; default: the experiment's"
    )
    group.add_argument(
        "--seed", type=nonnegative_int, default=0, help="first seed (run i uses seed + i); default 0"
    )
    group.add_argument(
        "--data", choices=DATA_CHOICES, default=None, help="dataset; default: the experiment's"
    )
    group.add_argument("--data-dir", type=folder, default=None, help="folder with the CIFAR python pickles")
    group.add_argument("--out", type=folder, default=None, help="output folder; default results/NAME")
    group.add_argument("--backend", choices=BACKENDS, default="numpy", help="array backend; default numpy")
    group.add_argument("--no-progress", action="store_true", help="no progress bars")
    sweep = common.add_argument_group("running the units (see the README: sweeps)")
    where = sweep.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        help="run the independent units on a local Dask cluster of N worker processes",
    )
    where.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run the units on an existing Dask cluster, e.g. tcp://10.0.0.5:8786",
    )
    sweep.add_argument(
        "--worker-threads",
        type=positive_int,
        default=None,
        help="BLAS threads per unit on Dask workers (with --workers or --scheduler); default 1",
    )
    sweep.add_argument(
        "--resume", action="store_true", help="skip units already finished in --out with the same settings"
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """The full parser: ``list`` and ``reproduce`` with one sub-parser per experiment."""
    from .checkpoint import library_version
    from .experiments import experiments
    from .notebooks import add_lessons_command

    parser = argparse.ArgumentParser(
        prog="nanograd-ad",
        description="Reproduce the experiments of nanograd_ad "
        "(explicit backprop with pluggable derivatives).",
    )
    parser.add_argument("--version", action="version", version=f"nanograd_ad {library_version()}")
    parser.add_argument("--traceback", action="store_true", help="show the full traceback on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser("list", help="show the experiments", description="Show the registered experiments.")
    add_lessons_command(commands)
    from .course import add_course_command  # nanograd-ad course DIR: an nbgrader course folder

    add_course_command(commands)
    reproduce = commands.add_parser(
        "reproduce",
        help="run an experiment",
        description="Run an experiment: prints a table, writes results.json and plots to --out.",
    )
    names = reproduce.add_subparsers(dest="experiment", metavar="NAME", required=True)
    common = _common_options()
    for name, experiment in experiments().items():
        description = experiment.description + (f" (paper: {experiment.paper})" if experiment.paper else "")
        sub = names.add_parser(name, help=experiment.description, description=description, parents=[common])
        before = {action.dest for action in sub._actions}
        if experiment.add_arguments is not None:
            experiment.add_arguments(sub)
        own = [action for action in sub._actions if action.dest not in before]
        lists = {a.dest: a.option_strings[0] for a in own if a.nargs == "+" and a.option_strings}
        sub.set_defaults(extra_options=[a.dest for a in own], list_options=lists)
    return parser


def _list(out=None) -> int:
    from .experiments import experiments, skipped_modules

    out = sys.stdout if out is None else out
    known = experiments()
    width = max((len(name) for name in known), default=0)
    print("experiments (run: nanograd-ad reproduce NAME [--quick]):", file=out)
    for name, experiment in known.items():
        paper = f" [{experiment.paper}]" if experiment.paper else ""
        text = f"{name:<{width}}  {experiment.description}{paper}"
        indent = " " * (width + 4)
        print(textwrap.fill(text, LIST_WIDTH, initial_indent="  ", subsequent_indent=indent), file=out)
    if skipped_modules:
        print(f"(not available yet: {', '.join(skipped_modules)})", file=out)
    return 0


def _error(message: str, code: int) -> int:
    print(f"nanograd-ad: error: {message}", file=sys.stderr)
    return code


#: the optional extra (pyproject.toml) that installs each optional import
EXTRAS = {
    "sklearn": "data",
    "matplotlib": "plots",
    "tqdm": "progress",
    "cupy": "gpu",
    "dask": "dask",
    "distributed": "dask",
}


def _missing_dependency(err: ImportError) -> str:
    """One line: what is missing and the extra that installs it."""
    module = (getattr(err, "name", None) or "").split(".")[0]
    text = " ".join(str(err).split()) or f"cannot import {module or 'a module'}"
    if "nanograd_ad[" in text:  # the library's own message already names the extra
        return text
    extra = EXTRAS.get(module)
    if extra is None:
        return f"a dependency is missing: {text}"
    return f"{module} is not installed; install the extra with: pip install 'nanograd_ad[{extra}]'"


def _check_folder(option: str, path: Path) -> str | None:
    """The problem with writing into the folder ``path`` (given as ``option``), found before
    any work starts: a file at or above it, or a first existing folder above it where no
    file can be created (tried: ``os.access`` says yes to root even on /proc). None when fine."""
    for existing in (path, *path.parents):
        if existing.exists():
            if not existing.is_dir():
                where = "" if existing == path else f" ({existing} above it)"
                return f"{option} {path}: {existing} is a file, not a folder{where}"
            if not os.access(existing, os.W_OK | os.X_OK):
                return f"{option} {path}: cannot write in {existing} (permission denied)"
            try:
                with tempfile.TemporaryFile(dir=existing):
                    pass
            except OSError as err:
                return f"{option} {path}: cannot write in {existing} ({err.strerror or err})"
            break
    return None


def _check_paths(out: Path, data_dir: Path | None) -> str | None:
    """The problem with --out or --data-dir, found before any work starts (None when fine)."""
    problem = _check_folder("--out", out)
    if problem is not None:
        return problem
    if data_dir is not None:
        if not data_dir.exists():
            return f"--data-dir {data_dir}: the folder does not exist"
        if not data_dir.is_dir():
            return f"--data-dir {data_dir}: is a file, not a folder"
    return None


#: The switching rule's threshold below which it switches after every epoch (Hu, Zhang & Ge
#: 2021, §III.A: switch when the last training loss exceeds A × the best so far; A = 1.035).
SWITCH_A_MIN = 1.0


def _check_options(args, extra: dict) -> str | None:
    """What argparse cannot see in one option: a value repeated in a list option, a
    switching threshold that switches every epoch, Dask settings without Dask (None when fine)."""
    for dest, option in args.list_options.items():
        values = extra.get(dest) or []
        repeated = sorted({str(v) for v in values if values.count(v) > 1})
        if repeated:
            return f"{option}: {', '.join(repeated)} given more than once; give each value once"
    switch_a = extra.get("switch_a")
    if switch_a is not None and switch_a < SWITCH_A_MIN:
        return (
            f"--switch-a {switch_a:g}: A < 1 switches after every epoch (the last training loss always "
            f"exceeds A × the best so far); give A >= 1 (the paper's: 1.035)"
        )
    if args.worker_threads is not None and args.workers is None and args.scheduler is None:
        return (
            f"--worker-threads {args.worker_threads} sets BLAS threads on Dask workers: give --workers N "
            "or --scheduler ADDRESS too (an in-process run does not read it)"
        )
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    with warnings.catch_warnings():  # missing experiment modules are listed, not warned about
        warnings.simplefilter("ignore", RuntimeWarning)
        parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse: -h (0) or a bad option (2, message printed)
        return int(exit_.code or 0)
    if args.command == "list":
        return _list()
    if args.command == "lessons":
        from .notebooks import run_lessons_command

        for option, path in (("--student", args.student), ("--solutions", args.solutions)):
            problem = None if path is None else _check_folder(option, path)
            if problem is not None:
                return _error(problem, 2)

        return run_lessons_command(args)
    if args.command == "course":
        from .course import run_course_command

        return run_course_command(args)

    from . import backend
    from .experiments import get
    from .experiments.common import ExperimentConfig
    from .sweep import SweepError, dask_available
    from .train import TrainingDiverged

    experiment = get(args.experiment)
    extra = {dest: getattr(args, dest) for dest in args.extra_options}
    problem = _check_options(args, extra)
    if problem is not None:
        return _error(problem, 2)
    try:
        config = ExperimentConfig(
            quick=args.quick,
            runs=args.runs,
            epochs=args.epochs,
            seed=args.seed,
            data=args.data,
            data_dir=args.data_dir,
            out=args.out if args.out is not None else Path("results") / args.experiment,
            backend=args.backend,
            extra=extra,
            progress=not args.no_progress,
            workers=args.workers,
            scheduler=args.scheduler,
            resume=args.resume,
            worker_threads=args.worker_threads or 1,
        )
        backend.use(args.backend)
    except (ValueError, backend.BackendError) as err:
        return _error(str(err), 2)
    if (args.workers is not None or args.scheduler is not None) and not dask_available():
        return _error(
            "--workers/--scheduler run on Dask, which is not installed: pip install 'nanograd_ad[dask]'", 2
        )
    problem = _check_paths(config.out, config.data_dir)
    if problem is not None:
        return _error(problem, 2)
    try:
        results = experiment.run(config)
    except KeyboardInterrupt:
        kept = config.out / "units"
        if kept.is_dir():
            return _error(f"interrupted; finished units are kept in {kept}/ (rerun with --resume)", 130)
        return _error("interrupted", 130)
    except TrainingDiverged as err:
        if args.traceback:
            raise
        return _error(str(err), 1)
    except ImportError as err:  # an optional extra that is not installed
        if args.traceback:
            raise
        return _error(_missing_dependency(err), 2)
    except (ValueError, FileNotFoundError, backend.BackendError, SweepError) as err:
        if args.traceback:
            raise
        return _error(str(err), 2)
    out = config.out
    wall = results.get("wall_time_s") if isinstance(results, dict) else None
    timing = f" in {wall:.1f} s" if isinstance(wall, (int, float)) else ""
    print(f"\n{args.experiment} finished{timing}; results in {out}/")
    return 0
