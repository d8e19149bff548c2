"""Per-step profile of one AD-table cell: wall time, NumPy calls and Python calls per training step.

Builds the cell exactly as ``reproduce ad-relu`` / ``ad-sigmoid`` trains it
(`ad_tables.cell_trainer`, the Trainer `ad_tables.train_cell` fits: ``--models`` seeds as one
ensemble, one flat parameter, Adam or SGD, MSE, the switching rule for AD ReLU; float32,
the shared data draw of data seed 0) and trains it three ways, each from a fresh trainer:

1. **wall time** (plain arrays, ``--repeats`` times): µs per step = the epoch's wall time
   (the batch gathering and the test evaluation included) / steps per epoch; beside it, per
   epoch, the gathering (the E shuffles and the two ``take`` of the epoch's rows), the
   evaluation of the test set, and the rest (history, callbacks, the next epoch's start).
   Median over each repeat's epochs, then the median (and range) over the repeats.
2. **array operations**: the same training with its arrays — the training and test data,
   the epoch's gathered rows, every parameter's data and grad (views of the flat parameter,
   which is wrapped too) and the optimizer's state — viewed as `CountingArray`, an ndarray
   subclass whose ``__array_ufunc__`` / ``__array_function__`` (and a few methods: indexing,
   ``astype``, ``reshape``, ``swapaxes``, ``copy``) unwrap their inputs, time just the NumPy call
   (``time.perf_counter_ns``) and wrap the result back. Every ufunc (``matmul``, ``add``,
   ``add.reduce`` …) and dispatched function (``take``, ``repeat``, ``where`` …) that touches
   an array derived from those is counted by name, per step (inside the step) and per epoch
   (gathering, evaluation, the rest); so are the library's calls of the few functions NumPy
   does not dispatch (``asarray``, ``ascontiguousarray``, ``full``, ``zeros``: `UNDISPATCHED`).
   Not seen: ``ones`` (the cached rows of ones, made once per shape) and the host's shuffles
   of the batch order (``Generator.shuffle``, in the gathering's wall time).
   The counted run's lowest test losses are checked equal to the plain run's.
3. **Python calls**: the plain training under cProfile: primitive calls per step (every
   call of the epoch, gathering and evaluation included, / steps) and the top 15 functions
   by own time per step (µs, inflated by the profiler's own cost).

    python benchmarks/profile_step.py [--experiment ad-relu|ad-sigmoid] [--set A|B]
        [--depth 8] [--variant ReLU] [--models 100] [--epochs 3] [--repeats 3]
        [--switching on|off] [--threads 1] [--by-shape]

``--by-shape`` names each counted call with its arrays' shapes (``matmul (100,50,2) (100,2,2)``),
telling apart, say, the forward product from the gradient's.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import operator
import os
import platform
import pstats
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import nanograd_ad.train as train_module
from nanograd_ad import backend
from nanograd_ad.experiments.ad_tables import TASKS, cell_trainer, load_data, with_dtype

#: the phases of an epoch the clock and the counter tell apart, in order
PHASES = ("gather", "step", "evaluate", "rest")


# ------------------------------------------------------------------ the clock of the phases


@dataclass
class PhaseClock:
    """Wall time per phase of every epoch: ``enter(phase)`` closes the phase running until now.

    An epoch opens with "gather" (the first batch's request runs the shuffles and the
    ``take``); each batch handed out enters "step"; the batches' end enters "rest", the
    evaluation "evaluate" (and "rest" after it). The rest is the epoch's end (the history,
    the callbacks) and the next epoch's start before its gathering (the zeros its loss is
    summed into); what comes before the first gathering is "outside" the epochs."""

    phase: str | None = None
    epochs: list[dict[str, int]] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    _since: int = 0

    def enter(self, phase: str) -> None:
        now = time.perf_counter_ns()
        if self.phase is not None:
            self.epochs[-1][self.phase] += now - self._since
        if phase == "gather":
            self.epochs.append(dict.fromkeys(PHASES, 0))
            self.steps.append(0)
        elif phase == "step":
            self.steps[-1] += 1
        self.phase, self._since = phase, now

    def stop(self) -> None:
        """Close the running phase (the end of the training)."""
        if self.phase is not None:
            self.enter("rest")
        self.phase = None


@contextlib.contextmanager
def phases_of(trainer, clock: PhaseClock) -> Iterator[None]:
    """Time ``trainer``'s phases on ``clock`` while inside: its batch generator and the
    evaluation (`train.evaluate`, looked up by the loop in the `train` module) are wrapped;
    the training does the same work in the same order."""
    batches, evaluate = trainer._batches, train_module.evaluate

    def timed_batches():
        clock.enter("gather")  # the first request gathers the epoch's rows
        for item in batches():
            clock.enter("step")
            yield item
        clock.enter("rest")

    def timed_evaluate(*args, **kwargs):
        clock.enter("evaluate")
        try:
            return evaluate(*args, **kwargs)
        finally:
            clock.enter("rest")

    trainer._batches, train_module.evaluate = timed_batches, timed_evaluate
    try:
        yield
    finally:
        clock.stop()
        del trainer._batches  # the class's method again
        train_module.evaluate = evaluate


# ------------------------------------------------------------------ the counting arrays


@dataclass
class OpCounter:
    """Durations (ns) of every counted NumPy call, by (phase, name)."""

    clock: PhaseClock
    by_shape: bool = False  # name each call with its arrays' shapes: "matmul (100,50,2) (100,2,2)"
    calls: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(list))

    def record(self, name: str, nanoseconds: int) -> None:
        self.calls[(self.clock.phase or "outside", name)].append(nanoseconds)


#: the counter recording now (None: CountingArray behaves as a plain ndarray, uncounted)
ACTIVE: OpCounter | None = None


def _plain(value: Any) -> Any:
    """``value`` with every CountingArray in it (in tuples and lists too) viewed as ndarray."""
    if isinstance(value, CountingArray):
        return value.view(np.ndarray)
    if isinstance(value, (tuple, list)):
        return type(value)(_plain(v) for v in value)
    return value


def _counting(value: Any) -> Any:
    """``value`` with every plain ndarray in it (in tuples and lists too) viewed as CountingArray."""
    if type(value) is np.ndarray:
        return value.view(CountingArray)
    if isinstance(value, (tuple, list)):
        return type(value)(_counting(v) for v in value)
    return value


def shape_of(array: np.ndarray) -> str:
    """(100,50,2): an array's shape without spaces."""
    return "(" + ",".join(str(size) for size in array.shape) + ")"


