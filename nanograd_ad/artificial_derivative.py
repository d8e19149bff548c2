"""Artificial derivatives (Hu, Zhang & Ge 2021) and the switching rule between AD and f′.

The paper keeps f and replaces the derivative the backward pass multiplies by:

    ReLU      a = max(0, z)      true d = 1[z ≥ 0]  (eq. 7)      AD  d = sigmoid(k·z)   (eq. 8, k = 1; the
                                                                    experiments use k = 3.5)
    sigmoid   y = σ(z)           true d = y(1 − y)  (eq. 10)     AD  d = min(y, 1 − y)  (eq. 11)

Both are registered as ``"ad"`` (``ReLU(derivative="ad", k=3.5)``, ``Sigmoid(derivative="ad")``),
so an activation takes them like any other derivative.

Training starts with the artificial derivative; after each epoch, when the training
loss has risen above A times the best loss of the epochs before, the activations switch
to the original derivative (and back, the next time it happens)::

    rule = SwitchingRule(net, A=1.035)
    fit(net, MSE(), "adam", (x, y), epochs=300, callbacks=[rule])

The rule works elementwise over the models of an ensemble: model e has its own mode,
its own best loss and its own switches, and each activation's derivative is

    d(z, a) = ad(z, a)         for the models in AD mode
              original(z, a)   for the others

(a mask over the leading model axis, used only while the models disagree).
"""

from __future__ import annotations

import functools

import numpy  # host side only: one mode and one best loss per model

from . import backend
from .activations import sigmoid
from .callbacks import Callback
from .derivatives import register_derivative

__all__ = ["SwitchingRule", "per_model_derivative", "relu_ad", "should_switch", "sigmoid_ad"]


def relu_ad(z, a, k: float = 1.0):
    """d(z) = sigmoid(k·z) (Hu, Zhang & Ge 2021, eq. 8 with slope k)."""
    return sigmoid(k * z)


def sigmoid_ad(z, a):
    """d = min(y, 1 − y) (Hu, Zhang & Ge 2021, eq. 11), computed as σ(−|z|) from z:
    in float32 1 − y rounds to 0 for z above ≈ 17, σ(−|z|) keeps its relative precision."""
    return sigmoid(-backend.xp.abs(z))


def _relu_ad(k: float = 1.0):
    """The factory of ``ReLU(derivative="ad", k=k)``: :func:`relu_ad` with its slope k bound
    (a ``functools.partial``, so the fast wing can see which derivative and which k it is)."""
    return functools.partial(relu_ad, k=k)


def _sigmoid_ad():
    """The factory of ``Sigmoid(derivative="ad")``: :func:`sigmoid_ad`."""
    return sigmoid_ad


register_derivative("relu", "ad", _relu_ad)
register_derivative("sigmoid", "ad", _sigmoid_ad)


def per_model_derivative(z, a, *, ad, original, in_ad_mode):
    """d = ad(z, a) for the models in AD mode (``in_ad_mode``, (E,) bools), original(z, a) for
    the others: z's leading axis is the models'. What `SwitchingRule` gives every activation
    while the models disagree (bound by ``functools.partial``)."""
    mask = in_ad_mode.reshape(in_ad_mode.shape + (1,) * (z.ndim - 1))  # (E, 1, …, 1)
    return backend.xp.where(mask, ad(z, a), original(z, a))


def should_switch(last_loss, best_loss, A: float = 1.035):
    """The switching test of Hu, Zhang & Ge 2021 (§III.A): switch when C_last > A · C_best.

    ``last_loss``, ``best_loss``: floats (one model) or (E,) arrays (one per model);
    ``best_loss`` is the best training loss of the epochs before — None (first epoch)
    never switches. Returns a bool, or an (E,) bool array. A NaN loss never switches.
    """
    if best_loss is None:
        best_loss = numpy.inf
    switch = numpy.asarray(last_loss, dtype=float) > A * numpy.asarray(best_loss, dtype=float)
    return bool(switch) if switch.ndim == 0 else switch


def _activations_of(activations) -> list:
    """A list of activations with a swappable derivative, from a list or a network."""
    layers = getattr(activations, "layers", None)
    items = list(layers) if layers is not None else list(activations)
    found = [a for a in items if hasattr(a, "set_derivative")]
    if layers is None and len(found) != len(items):
        bad = next(a for a in items if not hasattr(a, "set_derivative"))
        raise TypeError(f"{type(bad).__name__} has no set_derivative(); SwitchingRule needs activations")
    if not found:
        raise ValueError("SwitchingRule needs at least one activation")
    return found


