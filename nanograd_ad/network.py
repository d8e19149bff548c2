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

A layer may hold networks of its own (a :class:`~nanograd_ad.residual.Residual` block's
branch and shortcut). The feedback rules of the outer network act on their layers too:
every layer has an *index at the seam*, its position in :meth:`Sequential.walk` (depth
first: the block, then its branch's layers, then its shortcut's). Without blocks that
index is just the layer's position in ``layers``.

``train()`` / ``eval()`` switch every layer's ``training`` flag (PyTorch's convention):
batch normalization uses batch statistics in training and its running statistics in
evaluation; ``state_dict`` holds those running statistics beside the parameters.
"""

from __future__ import annotations

import math
import warnings
from typing import Protocol, cast

from . import backend
from .backend import Array
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
        refuse_repeated_layers("Sequential", self.walk())
        self.feedback: list[FeedbackRule] = []
        self.check_finite = False
        self.training = True
        self.input_shape: tuple | None = None
        #: (the network this one sits in, the seam index of this one's layer 0 there), or None
        self.enclosing: tuple[Sequential, int] | None = None
        self._number_layers()
        for rule in feedback or []:
            self.add_feedback(rule)

    # -------------------------------------------------------------- the seam's indices
    def walk(self) -> list[tuple[str, Layer]]:
        """Every layer, depth first, with its name: ``("3", Residual)``, ``("3.branch.0", Conv2D)``…

        A layer's position in this list is its index at the feedback seam (the ``index``
        a rule's ``before_layer``/``after_layer`` receive and ``GradientFlow`` or gradient
        amplification report). Without blocks, it is the list of ``layers``.
        """
        found = []
        for i, layer in enumerate(self.layers):
            found.append((str(i), layer))
            for name, inner in _inner_networks(layer):
                found += [(f"{i}.{name}.{sub}", sublayer) for sub, sublayer in inner.walk()]
        return found

    def networks(self) -> list[tuple[int, Sequential]]:
        """This network and every network inside its blocks, each with the seam index of its layer 0
        minus one's own offset: ``[(0, self), (4, block.branch), …]`` (an inner network's layer j has
        seam index ``offset + inner.seam_index[j]``)."""
        self._number_layers()
        found: list[tuple[int, Sequential]] = [(0, self)]
        for i, layer in enumerate(self.layers):
            offset = self.seam_index[i] + 1
            for _, inner in _inner_networks(layer):
                found += [(offset + sub_offset, net) for sub_offset, net in inner.networks()]
                offset += len(inner.walk())
        return found

    def _number_layers(self) -> None:
        """Seam index of each layer (``self.seam_index``); tell each inner network where it sits."""
        self.seam_index, position = [], 0
        for layer in self.layers:
            self.seam_index.append(position)
            position += 1
            for _, inner in _inner_networks(layer):
                inner.enclosing = (self, position)
                position += len(inner.walk())

    def _rules(self) -> list[tuple[FeedbackRule, int]]:
        """(rule, seam index of this network's layer 0 in the rule's network): this network's
        own rules, then those of the networks it sits in."""
        rules = [(rule, 0) for rule in self.feedback]
        if self.enclosing is not None:
            outer, offset = self.enclosing
            rules += [(rule, offset + first) for rule, first in outer._rules()]
        return rules

    # ----------------------------------------------------------------- forward
    def forward(self, x):
        """a^L from the input x; each layer caches what its backward needs."""
        if not backend.is_array(x):
            raise TypeError(
                "Sequential.forward expects an array (convert with np.asarray(x, dtype=np.float32)), "
                f"got {type(x).__name__}"
            )
        self._check_backend(x)
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

    def _check_backend(self, x) -> None:
        """Refuse an input on the other backend than the weights, naming the move that fixes it."""
        params = self.parameters()
        own = backend.array_backend(params[0].data) if params else backend.name()
        given = backend.array_backend(x)
        if given == own == backend.name() or given is None or own is None:
            return
        place = {"numpy": "on the host (numpy)", "cupy": "on the GPU (cupy)"}
        if given != own:
            fix = (
                "move the input with backend.asarray(x), or the network with net.to('numpy')"
                if own == "cupy"
                else "move the network with net.to('cupy'), or the input with backend.to_numpy(x)"
            )
            raise backend.DeviceMismatchError(
                f"Sequential: the network's weights are {place[own]} but the input is {place[given]}; {fix}"
            )
        raise backend.DeviceMismatchError(
            f"Sequential: the network and its input are {place[own]} but the backend in use is "
            f"{backend.name()!r}; move the network with net.to({backend.name()!r}) and the input with "
            f"backend.asarray(x), or select the backend with backend.use({own!r})"
        )

    def to(self, backend_name: str) -> Sequential:
        """Move the network to ``"cupy"`` (the GPU) or ``"numpy"`` (the host), PyTorch style.

        Parameters, gradients, every layer's cached arrays and the feedback rules' state
        are copied across, in place (the same ``Parameter`` objects, so an optimizer built
        on ``net.parameters()`` keeps them; move its own state with ``optimizer.to``).
        Computing needs the backend selected too: ``backend.use(backend_name)``. Returns self.
        """
        backend.module(backend_name)  # fails early, naming what is missing
        for layer in self.layers:
            layer.to(backend_name)
        for rule in self.feedback:
            for key, value in vars(rule).items():
                setattr(rule, key, backend.move(value, backend_name))
        return self

    # ---------------------------------------------------------------- backward
    def backward(self, delta, input_grad: bool = True):
        """The δ recursion from δ^L = ∂C/∂z^L down to ∂C/∂x; fills every ``param.grad``.

        For each layer, from the top: the feedback rules may rescale the error coming in,
        the layer takes its gradients and passes the error down, and the rules may
        rescale what it passes down. Returns ∂C/∂x, shaped like the input. Each rule receives
        the layer's index at the seam (``i`` itself unless the network holds blocks; see
        :meth:`walk`).

        ``input_grad=False`` (a training step: nobody reads ∂C/∂x) lets the bottom layer
        skip the error for the input — for a convolution that is a matrix product and a
        col2im — and returns ``None``. Every ``param.grad`` is the same either way, and the
        feedback rules still see the bottom layer (``after_layer`` gets ``delta=None``).
        """
        if len(self.seam_index) != len(self.layers):  # layers were added or removed
            self._number_layers()
        rules = self._rules()
        for i in reversed(range(len(self.layers))):
            layer, index = self.layers[i], self.seam_index[i]
            for rule, first in rules:
                delta = rule.before_layer(first + index, layer, delta)  # seam: error into layer i
            try:
                if i == 0 and not input_grad:
                    _backward_without_input_grad(layer, delta)  # grads only
                    delta = None
                else:
                    delta = layer.backward(delta)  # grads; error for the layer below
            except Exception as err:
                _add_context(err, f"Sequential layer {i}")
                raise
            for rule, first in rules:
                delta = rule.after_layer(first + index, layer, delta)  # seam: error out of layer i
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
        """``("3.weight", Parameter)`` pairs: layer index, then the parameter's name
        (``"3.branch.0.weight"`` inside a block, as in PyTorch)."""
        named = []
        for i, layer in enumerate(self.layers):
            if hasattr(layer, "named_parameters"):  # a block: its networks' names
                named += [(f"{i}.{name}", p) for name, p in layer.named_parameters()]
            else:
                named += [(f"{i}.{p.name}", p) for p in layer.parameters()]
        return named

    def named_buffers(self) -> list[tuple[str, Array]]:
        """``("1.running_mean", array)`` pairs: state that is saved but not trained."""
        return [
            (f"{name}.{key}", value)
            for name, layer in self.walk()
            for key, value in (layer.buffers().items() if hasattr(layer, "buffers") else ())
        ]

    def train(self, mode: bool = True) -> Sequential:
        """Training mode (the default): batch normalization uses the batch's statistics."""
        if not isinstance(mode, bool):
            raise TypeError(f"Sequential.train: mode must be True or False, got {mode!r}")
        self.training = mode
        for _, layer in self.walk():
            layer.training = mode
        for _, net in self.networks():
            net.training = mode
        return self

    def eval(self) -> Sequential:
        """Evaluation mode: batch normalization uses its running statistics (``train(False)``)."""
        return self.train(False)

    def num_parameters(self) -> int:
        """Total number of trainable scalars."""
        return sum(math.prod(p.shape) for p in self.parameters())

    def zero_grad(self) -> None:
        """Set every gradient to 0 (backward accumulates with ``+=``)."""
        for p in self.parameters():
            p.zero_grad()

    def state_dict(self) -> dict:
        """``{name: NumPy copy}`` of every parameter and buffer (running statistics): host arrays."""
        state = {name: backend.to_numpy(p.data).copy() for name, p in self.named_parameters()}
        state.update({name: backend.to_numpy(value).copy() for name, value in self.named_buffers()})
        return state

    def load_state_dict(self, state: dict) -> None:
        """Load parameters and buffers (running statistics) saved by :meth:`state_dict`.

        Everything is checked before anything is written: the names and shapes must match,
        and every value must be a real array that is finite in the network's dtype (complex,
        bool, object arrays and values beyond the dtype's range, such as 1e300 in float32,
        are refused). A problem raises
        :class:`~nanograd_ad.checkpoint.CheckpointMismatchError` naming the entry, and the
        network is left as it was.

        The values are copied into the existing arrays (in the network's dtype), so an
        optimizer holding them, or a flat vector they are views of, keeps updating the
        weights the layers read.
        """
        checked = self._checked_state(state)
        for _, p, value in checked:
            if p is not None:  # in place: views (flat_parameter) and optimizers stay bound
                p.data[...] = value
        layers = dict(self.walk())
        for name, p, value in checked:
            if p is None:
                layer_name, key = name.rsplit(".", 1)
                cast(_Buffered, layers[layer_name]).load_buffer(key, value)  # named_buffers found it

    def _checked_state(self, state) -> list[tuple[str, Parameter | None, Array]]:
        """(name, parameter or None for a buffer, value on this backend in the network's dtype) for
        every entry of ``state``, or CheckpointMismatchError naming the first that does not fit."""
        from .checkpoint import CheckpointMismatchError

        if not isinstance(state, dict):
            raise TypeError(
                f"load_state_dict: state must be a dict {{name: array}} (from state_dict()), got "
                f"{type(state).__name__}"
            )
        own = dict(self.named_parameters())
        buffers = dict(self.named_buffers())
        expected = set(own) | set(buffers)
        missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
        if missing or unexpected:
            raise CheckpointMismatchError(
                f"load_state_dict: architecture mismatch — missing {missing}, unexpected {unexpected}"
            )
        checked = []
        for name in [*own, *buffers]:
            target = own[name].data if name in own else buffers[name]
            what = "parameter" if name in own else "buffer"
            value = state[name]
            if not backend.is_array(value):
                raise CheckpointMismatchError(
                    f"load_state_dict: {what} {name} must be an array, got {type(value).__name__}"
                )
            if tuple(value.shape) != tuple(target.shape):
                raise CheckpointMismatchError(
                    f"load_state_dict: {what} {name} expects shape {tuple(target.shape)}, found "
                    f"{tuple(value.shape)}"
                )
            if value.dtype.kind not in "fiu":
                raise CheckpointMismatchError(
                    f"load_state_dict: {what} {name} must hold real numbers, got dtype {value.dtype}"
                )
            with warnings.catch_warnings():  # an overflow to inf is reported below, by name
                warnings.simplefilter("ignore", RuntimeWarning)
                converted = backend.asarray(value, dtype=target.dtype)
            if not _all_finite(converted):
                raise CheckpointMismatchError(
                    f"load_state_dict: {what} {name} holds NaN or inf in {target.dtype} (values beyond "
                    "its range turn into inf)"
                )
            checked.append((name, own.get(name), converted))
        return checked

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
        entries = self._describe_rows()
        names = max([3] + [len(name) for name, _, _, _ in entries])
        width = max([36] + [len(detail) for _, detail, _, _ in entries])
        rows = [f"{'#':<{names}}  {'layer':<{width}} {'output':<18} params"]
        for name, detail, shape, count in entries:
            rows.append(f"{name:<{names}}  {detail:<{width}} {shape or '?'!s:<18} {count}")
        rows.append(f"total parameters: {self.num_parameters()}")
        return "\n".join(rows)

    def _describe_rows(self, prefix: str = "") -> list[tuple[str, str, object, int]]:
        """(name, layer, output shape, parameters) per layer; a block's layers follow it, indented."""
        shapes = getattr(self, "shapes", [None] * len(self.layers))
        indent = "  " * (prefix.count(".") // 2)  # "3.branch." is one level down
        rows = []
        for i, (layer, shape) in enumerate(zip(self.layers, shapes)):
            detail = layer.describe() if hasattr(layer, "describe") else repr(layer)
            count = sum(math.prod(p.shape) for p in layer.parameters())
            rows.append((f"{prefix}{i}", indent + detail, shape, count))
            for name, inner in _inner_networks(layer):
                rows += inner._describe_rows(f"{prefix}{i}.{name}.")
        return rows

    def __repr__(self):
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential(\n  {inner}\n)"

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]