def _timed(name: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``call(*args, **kwargs)``, the call alone timed and recorded under ``name`` when a
    counter is active (the arguments are unwrapped before the clock starts)."""
    if ACTIVE is None:
        return call(*args, **kwargs)
    if ACTIVE.by_shape:
        owner = getattr(call, "__self__", None)  # the array of a method (astype, [] …)
        arrays = [owner, *args] if isinstance(owner, np.ndarray) else args
        name = " ".join([name, *(shape_of(a) for a in arrays if isinstance(a, np.ndarray))])
    started = time.perf_counter_ns()
    result = call(*args, **kwargs)
    ACTIVE.record(name, time.perf_counter_ns() - started)
    return result


class CountingArray(np.ndarray):
    """An ndarray whose NumPy calls are timed and counted by name (`ACTIVE`).

    Each call runs on plain ndarrays (inputs and ``out=`` unwrapped); its array results
    come back as CountingArray (an ``out=`` array too, as a view of it: ``d = multiply(δ, d,
    out=d)`` keeps counting whatever d was), so everything computed from a counted array is
    counted too. The numbers are NumPy's own.
    """

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        outs = kwargs.get("out")
        if outs is not None:
            kwargs["out"] = _plain(outs)
        name = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
        result = _timed(name, getattr(ufunc, method), *_plain(inputs), **kwargs)
        return _counting(result)  # an out= array, given plain or not, comes back counted

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        plain_kwargs = {key: _plain(value) for key, value in kwargs.items()}
        return _counting(_timed(func.__name__, func, *_plain(args), **plain_kwargs))

    def __getitem__(self, index: Any) -> Any:
        return _timed("[] (getitem)", super().__getitem__, _plain(index))

    def __setitem__(self, index: Any, value: Any) -> None:
        _timed("[]= (setitem)", super().__setitem__, _plain(index), _plain(value))

    def astype(self, *args: Any, **kwargs: Any) -> Any:
        return _timed("astype", super().astype, *args, **kwargs)

    def reshape(self, *args: Any, **kwargs: Any) -> Any:
        return _timed("reshape", super().reshape, *args, **kwargs)

    def swapaxes(self, *args: Any, **kwargs: Any) -> Any:
        return _timed("swapaxes", super().swapaxes, *args, **kwargs)

    def copy(self, *args: Any, **kwargs: Any) -> Any:
        return _timed("copy", super().copy, *args, **kwargs)


#: NumPy functions that make a new array without dispatching on their arguments: while
#: counting, the training's own calls of them are counted and return CountingArray. Not
#: ``empty``: the step makes none (``empty_like`` dispatches), and ``Generator.shuffle``
#: calls it from compiled code, which the caller's frame cannot tell from the library's.
UNDISPATCHED = ("asarray", "ascontiguousarray", "full", "zeros")


@contextlib.contextmanager
def undispatched_counted() -> Iterator[None]:
    """Count the calls of `UNDISPATCHED` made outside NumPy (the library's: the transposed
    copy of W in δ Wᵀ, a derivative's ``full``, the epoch's ``zeros``) while inside, their
    results viewed as CountingArray; NumPy's calls of them inside its own functions run as
    they are."""
    originals = {name: getattr(np, name) for name in UNDISPATCHED}

    def counted(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if sys._getframe(1).f_globals.get("__name__", "").startswith("numpy"):
                return original(*args, **kwargs)
            plain_kwargs = {key: _plain(value) for key, value in kwargs.items()}
            return _counting(_timed(name, original, *_plain(args), **plain_kwargs))

        return call

    for name, original in originals.items():
        setattr(np, name, counted(name, original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(np, name, original)


def count_arrays_of(trainer) -> None:
    """View the arrays ``trainer`` trains on as CountingArray, in place of the plain ones (the
    same memory): the data and the epoch's buffers, every parameter's grad and data (the
    layers' views of the flat parameter, and the flat parameter), the optimizer's state."""
    trainer.x_train, trainer.y_train = _counting(trainer.x_train), _counting(trainer.y_train)
    trainer._x_epoch, trainer._y_epoch = _counting(trainer._x_epoch), _counting(trainer._y_epoch)
    if trainer.test is not None:
        trainer.test = _counting(tuple(trainer.test))
    for p in [*trainer.net.parameters(), *trainer.optimizer.params]:
        p.grad = _counting(p.grad)  # grad first: the data setter keeps a grad of data's type
        p.data = _counting(p.data)
    for buffers in trainer.optimizer._slots().values():  # Adam's m and v (SGD's velocity)
        buffers[:] = _counting(list(buffers))


# ------------------------------------------------------------------ the three runs


@dataclass(frozen=True)
class Cell:
    """One cell of the AD tables and how long to train it."""

    experiment: str
    set_name: str
    depth: int
    variant: str
    models: int
    switch_a: float | None

    def trainer(self):
        """A fresh Trainer of the cell, as `ad_tables.train_cell` builds it (float32 data)."""
        hyper = TASKS[self.experiment].sets[self.set_name]
        data = with_dtype(load_data(self.experiment, 0), "float32")
        return cell_trainer(
            self.experiment, hyper, self.depth, self.variant, list(range(self.models)), data,
            switch_a=self.switch_a,
        )  # fmt: skip


def lowest_test_losses(history) -> np.ndarray:
    """Each model's lowest test loss over the epochs, as a plain float array."""
    return np.asarray(history.best("test_loss", "min")[0], dtype=float).view(np.ndarray)


def fit(trainer, epochs: int):
    """``trainer.fit(epochs)`` as `ad_tables.train_cell` runs it (overflow not reported)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return trainer.fit(epochs)


def timed_run(cell: Cell, epochs: int) -> tuple[PhaseClock, np.ndarray]:
    """A plain training of ``epochs`` epochs, its phases timed."""
    trainer, clock = cell.trainer(), PhaseClock()
    with phases_of(trainer, clock):
        history = fit(trainer, epochs)
    return clock, lowest_test_losses(history)


def counted_run(cell: Cell, epochs: int, by_shape: bool = False) -> tuple[OpCounter, PhaseClock, np.ndarray]:
    """The training with its arrays counted (`count_arrays_of`), each call named with its
    arrays' shapes too when ``by_shape``."""
    global ACTIVE
    trainer, clock = cell.trainer(), PhaseClock()
    count_arrays_of(trainer)
    counter = OpCounter(clock, by_shape)
    ACTIVE = counter
    try:
        with phases_of(trainer, clock), undispatched_counted():
            history = fit(trainer, epochs)
    finally:
        ACTIVE = None
    return counter, clock, lowest_test_losses(history)


def profiled_run(cell: Cell, epochs: int) -> tuple[pstats.Stats, int, np.ndarray]:
    """The plain training under cProfile (no phase clock: only the library's own calls).
    Returns the statistics, the number of steps and the lowest test losses."""
    trainer = cell.trainer()
    profiler = cProfile.Profile()
    profiler.enable()
    history = fit(trainer, epochs)
    profiler.disable()
    steps = epochs * -(-len(trainer.x_train) // trainer.batch_size)
    return pstats.Stats(profiler), steps, lowest_test_losses(history)


# ------------------------------------------------------------------ the report


@dataclass(frozen=True)
class OpRow:
    """One NumPy call name of a phase: calls per step (or epoch) and its durations."""

    phase: str
    name: str
    calls: float  # per step ("step"), per epoch (the epoch's other phases) or per run ("outside")
    median_us: float
    total_us: float  # per step, epoch or run, like calls


def op_rows(counter: OpCounter, steps: int, epochs: int) -> list[OpRow]:
    """Every counted (phase, name), per step inside the step, per epoch in the epoch's other
    phases, per run outside the epochs (the training's begin); sorted by phase, then by total
    time, largest first."""
    rows = []
    for (phase, name), durations in counter.calls.items():
        per = steps if phase == "step" else epochs if phase in PHASES else 1  # "outside": per run
        median_us, total_us = statistics.median(durations) / 1e3, sum(durations) / 1e3 / per
        rows.append(OpRow(phase, name, len(durations) / per, median_us, total_us))
    order = {phase: i for i, phase in enumerate(PHASES)}
    return sorted(rows, key=lambda r: (order.get(r.phase, len(order)), -r.total_us))


def function_label(key: tuple) -> str:
    """``folder/file.py:line(function)`` for a Python function (the folder tells
    ``fast/activations.py`` from ``nanograd_ad/activations.py``), ``<…>`` for a built-in one."""
    filename, line, name = key
    if filename == "~":
        return name
    folder = os.path.basename(os.path.dirname(filename))
    return f"{folder}/{os.path.basename(filename)}:{line}({name})"


def python_calls(stats: pstats.Stats, steps: int) -> dict[str, Any]:
    """Primitive calls per step (all, and of them built-in), top 15 by own time per step."""
    entries = stats.stats  # type: ignore[attr-defined]  # key -> (primitive, total, own s, cum s, callers)
    primitive = sum(entry[0] for entry in entries.values())
    builtin = sum(entry[0] for key, entry in entries.items() if key[0] == "~")
    top = sorted(entries.items(), key=lambda item: -item[1][2])[:15]
    return {
        "per_step": primitive / steps,
        "builtin_per_step": builtin / steps,
        "own_s": sum(entry[2] for entry in entries.values()),
        "top": [(function_label(key), entry[0] / steps, 1e6 * entry[2] / steps) for key, entry in top],
    }


def median_epoch(clock: PhaseClock, part: Callable[[dict[str, int]], int]) -> float:
    """The median over ``clock``'s epochs of ``part(epoch's phase times)``, in µs."""
    return statistics.median(part(epoch) for epoch in clock.epochs) / 1e3


def wall_summary(clocks: list[PhaseClock]) -> dict[str, Any]:
    """Per repeat the median epoch (µs) of each phase; the medians over the repeats."""
    steps = clocks[0].steps[0]
    parts: dict[str, Callable[[dict[str, int]], int]] = {"epoch": lambda e: sum(e.values())}
    parts.update({phase: operator.itemgetter(phase) for phase in PHASES})
    per_repeat = {name: [median_epoch(clock, part) for clock in clocks] for name, part in parts.items()}
    return {
        "steps": steps,
        "per_repeat": per_repeat,
        "median": {name: statistics.median(values) for name, values in per_repeat.items()},
    }


def cut(text: str, width: int) -> str:
    """``text`` shortened to ``width`` characters (an ellipsis in the middle)."""
    return text if len(text) <= width else text[: width // 2 - 1] + "…" + text[-(width - width // 2) :]


def report(cell: Cell, args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """Run the three trainings and return the printed report and its numbers."""
    timed = [timed_run(cell, args.epochs) for _ in range(args.repeats)]
    wall = wall_summary([clock for clock, _ in timed])
    steps = wall["steps"]
    counter, count_clock, counted_lowest = counted_run(cell, args.epochs, args.by_shape)
    stats, profiled_steps, profiled_lowest = profiled_run(cell, args.epochs)
    plain_lowest = timed[0][1]
    others = [lowest for _, lowest in timed[1:]] + [counted_lowest, profiled_lowest]
    same = all(np.array_equal(lowest, plain_lowest, equal_nan=True) for lowest in others)
    rows = op_rows(counter, sum(count_clock.steps), len(count_clock.epochs))
    python = python_calls(stats, profiled_steps)
    hyper = TASKS[cell.experiment].sets[cell.set_name]
    switching = "" if cell.switch_a is None else f", switching A = {cell.switch_a}"
    lines = [
        f"{cell.experiment} set {cell.set_name}, depth {cell.depth}, {cell.variant}{switching}: "
        f"{cell.models} models,",
        f"batch {hyper.batch_size} ({steps} steps/epoch), {hyper.optimizer}, float32; {args.epochs} epochs "
        f"x {args.repeats} repeats, {args.threads} thread(s)",
        f"numpy {np.__version__}, Python {platform.python_version()}, load {os.getloadavg()[0]:.2f} "
        f"(1-min, at the end)",
        "",
        "1. wall time, plain arrays (median epoch of each repeat, median over the repeats)",
    ]
    med, per_repeat = wall["median"], wall["per_repeat"]
    spread = ", ".join(f"{value / steps:.1f}" for value in per_repeat["epoch"])
    lines.append(
        f"   whole epoch   {med['epoch']:9.0f} µs/epoch = {med['epoch'] / steps:7.1f} µs/step  "
        f"(repeats: {spread})"
    )
    lines.append(f"   the steps     {med['step']:9.0f} µs/epoch = {med['step'] / steps:7.1f} µs/step")
    for phase, label in (("gather", "gathering"), ("evaluate", "evaluation"), ("rest", "rest")):
        lines.append(f"   {label:<13} {med[phase]:9.0f} µs/epoch = {med[phase] / steps:7.1f} µs/step")
    step_rows = [row for row in rows if row.phase == "step"]
    step_calls = sum(row.calls for row in step_rows)
    step_us = sum(row.total_us for row in step_rows)
    all_calls = sum(len(durations) for durations in counter.calls.values()) / sum(count_clock.steps)
    lines += [
        "",
        "2. NumPy calls on the training's arrays (the counted run)",
        f"   in the step: {step_calls:.1f} calls/step, {step_us:.1f} µs/step inside NumPy "
        f"({step_us / step_calls:.2f} µs/call)",
        f"   all phases:  {all_calls:.1f} calls/step (the epoch's gathering, evaluation and rest "
        "spread over its steps)",
        f"   lowest test losses of the counted and profiled runs equal the plain runs': "
        f"{'yes' if same else 'NO'}",
        "",
    ]
    phases = list(PHASES) + sorted({row.phase for row in rows} - set(PHASES))
    for phase in phases:
        phase_rows = [row for row in rows if row.phase == phase]
        if not phase_rows:
            continue
        per = "step" if phase == "step" else "epoch" if phase in PHASES else "run"
        phase_total = sum(row.total_us for row in phase_rows) or 1.0
        lines.append(
            f"   {phase + ' (per ' + per + ')':<42} {'calls':>9} {'µs/call':>9} {'µs/call':>9} "
            f"{'µs':>9} {'share':>7}"
        )
        lines.append(f"   {'':<42} {'':>9} {'median':>9} {'mean':>9} {'total':>9}")
        for row in phase_rows:
            share = 100 * row.total_us / phase_total
            lines.append(
                f"     {cut(row.name, 40):<40} {row.calls:9.1f} {row.median_us:9.2f} "
                f"{row.total_us / row.calls:9.2f} {row.total_us:9.1f} {share:6.1f}%"
            )
    lines += [
        "",
        "3. Python calls (the plain training under cProfile, every call of the epoch / steps)",
        f"   {python['per_step']:.1f} primitive calls/step, of them {python['builtin_per_step']:.1f} "
        f"built-in (C); {1e6 * python['own_s'] / profiled_steps:.1f} µs/step under the profiler",
        "   top 15 by own time:",
        f"   {'own µs/step':>11} {'calls/step':>10}  function",
    ]
    for label, calls, own_us in python["top"]:
        lines.append(f"   {own_us:11.2f} {calls:10.2f}  {cut(label, 70)}")
    numbers = {
        "us_per_step": med["epoch"] / steps,
        "step_calls": step_calls,
        "all_calls": all_calls,
        "python_calls": python["per_step"],
        "same_numbers": same,
        "rows": rows,
        "wall": wall,
    }
    return "\n".join(lines), numbers


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--experiment", choices=list(TASKS), default="ad-relu", help="default ad-relu")
    parser.add_argument("--set", choices=["A", "B"], default="A", help="hyper-parameter set (default A)")
    parser.add_argument("--depth", type=int, default=8, help="layers n (default 8)")
    parser.add_argument("--variant", default=None, help="activation (default: ReLU / sigmoid)")
    parser.add_argument("--models", type=int, default=100, help="E, models trained together (default 100)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of each run (default 3)")
    parser.add_argument("--repeats", type=int, default=3, help="timed plain runs (default 3)")
    parser.add_argument(
        "--switching",
        choices=["on", "off"],
        default=None,
        help="the AD variant's switching rule, A = 1.035 (default: the table's: on for AD ReLU)",
    )
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    parser.add_argument(
        "--by-shape", action="store_true", help="count each NumPy call by name and its arrays' shapes"
    )
    args = parser.parse_args(argv)
    for name in ("depth", "models", "epochs", "repeats", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.depth < 2:
        parser.error(f"--depth must be at least 2 (n Dense layers), got {args.depth}")
    task = TASKS[args.experiment]
    args.variant = args.variant or ("ReLU" if args.experiment == "ad-relu" else "sigmoid")
    if args.variant not in task.variants:
        parser.error(f"--variant: {args.experiment} has {list(task.variants)}, got {args.variant!r}")
    return args


def cell_of(args: argparse.Namespace) -> Cell:
    """The cell the arguments name; AD variants switch as in the table unless told."""
    switching = args.switching or ("on" if TASKS[args.experiment].switching else "off")
    switch_a = 1.035 if args.variant.startswith("AD") and switching == "on" else None
    return Cell(args.experiment, args.set, args.depth, args.variant, args.models, switch_a)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    previous = backend.name(), backend.default_dtype()
    limit: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(args.threads)
    backend.use("numpy")  # CountingArray is a NumPy array
    backend.set_default_dtype("float32")  # the tables' dtype
    try:
        with limit:
            text, numbers = report(cell_of(args), args)
    finally:
        backend.use(previous[0])
        backend.set_default_dtype(previous[1])
    print(text)
    sys.stdout.flush()
    return numbers


if __name__ == "__main__":
    main()
