"""Sweeps: an experiment's independent units, run in-process or on a Dask cluster.

A reproduction is many independent trainings — a table cell (an ensemble of 100 seeds),
a seed, a threshold, a variant. Each experiment states them as a list of `Unit` objects:
a module-level function and the JSON parameters it needs, nothing else (seeded from its
parameters, no shared state), so a unit gives the same numbers wherever it runs::

    units = [Unit(f"seed{s}", train_one, {"variant": v, "seed": s}) for s in seeds for v in variants]
    results = run_units(units, out=config.out, workers=2)     # same order as `units`

Where they run:

- ``workers=None, scheduler=None`` — one after another in this process (no Dask needed);
- ``workers=N`` — a local Dask cluster of N worker processes on 127.0.0.1, each limited to
  ``threads`` BLAS threads (default 1: N processes × 1 thread keeps N cores busy);
- ``scheduler="tcp://host:8786"`` — an existing Dask cluster (``dask scheduler`` +
  ``dask worker``, or any deployment such as dask-jobqueue on SLURM).

Each finished unit is written at once, atomically, to ``out/units/KEY.json`` with a
fingerprint of its function and parameters. ``resume=True`` reuses every stored unit whose
fingerprint matches and runs only the rest; a Ctrl-C keeps what finished. A unit whose
worker dies mid-way is retried by Dask on another worker. The results come back in the
declared order, each passed through JSON (NaN/Inf → None), so the in-process run, any
number of workers and a resumed run return identical values.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "SweepError",
    "Unit",
    "blas_threads",
    "dask_available",
    "load_unit",
    "run_units",
    "to_jsonable",
]

#: How long to wait for an existing scheduler before giving up (a Dask duration).
CONNECT_TIMEOUT = "20s"

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=+,-]*$")


class SweepError(RuntimeError):
    """A sweep that cannot start (bad units, Dask missing, no scheduler) or a unit that failed."""


@dataclass(frozen=True)
class Unit:
    """One independent piece of an experiment: ``function(**params) -> dict``.

    key:      unique within the sweep and safe as a file name, e.g. ``"A-relu-n4"``
    function: a module-level function (workers import it by name)
    params:   JSON values only (numbers, strings, lists, dicts); they, with the function's
              name, are the unit's fingerprint for ``resume``
    options:  keyword arguments that do not change the result (e.g. ``progress``): passed
              to the function too, left out of the fingerprint
    cost:     the unit's relative run time, a number ≥ 0 (e.g. layers × steps): on Dask the
              costliest units start first (:func:`longest_first`), so no worker is left with
              a long unit at the end while the others idle; left out of the fingerprint
    """

    key: str
    function: Callable[..., Any]
    params: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    cost: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not _KEY.match(self.key):
            raise SweepError(f"Unit key must be letters, digits and _.=+,- (a file name), got {self.key!r}")
        if not callable(self.function):
            raise SweepError(
                f"Unit {self.key}: function must be callable, got {type(self.function).__name__}"
            )
        if isinstance(self.cost, bool) or not isinstance(self.cost, (int, float)) or not self.cost >= 0:
            raise SweepError(f"Unit {self.key}: cost must be a number >= 0, got {self.cost!r}")
        for name in ("params", "options"):
            try:
                json.dumps(getattr(self, name), sort_keys=True, allow_nan=False)
            except (TypeError, ValueError) as err:
                raise SweepError(f"Unit {self.key}: {name} must be plain JSON values ({err})") from None

    @property
    def function_name(self) -> str:
        """``"package.module:function"``, how a worker finds the function."""
        return f"{self.function.__module__}:{self.function.__qualname__}"

    def fingerprint(self) -> str:
        """SHA-256 of the function's name and the parameters (sorted JSON)."""
        text = json.dumps({"function": self.function_name, "params": self.params}, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def dask_available() -> bool:
    """True when ``dask.distributed`` can be imported (the ``dask`` extra)."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------- one unit


def to_jsonable(value: Any):
    """Plain JSON values from NumPy scalars/arrays, Paths, tuples, dataclasses; NaN/Inf → None."""
    if hasattr(value, "to_dict") and callable(value.to_dict):
        value = value.to_dict()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def blas_threads(count: int | None):
    """A context limiting the BLAS threads NumPy uses (via threadpoolctl when installed).

    Small networks multiply small matrices, where extra BLAS threads cost more than they
    give — and spin against other processes on a busy machine (digits-ad --quick: 8 s
    with one thread, 28 s with two on a loaded 2-core box). ``None`` leaves it alone.
    """
    if count is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=count, user_api="blas")


def _jsonable(value: Any) -> Any:
    """The value as it will read back from JSON (NumPy → Python, NaN/Inf → None)."""
    return json.loads(json.dumps(to_jsonable(value), allow_nan=False))


def execute(unit: Unit, threads: int | None, backend_name: str) -> Any:
    """Run one unit where it lands (this process or a worker): the backend selected, BLAS
    limited to ``threads``, the result made JSON-plain. Module-level so workers can import it."""
    from . import backend

    backend.use(backend_name)
    with blas_threads(threads):
        return _jsonable(unit.function(**unit.params, **unit.options))


def _unit_path(out: Path, key: str) -> Path:
    return out / "units" / f"{key}.json"


class StaleUnit(str):
    """Why a stored unit is not reused (e.g. written by another library version)."""


def checksum(result: Any) -> str:
    """SHA-256 of a unit's result as sorted JSON: a hand-edited number changes it."""
    return hashlib.sha256(json.dumps(result, sort_keys=True, allow_nan=False).encode("utf-8")).hexdigest()


def load_unit(out: str | Path, unit: Unit) -> Any:
    """The stored result of ``unit`` under ``out``; None when absent or for other settings;
    a `StaleUnit` reason when written by another library version (run it again).

    Stale: another function or other parameters (a different fingerprint), or another
    ``version`` of nanograd_ad (or none recorded). A file that does not parse, or whose
    result does not match its ``checksum`` (edited by hand), raises `SweepError` naming it
    rather than silently re-running or reusing it."""
    from .checkpoint import library_version

    path = _unit_path(Path(out), unit.key)
    if not path.exists():
        return None
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        fingerprint, result = stored["fingerprint"], stored["result"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise SweepError(
            f"stored unit {path} is unreadable ({err}); delete it to run the unit again"
        ) from None
    if fingerprint != unit.fingerprint():
        return None
    version = stored.get("version")
    if version != library_version():
        return StaleUnit(f"written by nanograd_ad {version or '(no version)'}, this is {library_version()}")
    if stored.get("checksum") != checksum(result):
        raise SweepError(
            f"stored unit {path}: its result does not match its checksum (edited by hand?); "
            "delete it to run the unit again"
        )
    return result


def _save_unit(out: Path, unit: Unit, result: Any) -> None:
    from .checkpoint import atomic_write, library_version

    record = {
        "key": unit.key,
        "function": unit.function_name,
        "fingerprint": unit.fingerprint(),
        "version": library_version(),
        "checksum": checksum(result),
        "params": unit.params,
        "result": result,
    }
    atomic_write(_unit_path(out, unit.key), json.dumps(record, indent=1, allow_nan=False) + "\n")


def _reuse(units: list[Unit], folder: Path) -> dict[str, Any]:
    """The stored results ``--resume`` can reuse, by key; prints which units are re-run
    because another library version wrote them."""
    results, stale = {}, {}
    for unit in units:
        stored = load_unit(folder, unit)
        if isinstance(stored, StaleUnit):
            stale[unit.key] = stored
        elif stored is not None:
            results[unit.key] = stored
    for reason in sorted(set(stale.values())):
        keys = [k for k, r in stale.items() if r == reason]
        print(
            f"resume: re-running {len(keys)} unit(s) {reason}: {', '.join(keys[:3])}"
            + (" …" if len(keys) > 3 else "")
        )
    return results


# -------------------------------------------------------------------------- the sweep


def run_units(
    units: Sequence[Unit],
    *,
    out: str | Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    threads: int | None = 1,
    backend_name: str | None = None,
    progress: bool = True,
    description: str = "units",
) -> list[Any]:
    """Run every unit once and return their results in the order of ``units``.

    out:       folder for ``units/KEY.json`` (one per finished unit); None keeps nothing
    workers:   N → a local Dask cluster of N processes; scheduler: an existing cluster's
               address. Neither → in this process. Not both.
    resume:    reuse stored units with the same fingerprint (needs ``out``)
    threads:   BLAS threads per unit (None: leave the limit alone)
    """
    units = list(units)
    if not all(isinstance(u, Unit) for u in units):
        raise SweepError("run_units: units must be Unit objects")
    keys = [u.key for u in units]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise SweepError(f"run_units: unit keys must be unique, repeated: {duplicates}")
    if workers is not None and scheduler is not None:
        raise SweepError("run_units: give workers (a local cluster) or scheduler (an existing one), not both")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise SweepError(f"run_units: workers must be an integer >= 1, got {workers!r}")
    if resume and out is None:
        raise SweepError("run_units: resume needs out, the folder the finished units are in")
    if (workers is not None or scheduler is not None) and not dask_available():
        raise SweepError("running on Dask needs dask.distributed: pip install 'nanograd_ad[dask]'")
    from . import backend

    backend_name = backend_name or backend.name()
    folder = Path(out) if out is not None else None
    results: dict[str, Any] = _reuse(units, folder) if resume and folder is not None else {}
    pending = [u for u in units if u.key not in results]

    def finished(unit: Unit, result: Any) -> None:
        results[unit.key] = result
        if folder is not None:
            _save_unit(folder, unit, result)

    with _bar(len(units), len(units) - len(pending), progress, description) as bar:
        if workers is None and scheduler is None:
            for unit in pending:
                finished(unit, execute(unit, threads, backend_name))
                bar(unit.key)
        else:
            _run_on_dask(pending, finished, bar, workers, scheduler, threads, backend_name)
    if resume:
        print(f"resume: {len(units) - len(pending)} unit(s) reused, {len(pending)} ran")
    return [results[k] for k in keys]


def longest_first(units: Sequence[Unit]) -> list[Unit]:
    """The units in the order they are handed to Dask: costliest first (``Unit.cost``),
    equal costs in the given order — the longest-processing-time rule, which keeps every
    worker busy until close to the end."""
    return sorted(units, key=lambda unit: -unit.cost)


def _run_on_dask(pending, finished, bar, workers, scheduler, threads, backend_name) -> None:
    """Submit the pending units to a Dask cluster; record each as it completes."""
    from distributed import Client, LocalCluster, as_completed

    with contextlib.ExitStack() as stack:
        if scheduler is not None:
            try:
                client = stack.enter_context(Client(scheduler, timeout=CONNECT_TIMEOUT))
            except OSError as err:
                raise SweepError(f"cannot reach the Dask scheduler at {scheduler!r}: {err}") from None
        else:
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                )
            )
            client = stack.enter_context(Client(cluster))
        by_future = {}
        ordered = longest_first(pending)
        for rank, unit in enumerate(ordered):
            future = client.submit(
                execute,
                unit,
                threads,
                backend_name,
                key=f"unit-{unit.key}",
                pure=False,
                priority=len(ordered) - rank,  # Dask starts higher priorities first
            )
            by_future[future] = unit
        try:
            for future in as_completed(by_future):
                unit = by_future[future]
                try:
                    result = future.result()
                except Exception as err:
                    raise SweepError(f"unit {unit.key} failed: {type(err).__name__}: {err}") from err
                finished(unit, result)
                bar(unit.key)
        finally:
            client.cancel(list(by_future))


@contextlib.contextmanager
def _bar(total: int, done: int, progress: bool, description: str) -> Iterator[Callable[[str], None]]:
    """One overall bar (units done / total, elapsed, remaining) on a terminal; else silent."""
    show = progress and total > 1 and sys.stderr.isatty()
    if show:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            show = False
    if not show:
        yield lambda key: None
        return
    with tqdm(total=total, initial=done, desc=description, unit="unit", position=0, leave=True) as bar:

        def advance(key: str) -> None:
            bar.set_postfix_str(key, refresh=False)
            bar.update(1)

        yield advance
