"""Generic training callbacks: the hooks of `train.Trainer`, early stopping, checkpointing.

A callback sees the training at five points (see `train.Trainer`)::

    on_train_begin(trainer)
    on_epoch_begin(trainer, epoch)
    on_batch_end(trainer, batch, loss)          loss: that batch's float
    on_epoch_end(trainer, epoch, logs)          logs: this epoch's history row
    on_train_end(trainer)

and stops the training with ``trainer.request_stop(epoch, reason)``. The methods' own
training rules are callbacks too, kept with their papers: ``train.SwitchingRule`` (AD),
``ics.PeakAccuracy`` (regularized ReLU), ``amplify.AmplificationStrategy``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["Callback", "Checkpointing", "EarlyStopping"]


def _check_count(owner: str, name: str, value) -> int:
    """An integer ≥ 1 (Python or NumPy; not a bool, a float or a string), as an int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{owner}: {name} must be an integer ≥ 1, got {value!r}")
    return int(value)


def _finite_at_least_zero(value) -> bool:
    """A real number (Python or NumPy; not a bool) that is finite and ≥ 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    return math.isfinite(value) and float(value) >= 0


class Callback:
    """Base class: every hook is a no-op. Override the ones you need."""

    def on_train_begin(self, trainer) -> None:
        """Before the first epoch of a ``fit`` call."""

    def on_epoch_begin(self, trainer, epoch: int) -> None:
        """After the schedule has set ``optimizer.lr`` for ``epoch``, before its first batch."""

    def on_batch_end(self, trainer, batch: int, loss: float) -> None:
        """After the update of batch ``batch`` (0-based within the epoch); ``loss`` its value."""

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        """After evaluation; ``logs`` is the row just added to ``trainer.history``."""

    def on_train_end(self, trainer) -> None:
        """After the last epoch (also after a stop; not after `TrainingDiverged` is raised)."""


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    mode "min" / "max" / "auto" (min for names containing "loss"). With
    ``restore_best=True`` the network gets the weights of the best epoch back at the end.
    """

    def __init__(
        self,
        monitor: str = "test_loss",
        patience: int = 10,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best: bool = False,
    ):
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(
                f"EarlyStopping: monitor must be the name of a logged value such as 'test_loss' or "
                f"'test_acc', got {monitor!r}"
            )
        patience = _check_count("EarlyStopping", "patience", patience)
        if not _finite_at_least_zero(min_delta):
            raise ValueError(f"EarlyStopping: min_delta must be a finite number ≥ 0, got {min_delta!r}")
        if mode == "auto":
            mode = "min" if "loss" in monitor else "max"
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min', 'max' or 'auto', got {mode!r}")
        self.monitor: str = monitor
        self.patience: int = patience
        self.min_delta: float = float(min_delta)
        self.mode: str = mode
        self.restore_best = restore_best
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.best_state: dict | None = None
        self.wait: int = 0

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_train_begin(self, trainer) -> None:
        self.best, self.best_epoch, self.best_state, self.wait = None, None, None, 0

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        value = logs.get(self.monitor)
        if value is None:
            raise ValueError(f"EarlyStopping monitors {self.monitor!r}, which this training does not produce")
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self.best_state = {k: np.array(v, copy=True) for k, v in trainer.net.state_dict().items()}
        else:
            self.wait += 1
            if self.wait >= self.patience:
                trainer.request_stop(
                    epoch,
                    f"{self.monitor} has not improved for {self.patience} epochs",
                    best=self.best,
                    best_epoch=self.best_epoch,
                )

    def on_train_end(self, trainer) -> None:
        if self.restore_best and self.best_state is not None:
            trainer.net.load_state_dict(self.best_state)


class Checkpointing(Callback):
    """Save network, optimizer and history to ``path`` every ``every`` epochs, atomically.

    A diverged network is never saved, so the file keeps the last good state.
    """

    def __init__(self, path, every: int = 1, metadata: dict | None = None):
        from .checkpoint import check_target

        check_target("Checkpointing", path, ValueError)
        every = _check_count("Checkpointing", "every", every)
        if metadata is not None and not isinstance(metadata, dict):
            raise TypeError(f"Checkpointing: metadata must be a dict or None, got {type(metadata).__name__}")
        self.path, self.every, self.metadata = path, every, dict(metadata or {})
        self.saved_epochs: list[int] = []

    def save(self, trainer, epoch: int) -> None:
        from .checkpoint import save_checkpoint

        save_checkpoint(
            self.path,
            trainer.net,
            trainer.optimizer,
            trainer.history,
            metadata={**self.metadata, "epoch": epoch},
        )
        self.saved_epochs.append(epoch)

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        if (epoch + 1) % self.every == 0 and not trainer.diverged:
            self.save(trainer, epoch)

    def on_train_end(self, trainer) -> None:
        last = trainer.history.epoch[-1] if len(trainer.history) else None
        if last is not None and not trainer.diverged and last not in self.saved_epochs:
            self.save(trainer, last)
