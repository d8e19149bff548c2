"""The record of a training run: one row per epoch, per-model columns for an ensemble.

    history.train_loss[i]      epoch i's mean training loss: a float, or (E,) for E models
    history.column("test_loss")                    (epochs,) or (epochs, E) NumPy array
    history.best("test_loss", "min")               (value, epoch), or ((E,), (E,)) per model
    history.member(e)                              model e's own History (an ensemble)
    history.events_of("switch")                    {"epoch", "event", ...} dicts

An ensemble's history (``models=E``) holds one (E,) NumPy array per epoch in each
per-model column (the losses and accuracies); the learning rate and the time are shared.
Events that concern one model carry ``"model": e``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["History"]


@dataclass
class History:
    """Per-epoch numbers of one training run (one model or E), and the events in it.

    Lists are aligned: entry i belongs to epoch ``epoch[i]`` (0-based). Accuracies are
    None when the loss is not a classification loss, test numbers None without a test
    set. ``events`` holds dicts ``{"epoch": e, "event": name, ...}`` (derivative
    switches, stops, divergence). ``models``: None for one model, E for an ensemble,
    whose per-model columns hold (E,) arrays.
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[Any] = field(default_factory=list)
    train_acc: list[Any] = field(default_factory=list)
    test_loss: list[Any] = field(default_factory=list)
    test_acc: list[Any] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    time_s: list[float] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    models: int | None = None

    COLUMNS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "time_s")
    PER_MODEL = ("train_loss", "train_acc", "test_loss", "test_acc")

    def log(self, logs: dict) -> None:
        """Append one epoch's row (a dict with the keys of `COLUMNS`)."""
        for key in self.COLUMNS:
            getattr(self, key).append(logs.get(key))

    def record(self, epoch: int, event: str, **info) -> dict:
        """Append an event ``{"epoch": epoch, "event": event, **info}`` and return it."""
        entry = {"epoch": int(epoch), "event": event, **info}
        self.events.append(entry)
        return entry

    def events_of(self, event: str) -> list[dict]:
        """The events with this name, in order."""
        return [e for e in self.events if e["event"] == event]

    def column(self, key: str) -> np.ndarray:
        """One column as a float array: (epochs,), or (epochs, E) for a per-model column of
        an ensemble; a missing value (None) is NaN."""
        width = (self.models,) if self.models is not None and key in self.PER_MODEL else ()
        rows = [
            np.full(width, np.nan) if v is None else np.asarray(v, dtype=float) for v in getattr(self, key)
        ]
        return np.array(rows, dtype=float).reshape((len(rows), *width))

    def best(self, key: str = "test_acc", mode: str = "max"):
        """(best value of ``key``, its epoch); ties go to the earliest epoch.

        One model: (float, int), or (None, None) without a finite value. An ensemble:
        ((E,) values, (E,) epochs), NaN and −1 for a model without a finite value.
        """
        if mode not in ("min", "max"):
            raise ValueError(f"best: mode must be 'min' or 'max', got {mode!r}")
        if self.models is None or key not in self.PER_MODEL:
            pairs = [
                (v, e) for v, e in zip(getattr(self, key), self.epoch) if v is not None and math.isfinite(v)
            ]
            if not pairs:
                return None, None
            pick = max if mode == "max" else min
            value = pick(v for v, _ in pairs)
            return value, next(e for v, e in pairs if v == value)
        values = self.column(key).reshape(-1, self.models)  # (epochs, E)
        best_value, best_epoch = np.full(self.models, np.nan), np.full(self.models, -1)
        if len(values):
            finite = np.isfinite(values)
            ranked = np.where(finite, values, -np.inf if mode == "max" else np.inf)
            row = ranked.argmax(axis=0) if mode == "max" else ranked.argmin(axis=0)  # the earliest best
            found = finite.any(axis=0)
            best_value[found] = values[row, np.arange(self.models)][found]
            best_epoch[found] = np.asarray(self.epoch)[row][found]
        return best_value, best_epoch

    def member(self, model: int) -> History:
        """Model ``model``'s own record as a one-model `History`: its column entries, the
        shared ones, and the events that are its own (``"model"`` dropped) or everyone's."""
        if self.models is None:
            raise ValueError("member: this History is of one model (models=None)")
        if not isinstance(model, (int, np.integer)) or not 0 <= model < self.models:
            raise ValueError(f"member: model must be an int in [0, {self.models}), got {model!r}")
        history = History()
        for key in self.COLUMNS:
            values = getattr(self, key)
            if key in self.PER_MODEL:
                values = [None if v is None else float(v[model]) for v in values]
            setattr(history, key, list(values))
        history.events = [
            {k: v for k, v in e.items() if k != "model"}
            for e in self.events
            if e.get("model", model) == model
        ]
        return history

    def __len__(self) -> int:
        return len(self.epoch)

    def to_dict(self) -> dict:
        """Plain lists and dicts, ready for JSON (per-model arrays become lists)."""
        out: dict[str, Any] = {
            key: [v.tolist() if isinstance(v, np.ndarray) else v for v in getattr(self, key)]
            for key in self.COLUMNS
        }
        out["events"] = [dict(e) for e in self.events]
        if self.models is not None:
            out["models"] = self.models
        return out

    @classmethod
    def from_dict(cls, data: dict) -> History:
        """Inverse of `to_dict`."""
        history = cls(models=data.get("models"))
        for key in cls.COLUMNS:
            values = list(data.get(key, []))
            if history.models is not None and key in cls.PER_MODEL:
                values = [None if v is None else np.asarray(v, dtype=float) for v in values]
            setattr(history, key, values)
        history.events = [dict(e) for e in data.get("events", [])]
        return history
