"""Seed ensembles: E independent networks trained side by side in one vectorised loop.

A width-2 network is far too small to keep a processor busy; a hundred of them side by
side are not. Every weight gets a leading model axis and nothing else changes:

    one model     x (N, D)       W (D_in, D_out)       b (D_out,)        z = x @ W + b  (N, D_out)
    E models      x (E, N, D)    W (E, D_in, D_out)    b (E, 1, D_out)   z = x @ W + b  (E, N, D_out)

Activations are elementwise, ``MSE`` sums the models' own means (so model e receives
exactly its own gradient), and SGD/Adam update elementwise, so each model keeps its own
optimizer state. Model e of an ensemble therefore follows the same trajectory as the
single network built with seed e and trained alone on its own batches::

    net = from_seeds(lambda: Sequential(Dense(1, 2), ReLU(), Dense(2, 1)), seeds=range(100))
    flat = flat_parameter(net)                       # one optimizer update per step
    trainer = EnsembleTrainer(net, MSE(), Adam([flat]), (x, y), (x_test, y_test),
                              batch_size=50, seeds=range(100))
    history = trainer.fit(300)                       # history.best_test_loss: (100,)

Per model: the weights (built from its own seed), the batch order (its own generator,
``rng.permutation(n)`` every epoch, as `train.Trainer` draws it), the optimizer state,
the lowest test loss and, for AD, the switching state (`EnsembleSwitching`).
"""

from __future__ import annotations

import copy
import math

import numpy  # host side only: per-model batch orders and the per-epoch bookkeeping

from . import backend, init
from .activations import Activation
from .layers import Dense, Parameter
from .network import Sequential
from .train import should_switch

__all__ = [
    "EnsembleHistory",
    "EnsembleSwitching",
    "EnsembleTrainer",
    "flat_parameter",
    "from_seeds",
    "member_state",
    "stack",
]


def stack(nets: list[Sequential]) -> Sequential:
    """One ensemble network from E single networks of the same architecture.

    Dense weights (D_in, D_out) → (E, D_in, D_out), biases (D_out,) → (E, 1, D_out);
    model e's parameters are a copy of ``nets[e]``'s. Activations are elementwise and
    carry over unchanged. Only Dense layers and activations can be stacked.
    """
    if not nets:
        raise ValueError("stack: needs at least one network")
    first, models = nets[0], len(nets)
    layers = []
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
            dense.weight.data[...] = backend.xp.stack([net.layers[i].weight.data for net in nets])
            dense.bias.data[...] = backend.xp.stack([net.layers[i].bias.data for net in nets])[:, None, :]
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
        init.seed(int(s))
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


class EnsembleSwitching:
    """The AD ↔ original switching rule (METHODS §1), with its own state for each model.

    Each model starts in AD mode. After each epoch, model e toggles between the AD and the
    original derivative when its training loss exceeds A × (its best training loss of the
    epochs before) — `train.should_switch`, one model at a time. Each activation's
    derivative becomes

        d(z, a) = ad(z, a)         for the models in AD mode
                  original(z, a)   for the others          (mask of shape (E, 1, 1))

    Every switch is recorded as ``{"epoch", "model", "mode"}`` in ``switches``.
    """

    def __init__(self, net: Sequential, models: int, A: float = 1.035, original="true"):
        if not A > 0:
            raise ValueError(f"A must be positive, got {A}")
        self.A, self.models = float(A), int(models)
        self.activations = [layer for layer in net.layers if isinstance(layer, Activation)]
        if not self.activations:
            raise ValueError("EnsembleSwitching needs at least one activation")
        self.ad_mode = numpy.ones(self.models, dtype=bool)
        self.best_loss = numpy.full(self.models, numpy.inf)
        self.switches: list[dict] = []
        self._update_mask()
        for act in self.activations:
            ad, name = act.d, act.derivative_name
            act.set_derivative(original)
            act.set_derivative(self._mixed(ad, act.d))
            act.derivative_name = f"{name} or {original}, per model"

    def _mixed(self, ad, original):
        def per_model_derivative(z, a):
            if self.all_ad:
                return ad(z, a)
            if self.none_ad:
                return original(z, a)
            return backend.xp.where(self.mask, ad(z, a), original(z, a))

        return per_model_derivative

    def _update_mask(self) -> None:
        self.all_ad, self.none_ad = bool(self.ad_mode.all()), not self.ad_mode.any()
        self.mask = backend.asarray(self.ad_mode[:, None, None])

    def on_epoch_end(self, epoch: int, train_loss) -> None:
        """Apply the rule to the epoch's training losses, one per model (E,)."""
        switch = should_switch(train_loss, self.best_loss, self.A)  # per model; best = ∞ at first
        if switch.any():
            self.ad_mode ^= switch
            self._update_mask()
            for model in numpy.flatnonzero(switch):
                mode = "ad" if self.ad_mode[model] else "original"
                self.switches.append({"epoch": int(epoch), "model": int(model), "mode": mode})
        self.best_loss = numpy.fmin(self.best_loss, train_loss)  # a NaN loss keeps the best


