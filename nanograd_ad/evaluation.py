"""Evaluation in batches, and the device-side data handling the training loop shares with it.

    loss, accuracy = evaluate(net, loss, x, y, batch_size=256)

The mean loss is the row-weighted mean of the batches' means (the loss of one full batch);
accuracy is the fraction of argmax predictions that match the labels (classification
losses only). For an ensemble (a network with a leading model axis) both are (E,) arrays.

What `train.Trainer` shares with it lives here too: the dtype policy (`network_dtype`,
`_to_device`: the data follow the network's dtype, never the reverse), rows sent to the device
(`_rows`), correct predictions counted on the device (`_count_correct`) and the one read of a
sum at the end (`_host`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import backend
from .ensemble import ensemble_size

__all__ = ["evaluate", "network_dtype"]


def _is_classification(loss) -> bool:
    """Accuracy makes sense for the softmax cross-entropy loss only (or a loss saying so)."""
    flag = getattr(loss, "classification", None)
    if flag is not None:
        return bool(flag)
    from .losses import SoftmaxCrossEntropy

    return isinstance(loss, SoftmaxCrossEntropy)


def network_dtype(net):
    """The dtype of ``net``'s parameters (the backend's default for a net without any)."""
    params = net.parameters()
    return params[0].data.dtype if params else backend.default_dtype()


def _to_device(x, dtype):
    """Host array → backend array, floating data cast to ``dtype`` (the network's).

    The one dtype policy of training: the data follow the layers, never the reverse — a
    float64 input to a float32 network runs the pass in float32. Integer labels stay
    integers. Cast on the host, so a GPU receives the smaller array.
    """
    if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating) and x.dtype != dtype:
        x = x.astype(dtype)
    x = backend.xp.asarray(x)
    if backend.xp.issubdtype(x.dtype, backend.xp.floating) and x.dtype != dtype:
        x = x.astype(dtype)
    return x


def _rows(data, index, dtype):
    """``data[index]`` on the device (see `_to_device`): host data is indexed on the host and
    sent over (one host→device copy); data already on the device is indexed there."""
    if backend.array_backend(data) == "cupy":
        return _to_device(data[backend.asarray(index)], dtype)
    return _to_device(data[index], dtype)


def _count_correct(pred, y):
    """Correct argmax predictions per model, kept on the device (no sync).

    pred: (N, C) or (E, N, C); y: integer labels (N,) / (E, N) or one-hot (N, C) / (E, N, C).
    Returns (correct, rows): correct a 0-d array, or (E,) for an ensemble."""
    xp = backend.xp
    one_hot = y.ndim == pred.ndim or (y.ndim >= 2 and y.shape[-1] == pred.shape[-1])
    hits = xp.argmax(pred, axis=-1) == (xp.argmax(y, axis=-1) if one_hot else y)
    return hits.sum(axis=-1), hits.shape[-1]


def _check_data(x, y, what: str) -> None:
    if len(x) != len(y):
        raise ValueError(f"{what}: {len(x)} inputs but {len(y)} targets")
    if len(x) == 0:
        raise ValueError(f"{what}: no samples")


def _check_batch_sizes(batch_size, eval_batch_size) -> None:
    """Training's batch size: an integer > 0; evaluation's: None (a default) or an integer > 0."""
    for name, size in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
        if size is None and name == "eval_batch_size":
            continue
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size <= 0:
            allowed = "None or a positive integer" if name == "eval_batch_size" else "a positive integer"
            raise ValueError(f"{name} must be {allowed}, got {size!r}")


def _check_training_data(train: tuple, test: tuple | None) -> None:
    """Refuse (x, y) pairs of other lengths or none, lists, and NaN or inf in floating inputs
    or targets, naming the set ("train", "test"), the role and the first row.

    One float64 sum per floating array (a NaN or inf entry makes it non-finite; finite float32
    data cannot overflow it), the device arrays' sums read in one copy; a search only when one
    is not finite.
    """
    sets = [("train", *train)] + ([("test", *test)] if test is not None else [])
    arrays = []
    for what, x, y in sets:
        _check_data(x, y, what)
        for role, value in (("inputs", x), ("targets", y)):
            if not backend.is_array(value):
                raise TypeError(
                    f"{what}: the {role} must be an array (convert with np.asarray(..., dtype=np.float32), "
                    f"or integer labels with np.asarray(..., dtype=np.int64)), got {type(value).__name__}"
                )
            if value.dtype.kind == "f":
                arrays.append((what, role, value))
    on_device = [entry for entry in arrays if backend.array_backend(entry[2]) == "cupy"]
    on_host = [entry for entry in arrays if backend.array_backend(entry[2]) != "cupy"]
    sums = [float(value.sum(dtype=np.float64)) for _, _, value in on_host]
    if on_device:  # one read for all of them
        xp = backend.xp
        sums += backend.to_numpy(xp.stack([v.sum(dtype=xp.float64) for _, _, v in on_device])).tolist()
    for (what, role, value), total in zip(on_host + on_device, sums):
        if math.isfinite(total):
            continue
        xp = backend.module(backend.array_backend(value) or backend.name())
        bad = ~xp.isfinite(value.reshape(len(value), -1))
        rows = backend.to_numpy(bad.any(axis=1))
        if rows.any():  # (else finite float64 values whose sum overflowed)
            count = int(bad.sum())
            entries = "1 entry" if count == 1 else f"{count} entries"
            raise ValueError(
                f"{what}: the {role} hold NaN or inf ({entries}); first in row {int(rows.argmax())} — "
                "clean or drop those rows before training"
            )


def _host(value):
    """A per-model device array as a NumPy array; a 0-d one (one model) as a float."""
    value = backend.to_numpy(value)
    return float(value) if value.ndim == 0 else value


def evaluate(net, loss, x, y, batch_size: int = 256) -> tuple[Any, Any]:
    """Mean loss and accuracy of ``net`` on (x, y), computed ``batch_size`` rows at a time.

    The loss of a batch is its mean; the result is the row-weighted mean over batches
    (equal to the loss of one full batch). Accuracy is None for non-classification
    losses. One model: two floats. An ensemble: two (E,) arrays, one entry per model
    (``loss.per_model``). Sums stay on the device; they are read once at the end.

    The network is evaluated in evaluation mode (``net.eval()``: batch normalization uses
    its running statistics and leaves them alone) and put back in the mode it was in.
    """
    _check_data(x, y, "evaluate")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    mode = getattr(net, "training", None)
    if mode is None:  # not a Sequential: no modes to switch
        return _evaluate(net, loss, x, y, batch_size)
    net.eval()
    try:
        return _evaluate(net, loss, x, y, batch_size)
    finally:
        net.train(mode)


def _evaluate(net, loss, x, y, batch_size: int) -> tuple[Any, Any]:
    """:func:`evaluate` in whatever mode the network is in."""
    classification, ensemble = _is_classification(loss), ensemble_size(net) is not None
    total_loss, correct, count = backend.xp.zeros((), dtype=backend.xp.float64), 0, 0  # sums in float64
    dtype = network_dtype(net)
    for start in range(0, len(x), batch_size):
        xb = _to_device(x[start : start + batch_size], dtype)
        yb = _to_device(y[start : start + batch_size], dtype)
        pred = net(xb)
        value = loss.forward(pred, yb)
        total_loss = total_loss + (loss.per_model if ensemble else value) * len(xb)
        if classification:
            hits, rows = _count_correct(pred, yb)
            correct, count = correct + hits, count + rows
    accuracy = _host(correct) / count if classification else None
    return _host(total_loss) / len(x), accuracy
