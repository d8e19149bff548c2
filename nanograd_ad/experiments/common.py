"""Helpers every experiment uses: its config, results.json, the printed table, plots, seeds.

results.json — one file per experiment run, written atomically to ``config.out``:

    experiment    the registered name, e.g. "digits-ad"
    config        the `ExperimentConfig` as plain JSON (out as a string, extra inlined
                  under "extra"), with the settings actually used: a setting left to the
                  experiment's default (``choose``/``setting``) is recorded with the value
                  the experiment chose, not as null
    runs          a list with one dict per independent run (variant, seed, its numbers,
                  usually its per-epoch history)
    summary       the aggregated numbers the table shows (per variant / cell: mean, std…)
    wall_time_s   seconds from the start of the experiment to writing the file
    version       the nanograd_ad version that produced it
    paper         the paper's reported numbers where it has them (a dict), else null

Non-finite floats (NaN, ±Inf) are written as null so the file is strict JSON.

An experiment is a declaration run by `nanograd_ad.experiments.runner` (see CONTRIBUTING,
"Adding a paper's experiment"), which uses these helpers to write results.json and the
table; a module may still register a plain ``run(config) -> dict`` that calls them itself.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..argtypes import MAX_RUNS
from ..checkpoint import atomic_write, library_version
from ..sweep import blas_threads, to_jsonable

__all__ = [
    "EXECUTION_FIELDS",
    "RESULTS_KEYS",
    "ExperimentConfig",
    "base_settings",
    "blas_threads",
    "classifier_trainer",
    "finite_values",
    "format_mean_std",
    "format_table",
    "format_value",
    "mean_std",
    "new_run",
    "note_once",
    "plot_distinct",
    "pyplot",
    "run_units",
    "save_figure",
    "seeded",
    "to_jsonable",
    "write_results",
]

RESULTS_KEYS = ("experiment", "config", "runs", "summary", "wall_time_s", "version", "paper")


@dataclass
class ExperimentConfig:
    """Settings shared by every experiment (the CLI's common options).

    runs / epochs / data are None when not given: the experiment then uses its own
    defaults, which differ between ``quick`` (about a minute on a laptop) and full runs
    (`choose`, `setting`). ``extra`` holds the experiment's own options (its
    ``add_arguments``). What `choose` and `setting` return is remembered, so
    `to_dict` (and results.json) records the settings actually used.
    """

    quick: bool = False
    runs: int | None = None
    epochs: int | None = None
    seed: int = 0
    data: str | None = None
    data_dir: Path | None = None
    out: Path = Path("results")
    backend: str = "numpy"
    extra: dict = field(default_factory=dict)
    progress: bool = True
    workers: int | None = None
    scheduler: str | None = None
    resume: bool = False
    worker_threads: int = 1

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if self.data_dir is not None:
            self.data_dir = Path(self.data_dir)
        if self.runs is not None and not 1 <= self.runs <= MAX_RUNS:
            raise ValueError(f"runs must be in 1 … {MAX_RUNS}, got {self.runs}")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        self._used: dict[str, Any] = {}
        self._reported: dict[str, Any] = {}

    def choose(self, name: str, quick, full):
        """The value of setting ``name`` if it was given (a field or an ``extra`` entry),
        else ``quick`` or ``full`` by mode: ``config.choose("runs", 2, 5)``."""
        return self.setting(name, quick if self.quick else full)

    def setting(self, name: str, default):
        """The value of setting ``name`` if it was given, else ``default`` (in both modes);
        remembered for `to_dict`: ``config.setting("data", "digits")``."""
        value = getattr(self, name, None) if name in self.__dataclass_fields__ else self.extra.get(name)
        if value is None:
            value = default
        self._used[name] = value
        return value

    def report(self, name: str, value) -> None:
        """Record the effective value of a setting left to a rule the experiment applies
        itself (e.g. "once per phase"), for results.json only: units do not see it."""
        self._reported[name] = value

    def to_dict(self, reported: bool = True) -> dict:
        """Plain JSON-ready dict of the settings, the defaults chosen so far filled in
        (and, with ``reported``, the values given to `report`)."""
        settings = asdict(self)
        settings["extra"] = dict(settings["extra"])
        used = {**self._reported, **self._used} if reported else self._used
        for name, value in used.items():
            target = settings if name in self.__dataclass_fields__ else settings["extra"]
            if target.get(name) is None:
                target[name] = value
        return to_jsonable(settings)

    def unit_params(self) -> dict:
        """The settings a unit's numbers depend on, as JSON: everything but `EXECUTION_FIELDS`
        (where the sweep runs and writes does not change what it computes)."""
        settings = self.to_dict(reported=False)
        for name in EXECUTION_FIELDS:
            settings.pop(name)
        return settings

    @classmethod
    def from_unit_params(cls, params: dict, **execution) -> ExperimentConfig:
        """Inverse of `unit_params` (execution fields from ``execution`` or their defaults)."""
        return cls(**params, **execution)


#: The fields of `ExperimentConfig` that say where and how a sweep runs, not what it computes.
EXECUTION_FIELDS = ("out", "progress", "workers", "scheduler", "resume", "worker_threads")


def run_units(config: ExperimentConfig, units: list, description: str = "units") -> list:
    """Run an experiment's units as its config says (in-process, ``--workers N`` or
    ``--scheduler ADDRESS``; ``--resume``); results in the order of ``units``.

    Units write to ``config.out/units/``. In-process the BLAS thread limit is left as the
    experiment set it; on Dask each unit runs with ``config.worker_threads`` BLAS threads."""
    from ..sweep import run_units as run_sweep

    distributed = config.workers is not None or config.scheduler is not None
    return run_sweep(
        units,
        out=config.out,
        workers=config.workers,
        scheduler=config.scheduler,
        resume=config.resume,
        threads=config.worker_threads if distributed else None,
        backend_name=config.backend,
        progress=config.progress,
        description=description,
    )


def write_results(
    config: ExperimentConfig,
    experiment: str,
    runs: list,
    summary: dict,
    *,
    started: float | None = None,
    wall_time_s: float | None = None,
    paper: dict | list | None = None,
    filename: str = "results.json",
) -> dict:
    """Write ``config.out / filename`` atomically and return the dict written.

    Give either ``started`` (a ``time.perf_counter()`` value) or ``wall_time_s``.
    """
    if wall_time_s is None:
        wall_time_s = time.perf_counter() - started if started is not None else None
    results = {
        "experiment": experiment,
        "config": config.to_dict(),
        "runs": to_jsonable(runs),
        "summary": to_jsonable(summary),
        "wall_time_s": wall_time_s,
        "version": library_version(),
        "paper": to_jsonable(paper),
    }
    config.out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2, allow_nan=False) + "\n"
    atomic_write(config.out / filename, text)
    return results


# ------------------------------------------------------------------------------- tables


def finite_values(values: Iterable[float]) -> list[float]:
    """The values that are numbers and finite (None, NaN and ±Inf left out), as floats."""
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """(mean, population std) of the finite values; (nan, nan) if there are none."""
    finite = finite_values(values)
    if not finite:
        return float("nan"), float("nan")
    return float(np.mean(finite)), float(np.std(finite))


def format_mean_std(values: Iterable[float], scale: float = 1.0, digits: int = 4) -> str:
    """ "m ± s" of ``values × scale`` ("—" when there are none); e.g. scale=100 for %.

    One finite value has no spread: it is printed alone ("m", never "m ± 0")."""
    finite = finite_values(values)
    mean, std = mean_std(finite)
    if not finite:
        return "—"
    if len(finite) == 1:
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def format_value(value, digits: int = 4) -> str:
    """A table cell: floats with ``digits`` decimals, None/NaN as "—", others via str."""
    if value is None:
        return "—"
    if isinstance(value, (float, np.floating)):
        return "—" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def format_table(rows: Sequence[dict], columns: Sequence) -> str:
    """A plain-text table; the paper's numbers go in their own column beside ours.

    rows: dicts; columns: keys, or (key, header) pairs, or (key, header, digits).
    Missing values and None print as "—".

        format_table([{"variant": "ad", "acc": 0.97, "paper": None}],
                     ["variant", ("acc", "ours"), ("paper", "paper")])
    """
    specs = []
    for column in columns:
        if isinstance(column, str):
            specs.append((column, column, 4))
        else:
            key, header, *rest = column
            specs.append((key, header, rest[0] if rest else 4))
    cells = [[format_value(row.get(key), digits) for key, _, digits in specs] for row in rows]
    headers = [header for _, header, _ in specs]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values):
        return "  ".join(
            v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule] + [line(r) for r in cells])


# -------------------------------------------------------------------------------- plots


#: Notes already printed in this run (`note_once`); the runner empties it when a run starts.
_NOTED: set[str] = set()


def note_once(text: str) -> None:
    """Print ``note: text`` unless this run has printed it already (`new_run` starts a run)."""
    if text not in _NOTED:
        _NOTED.add(text)
        print(f"note: {text}")


def new_run() -> None:
    """Start a run: the notes `note_once` printed before may be printed again."""
    _NOTED.clear()


def pyplot():
    """matplotlib.pyplot with the non-interactive Agg backend, or None (with a note,
    printed once per run) when matplotlib is not installed. Imported only when an
    experiment plots."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        note_once("matplotlib is not installed; plots are skipped (pip install 'nanograd_ad[plots]')")
        return None
    return plt


