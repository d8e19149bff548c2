"""Optimizers: SGD (with momentum) and Adam, L2 weight decay, gradient clipping.

Each ``step()`` does, for every parameter θ with gradient g:

1. clip: g ← clip(g, −c, c) (``clip_value``), then g ← g · min(1, τ/‖g‖) with ‖g‖ the
   global norm over all parameters (``clip_norm``);
2. L2: g ← g + λθ (``weight_decay``);
3. update (PyTorch's formulas, so runs can be compared with it).

Where L2 enters is a choice (``l2=``, one of ``L2_READINGS``):

* ``"after_clip"`` (default): steps 1–2 above, g ← clip(g) + λθ — the gradient of a loss
  term (λ/2)·Σθ² that clipping never sees (PyTorch's ``weight_decay``);
* ``"loss"``: the loss is C + λ·Σθ² (Keras' ``l2(λ)``), so g ← clip(g + 2λθ) — twice the
  pull of the default, clipped with the rest.

**(reading)** Bu, Jiang, Lu & Zhang (2026, §4) give "regularization ... 0.003" and
clipping to [−0.5, 0.5] without saying which; both are offered. (Keras puts ``l2`` on the
kernels a layer names; here it applies to every parameter, biases included, in both.)

``lr`` is an attribute a schedule sets before each epoch (or update); every assignment is checked (a
finite number ≥ 0; > 0 at construction), as are Adam's ``betas``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from . import backend
from .backend import Array
from .layers import Parameter

__all__ = ["SGD", "Adam", "Optimizer", "clip_by_global_norm", "clip_by_value", "make_optimizer"]


L2_READINGS = ("after_clip", "loss")


def clip_by_value(params: list[Parameter], limit: float) -> None:
    """g ← clip(g, −limit, limit) for every parameter (the PN recipe uses 0.5)."""
    for p in params:
        backend.xp.clip(p.grad, -limit, limit, out=p.grad)


def clip_by_global_norm(params: list[Parameter], max_norm: float):
    """g ← g · min(1, max_norm / ‖g‖), ‖g‖ over all parameters together; returns ‖g‖ before.

    Computed on the device, as PyTorch's ``clip_grad_norm_`` does: the factor is 1 when
    ‖g‖ ≤ max_norm, so no value is read back (no sync). ‖g‖ is returned as a 0-d array
    (float64); ``float()`` it to log it.
    """
    xp = backend.xp
    total = xp.sqrt(sum((p.grad * p.grad).sum(dtype=xp.float64) for p in params))
    scale = xp.minimum(1.0, max_norm / (total + 1e-12))
    for p in params:
        p.grad *= scale.astype(p.grad.dtype)
    return total


class Optimizer:
    """Shared checks, clipping and weight decay."""

    def __init__(
        self,
        params,
        lr: float,
        weight_decay: float = 0.0,
        clip_value: float | None = None,
        clip_norm: float | None = None,
        l2: str = "after_clip",
    ):
        self.params = list(params)
        if not self.params or not all(isinstance(p, Parameter) for p in self.params):
            raise ValueError(
                f"{type(self).__name__}: params must be a non-empty list of Parameter (e.g. net.parameters())"
            )
        first_seen: dict[int, int] = {}
        for i, p in enumerate(self.params):
            if id(p) in first_seen:
                raise ValueError(
                    f"{type(self).__name__}: parameter {i} is parameter {first_seen[id(p)]} again "
                    f"({p.name} of shape {tuple(p.shape)}); each step would move it twice — list each "
                    "parameter once"
                )
            first_seen[id(p)] = i
        lr = _check(type(self).__name__, "lr", lr, lambda v: v > 0, "> 0")
        weight_decay = _check(type(self).__name__, "weight_decay", weight_decay, lambda v: v >= 0, "≥ 0")
        if clip_value is not None:
            clip_value = _check(type(self).__name__, "clip_value", clip_value, lambda v: v > 0, "> 0 or None")
        if clip_norm is not None:
            clip_norm = _check(type(self).__name__, "clip_norm", clip_norm, lambda v: v > 0, "> 0 or None")
        if l2 not in L2_READINGS:
            raise ValueError(f"{type(self).__name__}: l2 must be one of {L2_READINGS}, got {l2!r}")
        self.lr, self.weight_decay, self.l2 = lr, weight_decay, l2
        self.clip_value, self.clip_norm = clip_value, clip_norm
        self.steps = 0

    @property
    def lr(self) -> float:
        """The learning rate: a finite number ≥ 0, checked on every assignment (> 0 at construction)."""
        return self._lr

    @lr.setter
    def lr(self, value) -> None:
        self._lr = _check(type(self).__name__, "lr", value, lambda v: v >= 0, "a finite number ≥ 0")

    def zero_grad(self) -> None:
        for p in self.params:
            p.zero_grad()

    def _gradients(self):
        """Add L2 (``l2="loss"``), clip, add L2 (``"after_clip"``); yield (parameter, effective gradient)."""
        if self.weight_decay and self.l2 == "loss":  # ∂(C + λΣθ²)/∂θ = g + 2λθ, clipped below
            for p in self.params:
                p.grad += (2 * self.weight_decay) * p.data
        if self.clip_value is not None:
            clip_by_value(self.params, self.clip_value)
        if self.clip_norm is not None:
            clip_by_global_norm(self.params, self.clip_norm)
        after_clip = self.weight_decay if self.l2 == "after_clip" else 0.0
        for p in self.params:
            yield p, (p.grad + after_clip * p.data if after_clip else p.grad)

    def step(self) -> None:
        raise NotImplementedError

    def to(self, backend_name: str) -> Optimizer:
        """Move the parameters it updates and its per-parameter state (momentum, Adam's m
        and v) to ``"numpy"`` or ``"cupy"``, in place. Returns self."""
        for p in self.params:
            p.to(backend_name)
        for buffers in self._slots().values():
            buffers[:] = [backend.move(b, backend_name) for b in buffers]
        return self

    def _slots(self) -> dict:
        return {}

    def state_dict(self) -> dict:
        """Hyper-parameters and per-parameter buffers as host arrays."""
        state = {"lr": self.lr, "steps": self.steps}
        for slot, buffers in self._slots().items():
            for i, buf in enumerate(buffers):
                if buf is not None:
                    state[f"{slot}.{i}"] = backend.to_numpy(buf).copy()
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` saved. Everything is checked before anything changes:
        the entries (another optimizer's, or another number of parameters', are refused), lr
        (finite, ≥ 0), steps (an integer ≥ 0) and each buffer (shape, real and finite)."""
        self._apply_state(self.check_state(state))

    def check_state(self, state) -> dict:
        """The checked values of ``state`` (what :meth:`load_state_dict` would set), or ValueError
        naming the entry, the expected and the found value; nothing is changed."""
        owner = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state, dict):
            raise TypeError(f"{owner}: state must be a dict (from state_dict()), got {type(state).__name__}")
        slots = self._slots()
        known = {"lr", "steps"} | {f"{slot}.{i}" for slot in slots for i in range(len(self.params))}
        unexpected = sorted(set(state) - known)
        missing = sorted({"lr", "steps"} - set(state))
        for slot in slots:  # a slot is saved for every parameter or (SGD before its first step) none
            keys = [f"{slot}.{i}" for i in range(len(self.params))]
            if any(key in state for key in keys) or slot not in self._optional_slots:
                missing += [key for key in keys if key not in state]
        if unexpected or missing:
            raise ValueError(
                f"{owner}: unexpected entries {unexpected}, missing {sorted(missing)} (a state of another "
                f"optimizer class, or of another number of parameters than this one's {len(self.params)}?)"
            )
        lr = _check(owner, "lr", state["lr"], lambda v: v >= 0, "a finite number ≥ 0")
        checked: dict[str, Any] = {"lr": lr}
        steps = state["steps"]
        if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
            raise ValueError(f"{owner}: steps must be an integer ≥ 0, got {steps!r}")
        checked["steps"] = int(steps)
        for slot in slots:
            for i, p in enumerate(self.params):
                key = f"{slot}.{i}"
                if key not in state:
                    continue
                value = state[key]
                kind = getattr(getattr(value, "dtype", None), "kind", None)
                if kind not in ("f", "i", "u"):
                    found = f"dtype {value.dtype}" if kind is not None else type(value).__name__
                    raise ValueError(f"{owner}: {key} must be a real float array, got {found}")
                if tuple(value.shape) != tuple(p.shape):
                    raise ValueError(
                        f"{owner}: {key} has shape {tuple(value.shape)}, parameter {i} is {tuple(p.shape)}"
                    )
                array = backend.xp.array(value, dtype=p.data.dtype, copy=True)
                if not bool(backend.xp.isfinite(array).all()):
                    raise ValueError(f"{owner}: {key} holds NaN or inf (or a value beyond {p.data.dtype})")
                checked[key] = array
        return checked

    _optional_slots: frozenset[str] = frozenset()

    def _apply_state(self, checked: dict) -> None:
        """Set what :meth:`check_state` returned."""
        self.lr, self.steps = checked["lr"], checked["steps"]
        for slot, buffers in self._slots().items():
            for i in range(len(self.params)):
                if f"{slot}.{i}" in checked:
                    buffers[i] = checked[f"{slot}.{i}"]


