"""Losses: ``forward(pred, target) -> float`` and ``backward() -> δ^L = ∂C/∂z^L``.

The mean is over the batch axis (and, for MSE, the output axis). With a leading axis of
independent models (a seed ensemble), each model's loss is its own mean and
``forward`` returns their sum, so each model receives exactly its own gradient; the
per-model values are kept in ``self.per_model``.
"""

from __future__ import annotations

from . import backend

__all__ = ["MSE", "Loss", "SoftmaxCrossEntropy"]


class Loss:
    """Base class. ``__call__ = forward``."""

    def forward(self, pred, target) -> float:
        raise NotImplementedError

    def backward(self):
        raise NotImplementedError

    def __call__(self, pred, target) -> float:
        return self.forward(pred, target)

    def __repr__(self):
        return f"{type(self).__name__}()"


class SoftmaxCrossEntropy(Loss):
    """Softmax and cross-entropy fused, from shifted logits.

    z: (N, K) logits (or (E, N, K)); target: integer labels (N,) in [0, K) or one-hot (N, K).

        p = softmax(z) = exp(z − max z) / Σ exp(z − max z)
        C = −(1/N) Σ_n log p[n, y_n],   log p = (z − max z) − log Σ exp(z − max z)

    Derivation of δ^L: ∂C/∂z_k = (1/N)(p_k − y_k), since ∂(−log p_y)/∂z_k = p_k − 1[k = y].
    Shifting by max z changes nothing mathematically and keeps exp from overflowing, so
    logits of ±1e4 stay finite.
    """

    def forward(self, logits, target) -> float:
        xp = backend.xp
        if logits.ndim < 2:
            raise ValueError(f"SoftmaxCrossEntropy: logits must be (N, classes), got {tuple(logits.shape)}")
        n, k = logits.shape[-2:]
        self.target = self._one_hot(target, n, k, logits.dtype)
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_sum = xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))
        log_p = shifted - log_sum
        self.probs = xp.exp(log_p)
        self.batch_size = n
        self.per_model = -(self.target * log_p).sum(axis=(-2, -1)) / n
        return float(self.per_model.sum())

    def backward(self):
        return (self.probs - self.target) / self.batch_size  # δ^L = (p − y) / N

    @staticmethod
    def _one_hot(target, n: int, k: int, dtype):
        xp = backend.xp
        if target.ndim >= 2 and target.shape[-1] == k and xp.issubdtype(target.dtype, xp.floating):
            if target.shape[-2] != n:
                raise ValueError(
                    f"SoftmaxCrossEntropy: one-hot target has {target.shape[-2]} rows, logits have {n}"
                )
            return target.astype(dtype)
        if not xp.issubdtype(target.dtype, xp.integer):
            raise TypeError(
                f"SoftmaxCrossEntropy: labels must be integers (N,) or one-hot floats "
                f"(N, {k}), got dtype {target.dtype} shape {tuple(target.shape)}"
            )
        if target.shape[-1] != n:
            raise ValueError(f"SoftmaxCrossEntropy: {target.shape[-1]} labels for {n} rows of logits")
        low, high = int(target.min()), int(target.max())
        if low < 0 or high >= k:
            raise ValueError(
                f"SoftmaxCrossEntropy: labels must lie in [0, {k}), got values in [{low}, {high}]"
            )
        return (target[..., None] == xp.arange(k)).astype(dtype)


class MSE(Loss):
    """Squared error, averaged (``reduction="mean"``, the default) or summed over the batch:

        mean:  C = (1/(N·D)) Σ (ŷ − y)²,   δ^L = 2(ŷ − y)/(N·D)
        sum:   C = Σ (ŷ − y)²,             δ^L = 2(ŷ − y)        (N·D times the mean's)

    pred: (N, D) (or (E, N, D)); target: the same shape (or (N, D) shared by all models).
    ``forward`` returns C (summed over the models of an ensemble) — the objective whose
    gradient ``backward`` returns. ``per_model`` is each model's *mean* squared error
    whatever the reduction (what `ensemble.EnsembleTrainer` reports), so a summed
    objective changes the steps, not the units of the reported losses.
    """

    REDUCTIONS = ("mean", "sum")

    def __init__(self, reduction: str = "mean"):
        if reduction not in self.REDUCTIONS:
            raise ValueError(f"MSE: reduction must be one of {self.REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def forward(self, pred, target) -> float:
        if pred.ndim < 2 or tuple(target.shape) != tuple(pred.shape[-target.ndim :]) or target.ndim < 2:
            raise ValueError(
                f"MSE: pred {tuple(pred.shape)} and target {tuple(target.shape)} "
                f"must have the same (N, D) shape"
            )
        self.diff = pred - target
        self.count = pred.shape[-2] * pred.shape[-1]
        self.per_model = (self.diff**2).sum(axis=(-2, -1)) / self.count
        scale = self.count if self.reduction == "sum" else 1
        return float(self.per_model.sum()) * scale

    def backward(self):
        if self.reduction == "sum":
            return 2.0 * self.diff  # δ^L = 2(ŷ − y)
        return 2.0 * self.diff / self.count  # δ^L = 2(ŷ − y)/(N·D)

    def __repr__(self):
        return f"MSE(reduction={self.reduction!r})" if self.reduction != "mean" else "MSE()"
