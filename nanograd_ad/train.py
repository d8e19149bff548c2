"""The training loop: epochs of mini-batches, callbacks, history, evaluation in batches.

One step is the one-way data flow of the library:

    pred  = net(x_batch)                       Sequential.forward
    value = loss.forward(pred, y_batch)        C, mean over the batch
    delta = loss.backward()                    δ^L = ∂C/∂z^L
    net.backward(delta)                        δ^l = (W^{l+1 T} δ^{l+1}) ⊙ d^l, fills .grad
    optimizer.step(); optimizer.zero_grad()

`Trainer` runs that step over shuffled mini-batches for a number of epochs. Before
each epoch a schedule sets ``optimizer.lr = schedule.lr_at(epoch)`` (epochs count from
0); after it the test set is evaluated in batches and one row is added to the
`History`. Callbacks see the training at four points:

    on_train_begin(trainer)
    on_epoch_begin(trainer, epoch)
    on_batch_end(trainer, batch, loss)          loss: that batch's float
    on_epoch_end(trainer, epoch, logs)          logs: this epoch's history row
    on_train_end(trainer)

A callback stops the training by setting ``trainer.stop = True`` (use
``trainer.request_stop(epoch, reason)``, which also records why in ``history.events``).
`SwitchingRule` (AD ↔ original derivative, METHODS §1) is here; the generic callbacks
(`callbacks.EarlyStopping`, `callbacks.Checkpointing`) and the ICS paper's
`ics.PeakAccuracy` have their own modules.

A non-finite loss, or a non-finite gradient before the update (``check_gradients``, one
device reduction per batch), stops the training: the failing batch is run again with
``net.check_finite = True`` so the error names the epoch, the batch and the first layer
(and pass) where NaN/Inf appeared, and `TrainingDiverged` is raised (or, with
``on_nonfinite="stop"``, recorded as an event). `Checkpointing` never saves a diverged
network, so the last good checkpoint is kept.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import backend
from .callbacks import Callback

__all__ = [
    "History",
    "SwitchingRule",
    "Trainer",
    "TrainingDiverged",
    "evaluate",
    "fit",
    "make_optimizer",
    "should_switch",
]


# ----------------------------------------------------------------------------- history


@dataclass
class History:
    """Per-epoch numbers of one training run, and the events that happened in it.

    Lists are aligned: entry i belongs to epoch ``epoch[i]`` (0-based). Accuracies are
    None when the loss is not a classification loss, test numbers None without a test
    set. ``events`` holds dicts ``{"epoch": e, "event": name, ...}`` (derivative
    switches, stops, divergence).
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float | None] = field(default_factory=list)
    test_loss: list[float | None] = field(default_factory=list)
    test_acc: list[float | None] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    time_s: list[float] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)

    COLUMNS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "time_s")

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

    def best(self, key: str = "test_acc", mode: str = "max") -> tuple[float | None, int | None]:
        """(best value of ``key``, its epoch); ties go to the earliest epoch."""
        pairs = [(v, e) for v, e in zip(getattr(self, key), self.epoch) if v is not None and math.isfinite(v)]
        if not pairs:
            return None, None
        pick = max if mode == "max" else min
        value = pick(v for v, _ in pairs)
        return value, next(e for v, e in pairs if v == value)

    def __len__(self) -> int:
        return len(self.epoch)

    def to_dict(self) -> dict:
        """Plain lists and dicts, ready for JSON."""
        out = {key: list(getattr(self, key)) for key in self.COLUMNS}
        out["events"] = [dict(e) for e in self.events]
        return out

    @classmethod
    def from_dict(cls, data: dict) -> History:
        """Inverse of `to_dict`."""
        history = cls()
        for key in cls.COLUMNS:
            setattr(history, key, list(data.get(key, [])))
        history.events = [dict(e) for e in data.get("events", [])]
        return history