class EnsembleHistory:
    """Per-epoch, per-model numbers: ``train_loss`` and ``test_loss`` (epochs, E), the
    lowest test loss of each model and its epoch (``best_test_loss``, ``best_epoch``:
    (E,); NaN / −1 for a model that never had a finite test loss) and the switches."""

    def __init__(self, models: int):
        self.models = models
        self.train_rows: list = []
        self.test_rows: list = []
        self.best_test_loss = numpy.full(models, numpy.nan)
        self.best_epoch = numpy.full(models, -1)
        self.switches: list[dict] = []

    @property
    def train_loss(self):
        """(epochs, E): each model's mean training loss of each epoch."""
        return numpy.array(self.train_rows).reshape(-1, self.models)

    @property
    def test_loss(self):
        """(epochs, E): each model's test loss after each epoch (empty without a test set)."""
        return numpy.array(self.test_rows).reshape(-1, self.models)

    def log(self, epoch: int, train_loss, test_loss) -> None:
        """Append one epoch; keep each model's lowest test loss (ties: the earliest)."""
        self.train_rows.append(train_loss)
        if test_loss is None:
            return
        self.test_rows.append(test_loss)
        better = ~(test_loss >= self.best_test_loss) & numpy.isfinite(test_loss)  # NaN best: any finite wins
        self.best_test_loss[better], self.best_epoch[better] = test_loss[better], epoch

    def member(self, model: int):
        """Model ``model``'s record as a `train.History` (epochs, losses, switch events)."""
        from .train import History

        history = History()
        test_loss = self.test_loss[:, model] if self.test_rows else None
        for epoch, train_loss in enumerate(self.train_loss[:, model]):
            history.log(
                {
                    "epoch": epoch,
                    "train_loss": float(train_loss),
                    "test_loss": None if test_loss is None else float(test_loss[epoch]),
                }
            )
        for switch in self.switches:
            if switch["model"] == model:
                history.record(switch["epoch"], "switch", mode=switch["mode"])
        return history


