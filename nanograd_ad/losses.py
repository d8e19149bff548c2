"""Losses: ``forward(pred, target) -> C`` and ``backward()``, the error handed to the network.

``backward()`` returns ∂C/∂(the network's output): for the fused `SoftmaxCrossEntropy`
that is ∂C/∂z^L, the logits' gradient (the softmax is inside the loss); for `MSE` it is
∂C/∂a^L, the prediction's gradient (an output activation, if any, multiplies by its own d).

C comes back as a 0-d array of the backend, so on a GPU it stays there: ``float(C)``
reads it (one sync), and a loop that sums or checks it on the device reads it only when
it logs.

The mean is over the batch axis (and, for MSE, the output axis). With a leading axis of
independent models (a seed ensemble), each model's loss is its own mean and
``forward`` returns their sum, so each model receives exactly its own gradient; the
per-model values are kept in ``self.per_model``.
"""

from __future__ import annotations

import math

from . import backend
from .backend import Array

__all__ = ["MSE", "Loss", "SoftmaxCrossEntropy", "check_labels", "check_probabilities"]


def _read(*values) -> list:
    """Device scalars to host numbers in one copy (one sync); host values as they are."""
    if all(backend.array_backend(v) != "cupy" for v in values):
        return [v.item() for v in values]
    return backend.to_numpy(backend.xp.stack(list(values))).tolist()


def check_labels(labels, classes: int, owner: str = "SoftmaxCrossEntropy") -> None:
    """Refuse integer labels outside [0, classes), naming the range found.

    Host labels cost nothing; device labels one read of (min, max) — which is why the
    training loop checks a whole dataset once instead of every batch.
    """
    low, high = (int(v) for v in _read(labels.min(), labels.max()))
    if low < 0 or high >= classes:
        raise ValueError(f"{owner}: labels must lie in [0, {classes}), got values in [{low}, {high}]")


def check_probabilities(target, owner: str = "SoftmaxCrossEntropy") -> None:
    """Refuse float target rows (one-hot or probabilities) that do not sum to 1 or hold a
    negative entry, naming the worst row; one read (of the worst deviation and the minimum)."""
    xp = backend.module(backend.array_backend(target) or backend.name())  # host targets stay on the host
    sums = target.sum(axis=-1).reshape(-1)
    deviation, lowest = _read(xp.abs(sums - 1).max(), target.min())
    if not (deviation <= 1e-3 and lowest >= 0):  # NaN compares false: refused too
        worst = int(xp.argmax(xp.abs(sums - 1)))  # the first NaN row, if any
        found = f"sums to {float(sums[worst]):g}"
        if not math.isfinite(float(sums[worst])):
            found = "holds NaN or inf"
        elif deviation <= 1e-3:
            worst = int(xp.argmin(target.min(axis=-1).reshape(-1)))
            found = "holds a negative entry"
        raise ValueError(
            f"{owner}: rows of the target must sum to 1 with no negative entry "
            f"(one-hot or probabilities); row {worst} {found}"
        )


class Loss:
    """Base class. ``__call__ = forward``; ``forward`` returns C as a 0-d backend array."""

    def forward(self, pred, target):
        raise NotImplementedError

    def backward(self):
        raise NotImplementedError

    def _check_arrays(self, pred, target) -> None:
        """Both must be arrays with a batch axis of at least one row (N ≥ 1)."""
        for arg, value in (("pred", pred), ("target", target)):
            if not backend.is_array(value):
                raise TypeError(
                    f"{type(self).__name__}: {arg} must be an array (convert with np.asarray), "
                    f"got {type(value).__name__}"
                )
        if pred.ndim < 2:
            raise ValueError(f"{type(self).__name__}: pred must be (N, classes), got {tuple(pred.shape)}")
        if pred.shape[-2] == 0:
            raise ValueError(f"{type(self).__name__}: empty batch (pred of shape {tuple(pred.shape)})")

    def _check_forward_done(self, cached: str) -> Array:
        """The array forward cached as ``cached``; RuntimeError if forward has not run yet."""
        value = getattr(self, cached, None)
        if value is None:
            raise RuntimeError(f"{type(self).__name__}: backward called before forward")
        return value

    def __call__(self, pred, target):
        return self.forward(pred, target)

    def __repr__(self):
        return f"{type(self).__name__}()"