class TrainingDiverged(RuntimeError):
    """The loss became NaN/Inf. Names the epoch, batch and (when found) the layer and pass."""

    def __init__(
        self, message, *, epoch, batch, layer_index=None, layer_name=None, pass_name=None, history=None
    ):
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch
        self.layer_index = layer_index
        self.layer_name = layer_name
        self.pass_name = pass_name
        self.history = history


# ------------------------------------------------------------------------------ helpers


def _is_classification(loss) -> bool:
    """Accuracy makes sense for the softmax cross-entropy loss only (or a loss saying so)."""
    flag = getattr(loss, "classification", None)
    if flag is not None:
        return bool(flag)
    from .losses import SoftmaxCrossEntropy

    return isinstance(loss, SoftmaxCrossEntropy)


def _to_device(x, labels: bool = False):
    """Host array → backend array (inputs in the default dtype, labels as they are)."""
    if labels:
        return backend.xp.asarray(x)
    return backend.asarray(x)


def _count_correct(pred, y):
    """Number of correct argmax predictions, kept on the device (no sync).

    pred: (N, C) or (models, N, C); y: integer labels (N,) or one-hot (N, C).
    Returns (correct, count)."""
    xp = backend.xp
    labels = (
        xp.argmax(y, axis=-1) if y.ndim == pred.ndim or (y.ndim >= 2 and y.shape[-1] == pred.shape[-1]) else y
    )
    hits = xp.argmax(pred, axis=-1) == labels
    return hits.sum(), hits.size


def _check_data(x, y, what: str) -> None:
    if len(x) != len(y):
        raise ValueError(f"{what}: {len(x)} inputs but {len(y)} targets")
    if len(x) == 0:
        raise ValueError(f"{what}: no samples")


def _split(data, what: str):
    """(x, y) from a tuple or from a `datasets.Dataset` (its training split)."""
    if hasattr(data, "x_train"):
        return data.x_train, data.y_train
    try:
        x, y = data
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be an (x, y) pair or a Dataset, got {type(data).__name__}") from None
    return x, y


def _batch_indices(n: int, batch_size: int, rng, shuffle: bool):
    """Index arrays of the mini-batches of one epoch (the datasets helper when present)."""
    try:
        from .datasets import batches
    except ImportError:  # pragma: no cover - datasets.py is part of the package
        batches = None
    if batches is not None:
        return batches(n, batch_size, rng, shuffle=shuffle)
    order = rng.permutation(n) if shuffle else np.arange(n)
    return (order[i : i + batch_size] for i in range(0, n, batch_size))


def evaluate(net, loss, x, y, batch_size: int = 256) -> tuple[float, float | None]:
    """Mean loss and accuracy of ``net`` on (x, y), computed ``batch_size`` rows at a time.

    The loss of a batch is its mean; the result is the sample-weighted mean over batches
    (equal to the loss of one full batch). Accuracy is None for non-classification
    losses. Sums stay on the device; one float each is read at the end.
    """
    _check_data(x, y, "evaluate")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    classification = _is_classification(loss)
    total_loss, correct, count = 0.0, 0, 0
    n = len(x)
    for start in range(0, n, batch_size):
        xb = _to_device(x[start : start + batch_size])
        yb = _to_device(y[start : start + batch_size], labels=True)
        pred = net(xb)
        total_loss = total_loss + loss.forward(pred, yb) * len(xb)
        if classification:
            c, size = _count_correct(pred, yb)
            correct, count = correct + c, count + size
    accuracy = float(correct) / count if classification else None
    return float(total_loss) / n, accuracy


