"""Activations: a forward ``f`` and a pluggable derivative ``d(z, a)``.

Backward multiplies the incoming error by ``d`` — one named line::

    delta = delta * self.d(z, a)        # δ^l = (δ^{l+1} W^{l+1 T}) ⊙ d^l

``d`` defaults to the true derivative f′. Replacing it (an *artificial* or *pseudo*
derivative) changes training only; the trained model computes the same ``f``::

    ReLU()                               # d = 1[z ≥ 0]           (Hu, Zhang & Ge 2021, eq. 7)
    ReLU(derivative="ad", k=3.5)         # d = sigmoid(k·z)       (Hu, Zhang & Ge 2021, eq. 8)
    Sigmoid(derivative="ad")             # d = min(y, 1 − y)      (Hu, Zhang & Ge 2021, eq. 11)
    Tanh(derivative=lambda z, a: 1.0 - a * a)   # any callable d(z, a)

A derivative used often can be named once and reused::

    register_derivative("relu", "half", lambda: lambda z, a: 0.5 * (z >= 0))
    ReLU(derivative="half")

Memory. Between forward and backward an activation keeps z, and a = f(z) only when its
derivative reads a (σ′ = a(1 − a), tanh′ = 1 − a²); otherwise ``layer.a`` is recomputed
from z when read. Backward writes δ^l into d's memory when d is a new array that nobody
else holds (the built-in derivatives' are); ``layer.derivative_value`` then recomputes d
when read. So a ReLU holds one array of z's size between the passes, not two, and its
backward makes one, not two. A callable passed by the user keeps z, a and d, as written.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable

from . import backend
from .backend import Array
from .layers import Layer

__all__ = [
    "Activation",
    "ISigmoid",
    "Identity",
    "LeakyReLU",
    "ReLU",
    "Sigmoid",
    "Tanh",
    "derivative_names",
    "register_derivative",
    "sigmoid",
]

Derivative = Callable[[Array, Array], Array | float]
"""d(z, a) -> array of z's shape (or a scalar): the factor backward multiplies the error by."""

# (activation key, derivative name) -> factory(**params) -> d(z, a)
_REGISTRY: dict[tuple[str, str], Callable[..., Derivative]] = {}


def sigmoid(z):
    """σ(z) = 1 / (1 + e^{−z}) for z ≥ 0 and e^{z} / (1 + e^{z}) for z < 0.

    Both branches use e = e^{−|z|} ≤ 1, so nothing overflows, and neither subtracts
    nearly equal numbers: the left tail keeps full relative precision down to the
    smallest float (½(1 + tanh(z/2)) rounds σ(z) to 0 below z ≈ −17 in float32).
    """
    xp = backend.xp
    e = xp.exp(-xp.abs(z))
    s = 1 / (1 + e)
    return xp.where(z >= 0, s, e * s)


def register_derivative(
    activation: str, name: str, factory: Callable[..., Derivative], replace: bool = False
) -> None:
    """Name a derivative for an activation (``"relu"``, ``"sigmoid"``, ...) once.

    ``factory(**params)`` returns the callable ``d(z, a)``; the keyword arguments given
    to the activation's constructor (e.g. ``k=3.5``) are passed to it. A name that is
    already registered (``"true"`` among them) is overwritten only with ``replace=True``.
    """
    for arg, value in (("activation", activation), ("name", name)):
        if not isinstance(value, str):
            raise TypeError(f"register_derivative: {arg} must be a str, got {type(value).__name__}")
    if not callable(factory):
        raise TypeError(
            "register_derivative: factory must be callable (factory(**params) -> d(z, a)), "
            f"got {type(factory).__name__}"
        )
    key = (activation.lower(), name)
    if key in _REGISTRY and not replace:
        raise ValueError(
            f"register_derivative: {key[0]!r} already has a derivative {name!r}; "
            "pass replace=True to overwrite it for the whole process"
        )
    _REGISTRY[key] = factory


