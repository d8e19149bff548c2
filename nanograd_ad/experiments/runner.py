"""One runner for experiments declared as data (benchopt's shape: a ``parameters`` grid the
runner takes the cross product of, and one function that returns a dict per run).

An experiment declares (`Declaration`):

    settings(config) -> dict       every effective setting, from the options (quick/full)
    grid(settings) -> dict         the axes, outermost first, e.g. {"seed": [0, 1], "variant": [...]};
                                   an axis' values may depend on the outer axes (a function
                                   of their point): {"set": ["A", "B"], "depth": DEPTHS.get};
                                   or the points themselves, a list of dicts, in order,
                                   where the grid is not a cross product
    load(settings) -> data         the data, loaded once per process
    cell(settings, data, **cell)   trains one point of the grid, returns a dict (one run)
    report                         the table's columns: `Measure` (aggregated over the seeds,
                                   also the cell's summary in results.json) and `Column`
    plots, after                   functions of the `Outcome` (runs, summary, settings, data)

and the runner does the rest: it builds one `Unit` per point of the grid, keyed by every
axis (``seed=3,variant=pn``), runs them as the config says (in-process, ``--workers N``,
``--scheduler ADDRESS``, ``--resume``), groups the runs into cells by every axis but the
seed, prints one table (accuracy in percent, "n seeds" only when n > 1), writes
results.json with the effective value of every setting, and draws the plots.
"""

from __future__ import annotations

import importlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import register
from .common import (
    ExperimentConfig,
    format_mean_std,
    format_table,
    format_value,
    mean_std,
    new_run,
    run_units,
    write_results,
)

__all__ = [
    "Column",
    "Declaration",
    "Measure",
    "Outcome",
    "ad_options",
    "add_options",
    "blas_threads_option",
    "declare",
    "execute_cell",
    "seed_grid",
    "seeds_of",
    "subset_option",
    "unit_key",
]

#: Widest line a table may print (wider tables are wrapped into blocks).
TABLE_WIDTH = 100

_DECLARATIONS: dict[str, Declaration] = {}
_DATA: dict[tuple[str, str], Any] = {}


@dataclass(frozen=True)
class Measure:
    """One number of a run that a cell aggregates over its seeds.

    key:     the run's key; the summary stores ``key + suffix`` (default ``key_mean``)
    header:  the table's column header; None leaves it out of the table
    of:      how to read it from a run (default ``run[key]``)
    std:     also store ``key_std`` in the summary
    reduce:  how the runs' values combine (default: the mean of the finite ones)
    percent: a fraction printed as a percentage (the JSON keeps the fraction)
    fmt:     a format spec for the table (e.g. ".2e"); by default an aggregate prints as
             "mean ± std" over the seeds, a value as it is with ``digits`` decimals
    """

    key: str
    header: str | None = None
    of: Callable[[dict], Any] | None = None
    std: bool = True
    suffix: str = "_mean"
    reduce: Callable[[list], Any] | None = None
    percent: bool = False
    digits: int = 4
    fmt: str | None = None

    def values(self, runs: Sequence[dict]) -> list:
        """The measure of each run."""
        return [self.of(r) if self.of is not None else r[self.key] for r in runs]

    def cell(self, summary: dict, runs: Sequence[dict], point: dict, settings: dict) -> str:
        """The table's cell: mean ± std over the seeds (percent where asked), or the value."""
        if self.fmt is None and self.suffix == "_mean":
            scale, digits = (100, 2) if self.percent else (1, self.digits)
            return format_mean_std(self.values(runs), scale=scale, digits=digits)
        return show(summary.get(self.key + self.suffix), self.fmt, self.digits)


@dataclass(frozen=True)
class Column:
    """A table column computed from a cell's summary (after `Declaration.after`), its axes
    and the settings, e.g. a ratio of two measures, a timing or the paper's number:
    ``of(summary, axes, settings)``, printed with ``fmt``."""

    key: str
    header: str | Callable[[dict], str | None]
    of: Callable[[dict, dict, dict], Any] | None = None
    fmt: str | None = None
    digits: int = 4

    def cell(self, summary: dict, runs: Sequence[dict], point: dict, settings: dict) -> str:
        """The table's cell."""
        value = self.of(summary, point, settings) if self.of is not None else summary.get(self.key)
        return show(value, self.fmt, self.digits)


