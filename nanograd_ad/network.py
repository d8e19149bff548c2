"""Sequential: a stack of layers; backward is the δ recursion, one readable loop.

Nielsen's ``backprop`` writes the recursion with the pre-activations ``zs`` and the
activations kept in lists, one sample per *column* (his z = W a + b)::

    delta = cost_derivative(activations[-1], y) * f_prime(zs[-1])        # δ^L
    for l in range(2, num_layers):
        delta = (W[-l + 1].T @ delta) * f_prime(zs[-l])                   # δ^l = (W^{l+1 T} δ^{l+1}) ⊙ d^l
        grad_W[-l] = delta @ activations[-l - 1].T                        # ∂C/∂W^l = δ^l a^{l-1 T}

This library keeps one sample per *row* (z = a W + b), so the same recursion reads
δ^l = (δ^{l+1} W^{l+1 T}) ⊙ d^l and ∂C/∂W^l = a^{l−1 T} δ^l.

Here each layer keeps its own z and a, and the same recursion is split between them:
a ``Dense`` layer turns δ^{l+1} into δ^{l+1} W^{l+1 T} (storing ∂C/∂W^{l+1}), and the
activation below multiplies by d^l. Between any two layers sits the feedback seam —
where pseudo-normalization or gradient amplification rescale the error travelling
down. ``tests/test_network.py`` proves this loop equals the explicit recursion.
"""

from __future__ import annotations

import math

from . import backend
from .feedback import FeedbackRule
from .layers import Layer, Parameter

__all__ = ["NonFiniteError", "Sequential"]


class NonFiniteError(FloatingPointError):
    """NaN or Inf appeared: names the layer (index and repr) and the pass."""

    def __init__(self, layer_index: int, layer_name: str, pass_name: str, what: str = "output"):
        self.layer_index, self.layer_name, self.pass_name = layer_index, layer_name, pass_name
        super().__init__(
            f"non-finite values (NaN or Inf) in the {pass_name} pass: {what} of "
            f"layer {layer_index} ({layer_name})"
        )


