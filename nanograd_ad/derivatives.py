"""The registry of named derivatives: (activation, name) → factory(**params) → d(z, a).

An activation's constructor looks its ``derivative=`` name up here. The true derivatives
are registered by ``nanograd_ad.activations``, beside each ``f``; a paper's derivatives by
the paper's own module, when the package is imported (``ReLU(derivative="ad", k=3.5)``)::

    register_derivative("relu", "half", lambda: lambda z, a: 0.5 * (z >= 0))
    ReLU(derivative="half")

An activation is known here once its ``"true"`` derivative is registered under its ``key``
(a new ``Activation`` subclass registers that first); names of activations are
case-insensitive. A derivative is checked where it enters: a factory must be callable
with no arguments (every parameter a default), and what it makes — like a callable given
to an activation directly — must be callable as ``d(z, a)``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from .backend import Array

__all__ = [
    "Derivative",
    "checked_derivative",
    "derivative_names",
    "factory_keywords",
    "lookup",
    "register_derivative",
    "signature_text",
]

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
    if not name:
        raise ValueError("register_derivative: name must be a non-empty str, got ''")
    known = sorted({act for act, n in _REGISTRY if n == "true"})
    if activation.lower() not in known and not (activation and name == "true"):
        raise ValueError(
            f"register_derivative: unknown activation {activation!r}; known: {known} "
            "(names are case-insensitive; a new activation registers its 'true' derivative first, "
            "under its class's key)"
        )
    if not callable(factory):
        raise TypeError(
            "register_derivative: factory must be callable (factory(**params) -> d(z, a)), "
            f"got {type(factory).__name__}"
        )
    needed = _required_parameters(factory)
    if needed:
        raise TypeError(
            f"register_derivative: factory {signature_text(factory)} needs {', '.join(needed)}; a factory "
            "is called as factory(**params) -> d(z, a), each parameter with a default "
            "(e.g. lambda k=1.0: lambda z, a: ...)"
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


def _required_parameters(function) -> list[str]:
    """The parameters ``function`` cannot be called without (none where Python cannot tell)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature
        return []
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [p.name for p in parameters if p.default is p.empty and p.kind not in variadic]


def signature_text(function) -> str:
    """``name(parameters)``, e.g. ``<lambda>(z)`` (the name alone where Python cannot tell)."""
    name = getattr(function, "__name__", type(function).__name__)
    try:
        return f"{name}{inspect.signature(function)}"
    except (TypeError, ValueError):
        return name


def checked_derivative(owner: str, d, accepted: list[str], made_by: tuple[str, Callable] | None = None):
    """``d``, if it can be called as ``d(z, a)`` (two positional arguments); else a TypeError
    naming the accepted forms — or, for ``made_by = (name, factory)``, the factory that made d."""
    try:
        inspect.signature(d).bind(None, None)
        fits = True
    except ValueError:  # a builtin without a signature: assumed to take (z, a)
        fits = callable(d)
    except TypeError:  # not callable, or not with two arguments
        fits = False
    if fits:
        return d
    got = signature_text(d) if callable(d) else f"{type(d).__name__} {d!r}"
    if made_by is not None:
        name, factory = made_by
        raise TypeError(
            f"{owner}: derivative {name!r}: its factory {signature_text(factory)} made {got}, expected "
            "a callable d(z, a) of two arguments (register a factory returning e.g. lambda z, a: ...)"
        )
    raise TypeError(
        f"{owner}: derivative must be a registered name {accepted} or a callable d(z, a) of two "
        f"arguments (z and a = f(z), e.g. lambda z, a: 1 - a * a), got {got}"
    )
