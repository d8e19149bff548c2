"""One runner for experiments declared as data (benchopt's shape: a ``parameters`` grid the
runner takes the cross product of, and one function that returns a dict per run).

An experiment declares (`Declaration`):

    settings(config) -> dict       every effective setting, from the options (quick/full)
    grid(settings) -> dict         the axes, outermost first, e.g. {"seed": [0, 1], "variant": [...]}
    load(settings) -> data         the data, loaded once per process
    cell(settings, data, **cell)   trains one point of the grid, returns a dict (one run)
    measures                       what a cell's summary aggregates and its table shows
    plots                          functions (runs, settings, out) drawing the figures

and the runner does the rest: it builds one `Unit` per point of the grid, keyed by every
axis (``seed=3,variant=pn``), runs them as the config says (in-process, ``--workers N``,
``--scheduler ADDRESS``, ``--resume``), groups the runs into cells by every axis but the
seed, prints one table (accuracy in percent, "n seeds" only when n > 1), writes
results.json with the effective value of every setting, and draws the plots.
"""

from __future__ import annotations

import importlib
import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import register
from .common import ExperimentConfig, format_mean_std, format_table, mean_std, run_units, write_results

__all__ = ["Declaration", "Measure", "declare", "execute_cell", "unit_key"]

#: Widest line a table may print (wider tables are wrapped into blocks).
TABLE_WIDTH = 100

_DECLARATIONS: dict[str, Declaration] = {}
_DATA: dict[tuple[str, str], Any] = {}


@dataclass(frozen=True)
class Measure:
    """One number of a run that a cell aggregates over its seeds.

    key:     the run's key (and the prefix of the summary's ``key_mean`` / ``key_std``)
    header:  the table's column header; None leaves it out of the table
    of:      how to read it from a run (default ``run[key]``)
    std:     also store ``key_std`` and print "mean ± std"
    percent: a fraction printed as a percentage (the JSON keeps the fraction)
    """

    key: str
    header: str | None = None
    of: Callable[[dict], Any] | None = None
    std: bool = True
    percent: bool = False
    digits: int = 4

    def values(self, runs: Sequence[dict]) -> list:
        """The measure of each run."""
        return [self.of(r) if self.of is not None else r[self.key] for r in runs]


@dataclass(frozen=True)
class Declaration:
    """An experiment as data; see the module docstring. ``protocol`` is the paper's
    (e.g. "100 runs × 300 epochs"), printed beside a quick run's; ``describe(run)`` the
    line printed per run; ``notes`` lines printed under the table; ``after(runs, summary,
    settings)`` timings that must not run inside units."""

    name: str
    description: str
    paper: str | None
    options: Callable[[Any], None] | None
    settings: Callable[[ExperimentConfig], dict]
    grid: Callable[[dict], dict[str, list]]
    load: Callable[[dict], Any]
    cell: Callable[..., dict]
    measures: Sequence[Measure]
    plots: Sequence[Callable[[list, dict, Path], None]] = ()
    describe: Callable[[dict], str] | None = None
    protocol: str | None = None
    notes: Sequence[str] = ()
    after: Callable[[list, dict, dict], None] | None = None
    paper_numbers: dict | None = None

    @property
    def module(self) -> str:
        """The experiment's module (where its cell function lives): workers import it."""
        return self.cell.__module__

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
    """A unit's key: every axis as ``name=value``, sorted by name (``seed=3,variant=pn``)."""
    return ",".join(f"{name}={cell[name]}" for name in sorted(cell))


def cells_of(grid: dict[str, list]) -> list[dict]:
    """The cross product of the axes, the first axis outermost."""
    names = list(grid)
    return [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))]


def execute_cell(experiment: str, module: str, settings: dict, cell: dict, progress: bool = True) -> dict:
    """One unit, wherever it runs: the experiment's data (loaded once per process) and its
    ``cell`` function for one point of the grid. Module-level, so Dask workers import it."""
    if experiment not in _DECLARATIONS:
        importlib.import_module(module)
    declaration = _DECLARATIONS[experiment]
    token = (experiment, json.dumps(settings, sort_keys=True))
    if token not in _DATA:
        _DATA.clear()  # one experiment's data at a time
        _DATA[token] = declaration.load(settings)
    return declaration.cell(dict(settings, progress=progress), _DATA[token], **cell)