class SGD(Optimizer):
    """θ ← θ − lr · v,  v ← μ v + g (v = g when momentum μ = 0)."""

    def __init__(
        self,
        params,
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        clip_value: float | None = None,
        clip_norm: float | None = None,
        l2: str = "after_clip",
    ):
        super().__init__(params, lr, weight_decay, clip_value, clip_norm, l2)
        momentum = _check("SGD", "momentum", momentum, lambda v: 0 <= v < 1, "in [0, 1)")
        self.momentum = momentum
        self.velocity: list[Array | None] = [None] * len(self.params)

    def step(self) -> None:
        for i, (p, g) in enumerate(self._gradients()):
            if self.momentum:
                velocity = self.velocity[i]
                g = g.copy() if velocity is None else self.momentum * velocity + g
                self.velocity[i] = g
            p.data -= self.lr * g
        self.steps += 1

    def _slots(self):
        return {"velocity": self.velocity}

    _optional_slots = frozenset({"velocity"})  # None until the first step with momentum


class Adam(Optimizer):
    """Adam (Kingma & Ba), as PyTorch computes it:

    m ← β₁m + (1 − β₁)g,   v ← β₂v + (1 − β₂)g²
    θ ← θ − lr · m̂ / (√v̂ + ε),   m̂ = m/(1 − β₁ᵗ),  v̂ = v/(1 − β₂ᵗ)
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        clip_value: float | None = None,
        clip_norm: float | None = None,
        l2: str = "after_clip",
    ):
        super().__init__(params, lr, weight_decay, clip_value, clip_norm, l2)
        self.betas = betas
        self.eps = _check("Adam", "eps", eps, lambda v: v > 0, "> 0")
        self.m = [backend.xp.zeros_like(p.data) for p in self.params]
        self.v = [backend.xp.zeros_like(p.data) for p in self.params]

    @property
    def betas(self) -> tuple[float, float]:
        """(β₁, β₂), each in [0, 1): checked on every assignment (β = 1 would divide by 1 − βᵗ = 0)."""
        return self._betas

    @betas.setter
    def betas(self, value) -> None:
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise ValueError(f"Adam: betas must be a pair (β₁, β₂), got {value!r}")
        beta1, beta2 = (
            _check("Adam", k, beta, lambda v: 0 <= v < 1, "in [0, 1)")
            for k, beta in zip(("betas[0]", "betas[1]"), value)
        )
        self._betas = (beta1, beta2)

    def step(self) -> None:
        self.steps += 1
        beta1, beta2 = self.betas
        correction1, correction2 = 1 - beta1**self.steps, 1 - beta2**self.steps
        for i, (p, g) in enumerate(self._gradients()):
            m, v = self._moments(i, g)
            m *= beta1  # m ← β₁m + (1 − β₁)g, in place (the same products and sum)
            m += (1 - beta1) * g
            v *= beta2  # v ← β₂v + (1 − β₂)g²
            v += (1 - beta2) * (g * g)
            denom = backend.xp.sqrt(v / correction2)
            denom += self.eps  # √v̂ + ε
            update = (self.lr / correction1) * m
            update /= denom  # lr · m̂ / (√v̂ + ε)
            p.data -= update

    def _moments(self, i: int, g):
        """m and v of parameter i, to be updated in place; first widened to g's dtype where
        g is wider (a network cast to float64 after the optimizer was built)."""
        for moments in (self.m, self.v):
            wider = backend.xp.result_type(moments[i].dtype, g.dtype)
            if wider != moments[i].dtype:
                moments[i] = moments[i].astype(wider)
        return self.m[i], self.v[i]

    def _slots(self):
        return {"m": self.m, "v": self.v}


def _check(owner: str, name: str, value, ok, expected: str) -> float:
    """A finite real number (Python or NumPy scalar) passing ``ok``, returned as a Python float."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or not ok(value)
    ):
        raise ValueError(f"{owner}: {name} must be {expected}, got {value!r}")
    return float(value)