def show(value, fmt: str | None, digits: int) -> str:
    """A value as the table prints it ("—" for None/NaN)."""
    if fmt is None or value is None or value != value:
        return format_value(value, digits)
    return format(value, fmt)


@dataclass(frozen=True)
class Declaration:
    """An experiment as data; see the module docstring.

    report:  the table's columns after the axes (`Measure` and `Column`), in order; the
             measures are also the summary of a cell
    label:   a cell's name in the summary (default: its axes, ``depth=10,variant=pn``,
             or the value of a single axis)
    names:   how the table shows an axis' values, e.g. {"variant": {"bn": "batch norm"}}
    inner:   a grid axis the cell function loops over itself (one unit returns a list of
             runs, e.g. every model from one weight draw): its runs' key names their cell
    describe(run):  the line printed per run
    intro(settings):  a line under the header (the recipe)
    split(result) -> (run, extra):  a unit's result that carries more than its run (e.g.
             what is drawn from its trained network): the run (with ``inner``: its runs)
             goes to results.json, the extra to `Outcome.extras`
    after(outcome):  timings that must not run inside units, tables of its own
    summary_of(outcome):  results.json's summary, when it is not the cells' summaries by
             label (e.g. a list of cells with their axes)
    protocol: the paper's (e.g. "100 runs × 300 epochs"), printed beside a quick run's; or
             a function of the settings (the paper's protocol for the model that ran)
    notes:   lines printed under the table (a line may be a function of the settings)
    paper_numbers: the paper's numbers for results.json (or a function of the settings,
             called when the experiment runs)
    shown:   the axes the table prints (default: every axis of a cell but the seed)
    cost(cell) -> float:  a cell's relative run time (e.g. layers × steps per epoch): with
             ``--workers`` the costliest units start first (`sweep.longest_first`)"""

    name: str
    description: str
    paper: str | None
    options: Callable[[Any], None] | None
    settings: Callable[[ExperimentConfig], dict]
    grid: Callable[[dict], dict[str, list] | list[dict]]
    load: Callable[[dict], Any]
    cell: Callable[..., dict | list[dict]]
    report: Sequence[Measure | Column]
    plots: Sequence[Callable[[Outcome], None]] = ()
    describe: Callable[[dict], str] | None = None
    protocol: str | Callable[[dict], str] | None = None
    notes: Sequence[str | Callable[[dict], str]] = ()
    after: Callable[[Outcome], None] | None = None
    split: Callable[[dict], tuple[dict | list[dict], Any]] | None = None
    intro: Callable[[dict], str] | None = None
    paper_numbers: dict | list | Callable[[dict], dict | list] | None = None
    summary_of: Callable[[Outcome], Any] | None = None
    label: Callable[[dict], str] | None = None
    names: dict = field(default_factory=dict)
    inner: str | None = None
    shown: Sequence[str] | None = None
    cost: Callable[[dict], float] | None = None

    @property
    def module(self) -> str:
        """The experiment's module (where its cell function lives): workers import it."""
        return self.cell.__module__

    @property
    def measures(self) -> list[Measure]:
        """The report's columns that aggregate runs."""
        return [m for m in self.report if isinstance(m, Measure)]

    def run(self, config: ExperimentConfig) -> dict:
        """Run the experiment as ``config`` says (the registry's ``run``)."""
        return run_declared(self, config)


def declare(declaration: Declaration) -> Declaration:
    """Register ``declaration`` under its name (for the CLI and for Dask workers)."""
    _DECLARATIONS[declaration.name] = declaration
    register(declaration.name, declaration.description, declaration.paper, declaration.options)(
        declaration.run
    )
    return declaration


# ------------------------------------------------------------------------------ units


def unit_key(cell: dict) -> str:
    """A unit's key: every axis as ``name=value``, sorted by name (``seed=3,variant=pn``);
    spaces become underscores and a prime ``p`` (``G'`` → ``Gp``: the key is a file name)."""
    return ",".join(f"{name}={cell[name]}".replace(" ", "_").replace("'", "p") for name in sorted(cell))


def cells_of(grid: dict[str, Any] | list[dict]) -> list[dict]:
    """The cross product of the axes, the first axis outermost; an axis given as a function
    takes, for each point of the axes before it, the values it returns for that point.
    A list of points is taken as it is."""
    if isinstance(grid, list):
        return [dict(point) for point in grid]
    cells: list[dict] = [{}]
    for name, values in grid.items():
        cells = [{**cell, name: value} for cell in cells for value in axis_values(values, cell)]
    return cells


