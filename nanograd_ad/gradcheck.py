"""Gradient checking: central differences are the reference.

    numeric ∂C/∂θ_i ≈ (C(θ + h e_i) − C(θ − h e_i)) / 2h,   h = 1e-5, in float64
    relative error = |analytic − numeric| / max(|analytic|, |numeric|, 1e-8)

A relative error below ~1e-7 means the backward pass is right; ~1e-2 or more means it is
wrong (or the point sits on a kink, e.g. ReLU at 0 — keep inputs away from kinks).

The difference quotient has a resolution of its own: C is known to about ε₆₄·|C|, so
(C₊ − C₋)/2h is uncertain by about ε₆₄·|C|/h (≈ 5e-11 for C ≈ 2.3, h = 1e-5). A
gradient entry of 1e-7 cannot be checked to 7 relative digits at that resolution, so the
relative error's denominator has a floor that maps an absolute error of ``atol`` (default
10·ε₆₄·max(|C|, 1)/h) exactly onto the tolerance:

    relative error = |analytic − numeric| / max(|analytic|, |numeric|, atol/tol, 1e-8)

Entries well above the floor keep their plain relative error; the report prints the floor.

An *artificial* derivative is not the gradient of the loss, so :func:`gradcheck` must
fail on an AD network. What proves an AD backward right is :func:`explicit_backward`:
the recursion δ^l = (δ^{l+1} W^{l+1 T}) ⊙ d^l written out with the same ``d``.
"""

from __future__ import annotations

import copy
import math
import numbers
from dataclasses import dataclass, field

from . import backend
from .activations import Activation
from .layers import Dense, Flatten, Layer

__all__ = [
    "GradcheckError",
    "GradcheckReport",
    "ParamReport",
    "check_layer",
    "explicit_backward",
    "gradcheck",
]


class GradcheckError(AssertionError):
    """Analytic and numeric gradients disagree; the message names the worst entry."""


@dataclass
class ParamReport:
    """One parameter's comparison: the worst entry by relative error."""

    name: str
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple
    analytic: float
    numeric: float
    compared: int = 0

    def __str__(self):
        return (
            f"{self.name}: max rel error {self.max_rel_error:.3e} (abs {self.max_abs_error:.3e}) "
            f"at index {self.worst_index}: analytic {self.analytic:.10g} vs numeric {self.numeric:.10g}"
        )


@dataclass
class GradcheckReport:
    """Per-parameter results; ``passed`` when every relative error is below ``tol``."""

    params: list[ParamReport] = field(default_factory=list)
    tol: float = 1e-6
    atol: float = 0.0

    @property
    def max_rel_error(self) -> float:
        return max((p.max_rel_error for p in self.params), default=0.0)

    @property
    def compared(self) -> int:
        """How many entries were compared, over all parameters (and the input)."""
        return sum(p.compared for p in self.params)

    @property
    def passed(self) -> bool:
        """Every relative error below ``tol`` — and at least one entry compared."""
        return self.compared > 0 and self.max_rel_error < self.tol

    def __str__(self):
        if self.compared == 0:
            return "gradcheck FAILED: nothing was compared (no parameters, and the input not checked)"
        verdict = "passed" if self.passed else "FAILED"
        lines = [
            f"gradcheck {verdict} (relative tolerance {self.tol:g}; denominators floored at "
            f"{max(self.atol / self.tol, 1e-8):.1e} = finite-difference resolution "
            f"{self.atol:.1e} / tolerance)"
        ]
        lines += [f"  {p}" for p in self.params]
        return "\n".join(lines)


def _compare(name: str, analytic, objective, values, h: float, indices, floor: float) -> ParamReport:
    """Central differences of ``objective()`` against ``analytic`` over ``values``' entries;
    ``floor`` is the smallest denominator of the relative error."""
    analytic = backend.to_numpy(analytic)
    worst = ParamReport(name, 0.0, -1.0, (), 0.0, 0.0)
    for index in indices:
        saved = float(values[index])
        values[index] = saved + h
        plus = objective()
        values[index] = saved - h
        minus = objective()
        values[index] = saved
        numeric = (plus - minus) / (2 * h)
        exact = float(analytic[index])
        abs_err = abs(exact - numeric)
        rel_err = abs_err / max(abs(exact), abs(numeric), floor)
        if math.isnan(rel_err):  # a NaN on either side agrees with nothing
            abs_err = rel_err = math.inf
        worst.compared += 1
        worst.max_abs_error = max(worst.max_abs_error, abs_err)
        if rel_err > worst.max_rel_error:
            worst.max_rel_error, worst.worst_index = rel_err, tuple(int(i) for i in index)
            worst.analytic, worst.numeric = exact, numeric
    return worst


