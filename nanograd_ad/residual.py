"""Residual blocks (He, Zhang, Ren & Sun 2016): y = f(x) + shortcut(x).

A block holds a branch f — a :class:`~nanograd_ad.network.Sequential` — and a shortcut:
the identity, or a projection (a strided 1×1 convolution and batch normalization) where
the branch changes the shape. Forward and backward::

    y   = f(x) + shortcut(x)
    δ_x = ∂C/∂x = f.backward(δ) + shortcut.backward(δ)        (δ = ∂C/∂y; identity: δ itself)

The error reaching x is the *sum* of two paths. Through an identity shortcut δ arrives
unchanged however small f's backward has become — that is why residual networks train
at depths where a plain chain's δ vanishes (``nanograd-ad reproduce baselines`` shows it).

The feedback rules of the network a block sits in act on the layers inside it as well
(their index at the seam is their position in ``net.walk()``); ``branch_error`` and
``shortcut_error`` keep what each path passed down in the last backward, which
:class:`~nanograd_ad.inspect.GradientFlow` records to draw the two paths by depth.
"""

from __future__ import annotations

from .layers import Layer, Parameter
from .network import Sequential, refuse_repeated_layers

__all__ = ["Residual"]


def _as_network(value, what: str) -> Sequential:
    if isinstance(value, Sequential):
        return value
    if isinstance(value, Layer):
        return Sequential(value)
    raise TypeError(f"Residual: {what} must be a Sequential or a Layer, got {type(value).__name__}")


class Residual(Layer):
    """y = branch(x) + shortcut(x); ``shortcut=None`` is the identity.

    ``branch`` and ``shortcut`` are Sequentials (a single Layer is wrapped in one). Both
    must map x to the same shape: x (N, …) → y of branch(x)'s shape. Parameters are named
    ``branch.0.weight``, ``shortcut.1.running_mean``… as in PyTorch.
    """

    def __init__(self, branch, shortcut=None):
        super().__init__()
        self.branch = _as_network(branch, "branch")
        self.shortcut = None if shortcut is None else _as_network(shortcut, "shortcut")
        if self.branch is self.shortcut:
            raise ValueError("Residual: branch and shortcut must be two different networks")
        refuse_repeated_layers(
            "Residual",
            [(f"{name}.{sub}", layer) for name, net in self.children() for sub, layer in net.walk()],
        )
        self.branch_error = self.shortcut_error = None

    def children(self) -> list[tuple[str, Sequential]]:
        """The networks inside: ``[("branch", …), ("shortcut", …)]`` (no shortcut entry for the identity)."""
        return [("branch", self.branch)] + (
            [("shortcut", self.shortcut)] if self.shortcut is not None else []
        )

    # ---------------------------------------------------------------- forward
    def forward(self, x):
        self.x_shape = tuple(x.shape)
        out = self.branch.forward(x)  # f(x)
        skip = x if self.shortcut is None else self.shortcut.forward(x)  # shortcut(x)
        if tuple(out.shape) != tuple(skip.shape):
            which = "the input (identity shortcut)" if self.shortcut is None else "the shortcut"
            raise ValueError(
                f"{self!r}: the branch gives shape {tuple(out.shape)} but {which} gives {tuple(skip.shape)}; "
                "they must match (use a projection shortcut where the branch changes the shape)"
            )
        return out + skip  # y = f(x) + shortcut(x)

    # --------------------------------------------------------------- backward
    def backward(self, delta):
        self.branch_error = self.branch.backward(delta)  # through f
        self.shortcut_error = delta if self.shortcut is None else self.shortcut.backward(delta)
        return self.branch_error + self.shortcut_error  # δ_x = f.backward(δ) + shortcut.backward(δ)

    # ------------------------------------------------------------- parameters
    def parameters(self) -> list[Parameter]:
        """The branch's parameters, then the shortcut's."""
        return [p for _, net in self.children() for p in net.parameters()]

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        """``("branch.0.weight", Parameter)``…"""
        return [(f"{name}.{sub}", p) for name, net in self.children() for sub, p in net.named_parameters()]

    def astype(self, dtype) -> Residual:
        for _, net in self.children():
            net.astype(dtype)
        return self

    # ----------------------------------------------------------------- shapes
    @property
    def requires_build(self) -> bool:
        """True when a layer inside must see the geometry before its first forward."""
        return any(
            getattr(layer, "requires_build", False) for _, net in self.children() for _, layer in net.walk()
        )

    def output_shape(self, input_shape):
        return self.build(input_shape)

    def build(self, input_shape: tuple, previous: Layer | None = None) -> tuple:
        """Build both paths on the per-sample input shape; they must agree on the output shape."""
        input_shape = tuple(input_shape)
        try:
            out = tuple(self.branch.build(input_shape))
        except ValueError as err:
            raise ValueError(f"{self!r} branch: {err}") from err
        if self.shortcut is None:
            skip = input_shape
        else:
            try:
                skip = tuple(self.shortcut.build(input_shape))
            except ValueError as err:
                raise ValueError(f"{self!r} shortcut: {err}") from err
        if out != skip:
            which = "the input (identity shortcut)" if self.shortcut is None else "the shortcut"
            raise ValueError(
                f"{self!r}: the branch gives per-sample shape {out} but {which} gives {skip}; they must "
                "match (use a projection shortcut where the branch changes the shape)"
            )
        self.input_shape = input_shape
        return out

    def describe(self) -> str:
        shortcut = "identity" if self.shortcut is None else f"{len(self.shortcut)} layers"
        return f"Residual(branch: {len(self.branch)} layers, shortcut: {shortcut})"

    def __repr__(self):
        shortcut = "" if self.shortcut is None else ", shortcut=…"
        return f"Residual({len(self.branch)} layers{shortcut})"