def derivative_names(activation: str) -> list[str]:
    """The registered derivative names of an activation, ``"true"`` first."""
    names = [n for (act, n) in _REGISTRY if act == activation.lower()]
    return sorted(names, key=lambda n: (n != "true", n))


class Activation(Layer):
    """An elementwise nonlinearity a = f(z) with a replaceable derivative d(z, a).

    Inputs z: any shape; output a: the same shape. Subclasses define ``f`` and
    register their true derivative under ``"true"``.
    """

    key = "activation"
    #: the last forward's input z (None before the first forward)
    z: Array = None
    #: a = f(z) when the derivative reads it, else None (``a`` recomputes it)
    _a: Array | None = None
    #: the last backward's d^l, or None when backward wrote δ^l into its memory
    _d: Array | float | None = None
    #: the derivative the last backward used (None: no backward since the last forward)
    _d_used: Derivative | None = None

    def __init__(self, derivative: str | Derivative = "true", **params):
        super().__init__()
        self.params = self._checked_params(params)
        self.set_derivative(derivative, **self.params)

    def accepted_keywords(self) -> list[str]:
        """The keywords this activation or one of its registered derivatives takes."""
        names: set[str] = set()
        for (act, _), factory in _REGISTRY.items():
            if act == self.key:
                names.update(
                    n
                    for n, p in inspect.signature(factory).parameters.items()
                    if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                )
        return sorted(names)

    def _checked_params(self, params: dict) -> dict:
        """Refuse keywords nobody takes and values that are not real numbers.

        NumPy scalars become Python numbers, so ``k=np.float64(3.5)`` does not turn
        float32 derivatives into float64 ones.
        """
        accepted = self.accepted_keywords()
        checked = {}
        for name, value in params.items():
            if name not in accepted:
                raise TypeError(
                    f"{type(self).__name__}: unknown keyword {name!r}; accepted: "
                    f"{accepted if accepted else 'none'} (the keywords of {type(self).__name__} "
                    f"and its derivatives {derivative_names(self.key)})"
                )
            if not isinstance(value, numbers.Real) or isinstance(value, bool):
                raise TypeError(
                    f"{type(self).__name__}: keyword {name} must be a real number (int, float or "
                    f"NumPy scalar), got {type(value).__name__} {value!r}"
                )
            checked[name] = int(value) if isinstance(value, numbers.Integral) else float(value)
        return checked

    def set_derivative(self, derivative: str | Derivative = "true", **params) -> None:
        """Swap the derivative backward uses: a registered name or a callable d(z, a)."""
        if callable(derivative):
            self.d = derivative
            self.derivative_name = getattr(derivative, "__name__", "custom")
            return
        if not isinstance(derivative, str):
            raise TypeError(
                f"{type(self).__name__}: derivative must be a registered name "
                f"{derivative_names(self.key)} or a callable d(z, a), got {type(derivative).__name__}"
            )
        factory = _REGISTRY.get((self.key, derivative))
        if factory is None:
            raise ValueError(
                f"{type(self).__name__}: unknown derivative {derivative!r}; known: "
                f"{derivative_names(self.key)} (or pass a callable d(z, a))"
            )
        given = {**self.params, **params}
        accepted = inspect.signature(factory).parameters
        self.d = factory(**{k: v for k, v in given.items() if k in accepted})
        self.derivative_name = derivative

    def f(self, z):
        """The forward function a = f(z)."""
        raise NotImplementedError

    def forward(self, z):
        if not backend.is_array(z):
            raise TypeError(
                f"{self!r} expects an array (convert with np.asarray(z, dtype=np.float32)), "
                f"got {type(z).__name__}"
            )
        self._a = self._d = self._d_used = None  # the last step's arrays go before new ones are made
        self.z = z
        a = self.f(z)
        if getattr(self.d, "reads_a", True):  # kept for backward only when d reads it
            self._a = a
        self.out_shape = tuple(z.shape)
        return a

    @property
    def a(self) -> Array:
        """The last forward's output a = f(z): kept when the derivative reads it, else
        computed from z here (once; None before the first forward)."""
        if self._a is None and self.z is not None:
            self._a = self.f(self.z)
        return self._a

    @property
    def derivative_value(self) -> Array | float | None:
        """The last backward's d^l = d(z, a) (None before it): kept, or — when backward
        wrote δ^l into its memory — computed again here by the same derivative (once)."""
        if self._d is None and self._d_used is not None:
            self._d = self._derivative(self._d_used)
        return self._d

    def _derivative(self, d: Derivative):
        """d(z, a) at the last forward's z; a derivative of z alone (``reads_a``) gets a = None."""
        return d(self.z, self.a if getattr(d, "reads_a", True) else None)

    def backward(self, delta):
        self._check_delta(delta)
        d = self._derivative(self.d)  # d^l = d(z, a)
        self._check_shape(d)
        self._d_used = self.d
        out: Array = d if self._takes_delta(d, delta) else None  # δ^l into d's memory: no new array
        self._d = None if out is not None else d
        return backend.xp.multiply(delta, d, out=out)  # δ^l = (δ^{l+1} W^{l+1 T}) ⊙ d^l

    def _takes_delta(self, d, delta) -> bool:
        """Whether δ ⊙ d may be written into d: a built-in derivative's new array
        (``returns_new``) — nobody else holds it — of δ's shape and dtype."""
        return (
            getattr(self.d, "returns_new", False)
            and isinstance(d, backend.xp.ndarray)
            and d.shape == delta.shape
            and d.dtype == delta.dtype
        )

    def derivative_array(self):
        """The last backward's d^l as an array of z's shape (a broadcast view, no copy).

        A derivative may return a Python scalar; it is made a 0-d array on the device
        first (``xp.full``, no host→device copy), since CuPy broadcasts device arrays only.
        """
        xp, d = backend.xp, self.derivative_value
        if not isinstance(d, xp.ndarray):
            d = xp.full((), d, dtype=self.z.dtype)
        return xp.broadcast_to(d, self.z.shape)

    def _check_shape(self, d) -> None:
        """A derivative must be a scalar or an array broadcasting to z's shape without growing it."""
        if not (backend.is_array(d) or isinstance(d, numbers.Real)):
            raise TypeError(
                f"{self!r}: derivative {self.derivative_name!r} returned {type(d).__name__}, "
                f"expected an array of shape {self.z.shape} (the shape of z) or a scalar"
            )
        where = backend.array_backend(d)
        if where is not None and where != backend.name():
            raise backend.DeviceMismatchError(
                f"{self!r}: derivative {self.derivative_name!r} returned a {where} array under the "
                f"{backend.name()!r} backend; compute it with backend.xp (or move it with backend.asarray)"
            )
        shape = tuple(getattr(d, "shape", ()))
        try:
            fits = shape == () or backend.xp.broadcast_shapes(shape, self.z.shape) == self.z.shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(
                f"{self!r}: derivative {self.derivative_name!r} returned shape {shape}, "
                f"expected {self.z.shape} (the shape of z)"
            )

    def __repr__(self):
        args = [f"{k}={v}" for k, v in self.params.items()]
        if self.derivative_name != "true":
            args.insert(0, f"derivative={self.derivative_name!r}")
        return f"{type(self).__name__}({', '.join(args)})"


