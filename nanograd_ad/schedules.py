"""Learning-rate schedules: a learning rate as a function of the epoch.

Epochs are counted from 0: ``lr_at(0)`` is the rate for the first epoch. A training
loop sets ``optimizer.lr = schedule(epoch)`` at the start of each epoch. A schedule whose
``resolution`` is ``"step"`` is read per iteration instead: the loop sets
``optimizer.lr = schedule.lr_at(step)`` before every update, with the 0-based step index
step = epoch · steps_per_epoch + batch over the whole run.

* :class:`Constant`       — lr(e) = lr
* :class:`Phases`         — a list of phases ``(end_epoch, lr, *extra)`` (Basodi, Pusuluri, Xiao & Pan, §4,
  the gradient-amplification strategy); ``phase(e)`` also returns the extra fields
* :class:`CosineRestarts` — cosine annealing with restarts, optional half-cosine
  warm-up in each period and a fixed final rate, set once per epoch (a reading of the
  recipe of Bu, Jiang, Lu & Zhang 2026)
* :class:`StepCosineRestarts` — the same cosine stepped per iteration, periods in steps or
  in (fractions of) epochs: the paper's "50 periods" in a 90-epoch run need periods of
  at most 1.4 epochs, which only a per-iteration schedule expresses

Pure Python: no array module is needed.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

__all__ = [
    "Constant",
    "CosineRestarts",
    "Phases",
    "Schedule",
    "StepCosineRestarts",
    "check_rates",
    "check_schedule",
    "steps_per_epoch_of",
]


def _check_epoch(owner: str, epoch) -> int:
    if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral):
        raise TypeError(f"{owner}: epoch must be an int >= 0 (0-based), got {epoch!r}")
    if epoch < 0:
        raise ValueError(f"{owner}: epoch must be an int >= 0 (0-based), got {epoch!r}")
    return int(epoch)


def _is_real(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)


def _check_positive(owner: str, name: str, value) -> float:
    if not _is_real(value) or value <= 0:
        raise ValueError(f"{owner}: {name} must be a finite float > 0, got {value!r}")
    return float(value)


def _check_int(owner: str, name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{owner}: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _cosine_period(u: float, w: float, lr_min: float, lr_max: float) -> float:
    """The rate at position u ∈ [0, 1) of a period (equations in `CosineRestarts`)."""
    span = lr_max - lr_min
    if u < w:
        return lr_min + span * 0.5 * (1.0 - math.cos(math.pi * u / w))
    return lr_min + span * 0.5 * (1.0 + math.cos(math.pi * (u - w) / (1.0 - w)))


@runtime_checkable
class Schedule(Protocol):
    """Anything with ``lr_at(epoch) -> float``; epochs are 0-based (the first epoch is 0).

    ``schedule(epoch)`` is the same as ``schedule.lr_at(epoch)``. Subclass this protocol
    to inherit that ``__call__``. A schedule read per iteration says so with
    ``resolution = "step"`` and a ``steps_per_epoch`` attribute; its ``lr_at`` then takes
    the 0-based step index over the whole run (see `StepCosineRestarts`).
    """

    def lr_at(self, epoch: int) -> float:
        """The learning rate for (0-based) ``epoch``."""
        ...

    def __call__(self, epoch: int) -> float:
        """``schedule(epoch) == schedule.lr_at(epoch)``."""
        return self.lr_at(epoch)


def check_schedule(schedule) -> None:
    """Refuse a schedule without ``lr_at(epoch)`` (a plain function, say), naming the ones there are."""
    if schedule is not None and not callable(getattr(schedule, "lr_at", None)):
        raise TypeError(
            "schedule must have an lr_at(epoch) method (schedules.Constant(0.1), Phases(...), "
            f"CosineRestarts(...)), got {type(schedule).__name__}"
        )


class Constant(Schedule):
    """lr(e) = lr for every epoch e."""

    def __init__(self, lr: float):
        self.lr = _check_positive("Constant", "lr", lr)

    def lr_at(self, epoch: int) -> float:
        """lr(e) = lr."""
        _check_epoch("Constant", epoch)
        return self.lr

    def __repr__(self) -> str:
        return f"Constant(lr={self.lr!r})"


class Phases(Schedule):
    """Piecewise-constant phases ``[(end_epoch, lr, *extra), ...]`` (Basodi, Pusuluri, Xiao & Pan, §4).

    Epochs are 0-based and each ``end_epoch`` is exclusive: the phase for epoch e is the
    first whose ``end_epoch > e``. For example

        Phases([(50, 0.1, 0, 1), (100, 0.1, 1, 2)])

    runs epochs 0..49 in phase 0 and epochs 50..99 in phase 1. Epochs past the last end
    stay in the last phase. The extra fields (here ``amplify, factor`` of the
    gradient-amplification strategy) are carried along: ``phase(e)`` returns the whole
    tuple, ``lr_at(e)`` its second field.

    Checks: at least one phase; each entry a tuple ``(end_epoch, lr, ...)`` with an int
    ``end_epoch`` > 0, end epochs strictly increasing, ``lr`` > 0.
    """

    def __init__(self, phases: Iterable[Sequence]):
        if isinstance(phases, (str, bytes)):
            raise ValueError(f"Phases: phases must be a list of (end_epoch, lr, ...) tuples, got {phases!r}")
        try:
            entries = [tuple(entry) for entry in phases]
        except TypeError as err:
            raise ValueError(
                f"Phases: phases must be a list of (end_epoch, lr, ...) tuples, got {phases!r}"
            ) from err
        if not entries:
            raise ValueError("Phases: phases must hold at least one (end_epoch, lr, ...) entry, got []")
        previous_end = 0
        for i, entry in enumerate(entries):
            if len(entry) < 2:
                raise ValueError(
                    f"Phases: entry {i} {entry!r} must be (end_epoch, lr, ...) with at least 2 fields"
                )
            end, lr = entry[0], entry[1]
            if isinstance(end, bool) or not isinstance(end, numbers.Integral) or end <= 0:
                raise ValueError(
                    f"Phases: entry {i} {entry!r} has end_epoch {end!r}; expected a positive int"
                )
            if end <= previous_end:
                raise ValueError(
                    f"Phases: entry {i} {entry!r} has end_epoch {end} but end epochs must be "
                    f"strictly increasing (previous end {previous_end})"
                )
            if not _is_real(lr) or lr <= 0:
                raise ValueError(f"Phases: entry {i} {entry!r} has lr {lr!r}; expected a float > 0")
            previous_end = int(end)
        self.phases: tuple[tuple, ...] = tuple(entries)

    @property
    def total_epochs(self) -> int:
        """The last phase's end epoch."""
        return int(self.phases[-1][0])

    def phase_index(self, epoch: int) -> int:
        """Index of the first phase with end_epoch > epoch (the last one past the end)."""
        epoch = _check_epoch("Phases", epoch)
        for i, entry in enumerate(self.phases):
            if entry[0] > epoch:
                return i
        return len(self.phases) - 1

    def phase(self, epoch: int) -> tuple:
        """The whole phase tuple ``(end_epoch, lr, *extra)`` for ``epoch``."""
        return self.phases[self.phase_index(epoch)]

    def lr_at(self, epoch: int) -> float:
        """lr(e) = the lr field of ``phase(e)``."""
        return float(self.phase(epoch)[1])

    def __repr__(self) -> str:
        return f"Phases({list(self.phases)!r})"