def make_optimizer(name: str, params, lr: float | None = None, **options):
    """An optimizer from its name: ``"sgd"`` (lr required) or ``"adam"`` (lr 1e-3 by default).

    ``options`` go to the constructor: momentum (SGD), betas, eps (Adam),
    weight_decay (L2), clip_value (clip each gradient entry to [−v, v]; the PN recipe
    uses 0.5), clip_norm (rescale so the global gradient norm is at most c).
    """
    from . import optim

    kind = name.lower()
    options = {k: v for k, v in options.items() if v is not None}
    if kind == "sgd":
        if lr is None:
            raise ValueError("SGD needs a learning rate (lr=...)")
        _check_lr(lr)
        return optim.SGD(params, lr=lr, **options)
    if kind == "adam":
        if options.pop("momentum", 0):
            raise ValueError("Adam takes no momentum (use betas=...)")
        lr = 1e-3 if lr is None else lr
        _check_lr(lr)
        return optim.Adam(params, lr=lr, **options)
    raise ValueError(f"unknown optimizer {name!r}; known: 'sgd', 'adam'")


def _check_lr(lr) -> None:
    if not isinstance(lr, (int, float, np.floating, np.integer)) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"learning rate must be a positive number, got {lr!r}")


def _progress_enabled(progress: bool) -> bool:
    """A bar only when asked, when stderr is a terminal and when tqdm is installed."""
    if not progress:
        return False
    try:
        if not sys.stderr.isatty():
            return False
        import tqdm  # noqa: F401
    except Exception:
        return False
    return True


# ------------------------------------------------------------------------------ trainer