class EnsembleTrainer:
    """Mini-batch training of an ensemble network; each model has its own batches.

    train / test: shared host arrays (x (N, D), y (N, D_out)). seeds: one per model; model
    e shuffles with ``init.get_rng(seeds[e])`` — the generator `train.Trainer` makes from
    the seed — so its batches are those of the single run. Each step gathers the rows
    ``x[idx]`` for an (E, B) index array, giving the batch (E, B, D). ``switching``: an
    `EnsembleSwitching`, applied after each epoch. A model whose loss becomes NaN/Inf only
    spoils its own numbers; the others train on (every operation is per model).

    Speed: the epoch's order and gathered rows live in arrays allocated once, and the test
    set is evaluated ``eval_rows`` rows at a time (default: about 32k numbers per layer
    output), small enough that the allocator reuses memory instead of mapping fresh pages
    for every (E, N_test, D) intermediate — which cost as much as the evaluation itself.
    """

    def __init__(
        self,
        net,
        loss,
        optimizer,
        train,
        test=None,
        *,
        batch_size: int,
        seeds,
        switching: EnsembleSwitching | None = None,
        eval_rows: int | None = None,
    ):
        if getattr(optimizer, "clip_norm", None) is not None:
            raise ValueError(
                "clip_norm rescales by the norm over all parameters, which would mix "
                "the models of an ensemble; use clip_value (elementwise)"
            )
        self.net, self.loss, self.optimizer, self.switching = net, loss, optimizer, switching
        self.seeds = [int(s) for s in seeds]
        self.models = len(self.seeds)
        self.rngs = [init.get_rng(s) for s in self.seeds]
        x, y = train
        self.x_train, self.y_train = backend.asarray(x), backend.asarray(y)
        self.test = None if test is None else (backend.asarray(test[0]), backend.asarray(test[1]))
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.batch_size = batch_size
        widest = max(
            [max(layer.in_features, layer.out_features) for layer in net.layers if isinstance(layer, Dense)]
            or [1]
        )
        self.eval_rows = eval_rows or max(1, 32768 // (self.models * widest))
        n, xp = len(self.x_train), backend.xp
        self._order = numpy.empty((self.models, n), dtype=numpy.int64)  # host
        self._x_epoch = xp.empty((self.models,) + self.x_train.shape, dtype=self.x_train.dtype)
        self._y_epoch = xp.empty((self.models,) + self.y_train.shape, dtype=self.y_train.dtype)
        self.history = EnsembleHistory(self.models)

    def _epoch_order(self):
        """(E, N) indices: row e is model e's ``rng.permutation(N)`` for this epoch — which
        NumPy computes as ``arange(N)`` shuffled in place, here in one preallocated array."""
        self._order[...] = numpy.arange(self._order.shape[1])
        for row, rng in zip(self._order, self.rngs):
            rng.shuffle(row)
        return backend.asarray(self._order)

    def train_epoch(self):
        """One pass over the training set per model; returns the mean losses (E,) on the host."""
        net, loss, optimizer, xp = self.net, self.loss, self.optimizer, backend.xp
        order = self._epoch_order()
        x_epoch = xp.take(self.x_train, order, axis=0, out=self._x_epoch)  # (E, N, D) = x[order]
        y_epoch = xp.take(self.y_train, order, axis=0, out=self._y_epoch)
        total = xp.zeros(self.models, dtype=xp.float64)
        for start in range(0, order.shape[1], self.batch_size):
            xb = x_epoch[:, start : start + self.batch_size]  # (E, B, D)
            yb = y_epoch[:, start : start + self.batch_size]
            loss.forward(net(xb), yb)
            total += loss.per_model * xb.shape[1]
            net.backward(loss.backward())
            optimizer.step()
            optimizer.zero_grad()
        return backend.to_numpy(total / order.shape[1])

    def evaluate(self):
        """Each model's mean test loss (E,) on the host: the row-weighted mean of the
        chunks' means (``eval_rows`` rows each)."""
        x, y = self.test
        total = backend.xp.zeros(self.models, dtype=backend.xp.float64)
        for start in range(0, len(x), self.eval_rows):
            rows = slice(start, start + self.eval_rows)
            self.loss.forward(self.net(x[rows]), y[rows])
            total += self.loss.per_model * len(x[rows])
        return backend.to_numpy(total / len(x))

    def fit(self, epochs: int) -> EnsembleHistory:
        """Train every model for ``epochs`` epochs; returns the `EnsembleHistory`."""
        first = len(self.history.train_rows)
        for epoch in range(first, first + epochs):
            train_loss = self.train_epoch()
            test_loss = None if self.test is None else self.evaluate()
            self.history.log(epoch, train_loss, test_loss)
            if self.switching is not None:
                self.switching.on_epoch_end(epoch, train_loss)
        if self.switching is not None:
            self.history.switches = list(self.switching.switches)
        return self.history
