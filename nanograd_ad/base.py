"""The contract every layer keeps: ``Parameter``, ``Layer``, and the argument checks.

    y = layer.forward(x)          # caches self.x (and friends), overwritten each call
    dx = layer.backward(delta)    # param.grad += ∂C/∂param ; returns ∂C/∂x

``nanograd_ad.layers`` re-exports ``Parameter`` and ``Layer``; the checks raise clear
errors naming the layer, the expected and the received value, before any state changes.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

from . import backend
from .backend import Array

__all__ = [
    "Layer",
    "Parameter",
    "check_array",
    "check_batch",
    "check_derivative_value",
    "check_float",
    "check_positive_int",
]


class Parameter:
    """A trainable array ``data`` and its accumulated gradient ``grad`` (same shape).

    The gradient follows the data, as in PyTorch: assigning ``data`` an array of another
    dtype (or array type) re-allocates ``grad`` as zeros of the new kind, so float64
    weights never get float32-rounded gradients. An array of another shape is refused.
    """

    #: ∂C/∂data, accumulated with ``+=`` (allocated by the ``data`` setter, so never None after ``__init__``)
    grad: Array

    def __init__(self, data: Array, name: str):
        self.name = name
        self._data: Array | None = None  # set by the data setter below
        self.grad = None
        self.data = data

    @property
    def data(self) -> Array:
        """The parameter's values."""
        return self._data

    @data.setter
    def data(self, value: Array) -> None:
        if not backend.is_array(value):
            raise TypeError(f"Parameter {self.name}: data must be an array, got {type(value).__name__}")
        if self._data is not None and tuple(value.shape) != tuple(self._data.shape):
            raise ValueError(
                f"Parameter {self.name}: expected shape {tuple(self._data.shape)}, got {tuple(value.shape)}"
            )
        grad = self.grad
        if grad is None or grad.dtype != value.dtype or type(grad) is not type(value):
            self.grad = backend.xp.zeros_like(value)
        self._data = value

    @property
    def shape(self) -> tuple:
        return self.data.shape

    def zero_grad(self) -> None:
        """grad ← 0. Gradients accumulate with ``+=``, so call this before each backward."""
        self.grad[...] = 0

    def to(self, backend_name: str) -> Parameter:
        """Move ``data`` and ``grad`` to ``"numpy"`` (host) or ``"cupy"`` (device), in place."""
        # both at once: the ``data`` setter would replace a gradient of the other array type by zeros
        self._data, self.grad = backend.move(self._data, backend_name), backend.move(self.grad, backend_name)
        return self

    def __repr__(self):
        return f"Parameter({self.name}, shape={self.shape})"