class ReLU(Activation):
    """a = max(0, z); true d = 1 for z ≥ 0 else 0 (Hu, Zhang & Ge 2021, eq. 7).

    ``derivative="ad"`` uses d = sigmoid(k·z) (eq. 8 has k = 1; the experiments k = 3.5).
    """

    key = "relu"

    def f(self, z):
        return backend.xp.maximum(z, 0)


class LeakyReLU(Activation):
    """a = max(α·z, z); true d = α for z < 0 else 1 (Hu, Zhang & Ge 2021, eqs. 3–4, α = 0.01)."""

    key = "leaky_relu"

    def __init__(self, alpha: float = 0.01, derivative: str | Derivative = "true"):
        super().__init__(derivative, alpha=alpha)
        self.alpha = self.params["alpha"]  # a Python float: float32 data stays float32

    def f(self, z):
        return backend.xp.where(z >= 0, z, self.alpha * z)


class Sigmoid(Activation):
    """y = 1 / (1 + e^{−z}); true d = y(1 − y) (eq. 10); ``"ad"``: d = min(y, 1 − y) (eq. 11)."""

    key = "sigmoid"

    def f(self, z):
        return sigmoid(z)


class Tanh(Activation):
    """a = tanh z; true d = 1 − a²."""

    key = "tanh"

    def f(self, z):
        return backend.xp.tanh(z)