class _Cosine(Schedule):
    """What both cosine schedules share: lr_max, lr_min, the warm-up and the final phase."""

    def _set_cosine(
        self, owner: str, lr_max, lr_min, warmup_fraction, total_epochs, final_epochs, final_lr
    ) -> None:
        """Check the shared arguments and keep them."""
        self.lr_max = _check_positive(owner, "lr_max", lr_max)
        if not _is_real(lr_min) or not 0 <= lr_min <= lr_max:
            raise ValueError(f"{owner}: lr_min must be a float in [0, lr_max={lr_max!r}], got {lr_min!r}")
        self.lr_min = float(lr_min)
        if not _is_real(warmup_fraction) or not 0 <= warmup_fraction < 1:
            raise ValueError(f"{owner}: warmup_fraction must be a float in [0, 1), got {warmup_fraction!r}")
        self.warmup_fraction = float(warmup_fraction)
        self.total_epochs = (
            None if total_epochs is None else _check_int(owner, "total_epochs", total_epochs, 1)
        )
        self.final_epochs = _check_int(owner, "final_epochs", final_epochs, 0)
        if self.final_epochs > 0:
            if self.total_epochs is None:
                raise ValueError(
                    f"{owner}: final_epochs={final_epochs!r} needs total_epochs (the final "
                    f"phase is the last final_epochs of total_epochs), got total_epochs=None"
                )
            if self.final_epochs > self.total_epochs:
                raise ValueError(
                    f"{owner}: final_epochs must be <= total_epochs={total_epochs!r}, got {final_epochs!r}"
                )
        elif final_lr is not None:
            raise ValueError(f"{owner}: final_lr={final_lr!r} is given but final_epochs is 0")
        self.final_lr = self.lr_min if final_lr is None else _check_positive(owner, "final_lr", final_lr)

    @property
    def final_start(self) -> int | None:
        """First epoch of the final phase (``total_epochs − final_epochs``), or None."""
        if self.final_epochs == 0 or self.total_epochs is None:  # __init__: final_epochs needs total_epochs
            return None
        return self.total_epochs - self.final_epochs