class Sequential:
    """Layers applied in order: ``net(x)`` = layer_L(… layer_1(x)).

    ``feedback`` is a list of :class:`~nanograd_ad.feedback.FeedbackRule` objects that may
    rescale the error between layers during backward. Set ``check_finite = True`` to
    raise :class:`NonFiniteError` at the first layer whose output (forward) or error or
    gradient (backward) holds a NaN or Inf.
    """

    def __init__(self, *layers: Layer, feedback: list[FeedbackRule] | None = None):
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: argument {i} is a {type(layer).__name__}, not a Layer")
        self.layers = list(layers)
        self.feedback: list[FeedbackRule] = []
        self.check_finite = False
        self.input_shape: tuple | None = None
        for rule in feedback or []:
            self.add_feedback(rule)

    # ----------------------------------------------------------------- forward
    def forward(self, x):
        """a^L from the input x; each layer caches what its backward needs."""
        if not backend.is_array(x):
            raise TypeError(
                "Sequential.forward expects an array (convert with np.asarray(x, dtype=np.float32)), "
                f"got {type(x).__name__}"
            )
        if self.input_shape is None and any(getattr(l, "requires_build", False) for l in self.layers):
            self.build(tuple(x.shape[1:]))
        for i, layer in enumerate(self.layers):
            try:
                x = layer.forward(x)
            except Exception as err:
                _add_context(err, f"Sequential layer {i}")
                raise
            if self.check_finite and not _all_finite(x):
                raise NonFiniteError(i, repr(layer), "forward")
        return x

    __call__ = forward

    # ---------------------------------------------------------------- backward
    def backward(self, delta, input_grad: bool = True):
        """The δ recursion from δ^L = ∂C/∂z^L down to ∂C/∂x; fills every ``param.grad``.

        For each layer, from the top: the feedback rules may rescale the error coming in,
        the layer takes its gradients and passes the error down, and the rules may
        rescale what it passes down. Returns ∂C/∂x, shaped like the input.

        ``input_grad=False`` (a training step: nobody reads ∂C/∂x) lets the bottom layer
        skip the error for the input — for a convolution that is a matrix product and a
        col2im — and returns ``None``. Every ``param.grad`` is the same either way, and the
        feedback rules still see the bottom layer (``after_layer`` gets ``delta=None``).
        """
        for i in reversed(range(len(self.layers))):
            layer = self.layers[i]
            for rule in self.feedback:
                delta = rule.before_layer(i, layer, delta)  # seam: error into layer i
            try:
                if i == 0 and not input_grad:
                    delta = _backward_without_input_grad(layer, delta)  # grads only; None
                else:
                    delta = layer.backward(delta)  # grads; error for the layer below
            except Exception as err:
                _add_context(err, f"Sequential layer {i}")
                raise
            for rule in self.feedback:
                delta = rule.after_layer(i, layer, delta)  # seam: error out of layer i
            if self.check_finite:
                self._check_backward(i, layer, delta)
        return delta

    def _check_backward(self, i: int, layer: Layer, delta) -> None:
        if delta is not None and not _all_finite(delta):
            raise NonFiniteError(i, repr(layer), "backward", "error passed down")
        for p in layer.parameters():
            if not _all_finite(p.grad):
                raise NonFiniteError(i, repr(layer), "backward", f"{p.name} gradient")

    # -------------------------------------------------------------- parameters
    def parameters(self) -> list[Parameter]:
        """All trainable parameters, bottom layer first."""
        return [p for layer in self.layers for p in layer.parameters()]

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        """``("3.weight", Parameter)`` pairs: layer index, then the parameter's name."""
        return [(f"{i}.{p.name}", p) for i, layer in enumerate(self.layers) for p in layer.parameters()]

    def num_parameters(self) -> int:
        """Total number of trainable scalars."""
        return sum(math.prod(p.shape) for p in self.parameters())

    def zero_grad(self) -> None:
        """Set every gradient to 0 (backward accumulates with ``+=``)."""
        for p in self.parameters():
            p.zero_grad()

    def state_dict(self) -> dict:
        """``{name: NumPy copy of the parameter}`` — host arrays, safe to save."""
        return {name: backend.to_numpy(p.data).copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict) -> None:
        """Load parameters saved by :meth:`state_dict`; refuses any name or shape mismatch.

        The values are copied into the existing arrays (in the network's dtype), so an
        optimizer holding them, or a flat vector they are views of, keeps updating the
        weights the layers read.
        """
        own = dict(self.named_parameters())
        missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        if missing or unexpected:
            raise ValueError(
                f"load_state_dict: architecture mismatch — missing {missing}, unexpected {unexpected}"
            )
        for name, p in own.items():
            if tuple(state[name].shape) != tuple(p.shape):
                raise ValueError(
                    f"load_state_dict: parameter {name} expects shape {tuple(p.shape)}, "
                    f"found {tuple(state[name].shape)}"
                )
        for name, p in own.items():  # in place: views (flat_parameter) and optimizers stay bound
            p.data[...] = backend.asarray(state[name], dtype=p.data.dtype)  # a copy, never shared

    def astype(self, dtype) -> Sequential:
        """Cast every parameter to ``dtype`` (e.g. float64 for gradient checks)."""
        for layer in self.layers:
            layer.astype(dtype)
        return self

    # ------------------------------------------------------------------ shapes
    def build(self, input_shape: tuple) -> tuple:
        """Walk a per-sample input shape through the layers; returns the output shape.

        Layers whose behaviour depends on the geometry (e.g. the regularized ReLU) derive
        it here. Raises ``ValueError`` naming the first layer that cannot take its input.
        """
        shape, previous = tuple(input_shape), None
        self.shapes = []
        for i, layer in enumerate(self.layers):
            try:
                shape = tuple(layer.build(shape, previous))
            except ValueError as err:
                raise ValueError(f"Sequential layer {i}: {err}") from err
            self.shapes.append(shape)
            previous = layer
        self.input_shape = tuple(input_shape)
        return shape

    def add_feedback(self, rule: FeedbackRule) -> Sequential:
        """Attach a feedback rule (it validates the network in ``bind``)."""
        if not isinstance(rule, FeedbackRule):
            raise TypeError(f"feedback rules must be FeedbackRule objects, got {type(rule).__name__}")
        rule.bind(self)
        self.feedback.append(rule)
        return self

    def describe(self) -> str:
        """A table of the layers: index, layer, output shape (once built), parameters."""
        shapes = getattr(self, "shapes", [None] * len(self.layers))
        details = [layer.describe() if hasattr(layer, "describe") else repr(layer) for layer in self.layers]
        width = max([36] + [len(d) for d in details])
        rows = [f"{'#':>3}  {'layer':<{width}} {'output':<18} params"]
        for i, (layer, shape, detail) in enumerate(zip(self.layers, shapes, details)):
            count = sum(math.prod(p.shape) for p in layer.parameters())
            rows.append(f"{i:>3}  {detail:<{width}} {shape or '?'!s:<18} {count}")
        rows.append(f"total parameters: {self.num_parameters()}")
        return "\n".join(rows)

    def __repr__(self):
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential(\n  {inner}\n)"

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]


def _backward_without_input_grad(layer: Layer, delta) -> None:
    """The bottom layer's backward when nobody needs ∂C/∂x: Dense and Conv2D skip that
    product (``input_grad=False``); any other layer runs as usual and its result is dropped."""
    if getattr(layer, "skips_input_grad", False):
        layer.backward(delta, input_grad=False)
    else:
        layer.backward(delta)
    return None


def _add_context(err: Exception, context: str) -> None:
    """Prefix ``context`` to the error's message in place: same object, type and traceback.

    Re-raising ``type(err)(message)`` would fail for exception classes whose constructor
    takes other arguments; an error that already names the context is left alone.
    """
    if isinstance(err, NonFiniteError) or str(err).startswith(context):
        return
    if len(err.args) == 1 and isinstance(err.args[0], str):
        err.args = (f"{context}: {err.args[0]}",)
    elif hasattr(err, "add_note"):  # Python ≥ 3.11
        err.add_note(context)


def _all_finite(x) -> bool:
    return bool(backend.xp.isfinite(x).all())