class SoftmaxCrossEntropy(Loss):
    """Softmax and cross-entropy fused, from shifted logits.

    z: (N, K) logits (or (E, N, K)). The target is one of two unambiguous forms:
    integer class labels (N,) in [0, K) (or (E, N), one row per model), or floating
    one-hot / probability rows (N, K) (or (E, N, K)) that sum to 1. Integer rows (N, K)
    and labels (N, 1) are refused: when N = K they cannot be told apart from labels.

        p = softmax(z) = exp(z − max z) / Σ exp(z − max z)
        C = −(1/N) Σ_n log p[n, y_n],   log p = (z − max z) − log Σ exp(z − max z)

    with 0·log 0 = 0, so a class masked with a −inf logit adds nothing where its target is 0
    (z = [0, −inf, 1], label 0: C = log(1 + e) = 1.3133).

    Derivation of δ^L: ∂C/∂z_k = (1/N)(p_k − y_k), since ∂(−log p_y)/∂z_k = p_k − 1[k = y].
    Shifting by max z changes nothing mathematically and keeps exp from overflowing, so
    logits of ±1e4 stay finite.

    ``check_labels`` (default True): check the target's values on every call — integer
    labels in [0, K), float rows summing to 1 (on a GPU one read per batch). `Trainer`
    checks a dataset once with :func:`check_labels` / :func:`check_probabilities` and
    turns the per-batch check off.
    """

    probs = None

    def __init__(self, check_labels: bool = True):
        self.check_labels = bool(check_labels)

    def forward(self, logits, target):
        xp = backend.xp
        self._check_arrays(logits, target)
        if logits.dtype.kind not in "fiu":
            raise TypeError(
                f"SoftmaxCrossEntropy: logits must be real numbers (a float array), got dtype {logits.dtype}"
            )
        n = logits.shape[-2]
        self.target = self._one_hot(target, tuple(logits.shape), logits.dtype)
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_sum = xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))
        log_p = shifted - log_sum
        self.probs = xp.exp(log_p)
        self.batch_size = n
        # 0 · log 0 = 0: a class masked with a −inf logit adds nothing where its target is 0
        picked = xp.where(self.target != 0, log_p, 0)
        self.per_model = -(self.target * picked).sum(axis=(-2, -1)) / n
        return self.per_model.sum()  # a 0-d array: no sync

    def backward(self):
        """δ^L = ∂C/∂z^L = (p − y) / N for the logits z^L (shape of the logits)."""
        self._check_forward_done("probs")
        return (self.probs - self.target) / self.batch_size  # δ^L = (p − y) / N

    def _one_hot(self, target, logits_shape: tuple, dtype):
        xp = backend.xp
        n, k = logits_shape[-2:]
        forms = (
            f"expected integer class labels of shape {(n,)} or floating one-hot/probability "
            f"rows of shape {(n, k)}"
        )
        shape = tuple(target.shape)
        floating = xp.issubdtype(target.dtype, xp.floating)
        if floating and target.ndim >= 2 and shape[-2:] == (n, k) and target.ndim <= len(logits_shape):
            if self.check_labels:
                check_probabilities(target)
            return target.astype(dtype)
        if not xp.issubdtype(target.dtype, xp.integer):
            raise TypeError(
                f"SoftmaxCrossEntropy: labels must be integers; got a target of dtype {target.dtype} "
                f"shape {shape}; {forms}"
            )
        if target.ndim == 1 and shape != (n,):
            raise ValueError(f"SoftmaxCrossEntropy: {shape[0]} labels for {n} rows of logits; {forms}")
        if shape not in ((n,), tuple(logits_shape[:-1])):
            raise ValueError(f"SoftmaxCrossEntropy: integer target of shape {shape}; {forms}")
        if self.check_labels:
            check_labels(target, k)
        return (target[..., None] == xp.arange(k)).astype(dtype)


class MSE(Loss):
    """Squared error, averaged (``reduction="mean"``, the default) or summed over the batch:

        mean:  C = (1/(N·D)) Σ (ŷ − y)²,   δ^L = 2(ŷ − y)/(N·D)
        sum:   C = Σ (ŷ − y)²,             δ^L = 2(ŷ − y)        (N·D times the mean's)

    pred: (N, D) (or (E, N, D)); target: the same shape (or (N, D) shared by all models).
    ``forward`` returns C (summed over the models of an ensemble) — the objective whose
    gradient ``backward`` returns. ``per_model`` is each model's *mean* squared error
    whatever the reduction (what `train.Trainer` reports for an ensemble), so a summed
    objective changes the steps, not the units of the reported losses.
    """

    diff: Array | None = None
    REDUCTIONS = ("mean", "sum")

    def __init__(self, reduction: str = "mean"):
        if reduction not in self.REDUCTIONS:
            raise ValueError(f"MSE: reduction must be one of {self.REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def forward(self, pred, target):
        self._check_arrays(pred, target)
        if pred.ndim < 2 or tuple(target.shape) != tuple(pred.shape[-target.ndim :]) or target.ndim < 2:
            raise ValueError(
                f"MSE: pred {tuple(pred.shape)} and target {tuple(target.shape)} "
                f"must have the same (N, D) shape"
            )
        self.diff = pred - target
        self.count = pred.shape[-2] * pred.shape[-1]
        self.per_model = (self.diff**2).sum(axis=(-2, -1)) / self.count
        scale = self.count if self.reduction == "sum" else 1
        return self.per_model.sum() * scale  # a 0-d array: no sync

    def backward(self):
        """∂C/∂a^L for the prediction a^L (its shape): 2(ŷ − y)/(N·D), or 2(ŷ − y) when summed."""
        diff = self._check_forward_done("diff")
        if self.reduction == "sum":
            return 2.0 * diff  # δ^L = 2(ŷ − y)
        return 2.0 * diff / self.count  # δ^L = 2(ŷ − y)/(N·D)

    def __repr__(self):
        return f"MSE(reduction={self.reduction!r})" if self.reduction != "mean" else "MSE()"