def seeds_of(settings: dict) -> list[int]:
    """The seeds of the runs: seed, seed + 1, …, seed + runs − 1."""
    return [settings["seed"] + i for i in range(settings["runs"])]


def seed_grid(axis: str, setting: str) -> Callable[[dict], dict]:
    """The commonest grid: the seeds outermost, then ``axis`` over the values of the setting
    ``setting`` (for one seed every value starts alike), e.g. ``seed_grid("variant", "variants")``."""
    return lambda settings: {"seed": seeds_of(settings), axis: settings[setting]}


def axis_values(values, point: dict) -> list:
    """An axis' values at ``point`` (the outer axes): a list, or a function of the point."""
    return list(values(point)) if callable(values) else list(values)


def execute_cell(
    experiment: str, module: str, settings: dict, cell: dict, progress: bool = True
) -> dict | list[dict]:
    """One unit, wherever it runs: the experiment's data (loaded once per process) and its
    ``cell`` function for one point of the grid. Module-level, so Dask workers import it."""
    if experiment not in _DECLARATIONS:
        importlib.import_module(module)
    declaration = _DECLARATIONS[experiment]
    data = load_once(declaration, settings)
    return declaration.cell(dict(settings, progress=progress), data, **cell)


def load_once(declaration: Declaration, settings: dict):
    """The experiment's data for these settings, loaded once per process."""
    token = (declaration.name, json.dumps(settings, sort_keys=True))
    if token not in _DATA:
        _DATA.clear()  # one experiment's data at a time
        _DATA[token] = declaration.load(settings)
    return _DATA[token]


def effective_settings(declaration: Declaration, config: ExperimentConfig) -> dict:
    """The common settings (runs, epochs, seed, data…) and the experiment's own, effective
    values only; a setting still None here would be one the experiment never chose."""
    own = declaration.settings(config)
    common = config.unit_params()
    common.pop("extra")
    return {**common, **own}


# ----------------------------------------------------------------------------- report


def group(runs: list[dict], cells: list[dict], label: Callable[[dict], str] | None = None) -> dict:
    """The runs by every axis but the seed, in declared order: {label: (axes, runs)}."""
    groups: dict[str, tuple[dict, list[dict]]] = {}
    for cell, result in zip(cells, runs):
        point = {k: v for k, v in cell.items() if k != "seed"}
        if label is not None:
            name = label(point)
        else:
            name = unit_key(point) if len(point) != 1 else str(next(iter(point.values())))
        groups.setdefault(name, (point, []))[1].append(result)
    return groups


def summarize(measures: Sequence[Measure], runs: list[dict]) -> dict:
    """A cell's summary: each measure's ``key_mean`` (and ``key_std``), and ``runs``."""
    summary: dict[str, Any] = {}
    for measure in measures:
        values = measure.values(runs)
        if measure.reduce is not None:
            summary[measure.key + measure.suffix] = measure.reduce(values)
        else:
            summary[measure.key + measure.suffix] = mean_std(values)[0]
        if measure.std:
            summary[f"{measure.key}_std"] = mean_std(values)[1]
    summary["runs"] = len(runs)
    return summary


def summaries(measures: Sequence[Measure], groups: dict) -> tuple[dict, dict]:
    """Each cell's summary and its axes, by the cell's label."""
    summary = {label: summarize(measures, runs) for label, (_, runs) in groups.items()}
    return summary, {label: point for label, (point, _) in groups.items()}


def table(declaration: Declaration, groups: dict, summary: dict, settings: dict) -> str:
    """One row per cell: its axes, then each column of the report."""
    heads = {c.key: c.header(settings) if callable(c.header) else c.header for c in declaration.report}
    shown = [c for c in declaration.report if heads[c.key] is not None]
    rows, axes = [], []
    for label, (point, runs) in groups.items():
        axes = list(point) if declaration.shown is None else list(declaration.shown)
        row = {
            k: declaration.names.get(k, {}).get(v, f"{v:g}" if isinstance(v, float) else v)
            for k, v in point.items()
            if k in axes
        }
        row.update({c.key: c.cell(summary[label], runs, point, settings) for c in shown})
        rows.append(row)
    headers = [(c.key, f"{heads[c.key]}{' %' if getattr(c, 'percent', False) else ''}") for c in shown]
    return wrap_table(rows, axes + headers, keep=max(1, len(axes)))