def effective_settings(declaration: Declaration, config: ExperimentConfig) -> dict:
    """The common settings (runs, epochs, seed, data…) and the experiment's own, effective
    values only; a setting still None here would be one the experiment never chose."""
    own = declaration.settings(config)
    common = config.unit_params()
    common.pop("extra")
    return {**common, **own}


# ----------------------------------------------------------------------------- report


def group(runs: list[dict], cells: list[dict]) -> dict[str, tuple[dict, list[dict]]]:
    """The runs by every axis but the seed, in declared order: {label: (cell, runs)}."""
    groups: dict[str, tuple[dict, list[dict]]] = {}
    for cell, result in zip(cells, runs):
        point = {k: v for k, v in cell.items() if k != "seed"}
        label = unit_key(point) if len(point) != 1 else str(next(iter(point.values())))
        groups.setdefault(label, (point, []))[1].append(result)
    return groups


def summarize(measures: Sequence[Measure], runs: list[dict]) -> dict:
    """A cell's summary: ``key_mean`` (and ``key_std``) of each measure, and ``runs``."""
    summary: dict[str, Any] = {}
    for measure in measures:
        mean, std = mean_std(measure.values(runs))
        summary[f"{measure.key}_mean"] = mean
        if measure.std:
            summary[f"{measure.key}_std"] = std
    summary["runs"] = len(runs)
    return summary


def table(declaration: Declaration, groups: dict) -> str:
    """One row per cell: its axes, then each shown measure (mean ± std over seeds)."""
    shown = [m for m in declaration.measures if m.header is not None]
    rows, columns = [], None
    for point, runs in groups.values():
        row = dict(point)
        for m in shown:
            row[m.key] = format_mean_std(
                m.values(runs), scale=100 if m.percent else 1, digits=2 if m.percent else m.digits
            )
        rows.append(row)
        columns = list(point) + [(m.key, f"{m.header}{' %' if m.percent else ''}") for m in shown]
    return wrap_table(rows, columns or [])


def wrap_table(rows: list[dict], columns: list, width: int = TABLE_WIDTH) -> str:
    """`format_table`, split into blocks of columns (the first repeated) to fit ``width``."""
    text = format_table(rows, columns)
    if max(len(line) for line in text.splitlines()) <= width or len(columns) < 3:
        return text
    head, rest = columns[0], columns[1:]
    for count in range(len(rest) - 1, 0, -1):
        first = format_table(rows, [head, *rest[:count]])
        if max(len(line) for line in first.splitlines()) <= width:
            return first + "\n\n" + wrap_table(rows, [head, *rest[count:]], width)
    return text


def header(declaration: Declaration, settings: dict, groups: dict) -> str:
    """What is run (cells × seeds × epochs); a quick run also names the paper's protocol."""
    seeds = len(next(iter(groups.values()))[1]) if groups else 0
    text = f"{declaration.name}: {len(groups)} cells × {seeds} seed{'s' if seeds != 1 else ''}"
    if settings.get("epochs") is not None:
        text += f" × {settings['epochs']} epochs"
    if settings.get("quick"):
        text += f"\nquick run: shorter than the paper's protocol ({declaration.protocol or 'none given'})"
    return text


# -------------------------------------------------------------------------------- run


def run_declared(declaration: Declaration, config: ExperimentConfig) -> dict:
    """Build the units from the grid, run them, print the table, write results.json, plot."""
    from ..sweep import Unit

    started = time.perf_counter()
    settings = effective_settings(declaration, config)
    cells = cells_of(declaration.grid(settings))
    params = {"experiment": declaration.name, "module": declaration.module, "settings": settings}
    units = [
        Unit(unit_key(cell), execute_cell, {**params, "cell": cell}, {"progress": config.progress})
        for cell in cells
    ]
    groups = group([{}] * len(cells), cells)
    print(header(declaration, settings, groups))
    runs = run_units(config, units, declaration.name)
    if declaration.describe is not None:
        for result in runs:
            print("  " + declaration.describe(result))
    groups = group(runs, cells)
    summary = {label: summarize(declaration.measures, mine) for label, (_, mine) in groups.items()}
    if declaration.after is not None:
        declaration.after(runs, summary, settings)
    print()
    print(table(declaration, groups))
    for note in declaration.notes:
        print(note)
    for plot in declaration.plots:
        plot(runs, settings, config.out)
    return write_results(
        config, declaration.name, runs, summary, started=started, paper=declaration.paper_numbers
    )
