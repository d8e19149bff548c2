"""Seed ensembles: E independent networks with a leading model axis, trained side by side.

A width-2 network is far too small to keep a processor busy; a hundred of them side by
side are not. Every weight gets a leading model axis and nothing else changes:

    one model     x (N, D)       W (D_in, D_out)       b (D_out,)        z = x W + b  (N, D_out)
    E models      x (E, N, D)    W (E, D_in, D_out)    b (E, 1, D_out)   z = x W + b  (E, N, D_out)

Activations are elementwise, the losses sum the models' own means (so model e receives
exactly its own gradient), and SGD/Adam update elementwise, so each model keeps its own
optimizer state. `train.Trainer` trains an ensemble with the same loop as one model,
each model on its own batch order, so model e follows the same trajectory as the
single network built with seed e and trained alone::

    net = from_seeds(lambda: Sequential(Dense(1, 2), ReLU(), Dense(2, 1)), seeds=range(100))
    flat = flat_parameter(net)                       # one optimizer update per step
    history = Trainer(net, MSE(), Adam([flat]), (x, y), (x_test, y_test),
                      batch_size=50, rng=range(100)).fit(300)
    lowest, epoch = history.best("test_loss", "min")  # (100,) each

Per model: the weights (built from its own seed), the batch order, the optimizer state,
the history's columns and, for AD, the switching state (`artificial_derivative.SwitchingRule`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import cast

import numpy as np  # host-side: the batch-order generators

from . import backend, init
from .activations import Activation
from .base import check_batch, check_positive_int
from .layers import Dense, Layer, Parameter
from .network import Sequential

__all__ = [
    "EnsembleDense",
    "ensemble_size",
    "flat_parameter",
    "from_seeds",
    "member_state",
    "model_generators",
    "stack",
]


class EnsembleDense(Dense):
    """E Dense layers side by side, z = x W + b over the last two axes (``Dense(..., models=E)``).

    Shapes: x (E, N, D_in) or shared (N, D_in); W (E, D_in, D_out); b (E, 1, D_out);
    z (E, N, D_out). Backward, with δ = ∂C/∂z (E, N, D_out):

        ∂C/∂W = xᵀ δ        (E, D_in, D_out); a shared x is broadcast over the models
        ∂C/∂b = Σ_batch δ   (E, 1, D_out)
        ∂C/∂x = δ Wᵀ        (E, N, D_in)

    Each line runs as stacked matrix products; the helpers below say which form NumPy runs
    fastest for a stack of small layers (the ensembles' width-2 networks).
    """

    models_axis = True

    def __init__(
        self,
        in_features: int,
        out_features: int,
        weight_init: str | init.Initializer = "torch",
        bias_init: str | init.Initializer = "torch",
        models: int | None = None,
        rng=None,
    ):
        Layer.__init__(self)
        in_features, out_features, models = check_positive_int(
            self, in_features=in_features, out_features=out_features, models=models
        )
        self.in_features, self.out_features, self.models = in_features, out_features, models
        shape, dtype = (models, in_features, out_features), backend.default_dtype()
        w = init.draw(weight_init, shape, in_features, out_features, rng, dtype)
        b = init.draw(bias_init, (models, 1, out_features), in_features, out_features, rng, dtype)
        self.weight = Parameter(backend.asarray(w, dtype), "weight")
        self.bias = Parameter(backend.asarray(b, dtype), "bias")

    #: (type, shape, dtype) of the last input that passed the checks: a training loop feeds
    #: batches of one kind, checked once instead of at every step
    _checked_input: tuple | None = None

    def forward(self, x):
        kind = (type(x), getattr(x, "shape", None), getattr(x, "dtype", None))
        if kind != self._checked_input:
            self._check_input(x)
            self._checked_input = kind
        self.x = x
        z = x @ self.weight.data  # z = x W + b: the product, a new array, ...
        z += _bias_rows(self.bias.data, x.shape[-2])  # ... and b added to it in place
        self.out_shape = tuple(z.shape)
        return z

    def _check_input(self, x) -> None:
        width, models = self.in_features, self.models  # (N, D_in) shared by the models, or (E, N, D_in)
        expected = f"(N, {width}) shared by the models or ({models}, N, {width}) (models={models})"
        check_batch(
            self,
            x,
            expected,
            lambda x: x.ndim in (2, 3) and x.shape[-1] == width and x.shape[:-2] in ((), (models,)),
        )

    def backward(self, delta, input_grad: bool = True):
        self._check_delta(delta)
        assert self.x is not None  # cached by forward (_check_delta saw it ran)
        x_t = self.x.swapaxes(-1, -2)
        self.weight.grad += _sum_to(x_t @ delta, self.weight.shape)  # ∂C/∂W = xᵀ δ
        self.bias.grad += _sum_to(sum_rows(delta), self.bias.shape)  # ∂C/∂b = Σ_batch δ
        if not input_grad:
            return None
        return delta @ _transposed(self.weight.data)  # ∂C/∂x = δ Wᵀ


Dense.ensemble_class = EnsembleDense  # what Dense(..., models=E) builds


def _bias_rows(b, n: int):
    """b as added to the n rows of x @ W: an ensemble's (E, 1, D) repeated to (E, n, D) — the
    same sum, but NumPy adds equal shapes ~4× faster than it broadcasts over the middle axis
    of a stacked width-2 layer."""
    return backend.xp.repeat(b, n, axis=-2)


def _transposed(w):
    """Wᵀ over the last two axes as a contiguous copy of the stacked (E, D_in, D_out)
    (NumPy's stacked matmul is ~1.5× faster on it than on the transposed view)."""
    return backend.xp.ascontiguousarray(w.swapaxes(-1, -2))


def sum_rows(delta):
    """Σ_n δ[..., n, :], keeping the axis: (…, N, D) → (…, 1, D), as a row of ones times δ.

    Same sum as ``delta.sum(axis=-2, keepdims=True)``; NumPy reduces the middle axis of a
    stacked (E, N, 2) ensemble error about 5× slower than this product. The row of ones is
    made once per shape and reused (:func:`_ones_row`).
    """
    return _ones_row((*delta.shape[:-2], 1, delta.shape[-2]), delta.dtype) @ delta


_ONES_ROWS: dict[tuple, object] = {}


def _ones_row(shape: tuple, dtype):
    """An array of ones of ``shape`` and ``dtype`` on the backend in use, made once and kept
    (a training loop asks for the same few shapes at every step); callers only read it."""
    key = (backend.name(), shape, dtype)  # the dtype object (str(dtype) costs as much as np.ones)
    ones = _ONES_ROWS.get(key)
    if ones is None:
        if len(_ONES_ROWS) >= 64:  # a handful of batch shapes in practice; never an unbounded cache
            _ONES_ROWS.clear()
        ones = _ONES_ROWS[key] = backend.xp.ones(shape, dtype=dtype)
    return ones


def _sum_to(g, shape):
    """Reshape ``g`` to ``shape``, summing a broadcast leading axis away if there is one."""
    if g.ndim > len(shape):
        g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    return g.reshape(shape)


def ensemble_size(net) -> int | None:
    """E, the models of an ensemble network (its layers' leading axis), or None for one model."""
    sizes = {
        layer.models for layer in getattr(net, "layers", ()) if getattr(layer, "models", None) is not None
    }
    if len(sizes) > 1:
        raise ValueError(f"ensemble_size: the layers disagree on the number of models: {sorted(sizes)}")
    return sizes.pop() if sizes else None


def stack(nets: list[Sequential]) -> Sequential:
    """One ensemble network from E single networks of the same architecture.

    Dense weights (D_in, D_out) → (E, D_in, D_out), biases (D_out,) → (E, 1, D_out);
    model e's parameters are a copy of ``nets[e]``'s. Activations are elementwise and
    carry over unchanged. Only Dense layers and activations can be stacked.
    """
    if not nets:
        raise ValueError("stack: needs at least one network")
    first, models = nets[0], len(nets)
    layers: list[Layer] = []
    for i, layer in enumerate(first.layers):
        if any(
            type(net.layers[i]) is not type(layer) or repr(net.layers[i]) != repr(layer) for net in nets
        ) or any(len(net.layers) != len(first.layers) for net in nets):
            raise ValueError(f"stack: the networks differ at layer {i} ({layer!r})")
        if isinstance(layer, Dense):
            if layer.models is not None:
                raise ValueError(f"stack: layer {i} ({layer!r}) is already an ensemble layer")
            dense = Dense(
                layer.in_features, layer.out_features, weight_init="zeros", bias_init="zeros", models=models
            )  # zeros: no draw from the global generator
            sources = [cast(Dense, net.layers[i]) for net in nets]  # the same type, checked above
            dense.weight.data[...] = backend.xp.stack([source.weight.data for source in sources])
            dense.bias.data[...] = backend.xp.stack([source.bias.data for source in sources])[:, None, :]
            layers.append(dense)
        elif isinstance(layer, Activation):
            layers.append(copy.deepcopy(layer))
        else:
            raise TypeError(f"stack: layer {i} ({layer!r}) is neither Dense nor an elementwise activation")
    return Sequential(*layers)


def from_seeds(build, seeds) -> Sequential:
    """``stack([build() after init.seed(s) for s in seeds])``: model e starts exactly as the
    single network ``build()`` makes after ``init.seed(seeds[e])``."""
    nets = []
    for s in seeds:
        init.seed(s)  # refuses 1.5 or -1 rather than truncating them
        nets.append(build())
    return stack(nets)


def member_state(net: Sequential, model: int) -> dict:
    """Model ``model``'s parameters as the ``state_dict`` of the single network it came from."""
    state = {}
    for name, p in net.named_parameters():
        value = backend.to_numpy(p.data)[model]
        state[name] = value[0] if name.endswith("bias") else value  # (1, D_out) → (D_out,)
    return state


def flat_parameter(net: Sequential) -> Parameter:
    """All of ``net``'s parameters as views into one flat vector θ (and ∂C/∂θ).

    An elementwise optimizer given ``[flat_parameter(net)]`` makes one update per step
    instead of one per array — the same numbers, far fewer tiny array operations. The
    layers keep working on their own arrays, which are now views: code that rebinds
    ``p.data`` or ``p.grad`` (rather than updating them in place) breaks the link.
    """
    params = net.parameters()
    xp = backend.xp
    sizes = [math.prod(p.shape) for p in params]
    flat = Parameter(xp.zeros(sum(sizes), dtype=params[0].data.dtype), "flat")
    offset = 0
    for p, size in zip(params, sizes):
        view = flat.data[offset : offset + size].reshape(p.shape)
        view[...] = p.data
        p.data, p.grad = view, flat.grad[offset : offset + size].reshape(p.shape)
        offset += size
    return flat


def model_generators(rng, models: int) -> list[np.random.Generator]:
    """One batch-order generator per model: seeds (or Generators) rng[e], or seed rng + e.

    What `train.Trainer` shuffles model e's rows with, so model e sees the batches a one-model
    Trainer with ``rng=rng[e]`` would.
    """
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        rng = [int(rng) + e for e in range(models)]
    if not isinstance(rng, Sequence) or len(rng) != models:
        raise ValueError(
            f"rng: an ensemble of {models} models needs {models} seeds or Generators (one batch "
            f"order per model) or one int seed s (model e: seed s + e), got {rng!r}"
        )
    return [init.get_rng(r) for r in rng]
