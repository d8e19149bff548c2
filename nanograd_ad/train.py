"""The training loop, for one model or an ensemble of E models (evaluation in batches: `evaluation`).

One step is the one-way data flow of the library:

    pred  = net(x_batch)                       Sequential.forward
    value = loss.forward(pred, y_batch)        C, mean over the batch
    delta = loss.backward()                    δ^L, what the loss hands the network
    net.backward(delta, input_grad=False)      δ^l = (δ^{l+1} W^{l+1 T}) ⊙ d^l, fills .grad (no ∂C/∂x)
    optimizer.step(); optimizer.zero_grad()

`Trainer` runs that step over shuffled mini-batches for a number of epochs. Before
each epoch a schedule sets ``optimizer.lr = schedule.lr_at(epoch)`` (epochs count from
0; a per-step schedule sets it before every update); after it the test set is evaluated
in batches and one row is added to the `History`. Callbacks (`callbacks.Callback`) see
the training at five points:

    on_train_begin(trainer)
    on_epoch_begin(trainer, epoch)
    on_batch_end(trainer, batch, loss)          loss: that batch's float
    on_epoch_end(trainer, epoch, logs)          logs: this epoch's history row
    on_train_end(trainer)

``trainer.request_stop(epoch, reason)`` stops it and records why in ``history.events``.

**An ensemble** is a network whose layers carry a leading model axis (``ensemble.from_seeds``):
the same loop trains its E models side by side, each on its own batch order (model e
shuffles with the generator of ``rng[e]``, exactly as a one-model `Trainer` with
``rng=rng[e]`` does), and the loss, accuracy and every per-model number of the history
are (E,) arrays. Model e therefore follows the run of the single network it came from.
Its batches are gathered on the device once per epoch: x (N, D) → (E, N, D) = x[order_e].

**Host and device.** On a GPU the host waits whenever it reads a value (a *sync*). A
one-model step reads once: the loss and the count of non-finite gradient entries, in one
copy (only the loss with ``check_gradients=False``); an ensemble's step reads nothing.
The epoch's loss and accuracy are summed on the device and read once per epoch; a
classifier's labels are checked once per dataset, not per batch; ``on_batch_end`` gets
the loss as a float only when some callback overrides it (an ensemble then pays a read).
Batches are moved to the device by the loop itself (data already there stays there).

A non-finite loss, or a non-finite gradient before the update (``check_gradients``), stops
the training of one model with `TrainingDiverged` naming the layer and pass where NaN/Inf
first appeared (`divergence`), or, with ``on_nonfinite="stop"``, an event. In an ensemble
a diverging model only spoils its own numbers and the others train on.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable

import numpy as np

from . import backend
from .divergence import TrainingDiverged, diagnose, nonfinite_count
from .ensemble import ensemble_size, model_generators
from .evaluation import (
    _check_batch_sizes,
    _check_training_data,
    _count_correct,
    _host,
    _is_classification,
    _rows,
    _to_device,
    evaluate,
    network_dtype,
)
from .history import History
from .init import check_rng
from .optim import _check_lr, make_optimizer
from .schedules import check_rates, check_schedule, steps_per_epoch_of

__all__ = ["History", "Trainer", "TrainingDiverged", "evaluate", "fit", "make_optimizer"]


# ------------------------------------------------------------------------------ helpers


def _split(data, what: str):
    """(x, y) from a tuple or from a `datasets.Dataset` (its training split)."""
    if hasattr(data, "x_train"):
        return data.x_train, data.y_train
    try:
        x, y = data
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be an (x, y) pair or a Dataset, got {type(data).__name__}") from None
    return x, y


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
    test split). schedule: anything with ``lr_at(epoch)``, or ``lr_at(step)`` read before
    every update (`schedules.steps_per_epoch_of`). ``rng``: the batch order — a
    NumPy Generator or seed; for an ensemble of E models, E of them (or one int seed s:
    model e gets seed s + e). ``on_nonfinite``: "raise" (`TrainingDiverged`) or "stop"
    (record the event and return). ``check_gradients``: look for NaN/Inf in the gradients
    before each update, so a bad backward pass is caught before it writes NaN into the
    weights (one model only). ``eval_batch_size``: rows per evaluation batch (an
    ensemble: by default about 32k numbers per layer output, small enough that the
    allocator reuses memory instead of mapping fresh pages for every (E, rows, D)
    intermediate). Settings are checked here, before training.

    Inputs and floating targets are cast to the network's dtype (`network_dtype`) on the
    way to the device; integer labels stay integers and the network is never cast, so
    float64 data train a float32 network in float32.
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
        _check_batch_sizes(batch_size, eval_batch_size)
        check_schedule(schedule)
        check_rng("rng (fit's seed)", rng)
        if on_nonfinite not in ("raise", "stop"):
            raise ValueError(f"on_nonfinite must be 'raise' or 'stop', got {on_nonfinite!r}")
        _check_training_data((self.x_train, self.y_train), self.test)
        if schedule is None:
            _check_lr(optimizer.lr)
        self.models = ensemble_size(net)
        self.batch_size = int(batch_size)
        self._steps = steps_per_epoch_of(schedule, len(self.x_train), self.batch_size)  # None: per epoch
        self.eval_batch_size = eval_batch_size or max(self.batch_size, 256)
        self.callbacks = list(callbacks)
        self.progress, self.shuffle = progress, shuffle
        self.on_nonfinite, self.check_gradients = on_nonfinite, check_gradients
        self._unchecked_classes = False
        self.history = history if history is not None else History(models=self.models)
        if self.history.models != self.models:
            raise ValueError(
                f"history: of models={self.history.models}, the network has models={self.models}"
            )
        self.classification = _is_classification(loss)
        self.stop = False
        self.diverged = False
        self.epoch: int | None = None
        if self.models is None:
            self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        else:
            self._prepare_ensemble(self.models, rng, eval_batch_size)

    def _prepare_ensemble(self, models: int, rng, eval_batch_size: int | None) -> None:
        """Per-model generators; the data on the device once; the epoch's arrays allocated once."""
        if getattr(self.optimizer, "clip_norm", None) is not None:
            raise ValueError(
                "clip_norm rescales by the norm over all parameters, which would mix "
                "the models of an ensemble; use clip_value (elementwise)"
            )
        xp, dtype = backend.xp, network_dtype(self.net)
        self.rngs = model_generators(rng, models)
        self.x_train, self.y_train = _to_device(self.x_train, dtype), _to_device(self.y_train, dtype)
        if self.test is not None:
            self.test = (_to_device(self.test[0], dtype), _to_device(self.test[1], dtype))
        widest = max(
            max(getattr(l, "in_features", 1), getattr(l, "out_features", 1)) for l in self.net.layers
        )
        self.eval_batch_size = eval_batch_size or max(1, 32768 // (models * widest))
        self._order = np.empty((models, len(self.x_train)), dtype=np.int64)  # host
        self._x_epoch = xp.empty((models, *self.x_train.shape), dtype=self.x_train.dtype)
        self._y_epoch = xp.empty((models, *self.y_train.shape), dtype=self.y_train.dtype)

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
            check_rates(self.schedule, first, epochs, self._steps)
        self.stop = False
        checks_labels = getattr(self.loss, "check_labels", None) is True
        if checks_labels:  # checked once per dataset at the first batch instead of every batch
            self.loss.check_labels, self._unchecked_classes = False, True
        try:
            return self._fit(first, epochs)
        finally:
            if checks_labels:
                self.loss.check_labels = True

    def _fit(self, first: int, epochs: int) -> History:
        self._call("on_train_begin")
        epochs_range: Iterable[int] = range(first, first + epochs)
        bar = None
        if _progress_enabled(self.progress):
            from tqdm.auto import tqdm

            bar = tqdm(epochs_range, desc="epochs", unit="epoch", leave=False, file=sys.stderr)
            epochs_range = bar
        try:
            for epoch in epochs_range:
                self.epoch = epoch
                if self.schedule is not None and self._steps is None:
                    self.optimizer.lr = self.schedule.lr_at(epoch)
                self._call("on_epoch_begin", epoch)
                started = time.perf_counter()
                outcome = self._train_epoch(epoch)
                if outcome is None:  # diverged with on_nonfinite="stop"
                    break
                train_loss, train_acc = outcome
                test_loss = test_acc = None
                if self.test is not None:
                    x_test, y_test = self.test
                    test_loss, test_acc = evaluate(self.net, self.loss, x_test, y_test, self.eval_batch_size)
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
                if bar is not None:  # an ensemble shows the mean over its models
                    losses = [k for k in ("train_loss", "test_loss") if logs[k] is not None]
                    shown = {k: f"{np.mean(logs[k]):.4g}" for k in losses}
                    if logs["test_acc"] is not None:  # accuracy in %, as in every table and plot
                        shown["test_acc_%"] = f"{100 * np.mean(logs['test_acc']):.2f}"
                    bar.set_postfix(shown)
                if self.stop:
                    break
        finally:
            if bar is not None:
                bar.close()
        self._call("on_train_end")
        return self.history

    def _batches(self):
        """(batch, x_batch, y_batch) over one epoch. One model: the rows of its permutation,
        sent to the device batch by batch. E models: (E, B, ...) slices of the epoch's
        gathered rows, row e in model e's order."""
        n, size = len(self.x_train), self.batch_size
        if self.models is None:
            from .datasets import batches

            dtype = network_dtype(self.net)
            for batch, index in enumerate(batches(n, size, self.rng, shuffle=self.shuffle)):
                yield batch, _rows(self.x_train, index, dtype), _rows(self.y_train, index, dtype)
            return
        self._order[...] = np.arange(n)  # rng.permutation(n) is arange(n) shuffled in place
        if self.shuffle:
            for row, rng in zip(self._order, self.rngs):
                rng.shuffle(row)
        order, xp = backend.asarray(self._order), backend.xp
        x_epoch = xp.take(self.x_train, order, axis=0, out=self._x_epoch)  # (E, N, D) = x[order]
        y_epoch = xp.take(self.y_train, order, axis=0, out=self._y_epoch)
        for batch, start in enumerate(range(0, n, size)):
            yield batch, x_epoch[:, start : start + size], y_epoch[:, start : start + size]

    def _train_epoch(self, epoch: int):
        """One pass over the training set; returns (mean loss, accuracy or None), each a
        float for one model and an (E,) array for an ensemble."""
        net, loss, optimizer, one_model = self.net, self.loss, self.optimizer, self.models is None
        xp = backend.xp
        shape = () if self.models is None else (self.models,)
        total_loss = xp.zeros(shape, dtype=xp.float64)  # on the device
        correct, count, seen = 0, 0, 0
        per_batch = self._listening("on_batch_end")
        for batch, xb, yb in self._batches():
            if self._steps is not None:  # a per-step schedule: the rate of this update
                optimizer.lr = self.schedule.lr_at(epoch * self._steps + batch)
            pred = net(xb)
            value = loss.forward(pred, yb)  # C, a 0-d array: still on the device
            if self._unchecked_classes:
                self._check_targets(pred.shape[-1])  # once per dataset, not per batch
            net.backward(loss.backward(), input_grad=False)  # nobody reads ∂C/∂x here
            host_value = None
            if one_model:  # the step's one read: the loss and the non-finite gradient entries together
                host_value, bad = self._read_step(value)
                if not math.isfinite(host_value) or bad:
                    what = "loss" if not math.isfinite(host_value) else "gradient"
                    self._diverged(epoch, batch, xb, yb, host_value, what)
                    return None
            optimizer.step()
            optimizer.zero_grad()
            rows = yb.shape[0] if one_model else yb.shape[1]
            total_loss += (value.astype(xp.float64) if one_model else loss.per_model) * rows
            seen += rows
            if self.classification:
                hits, size = _count_correct(pred, yb)  # stays on the device
                correct, count = correct + hits, count + size
            if per_batch:
                self._call("on_batch_end", batch, float(value) if host_value is None else host_value)
        accuracy = _host(correct) / count if self.classification else None
        return _host(total_loss) / seen, accuracy  # the epoch's read of the loss

    def _read_step(self, value) -> tuple[float, int | None]:
        """(loss, count of non-finite gradient entries or None) in one device→host read."""
        if not self.check_gradients:
            return float(value), None
        bad = nonfinite_count(self.net)  # one device reduction
        loss_value, bad_count = backend.to_numpy(backend.xp.stack([value.astype(bad.dtype), bad])).tolist()
        return loss_value, int(bad_count)

    def _listening(self, hook: str) -> bool:
        """Whether some callback overrides ``hook`` (reading the loss per batch costs a sync)."""
        from .callbacks import Callback

        return any(
            getattr(cb, hook, None) is not None
            and getattr(type(cb), hook, None) is not getattr(Callback, hook)
            for cb in self.callbacks
        )

    def _check_targets(self, classes: int) -> None:
        """The targets of the training and test sets, checked once for the whole set
        (``losses.check_labels`` / ``check_probabilities``; at most one read each)."""
        from .losses import check_labels, check_probabilities

        self._unchecked_classes = False
        owner = type(self.loss).__name__
        sets = [("train", self.y_train)] + ([("test", self.test[1])] if self.test is not None else [])
        for what, y in sets:
            if np.issubdtype(y.dtype, np.integer):
                check_labels(y, classes, owner=f"{owner} ({what} set)")
            elif y.ndim >= 2:
                check_probabilities(y, owner=f"{owner} ({what} set)")

    # -- divergence -----------------------------------------------------------------

    def _diverged(self, epoch: int, batch: int, xb, yb, value: float, what: str = "loss") -> None:
        """Stop; record where NaN/Inf first appeared; raise `TrainingDiverged` unless asked not to."""
        self.diverged = self.stop = True
        net, loss = self.net, self.loss
        message, info = diagnose(net, loss, xb, yb, epoch=epoch, batch=batch, value=value, what=what)
        self.history.record(epoch, "diverged", **info)
        if self.on_nonfinite == "raise":
            where = {key: info.get(key) for key in ("layer_index", "layer_name", "pass_name")}
            raise TrainingDiverged(message, epoch=epoch, batch=batch, history=self.history, **where)


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
    check_gradients: bool = True,
    history: History | None = None,
) -> History:
    """Train ``net`` (one model or an ensemble) and return its `History`.

    optimizer: a built optimizer (``optim.SGD(...)``, ``optim.Adam(...)``) or a name,
    "sgd" / "adam", built over ``net.parameters()`` with lr, momentum, weight_decay
    (L2), clip_value (e.g. 0.5 for the PN recipe) and clip_norm. With a built optimizer
    those options belong to its constructor, and passing them here is an error.
    train / test: (x, y) host arrays, or a Dataset for train (then test defaults to its
    test split). Settings (batch size, epochs, lr) are checked before training starts.
    ``check_gradients``: see `Trainer` (False saves one device reduction per step).
    """
    options = dict(momentum=momentum, weight_decay=weight_decay, clip_value=clip_value, clip_norm=clip_norm)
    if isinstance(optimizer, str):
        optimizer = make_optimizer(optimizer, net.parameters(), lr=lr, **options)
    else:
        given = [k for k, v in {"lr": lr, **options}.items() if v is not None]
        if given:
            raise ValueError(
                f"{given} belong to the optimizer's constructor when a built optimizer is passed"
            )
    settings = dict(batch_size=batch_size, schedule=schedule, callbacks=callbacks, progress=progress)
    settings.update(eval_batch_size=eval_batch_size, on_nonfinite=on_nonfinite, history=history)
    settings.update(check_gradients=check_gradients)
    return Trainer(net, loss, optimizer, train, test, rng=seed, **settings).fit(epochs)


_MOVED = {"Callback": "callbacks", "EarlyStopping": "callbacks", "Checkpointing": "callbacks"}
_MOVED.update(
    PeakAccuracy="ics", SwitchingRule="artificial_derivative", should_switch="artificial_derivative"
)


def __getattr__(name: str):
    """Old import paths (``from nanograd_ad.train import EarlyStopping``), kept for one release."""
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(f".{_MOVED[name]}", __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