def wrap_table(rows: list[dict], columns: list, width: int = TABLE_WIDTH, keep: int = 1) -> str:
    """`format_table`, split into blocks of columns to fit ``width``; each block repeats
    the first ``keep`` columns (a row's name: its axes)."""
    text = format_table(rows, columns)
    head, rest = columns[:keep], columns[keep:]
    if max(len(line) for line in text.splitlines()) <= width or len(rest) < 2:
        return text
    for count in range(len(rest) - 1, 0, -1):
        first = format_table(rows, [*head, *rest[:count]])
        if max(len(line) for line in first.splitlines()) <= width:
            return first + "\n\n" + wrap_table(rows, [*head, *rest[count:]], width, keep)
    return text


def given(value, settings: dict):
    """A declared value, or what a declared function of the settings gives for these settings."""
    return value(settings) if callable(value) else value


def plural(count: int, noun: str) -> str:
    """ "1 seed", "3 seeds": the noun in the plural only when the count is not 1."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def header(declaration: Declaration, settings: dict, groups: dict, data=None) -> str:
    """What is run (data; cells × seeds × epochs); a quick run also names the paper's protocol."""
    seeds = len(next(iter(groups.values()))[1]) if groups else 0
    text = f"{declaration.name}: {getattr(data, 'description', None) or settings.get('data', '')}\n"
    text += f"{plural(len(groups), 'cell')} × {plural(seeds, 'seed')}"
    if settings.get("epochs") is not None:
        text += f" × {plural(settings['epochs'], 'epoch')}"
    if settings.get("quick"):
        protocol = given(declaration.protocol, settings)
        text += f"\nquick run: shorter than the paper's protocol ({protocol or 'none given'})"
    return text


# -------------------------------------------------------------------------------- run


@dataclass
class Outcome:
    """What a finished sweep hands to the experiment's ``after`` step and plots."""

    runs: list[dict]
    summary: dict
    settings: dict
    data: Any
    out: Path
    extras: list = field(default_factory=list)
    points: dict = field(default_factory=dict)  # a cell's label → its axes


def run_declared(declaration: Declaration, config: ExperimentConfig) -> dict:
    """Build the units from the grid, run them, print the table, write results.json, plot."""
    started = time.perf_counter()
    new_run()  # notes (e.g. "matplotlib is not installed") are printed once per run
    settings = effective_settings(declaration, config)
    cells = cells_of(declaration.grid(settings))
    data = load_once(declaration, settings)
    print(header(declaration, settings, group([{}] * len(cells), cells), data))
    if declaration.intro is not None:
        print(declaration.intro(settings))
    inner = declaration.inner
    unit_cells = cells if inner is None else [c for c in cells if c[inner] == cells[0][inner]]
    unit_cells = [{k: v for k, v in c.items() if k != inner} for c in unit_cells]
    results = run_units(
        config, units_of(declaration, settings, unit_cells, config.progress), declaration.name
    )
    pairs = [declaration.split(r) for r in results] if declaration.split is not None else []
    runs, cells = flatten([p[0] for p in pairs] if pairs else results, unit_cells, inner)
    if declaration.describe is not None:
        for result in runs:
            print("  " + declaration.describe(result))
    print_divergence(runs, cells, data)
    groups = group(runs, cells, declaration.label)
    summary, points = summaries(declaration.measures, groups)
    outcome = Outcome(runs, summary, settings, data, config.out, [p[1] for p in pairs], points)
    if declaration.after is not None:
        declaration.after(outcome)
    print()
    print(table(declaration, groups, summary, settings))
    for note in declaration.notes:
        print(given(note, settings))
    for plot in declaration.plots:
        plot(outcome)
    _DATA.clear()  # the driver keeps no data set past its run
    return write_outcome(declaration, config, outcome, started)


def write_outcome(
    declaration: Declaration, config: ExperimentConfig, outcome: Outcome, started: float
) -> dict:
    """results.json: the runs, the summary (as the declaration shapes it), the paper's numbers."""
    summary = outcome.summary if declaration.summary_of is None else declaration.summary_of(outcome)
    paper = given(declaration.paper_numbers, outcome.settings)
    return write_results(config, declaration.name, outcome.runs, summary, started=started, paper=paper)


