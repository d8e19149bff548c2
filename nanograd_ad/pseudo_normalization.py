"""Pseudo-normalization (PN) of the derivative in the δ recursion, single-path or two-path.

Bu, Jiang, Lu & Zhang 2026 (Entropy): at the PN layers the backward pass divides the
activation's derivative d^l by its root mean square, so the error neither shrinks nor
grows with depth. It is a `feedback.FeedbackRule`: it acts between layers in
``Sequential.backward``, and no layer changes for it.
"""

from __future__ import annotations

import math
import numbers

from . import backend
from .activations import Activation
from .feedback import FeedbackRule
from .layers import AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D

__all__ = ["PseudoNormalize", "pseudo_normalize", "rms"]


def rms(d, over: str = "sample"):
    """RMS(d) = sqrt((1/m) Σ_i d_i²) — per sample (our reading of Bu, Jiang, Lu & Zhang 2026,
    §3.3) or batch-wide.

    d: (N, D) from a Dense layer, (N, C, H, W) from a convolution, or (E, N, D) from a
    seed ensemble of Dense layers. ``over="sample"`` averages over each sample's m outputs
    (D, or C·H·W) and returns (N,) (or (E, N)); ``over="batch"`` averages over the whole
    batch and returns a scalar (or (E,): the models of an ensemble stay independent).
    """
    xp = backend.xp
    lead = (2 if d.ndim == 3 else 1) if over == "sample" else (1 if d.ndim == 3 else 0)
    return xp.sqrt(xp.mean(d * d, axis=tuple(range(lead, d.ndim))))


def _leading(scale, ndim: int):
    """A per-sample (N,) or per-model scale, shaped (N, 1, …, 1) to broadcast over ndim axes."""
    return scale.reshape(scale.shape + (1,) * (ndim - scale.ndim))


def pseudo_normalize(d, over: str = "sample", eps: float = 1e-8):
    """norm(d) = d / (RMS(d) + ε): "pseudo" because the mean is not subtracted (PN paper §3.3)."""
    return d / _leading(rms(d, over) + eps, d.ndim)