class _Buffered(Protocol):
    """A layer with state that is saved but not trained (batch norm's running statistics)."""

    def buffers(self) -> dict[str, Array]: ...

    def load_buffer(self, name: str, value: Array) -> None: ...


class _SkipsInputGrad(Protocol):
    """A layer whose ``skips_input_grad`` is True: its backward takes ``input_grad``."""

    def backward(self, delta: Array, input_grad: bool = True) -> Array | None: ...


def _backward_without_input_grad(layer: Layer, delta) -> None:
    """The bottom layer's backward when nobody needs ∂C/∂x: Dense and Conv2D skip that
    product (``input_grad=False``); any other layer runs as usual and its result is dropped."""
    if getattr(layer, "skips_input_grad", False):
        cast(_SkipsInputGrad, layer).backward(delta, input_grad=False)
    else:
        layer.backward(delta)


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


def refuse_repeated_layers(owner: str, named_layers: list[tuple[str, Layer]]) -> None:
    """Refuse a layer object that appears twice (at any depth): its second forward would
    overwrite the cache the first one's backward needs, and both would get a wrong gradient.

    ``named_layers`` are (position, layer) pairs as :meth:`Sequential.walk` gives them.
    """
    first_seen: dict[int, str] = {}
    for name, layer in named_layers:
        if id(layer) in first_seen:
            raise ValueError(
                f"{owner}: layer {name} is layer {first_seen[id(layer)]} again (the same {layer!r} "
                "object); a layer caches its input for backward, so one object at two positions gets a "
                "wrong gradient. Build a new layer for each position (copy.deepcopy(layer) starts "
                "from the same weights); sharing weights between positions is not supported"
            )
        first_seen[id(layer)] = name


def _inner_networks(layer) -> list[tuple[str, Sequential]]:
    """The named networks a block holds (``[("branch", …), ("shortcut", …)]``); [] for other layers."""
    children = getattr(layer, "children", None)
    return children() if callable(children) else []


def _all_finite(x) -> bool:
    return bool(backend.xp.isfinite(x).all())