#: A classifier's training loss above this many times ln C (the loss of a uniform guess over
#: C classes) has blown up: the run diverged even where every number stayed finite.
DIVERGED_LOSS_FACTOR = 10.0


def diverged(run: dict, num_classes: int | None) -> str | None:
    """Why ``run`` diverged, or None: it says so (``run["diverged"]``, a non-finite loss
    stopped it), or its final training loss is non-finite or above
    `DIVERGED_LOSS_FACTOR` · ln C (classifiers only; read from ``run["history"]["train_loss"]``,
    else ``run["final_train_loss"]`` or the last of ``run["train_loss"]``)."""
    if run.get("diverged"):
        return "a non-finite loss stopped it"
    history = run.get("history")
    losses = history.get("train_loss") if isinstance(history, dict) else None
    if losses is None:
        losses = run.get("train_loss", [run.get("final_train_loss")])
    last = losses[-1] if isinstance(losses, list) and losses else losses
    if not isinstance(last, (int, float)) or isinstance(last, bool) or not num_classes or num_classes < 2:
        return None
    bound = DIVERGED_LOSS_FACTOR * math.log(num_classes)
    if not math.isfinite(last) or last > bound:
        return f"training loss {last:.4g} > {DIVERGED_LOSS_FACTOR:g} × ln {num_classes} = {bound:.3g}"
    return None


def print_divergence(runs: list[dict], cells: list[dict], data) -> None:
    """One notice naming the runs that diverged (`diverged`), if any."""
    num_classes = getattr(data, "num_classes", None)
    found = [(unit_key(cell), why) for run, cell in zip(runs, cells) if (why := diverged(run, num_classes))]
    if found:
        print(f"\nDIVERGED: {len(found)} of {plural(len(runs), 'run')} (lower the learning rate):")
        for key, why in found:
            print(f"  {key}: {why}")


def flatten(results: list, cells: list[dict], inner: str | None) -> tuple[list[dict], list[dict]]:
    """One run per cell: a unit's list of runs split by ``inner`` (its runs' key)."""
    if inner is None:
        return results, cells
    runs, points = [], []
    for cell, result in zip(cells, results):
        runs += result
        points += [{**cell, inner: run[inner]} for run in result]
    return runs, points


def units_of(declaration: Declaration, settings: dict, cells: list[dict], progress: bool) -> list:
    """One `Unit` per point of the grid, keyed by its axes."""
    from ..sweep import Unit

    params = {"experiment": declaration.name, "module": declaration.module, "settings": settings}
    cost = declaration.cost or (lambda cell: 0.0)
    options = {"progress": progress}
    return [
        Unit(unit_key(cell), execute_cell, {**params, "cell": cell}, options, float(cost(cell)))
        for cell in cells
    ]


# ---------------------------------------------------------------------------- options


def add_options(group, table: dict[str, dict]) -> None:
    """Add a table of options to an argparse group: each flag with its argparse keywords,
    e.g. ``{"--k": dict(type=positive_float, default=3.5, help="AD steepness k (default 3.5)"),
    "--models": subset_option(MODELS, "which models (default: all)")}``."""
    for flag, keywords in table.items():
        group.add_argument(flag, **keywords)


def subset_option(known, text: str, all_by_default: bool = True) -> dict:
    """``--flag a b …``: which of ``known`` to run (the default: all of them, or None where
    the experiment chooses by mode)."""
    return dict(nargs="+", choices=list(known), default=list(known) if all_by_default else None, help=text)


def ad_options() -> dict[str, dict]:
    """``--k`` and ``--switch-a``: the slope of the AD derivative sigmoid(k·z) and the
    switching rule's threshold A (Hu, Zhang & Ge 2021, eq. 8 and §III.A)."""
    from ..argtypes import positive_float

    return {
        "--k": dict(type=positive_float, default=3.5, help="AD steepness k in sigmoid(k·z) (default 3.5)"),
        "--switch-a": dict(type=positive_float, default=1.035, help="switching threshold A (default 1.035)"),
    }


def blas_threads_option(text: str = "BLAS threads for NumPy (default 1: the matrices are tiny)") -> dict:
    """``--blas-threads``: the BLAS threads of one training (default 1)."""
    from ..argtypes import positive_int

    return {"--blas-threads": dict(type=positive_int, default=1, help=text)}