class PseudoNormalize(FeedbackRule):
    """Pseudo-normalized δ recursion, single-path or two-path (Bu, Jiang, Lu & Zhang 2026, §3.3–3.5).

        RMS(d) = sqrt((1/m) Σ_i d_i²),    norm(d) = d / (RMS(d) + ε)

    **Single path** (``two_path=False``): at the PN layers the recursion uses norm(d^l)::

        δ^l = (δ^{l+1} W^{l+1 T}) ⊙ norm(d^l)                    PN layers
        δ^l = (δ^{l+1} W^{l+1 T}) ⊙ d^l                          other layers

    **Two paths** (``two_path=True``, the paper's combination errors)::

        local    e^l = (c^{l+1} W^{l+1 T}) ⊙ d^l        → ∂C/∂W^l = a^{l−1 T} e^l, ∂C/∂b^l = Σ e^l
        carried  c^l = (c^{l+1} W^{l+1 T}) ⊙ norm(d^l)  → sent on to the layers below
        top      c^L = e^L = δ^L;   c^l = e^l at layers that are not PN layers

    Why c^l = e^l / RMS(d^l): (u ⊙ d) / s = u ⊙ (d / s) for a scalar s, so with
    u = c^{l+1} W^{l+1 T} and s = RMS(d^l) + ε (one number per sample, or per batch)

        c^l = u ⊙ norm(d^l) = u ⊙ d^l / s = e^l / s

    and, since W^T (a Dense or a convolution's backward) treats each sample separately,
    c^l W^{l T} = (e^l W^{l T}) / s.
    So no layer changes: the activation's ordinary output is ``local_error``; the Dense or
    Conv2D below takes its gradients from it; what that layer passes down is divided by s
    — exactly c^l W^{l T}. ``local_error`` and ``carried_error`` of the last backward are
    kept per PN layer (dicts keyed by layer index) to look at. In single-path mode a layer's
    own gradient also sees its normalization; in two-path mode it does not — that is the
    only difference.

    Which layers: hidden layers are the activations below the output layer (the top
    Dense/Conv2D, layer L; an activation above it belongs to the output and is never
    normalized); hidden layer l is the activation after weight layer l. PN layers are
    L − start, then every ``period``-th below it: L − start − period, … ≥ 1. The default
    ``start=2, period=2`` (L−2, L−4, …) is the paper's placement: its 6-layer tanh
    network's first feedback path covers "δ^(6) to δ^(4) or δ^(3) to δ^(2)" — blocks
    [6, 5, 4] and [3, 2] — so the normalized derivatives are d^4 and d^2 (Bu et al. 2026,
    §3.5, Figure 1). ``start=1`` gives the earlier reading L−1, L−3, … .
    ``rms="sample"`` (the reading) takes one RMS per sample over the layer's m outputs
    (D or C·H·W); ``rms="batch"`` one per batch. ε guards a zero RMS (a dead layer).

    Between a PN activation and the Dense/Conv2D that produced its input may sit
    MaxPool2D, AvgPool2D or Flatten layers (e.g. Conv2D → MaxPool2D → Tanh): their
    backward is linear in the error and keeps samples apart (max pooling routes each
    sample's error through its own fixed argmax), so the per-sample scalar still commutes
    and the rescale is applied after the weight layer below them. Any other layer there
    — or none — is refused by ``bind`` in two-path mode, naming the layer.
    """

    #: layers whose backward is linear in the error, per sample, with no parameters
    PASS_THROUGH = (MaxPool2D, AvgPool2D, Flatten)
    #: layers that take their gradient from the local error in two-path mode
    WEIGHT_LAYERS = (Dense, Conv2D)

    def __init__(
        self,
        period: int = 2,
        two_path: bool = False,
        rms: str = "sample",
        eps: float = 1e-8,
        start: int = 2,
    ):
        self.period, self.two_path, self.over, self.eps = period, bool(two_path), rms, eps
        self.start = start
        self._check_settings()
        self.pn_layers: list[int] = []
        self._pn_set: set[int] = set()
        self.local_error: dict = {}
        self.carried_error: dict = {}

    def _check_settings(self) -> None:
        period, eps = self.period, self.eps
        if isinstance(period, bool) or not isinstance(period, numbers.Integral) or period < 1:
            raise ValueError(f"PseudoNormalize: period must be an int ≥ 1, got {period!r}")
        start = self.start
        if isinstance(start, bool) or not isinstance(start, numbers.Integral) or start < 1:
            raise ValueError(
                "PseudoNormalize: start must be an int ≥ 1 (layers counted down from the output), "
                f"got {start!r}"
            )
        if self.over not in ("sample", "batch"):
            raise ValueError(f"PseudoNormalize: rms must be 'sample' or 'batch', got {self.over!r}")
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not math.isfinite(eps) or eps <= 0:
            raise ValueError(f"PseudoNormalize: eps must be a finite float > 0, got {eps!r}")

    def bind(self, net) -> None:
        """Find the hidden and PN layers; in two-path mode, the weight layer below each PN layer."""
        self._check_settings()
        blocks = [
            f"{i} ({layer!r})"
            for i, layer in enumerate(net.layers)
            if callable(getattr(layer, "children", None))
        ]
        if blocks:
            raise ValueError(
                f"PseudoNormalize applies to a chain of layers (PN paper); layer {blocks[0]} is a block "
                "whose error is the sum of two paths, which the method does not define — use it on a "
                "network without Residual blocks"
            )
        super().bind(net)
        layers = net.layers
        weights = [i for i, layer in enumerate(layers) if isinstance(layer, self.WEIGHT_LAYERS)]
        if not weights:
            raise ValueError(
                f"PseudoNormalize: the network has no hidden activation (it has no "
                f"Dense/Conv2D layer); layers: {[repr(layer) for layer in layers]}"
            )
        top = weights[-1]
        self.hidden_layers = [i for i, layer in enumerate(layers[:top]) if isinstance(layer, Activation)]
        if not self.hidden_layers:
            raise ValueError(
                f"PseudoNormalize: the network has no hidden activation below the output "
                f"layer {top} ({layers[top]!r}); layers: {[repr(layer) for layer in layers]}"
            )
        if self.start > len(self.hidden_layers):
            raise ValueError(
                f"PseudoNormalize: start={self.start} asks for hidden layer L−{self.start}, but the network "
                f"has only {len(self.hidden_layers)} hidden layers (L−1 … L−{len(self.hidden_layers)})"
            )
        from_top = self.hidden_layers[::-1]  # from_top[k − 1] is hidden layer L − k
        self.pn_layers = sorted(from_top[self.start - 1 :: self.period])  # L − start, then every period-th
        self._pn_set = set(self.pn_layers)
        self.weight_below: dict[int, int] = {}
        if self.two_path:
            for i in self.pn_layers:
                j = i - 1
                while j >= 0 and isinstance(layers[j], self.PASS_THROUGH):
                    j -= 1
                if j < 0 or not isinstance(layers[j], self.WEIGHT_LAYERS):
                    below = f"layer {j} ({layers[j]!r})" if j >= 0 else "the network input"
                    raise ValueError(
                        f"PseudoNormalize(two_path=True): below PN layer {i} ({layers[i]!r}) is {below}; "
                        "the local error must go into a Dense or Conv2D (only MaxPool2D, AvgPool2D or "
                        "Flatten may sit between)"
                    )
                self.weight_below[i] = j
        self._carried_scale: dict[int, object] = {}
        self.local_error, self.carried_error = {}, {}

    def after_layer(self, index: int, layer, delta):
        if delta is None:  # the bottom layer, with input_grad=False: nothing passes down
            self._carried_scale.pop(index, None)
            return None
        if index in self._carried_scale:  # the weight layer below a PN layer
            scale = self._carried_scale.pop(index)
            return delta / _leading(scale, delta.ndim)  # c^l W^{l T} = (e^l W^{l T}) / (RMS(d^l) + ε)
        if index not in self._pn_set:
            return delta
        d = layer.derivative_array()
        scale = rms(d, self.over) + self.eps  # RMS(d^l) + ε
        if not self.two_path:
            return delta / _leading(scale, delta.ndim)  # δ^l = (δ^{l+1} W^{l+1 T}) ⊙ norm(d^l)
        local_error = delta  # e^l = (c^{l+1} W^{l+1 T}) ⊙ d^l
        carried_error = local_error / _leading(scale, delta.ndim)  # c^l = (c^{l+1} W^{l+1 T}) ⊙ norm(d^l)
        self.local_error[index], self.carried_error[index] = local_error, carried_error
        self._carried_scale[self.weight_below[index]] = scale
        return local_error  # the layer below takes ∂C/∂W^l from e^l

    def __repr__(self):
        return (
            f"PseudoNormalize(period={self.period}, start={self.start}, two_path={self.two_path}, "
            f"rms={self.over!r}, eps={self.eps:g})"
        )