def make_optimizer(name: str, params, lr: float | None = None, **options):
    """An optimizer from its name: ``"sgd"`` (lr required) or ``"adam"`` (lr 1e-3 by default).

    ``options`` go to the constructor: momentum (SGD), betas, eps (Adam),
    weight_decay (L2) and l2 (where it enters: "after_clip" or "loss", module docstring),
    clip_value (clip each gradient entry to [−v, v]; the PN recipe uses 0.5), clip_norm
    (rescale so the global gradient norm is at most c).
    """
    kind = name.lower()
    options = {k: v for k, v in options.items() if v is not None}
    if kind == "sgd":
        if lr is None:
            raise ValueError("SGD needs a learning rate (lr=...)")
        _check_lr(lr)
        return SGD(params, lr=lr, **options)
    if kind == "adam":
        if options.pop("momentum", 0):
            raise ValueError("Adam takes no momentum (use betas=...)")
        lr = 1e-3 if lr is None else lr
        _check_lr(lr)
        return Adam(params, lr=lr, **options)
    raise ValueError(f"unknown optimizer {name!r}; known: 'sgd', 'adam'")


def _check_lr(lr) -> None:
    if not isinstance(lr, numbers.Real) or isinstance(lr, bool) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"learning rate must be a positive number, got {lr!r}")
