"""The fast wing's activations: the reference activations, holding less memory between the
passes and computing the derivatives they know in fewer, cheaper passes — the same numbers.

**Derivatives an activation computes itself** (``own_derivative``, chosen once when the
derivative is set): its true derivative; AD ReLU's sigmoid(k·z) (Hu, Zhang & Ge 2021, eq. 8)
and the switching rule's per-model mix of it with 1[z ≥ 0]; AD sigmoid's min(y, 1 − y) =
σ(−|z|) (eq. 11), which is the forward's e^{−|z|}·σ(|z|), kept. Their passes avoid NumPy's
``where`` (about seven times the cost of an add on a (100, 50, 2) float32 array) where a
max picks the same value (:func:`sigmoid_and_tail`, LeakyReLU for 0 < α ≤ 1), and ISigmoid's
true derivative reuses the forward's band and σ on it. Any other derivative (a callable of
your own, another registered one) runs as in the reference.

**Memory.** With such a derivative, an activation whose derivative reads z alone (ReLU,
LeakyReLU, ISigmoid, Identity)

* keeps only z between forward and backward; ``layer.a`` recomputes a = f(z) when read;
* writes δ^l = δ^{l+1} ⊙ d^l into d^l's own new array (:func:`inplace_derivative_product`)
  instead of a third array; ``layer.derivative_value`` recomputes d^l (the reference's
  d(z, a)) when read (``GradientFlow`` reads it on the steps it records).

So a ReLU holds one array of z's size between the passes, not two, and its backward makes
one, not two. Otherwise, and for Sigmoid and Tanh (whose true derivative reads a, which
pseudo-normalization reads after every backward), d^l is kept as in the reference, and δ^l
is written into a new array laid out like d^l (:func:`product_like`): behind a convolution
that is channels last, as z is, so the next passes over δ run along memory.

**Threads.** ReLU's passes and δ^{l+1} ⊙ d^l over an array of at least
``threads.SPLIT_BYTES`` (a convolution's output; never an AD table's ensemble) are split
over the batch across threads (:func:`nanograd_ad.fast.threads.elementwise`): the same
values, on every core.

``tests/test_fast_layers.py`` proves each class equal to its reference, the derivatives
above to the last bit (at ±0, NaN, ±inf and where e^{−|z|} is subnormal).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from types import MappingProxyType

from .. import activations, artificial_derivative, backend
from ..activations import Activation
from ..base import check_float
from . import threads

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
    "sigmoid_and_tail",
]


def inplace_derivative_product(d, delta):
    """d ← δ ⊙ d, modified in place, and returned.

    ``d`` must be a new array that nobody else holds, of δ's shape and dtype (a true
    derivative's array, just computed); δ is left as it is.
    """
    return threads.elementwise(backend.xp.multiply, delta, d, out=d)


def product_like(d, delta):
    """δ ⊙ d in a new array laid out in memory like d (δ's shape and dtype); d and δ are left as they are.

    NumPy lays ``delta * d`` out after its inputs' strides; here the layout is d's — that is,
    z's — whatever view of it δ arrives as.
    """
    if not isinstance(d, backend.xp.ndarray) or d.shape != delta.shape or d.dtype != delta.dtype:
        return delta * d
    return threads.elementwise(backend.xp.multiply, delta, d, out=backend.xp.empty_like(d))


def relu_derivative(z):
    """1[z ≥ 0] in z's dtype: the comparison writes its 0s and 1s straight into a new array
    of z's dtype and layout — what ``(z >= 0).astype(z.dtype)`` gives, without the boolean
    array in between (a quarter of z's bytes, at the step's peak in a CNN)."""
    return threads.elementwise(backend.xp.greater_equal, z, 0, out=backend.xp.empty_like(z))


class _FastActivation(Activation):
    """The memory devices above, for the reference activation it is mixed into."""

    #: True where the true derivative reads z alone (then a = f(z) is not kept and δ is written into d)
    reads_z_only = True
    _a = None
    _d = None
    #: whether backward wrote δ^l into d^l's memory (d^l is then computed again when read)
    _d_written_over = False
    #: the keywords the derivative in use was made with (``set_derivative``'s, over ``params``)
    _derivative_params: Mapping[str, float] = MappingProxyType({})

    #: computes d^l as a new array for a derivative this class knows (``own_derivative``), or None
    #: (a bound method, so that a copied layer computes with its own arrays)
    _own: Callable | None = None

    def set_derivative(self, derivative="true", **params) -> None:
        super().set_derivative(derivative, **params)
        self._derivative_params = {**self.params, **params}
        self._own = self.own_derivative()

    def _is_true(self) -> bool:
        """Whether the derivative in use is the class's registered true derivative."""
        return self.derivative_factory is type(self).true_derivative  # type: ignore[attr-defined]

    def own_derivative(self) -> Callable | None:
        """For a derivative this class computes itself (faster, the same numbers), the function
        ``own(z, a)`` that computes d^l as a new array nobody else holds; None for any other (the
        reference's ``d(z, a)`` is used). Chosen once, when the derivative is set."""
        return self.true_derivative_array if self._is_true() else None

    def _forward_value(self, z):
        """a = f(z) for forward (a class may keep what its backward reuses)."""
        return self.f(z)

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
        """The last backward's d^l: kept, or computed again here (the reference's d(z, a)) when
        backward wrote δ^l into it."""
        if self._d is None and self._d_written_over:
            self._d = self._checked(self.d(self.z, self.a))
        return self._d

    @derivative_value.setter
    def derivative_value(self, value) -> None:
        self._d, self._d_written_over = value, False

    #: (type, dtype) of the last z that passed the reference's check: once per kind, not per step
    _checked_kind: tuple | None = None

    def forward(self, z):
        kind = (type(z), getattr(z, "dtype", None))
        if kind != self._checked_kind:
            check_float(self, z)  # the reference's check, before the last step's arrays are dropped
            self._checked_kind = kind
        self._a = self.derivative_value = None  # the last step's arrays go before new ones are made
        self.z, self._a = z, self._forward_value(z)  # the reference's forward, its check done above
        self.out_shape = tuple(z.shape)
        a = self._a
        if self.reads_z_only and self._own is not None:
            self._a = None  # backward reads z alone: a is computed again from z if read
        return a

    def backward(self, delta):
        self._check_delta(delta)
        own = self._own
        if own is None:  # the reference's derivative, kept as it is
            self.derivative_value = self._checked(self.d(self.z, self.a))  # d^l = d(z, a)
            return product_like(self.derivative_value, delta)  # δ^l = δ^{l+1} ⊙ d^l
        d = self._checked(own(self.z, None if self.reads_z_only else self.a))
        if not self.reads_z_only or d.shape != delta.shape or d.dtype != delta.dtype:
            self.derivative_value = d
            return product_like(d, delta)
        self.derivative_value, self._d_written_over = None, True
        return inplace_derivative_product(d, delta)  # δ^l = δ^{l+1} ⊙ d^l, in d^l's memory


def sigmoid_and_tail(z):
    """(σ(z), σ(−|z|)) as two new arrays, from the reference's operations (`activations.sigmoid`):

        e = e^{−|z|},   s = 1/(1 + e) = σ(|z|),   tail = e·s = σ(−|z|),   σ(z) = s if z ≥ 0 else tail

    σ(z) is picked as max(s·1[z ≥ 0], tail) — the same value as the reference's
    ``where(z >= 0, s, e * s)`` (s ≥ ½ ≥ tail ≥ 0; NaN stays NaN), in cheaper passes than
    ``where``. tail is AD sigmoid's derivative min(y, 1 − y) (Hu, Zhang & Ge 2021, eq. 11),
    which the reference computes as σ(−|z|) in its own passes.
    """
    xp = backend.xp
    e = xp.abs(z)
    xp.negative(e, out=e)
    xp.exp(e, out=e)  # e = e^{−|z|}
    s = xp.add(e, 1)
    xp.divide(1, s, out=s)  # s = 1/(1 + e)
    xp.multiply(e, s, out=e)  # tail = e·s, in e's memory
    a = xp.greater_equal(z, 0, out=xp.empty_like(s))  # 1[z ≥ 0]
    xp.multiply(a, s, out=a)
    return xp.maximum(a, e, out=a), e


#: the code of the reference ReLU's true derivative (each call of its factory makes a new function of it)
_TRUE_RELU_CODE = activations.ReLU.true_derivative().__code__


class ReLU(_FastActivation, activations.ReLU):
    """The reference ReLU; its true derivative 1[z ≥ 0] without a boolean temporary, and the
    AD derivative sigmoid(k·z) (Hu, Zhang & Ge 2021, eq. 8) in the passes of :func:`sigmoid_and_tail`."""

    def ad_slope(self) -> float | None:
        """k of the AD derivative sigmoid(k·z) in use (``artificial_derivative.relu_ad``), or None."""
        d = self.d
        if isinstance(d, functools.partial) and d.func is artificial_derivative.relu_ad and not d.args:
            return d.keywords.get("k", 1.0)
        return None

    def own_derivative(self) -> Callable | None:
        if self.ad_slope() is not None:
            return self._ad_derivative
        if self._per_model_parts() is not None:
            return self._per_model_derivative
        return super().own_derivative()

    def _ad_derivative(self, z, a):
        """d = sigmoid(k·z) as a new array, from the reference's k * z."""
        return sigmoid_and_tail(self.ad_slope() * z)[0]

    def _per_model_parts(self) -> tuple | None:
        """(k, in_ad_mode) while the switching rule gives the models in AD mode sigmoid(k·z)
        and the others the true 1[z ≥ 0] (``artificial_derivative.per_model_derivative``), else None."""
        d = self.d
        if not (isinstance(d, functools.partial) and d.func is artificial_derivative.per_model_derivative):
            return None
        ad, original = d.keywords["ad"], d.keywords["original"]
        is_ad = isinstance(ad, functools.partial) and ad.func is artificial_derivative.relu_ad and not ad.args
        if not is_ad or getattr(original, "__code__", None) is not _TRUE_RELU_CODE:
            return None
        return ad.keywords.get("k", 1.0), d.keywords["in_ad_mode"]

    def _per_model_derivative(self, z, a):
        """The switching rule's per-model d as a new array: sigmoid(k·z) and 1[z ≥ 0] each in
        the passes above, picked per model as the reference's ``where`` picks them."""
        k, in_ad_mode = self._per_model_parts()  # type: ignore[misc]
        mask = in_ad_mode.reshape(in_ad_mode.shape + (1,) * (z.ndim - 1))  # (E, 1, …, 1)
        return backend.xp.where(mask, sigmoid_and_tail(k * z)[0], relu_derivative(z))

    def f(self, z):
        """max(z, 0), the maximum taken against an array of zeros when z is C-contiguous: the
        same values (±0 and NaN included), in 1.6 µs instead of 3.7 on a (100, 50, 2) float32
        array (NumPy's maximum has no fast loop for a scalar operand). A z of at least
        ``threads.SPLIT_BYTES`` (a convolution's output) is split over the batch across threads,
        against the scalar 0 into a new array laid out like z: a new array of zeros of that
        size is memory the kernel must map and zero as it is written (the reference CNN's
        first ReLU: 4.8 ms, against 1.2)."""
        xp = backend.xp
        if z.nbytes >= threads.SPLIT_BYTES:
            return threads.elementwise(xp.maximum, z, 0, out=xp.empty_like(z))
        if not z.flags.c_contiguous:
            return super().f(z)
        zeros = xp.zeros(z.shape, z.dtype)
        return xp.maximum(z, zeros, out=zeros)

    def true_derivative_array(self, z, a):
        return relu_derivative(z)


class LeakyReLU(_FastActivation, activations.LeakyReLU):
    """The reference LeakyReLU, keeping z only between the passes. For 0 < α ≤ 1 it computes
    a = max(z, α·z) and its true d = max(1[z ≥ 0], α): the reference's values (α·z ≤ z exactly
    when z ≥ 0, and > z when z < 0), in cheaper passes than the reference's ``where``."""

    def f(self, z):
        if not 0 < self.alpha <= 1:
            return super().f(z)
        return backend.xp.maximum(z, self.alpha * z)

    def true_derivative_array(self, z, a):
        alpha = self._derivative_params["alpha"]  # the true derivative's own α
        if not 0 < alpha <= 1:
            return self.d(z, a)
        xp = backend.xp
        d = relu_derivative(z)  # 1[z ≥ 0] in z's dtype
        return xp.maximum(d, xp.full(d.shape, alpha, d.dtype), out=d)  # (an array: see ReLU.f)


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

    #: the last forward's band −a < z < a and σ(z) on it (NumPy only), reused by the true derivative
    _band = None

    def f(self, z):
        return self._f_and_band(z)[0]

    def _forward_value(self, z):
        a, self._band = self._f_and_band(z)
        return a

    def _f_and_band(self, z) -> tuple:
        """(f(z), (band, σ(z[band]))), or (the reference's f(z), None) on CuPy."""
        if backend.name() != "numpy":
            return super().f(z), None
        xp, a, alpha = backend.xp, self.a_limit, self.alpha
        upper = alpha * (z - a) + 1 / (1 + math.exp(-a))  # z ≥ a
        lower = alpha * (z + a) + 1 / (1 + math.exp(a))  # z ≤ −a
        above = z >= a
        out = xp.where(above, upper, lower)
        band = ~(above | (z <= -a))  # −a < z < a (and NaN, as in the reference)
        s = activations.sigmoid(z[band])
        return in_band(out, band, s), (band, s)

    def true_derivative_array(self, z, a):
        if backend.name() != "numpy":
            return self.d(z, a)
        params = self._derivative_params  # the a and α the true derivative was made with
        xp, limit, alpha = backend.xp, params["a"], params["alpha"]
        d = xp.full(z.shape, alpha, dtype=z.dtype)  # d = α for |z| ≥ a
        if self._band is not None and z is self.z and limit == self.a_limit:
            band, s = self._band  # f's band and σ on it: the same entries (|z| < a, and NaN)
        else:
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
    """The reference Sigmoid, σ(z) in the passes of :func:`sigmoid_and_tail`, δ^l laid out like
    d^l (its true derivative reads a: kept). AD sigmoid's derivative min(y, 1 − y) = σ(−|z|)
    (Hu, Zhang & Ge 2021, eq. 11) is the forward's e^{−|z|}·σ(|z|), kept, not computed again."""

    reads_z_only = False
    #: σ(−|z|) of the last forward's z
    _tail = None

    def f(self, z):
        return sigmoid_and_tail(z)[0]

    def _forward_value(self, z):
        a, self._tail = sigmoid_and_tail(z)
        return a

    def own_derivative(self) -> Callable | None:
        if self.d is artificial_derivative.sigmoid_ad:
            return self._tail_of_forward
        return super().own_derivative()

    def _tail_of_forward(self, z, a):
        """σ(−|z|) of the last forward's z, kept by it."""
        return self._tail


class Tanh(_FastActivation, activations.Tanh):
    """The reference Tanh, δ^l laid out like d^l (its true derivative reads a: kept)."""

    reads_z_only = False