class CosineRestarts(_Cosine):
    """Cosine annealing with restarts every ``period`` epochs, optional warm-up, final rate.

    Within a period, with P = ``period``, the position is u = (e mod P) / P ∈ [0, 1),
    Δ = lr_max − lr_min and w = ``warmup_fraction``:

        no warm-up (w = 0):  lr(e) = lr_min + Δ · ½ (1 + cos(π u))
        warm-up   (u < w):   lr(e) = lr_min + Δ · ½ (1 − cos(π u / w))          rises
        after     (u ≥ w):   lr(e) = lr_min + Δ · ½ (1 + cos(π (u − w) / (1 − w)))  falls

    So a period starts at lr_max (w = 0) or at lr_min rising to lr_max at u = w (the PN
    paper's model 3 uses w = ½: the rate climbs over the first half of each period), then
    falls towards lr_min, which it reaches at the restart (u → 1, as in SGDR; at integer
    epochs the last epoch of a period is just above lr_min).

    Final phase: the last ``final_epochs`` of ``total_epochs``, i.e. every epoch
    e ≥ total_epochs − final_epochs, use ``final_lr`` (default lr_min). The PN recipe is
    ``total_epochs=90, final_epochs=20, final_lr=1e-4``.
    """

    def __init__(
        self,
        lr_max: float,
        lr_min: float,
        period: int,
        warmup_fraction: float = 0.0,
        total_epochs: int | None = None,
        final_epochs: int = 0,
        final_lr: float | None = None,
    ):
        self._set_cosine(
            "CosineRestarts", lr_max, lr_min, warmup_fraction, total_epochs, final_epochs, final_lr
        )
        self.period = _check_int("CosineRestarts", "period", period, 1)

    def lr_at(self, epoch: int) -> float:
        """The rate for 0-based ``epoch`` (equations in the class docstring)."""
        epoch = _check_epoch("CosineRestarts", epoch)
        if self.final_start is not None and epoch >= self.final_start:
            return self.final_lr
        u = (epoch % self.period) / self.period
        return _cosine_period(u, self.warmup_fraction, self.lr_min, self.lr_max)

    def __repr__(self) -> str:
        return (
            f"CosineRestarts(lr_max={self.lr_max!r}, lr_min={self.lr_min!r}, period={self.period}, "
            f"warmup_fraction={self.warmup_fraction!r}, total_epochs={self.total_epochs!r}, "
            f"final_epochs={self.final_epochs}, final_lr={self.final_lr!r})"
        )