def _indices(shape, limit: int | None, rng):
    import numpy  # host-side index bookkeeping

    every = list(numpy.ndindex(*shape))
    if limit is None or len(every) <= limit:
        return every
    chosen = rng.choice(len(every), size=limit, replace=False)
    return [every[i] for i in sorted(chosen)]


def _check_settings(owner: str, h, tol, max_entries, atol) -> None:
    """Refuse settings under which a wrong backward could pass (or nothing be compared).

    h outside [1e-10, 0.1] makes the resolution floor atol = 10·ε₆₄·max(|C|, 1)/h so large
    that any gradient passes (h = 1e-30: atol ≈ 2e16), or the difference quotient meaningless.
    """

    def real(value) -> bool:
        return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)

    if not real(h) or not 1e-10 <= h <= 0.1:
        raise ValueError(
            f"{owner}: h must be a finite number in [1e-10, 0.1] (the float64 central-difference "
            f"step; 1e-5 by default), got {h!r}"
        )
    if not real(tol) or not 0 < tol < 1:
        raise ValueError(f"{owner}: tol must be a finite number in (0, 1), got {tol!r}")
    if max_entries is not None and (
        not isinstance(max_entries, numbers.Integral) or isinstance(max_entries, bool) or max_entries < 1
    ):
        raise ValueError(
            f"{owner}: max_entries must be None or an integer ≥ 1 (entries sampled per parameter), "
            f"got {max_entries!r}"
        )
    if atol is not None and (not real(atol) or atol < 0):
        raise ValueError(f"{owner}: atol must be None or a finite number ≥ 0, got {atol!r}")


def _check_loss(owner: str, loss) -> None:
    """``loss`` is None or a loss object with ``forward`` and ``backward`` (not its class)."""
    if loss is None:
        return
    if isinstance(loss, type):
        raise TypeError(
            f"{owner}: loss must be a loss object such as SoftmaxCrossEntropy() (or None), got the "
            f"class {loss.__name__}: call it, {loss.__name__}()"
        )
    if not callable(getattr(loss, "forward", None)) or not callable(getattr(loss, "backward", None)):
        raise TypeError(
            f"{owner}: loss must be a loss object with forward and backward (or None), got "
            f"{type(loss).__name__}"
        )


def gradcheck(
    net,
    loss,
    x,
    y=None,
    h: float = 1e-5,
    tol: float = 1e-6,
    seed: int = 0,
    max_entries: int | None = None,
    check_input: bool = True,
    raise_on_fail: bool = False,
    atol: float | None = None,
) -> GradcheckReport:
    """Check ``net.backward`` against central differences, in float64.

    The objective is ``loss(net(x), y)``; with ``loss=None`` it is Σ net(x) ⊙ R with a
    random upstream gradient R (never all-ones). The network is copied and cast to
    float64; the original is not touched. ``max_entries`` samples that many entries per
    parameter (all by default). ``atol`` defaults to 10·ε₆₄·max(|C|, 1)/h, the resolution
    of the difference quotient (see the module docstring). Returns a :class:`GradcheckReport`; raises
    :class:`GradcheckError` with the report when ``raise_on_fail`` and it failed.
    """
    import numpy

    from .network import Sequential

    if not isinstance(net, Sequential):
        raise TypeError(
            f"gradcheck: net must be a Sequential, got {type(net).__name__}; check one layer with "
            "check_layer(layer, x)"
        )
    _check_loss("gradcheck", loss)
    _check_settings("gradcheck", h, tol, max_entries, atol)
    rng = numpy.random.default_rng(seed)
    xp, f64 = backend.xp, backend.xp.float64
    net = copy.deepcopy(net).astype(f64)
    x = backend.asarray(x).astype(f64)
    if y is not None:
        y = backend.asarray(y)  # targets go where the network is: integer labels too
        if xp.issubdtype(y.dtype, xp.floating):
            y = y.astype(f64)
    feedback = [copy.deepcopy(rule) for rule in net.feedback]
    net.feedback = []
    for rule in feedback:
        net.add_feedback(rule)
    upstream = None
    if loss is None:
        upstream = backend.asarray(rng.standard_normal(tuple(net.forward(x).shape)), f64)

    def objective() -> float:
        out = net.forward(x)
        return float(loss.forward(out, y)) if loss is not None else float((out * upstream).sum())

    value = objective()
    if atol is None:
        atol = 10 * float(numpy.finfo(numpy.float64).eps) * max(abs(value), 1.0) / h
    net.zero_grad()
    delta_top = loss.backward() if loss is not None else upstream
    dx = net.backward(delta_top)
    report = GradcheckReport(tol=tol, atol=atol)
    floor = max(atol / tol, 1e-8)
    for name, p in net.named_parameters():
        report.params.append(
            _compare(name, p.grad.copy(), objective, p.data, h, _indices(p.shape, max_entries, rng), floor)
        )
    if check_input:
        report.params.append(
            _compare("input", dx, objective, x, h, _indices(x.shape, max_entries, rng), floor)
        )
    if raise_on_fail and not report.passed:
        raise GradcheckError(str(report))
    return report