class SwitchingRule(Callback):
    """Alternate between the artificial derivative and the original one, per model.

    Training starts in AD mode, with the derivative each activation has when the rule
    is made. After each epoch, a model whose training loss (``logs[monitor]``: a float,
    or (E,) for an ensemble) exceeds A × (its best training loss of the epochs before)
    — `should_switch` — toggles between AD and ``original`` (a derivative name for
    ``set_derivative``, by default "true", or a callable). Each switch is recorded in the
    history as ``{"epoch", "event": "switch", "mode", "loss", "best_loss", "A"}`` (with
    ``"model": e`` in an ensemble) and in ``switches``: (epoch, mode) tuples, or
    (epoch, model, mode) in an ensemble. **(reading)**: the switch toggles; the best loss
    is kept across switches; a NaN loss keeps the best.
    """

    def __init__(self, activations, A: float = 1.035, original="true", monitor: str = "train_loss"):
        if not A > 0:
            raise ValueError(f"SwitchingRule: A must be positive, got {A!r}")
        self.activations = _activations_of(activations)
        self.A, self.monitor = float(A), monitor
        # (callable, name) per activation and mode; the name keeps repr() readable
        self.ad_derivatives = [(act.d, getattr(act, "derivative_name", None)) for act in self.activations]
        self.original_derivatives = []
        for act, ad in zip(self.activations, self.ad_derivatives):
            act.set_derivative(original)
            self.original_derivatives.append((act.d, getattr(act, "derivative_name", None)))
            self._set(act, ad)
        self.ad_mode = numpy.ones((), dtype=bool)  # () for one model, (E,) from the first epoch
        self.best_loss = numpy.full((), numpy.inf)
        self.switches: list[tuple] = []
        self._models: int | None = None

    @property
    def mode(self):
        """ "ad" or "original"; for an ensemble, an (E,) array of them."""
        modes = numpy.where(self.ad_mode, "ad", "original")
        return str(modes) if modes.ndim == 0 else modes

    @staticmethod
    def _set(act, derivative) -> None:
        d, name = derivative
        act.set_derivative(d)
        if name is not None:
            act.derivative_name = name

    def _apply(self) -> None:
        """Give every activation the derivative of the current modes."""
        for act, ad, original in zip(self.activations, self.ad_derivatives, self.original_derivatives):
            if self.ad_mode.all():
                self._set(act, ad)
            elif not self.ad_mode.any():
                self._set(act, original)
            else:
                act.set_derivative(self._mixed(ad[0], original[0], backend.xp.asarray(self.ad_mode)))
                act.derivative_name = f"{ad[1]} or {original[1]}, per model"

    @staticmethod
    def _mixed(ad, original, in_ad_mode):
        return functools.partial(per_model_derivative, ad=ad, original=original, in_ad_mode=in_ad_mode)

    def on_train_begin(self, trainer) -> None:
        self._apply()

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        last = numpy.asarray(logs[self.monitor], dtype=float)
        if last.shape != self.ad_mode.shape:
            if self.ad_mode.ndim or last.ndim != 1:
                raise ValueError(
                    f"SwitchingRule: {self.monitor} has shape {last.shape}, the rule holds "
                    f"modes of shape {self.ad_mode.shape}"
                )
            self.ad_mode = numpy.full(last.shape, bool(self.ad_mode))  # an ensemble's first epoch
            self.best_loss = numpy.full(last.shape, float(self.best_loss))
            self._models = last.shape[0]
        switch = numpy.asarray(should_switch(last, self.best_loss, self.A))
        if switch.any():
            self.ad_mode = self.ad_mode ^ switch
            self._apply()
            for model in numpy.flatnonzero(switch):
                index = () if self._models is None else (model,)
                mode = "ad" if self.ad_mode[index] else "original"
                loss, best = float(last[index]), float(self.best_loss[index])
                info = {} if self._models is None else {"model": int(model)}
                trainer.history.record(
                    epoch, "switch", mode=mode, loss=loss, best_loss=best, A=self.A, **info
                )
                self.switches.append((epoch, mode) if self._models is None else (epoch, int(model), mode))
        self.best_loss = numpy.fmin(self.best_loss, last)  # a NaN loss keeps the best
