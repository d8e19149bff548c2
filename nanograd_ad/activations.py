"""The reference activations: a forward ``f`` beside its true derivative, and a pluggable ``d(z, a)``.

Backward multiplies the incoming error by ``d`` — one named line::

    return delta * self.d(z, a)         # δ^l = (δ^{l+1} W^{l+1 T}) ⊙ d^l

``d`` defaults to the true derivative f′. Replacing it (an *artificial* or *pseudo*
derivative) changes training only; the trained model computes the same ``f``::

    ReLU()                               # d = 1[z ≥ 0]           (Hu, Zhang & Ge 2021, eq. 7)
    ReLU(derivative="ad", k=3.5)         # d = sigmoid(k·z)       (Hu, Zhang & Ge 2021, eq. 8)
    Sigmoid(derivative="ad")             # d = min(y, 1 − y)      (Hu, Zhang & Ge 2021, eq. 11)
    Tanh(derivative=lambda z, a: 1.0 - a * a)   # any callable d(z, a)

A derivative used often can be named once and reused (``nanograd_ad.derivatives``)::

    register_derivative("relu", "half", lambda: lambda z, a: 0.5 * (z >= 0))
    ReLU(derivative="half")

Forward keeps z and a = f(z); backward keeps d^l (``derivative_value``), for the feedback
rules and the inspection tools that read it.
"""

from __future__ import annotations

import inspect
import math
import numbers

from . import backend
from .backend import Array
from .base import Layer, check_derivative_value, check_float
from .derivatives import (
    Derivative,
    checked_derivative,
    derivative_names,
    factory_keywords,
    lookup,
    register_derivative,
)

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


class Activation(Layer):
    """An elementwise nonlinearity a = f(z) with a replaceable derivative d(z, a).

    Inputs z: any shape; output a: the same shape. Subclasses define ``f`` and, beside
    it, ``true_derivative(**params) -> d(z, a)``, registered under ``"true"``.
    """

    key = "activation"
    #: the last forward's input z and output a = f(z) (None before the first forward)
    z: Array = None
    a: Array = None
    #: the last backward's d^l = d(z, a) (None before it)
    derivative_value: Array | float | None = None
    #: the registered factory ``d`` was made by (None for a callable passed directly)
    derivative_factory = None

    def __init__(self, derivative: str | Derivative = "true", **params):
        super().__init__()
        self.params = self._checked_params(params)
        self.set_derivative(derivative, **self.params)

    def accepted_keywords(self) -> list[str]:
        """The keywords this activation or one of its registered derivatives takes."""
        return sorted(factory_keywords(self.key))

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
        """Swap the derivative backward uses: a registered name or a callable d(z, a).

        A callable (or what a name's factory makes) that cannot be called as d(z, a) is
        refused here, and the derivative in use is kept.
        """
        owner, names = type(self).__name__, derivative_names(self.key)
        if callable(derivative):
            self.d, self.derivative_factory = checked_derivative(owner, derivative, names), None
            self.derivative_name = getattr(derivative, "__name__", "custom")
            return
        if not isinstance(derivative, str):
            raise TypeError(
                f"{owner}: derivative must be a registered name {names} or a callable d(z, a), "
                f"got {type(derivative).__name__}"
            )
        factory = lookup(self.key, derivative)
        if factory is None:
            raise ValueError(
                f"{owner}: unknown derivative {derivative!r}; known: {names} (or pass a callable d(z, a))"
            )
        given = {**self.params, **params}
        accepted = inspect.signature(factory).parameters
        d = factory(**{k: v for k, v in given.items() if k in accepted})
        self.d = checked_derivative(owner, d, names, made_by=(derivative, factory))
        self.derivative_name, self.derivative_factory = derivative, factory

    def f(self, z):
        """The forward function a = f(z)."""
        raise NotImplementedError

    def forward(self, z):
        check_float(self, z)  # a float array, as Dense and Conv2D take
        self.derivative_value = None
        self.z, self.a = z, self.f(z)
        self.out_shape = tuple(z.shape)
        return self.a

    def backward(self, delta):
        self._check_delta(delta)
        self.derivative_value = self._checked(self.d(self.z, self.a))  # d^l = d(z, a)
        return delta * self.derivative_value  # δ^l = (δ^{l+1} W^{l+1 T}) ⊙ d^l

    def derivative_array(self):
        """The last backward's d^l as an array of z's shape (a broadcast view, no copy).

        A derivative may return a Python scalar; it is made a 0-d array on the device
        first (``xp.full``, no host→device copy), since CuPy broadcasts device arrays only.
        """
        xp, d = backend.xp, self.derivative_value
        if not isinstance(d, xp.ndarray):
            d = xp.full((), d, dtype=self.z.dtype)
        return xp.broadcast_to(d, self.z.shape)

    def _checked(self, d):
        """d, if it is real and a scalar or an array broadcasting to z's shape without growing it."""
        return check_derivative_value(self, d, self.derivative_name, tuple(self.z.shape))

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

    @staticmethod
    def true_derivative():
        return lambda z, a: (z >= 0).astype(z.dtype)  # d = 1[z ≥ 0]


class LeakyReLU(Activation):
    """a = max(α·z, z); true d = α for z < 0 else 1 (Hu, Zhang & Ge 2021, eqs. 3–4, α = 0.01)."""

    key = "leaky_relu"

    def __init__(self, alpha: float = 0.01, derivative: str | Derivative = "true"):
        super().__init__(derivative, alpha=alpha)
        self.alpha = self.params["alpha"]  # a Python float: float32 data stays float32

    def f(self, z):
        return backend.xp.where(z >= 0, z, self.alpha * z)

    @staticmethod
    def true_derivative(alpha: float = 0.01):
        return lambda z, a: backend.xp.where(z >= 0, 1.0, alpha).astype(z.dtype)  # d = 1 or α


class Sigmoid(Activation):
    """y = 1 / (1 + e^{−z}); true d = y(1 − y) (eq. 10); ``"ad"``: d = min(y, 1 − y) (eq. 11)."""

    key = "sigmoid"

    def f(self, z):
        return sigmoid(z)

    @staticmethod
    def true_derivative():
        return lambda z, a: a * (1 - a)  # d = y(1 − y)


class Tanh(Activation):
    """a = tanh z; true d = 1 − a²."""

    key = "tanh"

    def f(self, z):
        return backend.xp.tanh(z)

    @staticmethod
    def true_derivative():
        return lambda z, a: 1 - a * a  # d = 1 − a²


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

    @staticmethod
    def true_derivative(a: float = 0.01, alpha: float = 1.0):
        def d(z, y):
            s = sigmoid(z)
            return backend.xp.where(backend.xp.abs(z) >= a, alpha, s * (1 - s)).astype(z.dtype)

        return d


class Identity(Activation):
    """a = z; d = 1 (a linear output layer)."""

    key = "identity"

    def f(self, z):
        return z

    @staticmethod
    def true_derivative():
        return lambda z, a: backend.xp.ones_like(z)  # d = 1


for _activation in (ReLU, LeakyReLU, Sigmoid, Tanh, ISigmoid, Identity):
    register_derivative(_activation.key, "true", _activation.true_derivative)