def check_layer(
    layer: Layer,
    x,
    h: float = 1e-5,
    tol: float = 1e-6,
    seed: int = 0,
    max_entries: int | None = None,
    raise_on_fail: bool = False,
    atol: float | None = None,
) -> GradcheckReport:
    """Check one layer's backward (parameters and input) with a random upstream gradient."""
    from .network import Sequential

    if not isinstance(layer, Layer):
        raise TypeError(
            f"check_layer: layer must be a Layer, got {type(layer).__name__} (check a network with gradcheck)"
        )
    _check_settings("check_layer", h, tol, max_entries, atol)
    return gradcheck(
        Sequential(layer),
        None,
        x,
        h=h,
        tol=tol,
        seed=seed,
        max_entries=max_entries,
        raise_on_fail=raise_on_fail,
        atol=atol,
    )


def explicit_backward(net, x, delta_out) -> dict:
    """Gradients by the textbook recursion, for MLPs (Dense layers, each optionally
    followed by an activation; a leading Flatten is allowed).

    Nielsen's loop, with each activation's own ``d`` (true or artificial)::

        z^l = a^{l−1} W^l + b^l,  a^l = f(z^l)                       (forward, kept in lists)
        δ^L = delta_out ⊙ d^L(z^L, a^L)                               (delta_out = ∂C/∂a^L)
        δ^l = (δ^{l+1} W^{l+1 T}) ⊙ d^l(z^l, a^l)
        ∂C/∂W^l = a^{l−1 T} δ^l,   ∂C/∂b^l = Σ_batch δ^l

    Returns ``{"0.weight": array, "0.bias": ..., "input": ∂C/∂x}`` keyed like
    ``net.named_parameters()``. Feedback rules are not applied.
    """
    layers = list(net.layers)
    a = x
    if layers and isinstance(layers[0], Flatten):
        a, layers = x.reshape(x.shape[0], -1), layers[1:]
        offset = 1
    else:
        offset = 0
    # group (index, Dense, activation or None)
    blocks, i = [], 0
    while i < len(layers):
        dense = layers[i]
        if not isinstance(dense, Dense):
            raise ValueError(
                f"explicit_backward handles Dense/activation stacks; layer {i + offset} is {dense!r}"
            )
        act = layers[i + 1] if i + 1 < len(layers) and isinstance(layers[i + 1], Activation) else None
        blocks.append((i + offset, dense, act))
        i += 2 if act is not None else 1

    activations, zs = [a], []
    for _, dense, act in blocks:
        z = activations[-1] @ dense.weight.data + dense.bias.data
        zs.append(z)
        activations.append(act.f(z) if act is not None else z)

    def d(block, l):
        act = block[2]
        return act.d(zs[l], activations[l + 1]) if act is not None else 1.0

    grads = {}
    delta = delta_out * d(blocks[-1], len(blocks) - 1)  # δ^L
    for l in range(len(blocks) - 1, -1, -1):
        index, dense, _ = blocks[l]
        grads[f"{index}.weight"] = activations[l].T @ delta  # a^{l−1 T} δ^l
        grads[f"{index}.bias"] = delta.sum(axis=0)  # Σ_batch δ^l
        delta = delta @ dense.weight.data.T  # δ^l W^{l T}
        if l > 0:
            delta = delta * d(blocks[l - 1], l - 1)  # ⊙ d^{l−1}
    grads["input"] = delta.reshape(x.shape)
    return grads
