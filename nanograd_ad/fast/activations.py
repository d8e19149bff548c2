"""The fast wing's activations: the reference activations, holding less memory between the passes.

With its true derivative (the ``"true"`` registered beside ``f``), an activation whose
derivative reads z alone (ReLU, LeakyReLU, ISigmoid, Identity)

* keeps only z between forward and backward; ``layer.a`` recomputes a = f(z) when read;
* writes δ^l = δ^{l+1} ⊙ d^l into d^l's own new array (:func:`inplace_derivative_product`)
  instead of a third array; ``layer.derivative_value`` recomputes d^l from z when read
  (``GradientFlow`` reads it on the steps it records).

So a ReLU holds one array of z's size between the passes, not two, and its backward makes
one, not two. With any other derivative (an artificial one, a callable), and for Sigmoid
and Tanh (whose derivative reads a, which pseudo-normalization reads after every backward),
d^l is kept as in the reference, and δ^l is written into a new array laid out like d^l
(:func:`product_like`): behind a convolution that is channels last, as z is, so the next
passes over δ run along memory. ``tests/test_fast_layers.py`` proves each class equal to
its reference.
"""

from __future__ import annotations

import math

from .. import activations, backend
from ..activations import Activation
from ..base import check_float

__all__ = [
    "ISigmoid",
    "Identity",
    "LeakyReLU",
    "ReLU",
    "Sigmoid",
    "Tanh",
    "in_band",
    "inplace_derivative_product",
    "product_like",
    "relu_derivative",
]


def inplace_derivative_product(d, delta):
    """d ← δ ⊙ d, modified in place, and returned.

    ``d`` must be a new array that nobody else holds, of δ's shape and dtype (a true
    derivative's array, just computed); δ is left as it is.
    """
    return backend.xp.multiply(delta, d, out=d)


def product_like(d, delta):
    """δ ⊙ d in a new array laid out in memory like d (δ's shape and dtype); d and δ are left as they are.

    NumPy lays ``delta * d`` out after its inputs' strides; here the layout is d's — that is,
    z's — whatever view of it δ arrives as.
    """
    if not isinstance(d, backend.xp.ndarray) or d.shape != delta.shape or d.dtype != delta.dtype:
        return delta * d
    return backend.xp.multiply(delta, d, out=backend.xp.empty_like(d))


def relu_derivative(z):
    """1[z ≥ 0] in z's dtype: the comparison writes its 0s and 1s straight into a new array
    of z's dtype and layout — what ``(z >= 0).astype(z.dtype)`` gives, without the boolean
    array in between (a quarter of z's bytes, at the step's peak in a CNN)."""
    return backend.xp.greater_equal(z, 0, out=backend.xp.empty_like(z))


class _FastActivation(Activation):
    """The memory devices above, for the reference activation it is mixed into."""

    #: True where the true derivative reads z alone (then a = f(z) is not kept and δ is written into d)
    reads_z_only = True
    _a = None
    _d = None
    #: the derivative whose product backward wrote into d^l's memory (None: d^l is kept)
    _d_written_over = None

    def _writes_into_d(self) -> bool:
        """Whether this step runs the registered true derivative of z alone."""
        true = self.derivative_factory is type(self).true_derivative  # type: ignore[attr-defined]
        return self.reads_z_only and true

    def true_derivative_array(self, z, a):
        """d^l = f′(z) as a new array (the registered true derivative's)."""
        return self.d(z, a)

    def _checked(self, d):
        """The reference's check of a derivative's value, passing at once an array of the
        backend in use with z's shape and dtype (what every derivative in the library returns)."""
        z = self.z
        if type(d) is backend.xp.ndarray and d.shape == z.shape and d.dtype == z.dtype:
            return d
        return super()._checked(d)

    @property
    def a(self):
        """The last forward's a = f(z): kept, or computed from z here (once)."""
        if self._a is None and self.z is not None:
            self._a = self.f(self.z)
        return self._a

    @a.setter
    def a(self, value) -> None:
        self._a = value

    @property
    def derivative_value(self):
        """The last backward's d^l: kept, or computed again here when backward wrote δ^l into it."""
        if self._d is None and self._d_written_over is not None:
            self._d = self._checked(self._d_written_over(self.z, None))
        return self._d

    @derivative_value.setter
    def derivative_value(self, value) -> None:
        self._d, self._d_written_over = value, None

    #: (type, dtype) of the last z that passed the reference's check: once per kind, not per step
    _checked_kind: tuple | None = None

    def forward(self, z):
        kind = (type(z), getattr(z, "dtype", None))
        if kind != self._checked_kind:
            check_float(self, z)  # the reference's check, before the last step's arrays are dropped
            self._checked_kind = kind
        self._a = self.derivative_value = None  # the last step's arrays go before new ones are made
        self.z, self._a = z, self.f(z)  # the reference's forward, its check done above
        self.out_shape = tuple(z.shape)
        a = self._a
        if self._writes_into_d():
            self._a = None  # computed again from z if read
        return a

    def backward(self, delta):
        self._check_delta(delta)
        if not self._writes_into_d():
            self.derivative_value = self._checked(self.d(self.z, self.a))  # d^l = d(z, a)
            return product_like(self.derivative_value, delta)  # δ^l = δ^{l+1} ⊙ d^l
        d = self._checked(self.true_derivative_array(self.z, None))  # d^l = f′(z), a new array
        if d.shape != delta.shape or d.dtype != delta.dtype:
            self.derivative_value = d
            return delta * d
        self.derivative_value, self._d_written_over = None, self.true_derivative_array
        return inplace_derivative_product(d, delta)  # δ^l = δ^{l+1} ⊙ d^l, in d^l's memory