class StepCosineRestarts(_Cosine):
    """Cosine annealing with restarts stepped per iteration (Bu, Jiang, Lu & Zhang 2026, §4).

    ``lr_at(t)`` takes the 0-based step index t over the whole run (t = epoch ·
    steps_per_epoch + batch; ``resolution = "step"`` tells `train.Trainer` to set the rate
    before every update). With the period T in steps (``period_steps``, or
    ``period_epochs · steps_per_epoch``, which may be a fraction of an epoch or several),
    the position in a period is u = (t mod T) / T ∈ [0, 1) and the rate is
    `CosineRestarts`' formula of u:

        no warm-up (w = 0):  lr(t) = lr_min + Δ · ½ (1 + cos(π u))          SGDR, T_cur = t mod T
        warm-up   (u < w):   lr(t) = lr_min + Δ · ½ (1 − cos(π u / w))
        after     (u ≥ w):   lr(t) = lr_min + Δ · ½ (1 + cos(π (u − w) / (1 − w)))

    (Δ = lr_max − lr_min; w = ``warmup_fraction``, ½ for the paper's model 3, whose rate
    "increases at the first half of a period"). Final phase: from the first step of epoch
    total_epochs − final_epochs on, the rate is ``final_lr`` (the paper: the last 20 of 90
    epochs at 1e-4). ``lr_at_epoch(e)`` reads the same curve at a fractional epoch e
    (t = e · steps_per_epoch).

    **(reading)** The paper gives neither the period nor whether the rate is set per
    iteration; "after 50 periods of the learning rate, the model almost reaches its best
    accuracy" in a 90-epoch run (70 before the fixed final rate) needs periods of at most
    70/50 = 1.4 epochs, which only a per-iteration schedule expresses (a per-epoch cosine
    with a 1-epoch period is a constant). `CosineRestarts` is the per-epoch reading.
    """

    resolution = "step"

    def __init__(
        self,
        lr_max: float,
        lr_min: float,
        steps_per_epoch: int,
        *,
        period_steps: int | None = None,
        period_epochs: float | None = None,
        warmup_fraction: float = 0.0,
        total_epochs: int | None = None,
        final_epochs: int = 0,
        final_lr: float | None = None,
    ):
        owner = "StepCosineRestarts"
        self._set_cosine(owner, lr_max, lr_min, warmup_fraction, total_epochs, final_epochs, final_lr)
        self.steps_per_epoch = _check_int(owner, "steps_per_epoch", steps_per_epoch, 1)
        if (period_steps is None) == (period_epochs is None):
            raise ValueError(
                f"{owner}: give the period as exactly one of period_steps or period_epochs, got "
                f"period_steps={period_steps!r}, period_epochs={period_epochs!r}"
            )
        if period_steps is not None:
            self.period: float = float(_check_int(owner, "period_steps", period_steps, 1))
        else:
            self.period = _check_positive(owner, "period_epochs", period_epochs) * self.steps_per_epoch
            if self.period < 1:
                raise ValueError(
                    f"{owner}: period_epochs={period_epochs!r} is {self.period!r} steps at "
                    f"steps_per_epoch={steps_per_epoch}; a period needs at least 1 step"
                )

    @property
    def periods_per_epoch(self) -> float:
        """steps_per_epoch / T: how many periods one epoch holds."""
        return self.steps_per_epoch / self.period

    def lr_at(self, step: int) -> float:
        """The rate for the 0-based ``step`` of the run (equations in the class docstring)."""
        step = _check_int("StepCosineRestarts", "step", step, 0)  # 0-based
        if self.final_start is not None and step >= self.final_start * self.steps_per_epoch:
            return self.final_lr
        u = (step % self.period) / self.period
        return _cosine_period(u, self.warmup_fraction, self.lr_min, self.lr_max)

    def lr_at_epoch(self, epoch: float) -> float:
        """The same curve at a fractional 0-based epoch: lr(t) with t = epoch · steps_per_epoch."""
        if not _is_real(epoch) or epoch < 0:
            raise ValueError(f"StepCosineRestarts: epoch must be a float >= 0, got {epoch!r}")
        if self.final_start is not None and epoch >= self.final_start:
            return self.final_lr
        u = (epoch * self.steps_per_epoch % self.period) / self.period
        return _cosine_period(u, self.warmup_fraction, self.lr_min, self.lr_max)

    def __repr__(self) -> str:
        return (
            f"StepCosineRestarts(lr_max={self.lr_max!r}, lr_min={self.lr_min!r}, "
            f"steps_per_epoch={self.steps_per_epoch}, period_steps={self.period!r}, "
            f"warmup_fraction={self.warmup_fraction!r}, total_epochs={self.total_epochs!r}, "
            f"final_epochs={self.final_epochs}, final_lr={self.final_lr!r})"
        )


def steps_per_epoch_of(schedule, rows: int, batch_size: int) -> int | None:
    """How a training loop reads ``schedule``: None when once an epoch (``lr_at(epoch)``),
    or the updates per epoch S = ⌈rows / batch_size⌉ when before every update
    (``resolution = "step"``: ``lr_at(epoch · S + batch)``). A per-step schedule must have
    been built for those S steps (its ``steps_per_epoch``); ValueError otherwise."""
    if getattr(schedule, "resolution", "epoch") != "step":
        return None
    steps = -(-rows // batch_size)
    if getattr(schedule, "steps_per_epoch", None) != steps:
        raise ValueError(
            f"schedule: a per-step schedule with steps_per_epoch="
            f"{getattr(schedule, 'steps_per_epoch', None)!r}, but {rows} training rows in batches "
            f"of {batch_size} make {steps} steps per epoch"
        )
    return steps


def check_rates(schedule, first_epoch: int, epochs: int, steps_per_epoch: int | None = None) -> None:
    """Every rate ``schedule`` gives for epochs first_epoch … first_epoch + epochs − 1 (each of
    their steps, given ``steps_per_epoch``) is finite and ≥ 0; ValueError naming the first bad one."""
    unit, count = ("epoch", 1) if steps_per_epoch is None else ("step", steps_per_epoch)
    for index in range(first_epoch * count, (first_epoch + epochs) * count):
        rate = schedule.lr_at(index)
        if not math.isfinite(rate) or rate < 0:
            raise ValueError(f"schedule gives learning rate {rate!r} at {unit} {index}; it must be >= 0")