class Layer:
    """Base class: no parameters, identity shapes.

    ``skips_input_grad``: True where ``backward(delta, input_grad=False)`` is accepted and
    skips ∂C/∂x (``Sequential.backward(..., input_grad=False)`` asks its bottom layer so).
    ``training`` is True unless ``Sequential.eval()`` switched it off; only layers that
    behave differently in evaluation (batch normalization) read it.
    """

    skips_input_grad = False
    training = True

    def __init__(self) -> None:
        self.x: Array = None  # the last forward's input (None before it)

    def forward(self, x):
        raise NotImplementedError

    def _check_delta(self, delta) -> None:
        """δ must be an array of the shape forward returned (``self.out_shape``)."""
        expected = getattr(self, "out_shape", None)
        if expected is None:
            raise RuntimeError(f"{self!r}: backward called before forward (nothing is cached)")
        if not backend.is_array(delta):
            raise TypeError(
                f"{self!r}: delta must be an array of shape {expected}, got {type(delta).__name__}"
            )
        if tuple(delta.shape) != expected:
            raise ValueError(
                f"{self!r}: backward expects delta of shape {expected} (the shape forward returned), "
                f"got {tuple(delta.shape)}"
            )

    def backward(self, delta):
        raise NotImplementedError

    def parameters(self) -> list[Parameter]:
        """The layer's trainable parameters (weight first, then bias)."""
        return [p for p in (getattr(self, "weight", None), getattr(self, "bias", None)) if p is not None]

    def output_shape(self, input_shape: tuple) -> tuple:
        """Per-sample output shape for a per-sample input shape (no batch axis)."""
        return tuple(input_shape)

    def build(self, input_shape: tuple, previous: Layer | None = None) -> tuple:
        """Called by ``Sequential.build`` with the per-sample input shape and the layer below.

        Records ``self.input_shape`` (per-sample, no batch axis), so a layer above can read
        the geometry it was built on (the regularized ReLU's c = C_in·H_in·W_in).
        """
        output = self.output_shape(input_shape)
        self.input_shape = tuple(input_shape)
        return output

    def to(self, backend_name: str) -> Layer:
        """Move parameters, gradients and every cached array (``self.x``, ``self.z``, …)
        to ``"numpy"`` (host) or ``"cupy"`` (device), in place."""
        for p in self.parameters():
            p.to(backend_name)
        for key, value in vars(self).items():
            setattr(self, key, backend.move(value, backend_name))
        return self

    def astype(self, dtype) -> Layer:
        """Cast parameters (and their gradients) to ``dtype`` in place."""
        for p in self.parameters():
            p.data = p.data.astype(dtype)
            p.grad = p.grad.astype(dtype)
        return self

    def __call__(self, x):
        return self.forward(x)

    def __repr__(self):
        return f"{type(self).__name__}()"


def check_array(layer: Layer, x) -> None:
    """x must be an array (NumPy or CuPy)."""
    if not backend.is_array(x):
        raise TypeError(
            f"{layer!r} expects an array (convert with np.asarray(x, dtype=np.float32)), "
            f"got {type(x).__name__}"
        )


def check_float(layer: Layer, x) -> None:
    """x must be an array of a floating-point dtype."""
    check_array(layer, x)
    if not backend.xp.issubdtype(x.dtype, backend.xp.floating):
        raise TypeError(f"{layer!r} expects a floating-point input, got dtype {x.dtype}")


def check_batch(layer: Layer, x, expected: str, fits: Callable[[Array], bool]) -> None:
    """x must be a floating-point array whose shape ``fits``; the error names the ``expected`` shape."""
    check_array(layer, x)
    if not fits(x):
        raise ValueError(f"{layer!r} expects input of shape {expected}, got {tuple(x.shape)}")
    check_float(layer, x)


def check_positive_int(layer, **values) -> tuple[int, ...]:
    """Each value a positive integer (a NumPy integer too); returned as Python ints, in order."""
    for key, value in values.items():
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{type(layer).__name__}: {key} must be a positive int, got {value!r}")
    return tuple(int(v) for v in values.values())


def check_derivative_value(layer: Layer, d, name: str, z_shape: tuple):
    """d = d(z, a) as backward may use it: a real scalar, or a real array on the current backend
    that broadcasts to z's shape without growing it (bool and integer arrays count as real)."""
    expected = f"expected an array of shape {z_shape} (the shape of z) or a scalar, with real values"
    if not (backend.is_array(d) or isinstance(d, numbers.Real)):
        raise TypeError(f"{layer!r}: derivative {name!r} returned {type(d).__name__}, {expected}")
    if backend.is_array(d) and d.dtype.kind not in "biuf":
        raise TypeError(f"{layer!r}: derivative {name!r} returned dtype {d.dtype}, {expected}")
    where = backend.array_backend(d)
    if where is not None and where != backend.name():
        raise backend.DeviceMismatchError(
            f"{layer!r}: derivative {name!r} returned a {where} array under the "
            f"{backend.name()!r} backend; compute it with backend.xp (or move it with backend.asarray)"
        )
    shape = tuple(getattr(d, "shape", ()))
    try:
        fits = shape == () or backend.xp.broadcast_shapes(shape, z_shape) == z_shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"{layer!r}: derivative {name!r} returned shape {shape}, expected {z_shape} (the shape of z)"
        )
    return d