class Trainer:
    """Runs epochs of mini-batch training of ``net`` under ``loss`` with ``optimizer``.

    train: (x, y) host arrays or a Dataset; test: (x, y), or None (for a Dataset: its
    test split). schedule: anything with ``lr_at(epoch)``. ``rng``: a NumPy Generator
    or seed for the batch order. ``on_nonfinite``: "raise" (`TrainingDiverged`) or
    "stop" (record the event and return). ``check_gradients``: look for NaN/Inf in the
    gradients before each update, so a bad backward pass is caught before it writes
    NaN into the weights. Settings are checked here, before training.
    """

    def __init__(
        self,
        net,
        loss,
        optimizer,
        train,
        test=None,
        *,
        batch_size: int = 32,
        schedule=None,
        callbacks: Iterable = (),
        progress: bool = True,
        rng=0,
        eval_batch_size: int | None = None,
        shuffle: bool = True,
        on_nonfinite: str = "raise",
        check_gradients: bool = True,
        history: History | None = None,
    ):
        self.net, self.loss, self.optimizer, self.schedule = net, loss, optimizer, schedule
        self.x_train, self.y_train = _split(train, "train")
        if test is None and hasattr(train, "x_test") and train.x_test is not None and len(train.x_test):
            test = (train.x_test, train.y_test)
        self.test = None if test is None else _split(test, "test")
        if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if eval_batch_size is not None and eval_batch_size <= 0:
            raise ValueError(f"eval_batch_size must be positive, got {eval_batch_size!r}")
        if on_nonfinite not in ("raise", "stop"):
            raise ValueError(f"on_nonfinite must be 'raise' or 'stop', got {on_nonfinite!r}")
        _check_data(self.x_train, self.y_train, "train")
        if self.test is not None:
            _check_data(*self.test, "test")
        if schedule is None:
            _check_lr(optimizer.lr)
        self.batch_size = int(batch_size)
        self.eval_batch_size = eval_batch_size or max(self.batch_size, 256)
        self.callbacks = list(callbacks)
        self.progress = progress
        self.shuffle = shuffle
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.on_nonfinite = on_nonfinite
        self.check_gradients = check_gradients
        self.history = history if history is not None else History()
        self.classification = _is_classification(loss)
        self.stop = False
        self.diverged = False
        self.epoch: int | None = None

    # -- callbacks ------------------------------------------------------------------

    def _call(self, hook: str, *args) -> None:
        for callback in self.callbacks:
            method = getattr(callback, hook, None)
            if method is not None:
                method(self, *args)

    def request_stop(self, epoch: int, reason: str, **info) -> None:
        """Stop after this epoch and record why: event ``{"event": "stop", "reason": ...}``."""
        self.stop = True
        self.history.record(epoch, "stop", reason=reason, **info)

    # -- the loop -------------------------------------------------------------------

    def fit(self, epochs: int, initial_epoch: int | None = None) -> History:
        """Train for ``epochs`` epochs (numbered from ``initial_epoch``, by default the
        number of epochs already in the history) and return the history."""
        if not isinstance(epochs, (int, np.integer)) or isinstance(epochs, bool) or epochs < 0:
            raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
        first = len(self.history) if initial_epoch is None else int(initial_epoch)
        if self.schedule is not None:
            for epoch in range(first, first + epochs):
                rate = self.schedule.lr_at(epoch)
                if not math.isfinite(rate) or rate < 0:
                    raise ValueError(
                        f"schedule gives learning rate {rate!r} at epoch {epoch}; it must be >= 0"
                    )
        self.stop = False
        self._call("on_train_begin")
        epochs_range = range(first, first + epochs)
        bar = None
        if _progress_enabled(self.progress):
            from tqdm.auto import tqdm

            bar = tqdm(epochs_range, desc="epochs", unit="epoch", leave=False, file=sys.stderr)
            epochs_range = bar
        try:
            for epoch in epochs_range:
                self.epoch = epoch
                if self.schedule is not None:
                    self.optimizer.lr = self.schedule.lr_at(epoch)
                self._call("on_epoch_begin", epoch)
                started = time.perf_counter()
                outcome = self._train_epoch(epoch)
                if outcome is None:  # diverged with on_nonfinite="stop"
                    break
                train_loss, train_acc = outcome
                test_loss = test_acc = None
                if self.test is not None:
                    test_loss, test_acc = evaluate(
                        self.net, self.loss, *self.test, batch_size=self.eval_batch_size
                    )
                logs = {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "train_acc": train_acc,
                    "test_loss": test_loss,
                    "test_acc": test_acc,
                    "lr": float(self.optimizer.lr),
                    "time_s": time.perf_counter() - started,
                }
                self.history.log(logs)
                self._call("on_epoch_end", epoch, logs)
                if bar is not None:
                    shown = {k: f"{logs[k]:.4g}" for k in ("train_loss", "test_loss") if logs[k] is not None}
                    if logs["test_acc"] is not None:  # accuracy in %, as in every table and plot
                        shown["test_acc_%"] = f"{100 * logs['test_acc']:.2f}"
                    bar.set_postfix(shown)
                if self.stop:
                    break
        finally:
            if bar is not None:
                bar.close()
        self._call("on_train_end")
        return self.history

    def _train_epoch(self, epoch: int):
        """One pass over the training set; returns (mean loss, accuracy or None)."""
        net, loss, optimizer = self.net, self.loss, self.optimizer
        total_loss, correct, count, seen = 0.0, 0, 0, 0
        for batch, index in enumerate(
            _batch_indices(len(self.x_train), self.batch_size, self.rng, self.shuffle)
        ):
            xb = _to_device(self.x_train[index])
            yb = _to_device(self.y_train[index], labels=True)
            pred = net(xb)
            value = float(loss.forward(pred, yb))  # the contract's float: one read per batch
            if not math.isfinite(value):
                self._diverged(epoch, batch, xb, yb, value)
                return None
            delta = loss.backward()
            net.backward(delta)
            if self.check_gradients and not self._gradients_finite():
                self._diverged(epoch, batch, xb, yb, value, what="gradient")
                return None
            optimizer.step()
            optimizer.zero_grad()
            total_loss += value * len(xb)
            seen += len(xb)
            if self.classification:
                c, size = _count_correct(pred, yb)  # stays on the device
                correct, count = correct + c, count + size
            self._call("on_batch_end", batch, value)
        accuracy = float(correct) / count if self.classification else None
        return total_loss / seen, accuracy

    # -- divergence -----------------------------------------------------------------

    def _gradients_finite(self) -> bool:
        """One device reduction and one read: are all gradients free of NaN/Inf?"""
        xp = backend.xp
        bad = 0
        for p in self.net.parameters():
            bad = bad + xp.count_nonzero(~xp.isfinite(p.grad))
        return int(bad) == 0

    def _locate_nonfinite(self, xb, yb):
        """Re-run a failing batch with ``net.check_finite = True``; the core's
        `NonFiniteError` names the first layer and pass with NaN/Inf (None if not found)."""
        from .network import NonFiniteError

        net = self.net
        previous = getattr(net, "check_finite", False)
        net.check_finite = True
        net.zero_grad()  # backward accumulates: start the re-run from clean gradients
        try:
            pred = net(xb)
            self.loss.forward(pred, yb)
            net.backward(self.loss.backward())
        except NonFiniteError as err:
            return err
        finally:
            net.check_finite = previous
            net.zero_grad()
        return None

    def _diverged(self, epoch: int, batch: int, xb, yb, value: float, what: str = "loss") -> None:
        self.diverged = True
        self.stop = True
        error = self._locate_nonfinite(xb, yb)
        bad_params = [
            name for name, p in self.net.named_parameters() if not bool(backend.xp.isfinite(p.data).all())
        ]
        if what == "loss":
            where = f"loss is {value} at epoch {epoch}, batch {batch}"
        else:
            where = (
                f"non-finite gradients at epoch {epoch}, batch {batch} (loss {value:.6g}); no update was made"
            )
        info: dict[str, Any] = {"batch": batch, "loss": str(value), "found_in": what}
        if error is not None:
            info.update(layer_index=error.layer_index, layer_name=error.layer_name, pass_name=error.pass_name)
            where += f"; non-finite values first appear in layer {error.layer_index} ({error.layer_name}) during the {error.pass_name} pass"
        elif what == "loss":
            where += "; every layer's output is finite, so the loss itself overflowed"
        if bad_params:
            info["nonfinite_parameters"] = bad_params
            where += f"; parameters {bad_params} are already non-finite (an earlier update produced them: lower the lr or clip the gradients)"
        self.history.record(epoch, "diverged", **info)
        if self.on_nonfinite == "raise":
            raise TrainingDiverged(
                "training diverged: " + where,
                epoch=epoch,
                batch=batch,
                layer_index=info.get("layer_index"),
                layer_name=info.get("layer_name"),
                pass_name=info.get("pass_name"),
                history=self.history,
            )