def plot_distinct(ax, x, curves: dict, xname: str = "epoch", **style) -> None:
    """Plot ``curves`` ({label: y}) so that every legend entry stays visible: a curve equal
    to an earlier one (to 1e-12) is drawn dashed with markers on top of it, and its label
    says which one it coincides with, and up to which ``xname`` when only a prefix is equal."""
    x = np.asarray(x)
    drawn: dict = {}
    for label, y in curves.items():
        y = np.asarray(y, dtype=float)
        twin, same = None, 0
        for other, z in drawn.items():
            equal = np.isclose(y, z, rtol=0, atol=1e-12)
            prefix = len(equal) if equal.all() else int(np.argmin(equal))
            if prefix > same:
                twin, same = other, prefix
        if twin is None:
            ax.plot(x, y, label=label, **style)
        else:
            where = "" if same == len(y) else f" up to {xname} {x[same - 1]:g}"
            ax.plot(x, y, "--", marker="o", markersize=3, label=f"{label} (= {twin}{where})", **style)
        drawn[label] = y


def save_figure(fig, path) -> Path | None:
    """Save a figure as PNG (creating the directory) and close it; None if fig is None."""
    if fig is None:
        return None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


# ------------------------------------------------------------------------ training


def classifier_trainer(net, optimizer, data, **options):
    """A `Trainer` of ``net`` with softmax cross-entropy on ``data``'s train split, evaluated
    on its test split after each epoch; ``options``: batch_size, rng, callbacks, …"""
    from ..losses import SoftmaxCrossEntropy
    from ..train import Trainer

    return Trainer(
        net,
        SoftmaxCrossEntropy(),
        optimizer,
        (data.x_train, data.y_train),
        (data.x_test, data.y_test),
        **options,
    )


def base_settings(config: ExperimentConfig, runs: tuple, epochs: tuple, data: str | None = None) -> dict:
    """The common settings every experiment chooses: ``runs`` and ``epochs`` as (quick, full),
    and the data set (``data``: its default; None for a task that makes its own)."""
    chosen = {"runs": config.choose("runs", *runs), "epochs": config.choose("epochs", *epochs)}
    return chosen if data is None else {**chosen, "data": config.setting("data", data)}


# -------------------------------------------------------------------------------- seeds


def seeded(seed: int) -> np.random.Generator:
    """Seed the library's initializers (``init.seed``) and return a Generator for the
    rest of the run (batch order, noise), so one seed fixes the whole run."""
    from .. import init

    init.seed(seed)
    return np.random.default_rng(seed)
