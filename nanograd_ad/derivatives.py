"""The registry of named derivatives: (activation, name) → factory(**params) → d(z, a).

An activation's constructor looks its ``derivative=`` name up here. The true derivatives
are registered by ``nanograd_ad.activations``, beside each ``f``; a paper's derivatives by
the paper's own module, when the package is imported (``ReLU(derivative="ad", k=3.5)``)::

    register_derivative("relu", "half", lambda: lambda z, a: 0.5 * (z >= 0))
    ReLU(derivative="half")
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from .backend import Array

__all__ = ["Derivative", "derivative_names", "factory_keywords", "lookup", "register_derivative"]

Derivative = Callable[[Array, Array], Array | float]
"""d(z, a) -> array of z's shape (or a scalar): the factor backward multiplies the error by."""

# (activation key, derivative name) -> factory(**params) -> d(z, a)
_REGISTRY: dict[tuple[str, str], Callable[..., Derivative]] = {}


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


def lookup(activation: str, name: str) -> Callable[..., Derivative] | None:
    """The factory registered as ``name`` for ``activation`` (None when there is none)."""
    return _REGISTRY.get((activation, name))


def factory_keywords(activation: str) -> set[str]:
    """The keywords the factories registered for ``activation`` take."""
    names: set[str] = set()
    for (act, _), factory in _REGISTRY.items():
        if act == activation:
            names.update(
                n
                for n, p in inspect.signature(factory).parameters.items()
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            )
    return names