def fit(
    net,
    loss,
    optimizer,
    train,
    epochs: int,
    batch_size: int = 32,
    *,
    test=None,
    schedule=None,
    callbacks: Iterable = (),
    progress: bool = True,
    seed=0,
    lr: float | None = None,
    momentum: float | None = None,
    weight_decay: float | None = None,
    clip_value: float | None = None,
    clip_norm: float | None = None,
    eval_batch_size: int | None = None,
    on_nonfinite: str = "raise",
    history: History | None = None,
) -> History:
    """Train ``net`` and return its `History`.

    optimizer: a built optimizer (``optim.SGD(...)``, ``optim.Adam(...)``) or a name,
    "sgd" / "adam", built over ``net.parameters()`` with lr, momentum, weight_decay
    (L2), clip_value (e.g. 0.5 for the PN recipe) and clip_norm. With a built optimizer
    those options belong to its constructor, and passing them here is an error.
    train / test: (x, y) host arrays, or a Dataset for train (then test defaults to its
    test split). Settings (batch size, epochs, lr) are checked before training starts.
    """
    options = {
        "momentum": momentum,
        "weight_decay": weight_decay,
        "clip_value": clip_value,
        "clip_norm": clip_norm,
    }
    if isinstance(optimizer, str):
        optimizer = make_optimizer(optimizer, net.parameters(), lr=lr, **options)
    else:
        given = [k for k, v in {"lr": lr, **options}.items() if v is not None]
        if given:
            raise ValueError(
                f"{given} belong to the optimizer's constructor when a built optimizer is passed"
            )
    trainer = Trainer(
        net,
        loss,
        optimizer,
        train,
        test,
        batch_size=batch_size,
        schedule=schedule,
        callbacks=callbacks,
        progress=progress,
        rng=seed,
        eval_batch_size=eval_batch_size,
        on_nonfinite=on_nonfinite,
        history=history,
    )
    return trainer.fit(epochs)