class ISigmoid(Activation):
    """Improved logistic sigmoid (Hu, Zhang & Ge 2021, eqs. 5–6), linear outside (−a, a).

        f(z) = α(z − a) + σ(a)     z ≥ a          d = α        |z| ≥ a
               σ(z)                −a < z < a        σ′(z)    |z| < a
               α(z + a) + σ(−a)    z ≤ −a

    The AD study uses a = 0.01, α = 1 (the defaults here).
    """

    key = "isigmoid"

    def __init__(self, a: float = 0.01, alpha: float = 1.0, derivative: str | Derivative = "true"):
        self.a_limit, self.alpha = a, alpha
        super().__init__(derivative, a=a, alpha=alpha)

    def f(self, z):
        xp, a, alpha = backend.xp, self.a_limit, self.alpha
        upper = alpha * (z - a) + 1 / (1 + math.exp(-a))
        lower = alpha * (z + a) + 1 / (1 + math.exp(a))
        return xp.where(z >= a, upper, xp.where(z <= -a, lower, sigmoid(z)))


class Identity(Activation):
    """a = z; d = 1 (a linear output layer)."""

    key = "identity"

    def f(self, z):
        return z


def built_in(reads_a: bool) -> Callable[[Derivative], Derivative]:
    """Mark a library derivative d(z, a): it returns a new array on every call, and reads
    a = f(z) only if ``reads_a`` (else it is called with a = None).

    The activation then keeps a only when d reads it, and backward writes δ^l into d's
    new array. A derivative without the mark is called with z and a, and its result is
    left as it is (it may be an array the derivative keeps).
    """

    def mark(d: Derivative) -> Derivative:
        d.reads_a, d.returns_new = reads_a, True  # type: ignore[attr-defined]
        return d

    return mark


def _relu_true():
    """d = 1[z ≥ 0] in z's dtype: the comparison writes its 0s and 1s straight into a new
    array of z's dtype and layout — what ``(z >= 0).astype(z.dtype)`` gives, without the
    boolean array in between (a quarter of z's bytes, at the step's peak in a CNN)."""
    return built_in(reads_a=False)(lambda z, a: backend.xp.greater_equal(z, 0, out=backend.xp.empty_like(z)))


def _leaky_true(alpha: float = 0.01):
    return built_in(reads_a=False)(lambda z, a: backend.xp.where(z >= 0, 1.0, alpha).astype(z.dtype))


def _sigmoid_true():
    return built_in(reads_a=True)(lambda z, a: a * (1 - a))


def _tanh_true():
    return built_in(reads_a=True)(lambda z, a: 1 - a * a)


def _isigmoid_true(a: float = 0.01, alpha: float = 1.0):
    @built_in(reads_a=False)
    def d(z, y):
        s = sigmoid(z)
        return backend.xp.where(backend.xp.abs(z) >= a, alpha, s * (1 - s)).astype(z.dtype)

    return d


def _identity_true():
    return built_in(reads_a=False)(lambda z, a: backend.xp.ones_like(z))


for _key, _name, _factory in [
    ("relu", "true", _relu_true),
    ("leaky_relu", "true", _leaky_true),
    ("sigmoid", "true", _sigmoid_true),
    ("tanh", "true", _tanh_true),
    ("isigmoid", "true", _isigmoid_true),
    ("identity", "true", _identity_true),
]:
    register_derivative(_key, _name, _factory)

# The artificial derivatives ("ad") live with their paper's switching rule and register themselves.
from . import artificial_derivative  # noqa: E402, F401  (imported last: it needs register_derivative)