class ReLU(_FastActivation, activations.ReLU):
    """The reference ReLU; its true derivative 1[z ≥ 0] without a boolean temporary."""

    def true_derivative_array(self, z, a):
        return relu_derivative(z)


class LeakyReLU(_FastActivation, activations.LeakyReLU):
    """The reference LeakyReLU, keeping z only between the passes."""


class ISigmoid(_FastActivation, activations.ISigmoid):
    """The reference ISigmoid, keeping z only between the passes, and computing σ(z) only in
    the band −a < z < a, the one place f and its true derivative read it.

    The reference computes σ over all of z and then selects; outside the band (almost every
    entry, with a = 0.01) σ is thrown away, and there e^{−|z|} of a large |z| falls into
    float32's subnormal range, where each operation costs some hundred cycles. Here σ is
    computed on the band's entries only (:func:`in_band`) — the same operations on the same
    values, so the same numbers (``tests/test_fast_layers.py`` checks them bit for bit). On
    CuPy the reference's passes are kept: a boolean selection there waits for the GPU to count
    the entries (a sync per call), and a GPU has no slow subnormals to avoid.
    """

    def set_derivative(self, derivative="true", **params) -> None:
        super().set_derivative(derivative, **params)
        self._true_params = {**self.params, **params}  # the a and α the true derivative was made with

    def f(self, z):
        if backend.name() != "numpy":
            return super().f(z)
        xp, a, alpha = backend.xp, self.a_limit, self.alpha
        upper = alpha * (z - a) + 1 / (1 + math.exp(-a))  # z ≥ a
        lower = alpha * (z + a) + 1 / (1 + math.exp(a))  # z ≤ −a
        above = z >= a
        out = xp.where(above, upper, lower)
        band = ~(above | (z <= -a))  # −a < z < a (and NaN, as in the reference)
        return in_band(out, band, activations.sigmoid(z[band]))

    def true_derivative_array(self, z, a):
        if backend.name() != "numpy":
            return self.d(z, a)
        xp, limit, alpha = backend.xp, self._true_params["a"], self._true_params["alpha"]
        d = xp.full(z.shape, alpha, dtype=z.dtype)  # d = α for |z| ≥ a
        band = ~(xp.abs(z) >= limit)
        s = activations.sigmoid(z[band])
        return in_band(d, band, s * (1 - s))  # σ′ = σ(1 − σ) inside


def in_band(out, band, values):
    """out[band] = values, modified in place, and returned (values: one per True entry of band)."""
    out[band] = values
    return out


class Identity(_FastActivation, activations.Identity):
    """The reference Identity, writing δ into d's memory."""


class Sigmoid(_FastActivation, activations.Sigmoid):
    """The reference Sigmoid, δ^l laid out like d^l (its true derivative reads a: kept)."""

    reads_z_only = False


class Tanh(_FastActivation, activations.Tanh):
    """The reference Tanh, δ^l laid out like d^l (its true derivative reads a: kept)."""

    reads_z_only = False