# ----------------------------------------------------------------- AD switching rule


def should_switch(last_loss: float, best_loss: float | None, A: float = 1.035) -> bool:
    """The AD paper's switching test (§III.A): switch when  C_last > A · C_best.

    ``best_loss`` is the best training loss of the epochs before; None (first epoch)
    never switches."""
    if best_loss is None:
        return False
    return last_loss > A * best_loss


def _activations_of(activations) -> list:
    """A list of activations with a swappable derivative, from a list or a network."""
    layers = getattr(activations, "layers", None)
    items = list(layers) if layers is not None else list(activations)
    found = [a for a in items if hasattr(a, "set_derivative")]
    if layers is None and len(found) != len(items):
        bad = next(a for a in items if not hasattr(a, "set_derivative"))
        raise TypeError(f"{type(bad).__name__} has no set_derivative(); SwitchingRule needs activations")
    if not found:
        raise ValueError("SwitchingRule needs at least one activation")
    return found


class SwitchingRule(Callback):
    """Alternate between the artificial derivative and the original one (METHODS §1).

    Training starts in AD mode, with the derivative each activation has when the rule
    is made. After each epoch, if its training loss exceeds A × (best training loss of
    the epochs before) — `should_switch` — every activation toggles between AD and
    ``original`` (a derivative name for ``set_derivative``, by default "true", or a
    callable). Each switch is recorded as ``{"epoch", "event": "switch", "mode", ...}``.
    **(reading)**: the switch toggles; the best loss is kept across switches.
    """

    def __init__(self, activations, A: float = 1.035, original="true", monitor: str = "train_loss"):
        if not A > 0:
            raise ValueError(f"A must be positive, got {A}")
        self.activations = _activations_of(activations)
        self.A, self.monitor = float(A), monitor
        # (callable, name) per activation and mode; the name keeps repr() readable
        self.ad_derivatives = [(act.d, getattr(act, "derivative_name", None)) for act in self.activations]
        self.original_derivatives = []
        for act, ad in zip(self.activations, self.ad_derivatives):
            act.set_derivative(original)
            self.original_derivatives.append((act.d, getattr(act, "derivative_name", None)))
            self._set(act, ad)
        self.mode = "ad"
        self.best_loss: float | None = None
        self.switches: list[tuple[int, str]] = []

    def _apply(self, mode: str) -> None:
        derivatives = self.ad_derivatives if mode == "ad" else self.original_derivatives
        for act, derivative in zip(self.activations, derivatives):
            self._set(act, derivative)
        self.mode = mode

    @staticmethod
    def _set(act, derivative) -> None:
        d, name = derivative
        act.set_derivative(d)
        if name is not None:
            act.derivative_name = name

    def on_train_begin(self, trainer) -> None:
        self._apply(self.mode)

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        last = logs[self.monitor]
        if should_switch(last, self.best_loss, self.A):
            new_mode = "original" if self.mode == "ad" else "ad"
            self._apply(new_mode)
            self.switches.append((epoch, new_mode))
            trainer.history.record(
                epoch, "switch", mode=new_mode, loss=last, best_loss=self.best_loss, A=self.A
            )
        if self.best_loss is None or last < self.best_loss:
            self.best_loss = last


_MOVED = {
    "Callback": "callbacks",
    "EarlyStopping": "callbacks",
    "Checkpointing": "callbacks",
    "PeakAccuracy": "ics",
}


def __getattr__(name: str):
    """Old import paths (``from nanograd_ad.train import EarlyStopping``), kept for one release."""
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(f".{_MOVED[name]}", __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
