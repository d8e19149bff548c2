"""Batch normalization (Ioffe & Szegedy 2015): the baseline the papers argue against.

Per feature (``BatchNorm1D``, x of shape (N, D)) or per channel over N, H and W
(``BatchNorm2D``, x of shape (N, C, H, W)), with m the number of values each feature
sees in a batch (N, or N·H·W)::

    μ  = (1/m) Σ_i x_i              σ² = (1/m) Σ_i (x_i − μ)²      (the batch statistics)
    x̂_i = (x_i − μ) / sqrt(σ² + ε)  y_i = γ x̂_i + β                 (γ = weight, β = bias)

In training the batch statistics are used and the running statistics follow them as in
PyTorch (momentum 0.1, the *unbiased* batch variance)::

    running_mean ← (1 − momentum) · running_mean + momentum · μ
    running_var  ← (1 − momentum) · running_var  + momentum · σ² · m / (m − 1)

In evaluation (``net.eval()``) x̂ = (x − running_mean) / sqrt(running_var + ε): each sample
is then normalized on its own, so a prediction does not depend on the rest of the batch.

Backward, with δ_i = ∂C/∂y_i and s = sqrt(σ² + ε), the three-term form::

    ∂C/∂γ = Σ_i δ_i x̂_i        ∂C/∂β = Σ_i δ_i
    ∂C/∂x_i = (γ / s) · (δ_i − (1/m) Σ_j δ_j − x̂_i (1/m) Σ_j δ_j x̂_j)

The first term is the path through x̂_i directly, the second the path through μ, the
third the path through σ². It sums to zero over the batch: Σ_i (δ_i − mean δ) = 0 and
Σ_i x̂_i = 0. That must be so — adding one constant to every x_i moves μ by the same
constant and leaves every y_i unchanged, so the loss cannot change along (1, 1, …, 1).
(Likewise Σ_i x̂_i ∂C/∂x_i = 0 up to ε: scaling every x_i − μ leaves x̂ unchanged when ε = 0.) In evaluation
μ and σ² are constants and the backward is just ∂C/∂x = δ γ / sqrt(running_var + ε).

Batch normalization is the one layer whose output for a sample depends on the other
samples of its batch (in training): it costs two reductions over the batch forward and
two backward, and it refuses a batch that gives a feature a single value (a batch of one
for ``BatchNorm1D``), where σ² = 0 and the unbiased variance is undefined — as PyTorch does.
"""

from __future__ import annotations

import numbers

from . import backend
from .backend import Array
from .layers import Layer, Parameter

__all__ = ["BatchNorm1D", "BatchNorm2D"]


class _BatchNorm(Layer):
    """Shared maths of BatchNorm1D and BatchNorm2D; subclasses set the axes reduced over."""

    #: axes of x reduced over (all but the feature axis 1)
    axes: tuple[int, ...] = (0,)
    #: the number of dimensions of x
    ndim = 2

    num_features: int
    eps: float
    momentum: float
    weight: Parameter  # γ
    bias: Parameter  # β
    running_mean: Array
    running_var: Array

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
            raise ValueError(
                f"{type(self).__name__}: num_features must be a positive int, got {num_features!r}"
            )
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps > 0:
            raise ValueError(f"{type(self).__name__}: eps must be a number > 0, got {eps!r}")
        if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) or not 0 <= momentum <= 1:
            raise ValueError(f"{type(self).__name__}: momentum must be a number in [0, 1], got {momentum!r}")
        self.num_features, self.eps, self.momentum = num_features, float(eps), float(momentum)
        xp, dtype = backend.xp, backend.default_dtype()
        self.weight = Parameter(xp.ones(num_features, dtype=dtype), "weight")  # γ
        self.bias = Parameter(xp.zeros(num_features, dtype=dtype), "bias")  # β
        self.running_mean = xp.zeros(num_features, dtype=dtype)
        self.running_var = xp.ones(num_features, dtype=dtype)
        self.training = True

    # ------------------------------------------------------------------ buffers
    def buffers(self) -> dict:
        """The running statistics: state that is saved and loaded but not trained."""
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def load_buffer(self, name: str, value) -> None:
        """Set ``running_mean`` or ``running_var`` (a copy, in this layer's dtype)."""
        if name not in self.buffers():
            raise ValueError(f"{self!r}: no buffer {name!r}; buffers: {sorted(self.buffers())}")
        if tuple(value.shape) != (self.num_features,):
            raise ValueError(
                f"{self!r}: {name} expects shape ({self.num_features},), got {tuple(value.shape)}"
            )
        setattr(self, name, backend.xp.array(value, dtype=self.weight.data.dtype, copy=True))

    def astype(self, dtype) -> _BatchNorm:
        super().astype(dtype)
        self.running_mean = self.running_mean.astype(dtype)
        self.running_var = self.running_var.astype(dtype)
        return self

    # ------------------------------------------------------------------- shapes
    def output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self.ndim - 1 or input_shape[0] != self.num_features:
            expected = (self.num_features,) + ("H", "W") * (self.ndim == 4)
            raise ValueError(f"{self!r} expects per-sample input {expected}, got {input_shape}")
        return input_shape

    def _shaped(self, v):
        """A per-feature (C,) vector shaped to broadcast over x: (1, C) or (1, C, 1, 1)."""
        return v.reshape((1, -1) + (1,) * (self.ndim - 2))

    # ----------------------------------------------------------------- forward
    def forward(self, x):
        if x.ndim != self.ndim or x.shape[1] != self.num_features:
            shape = "(N, {0})" if self.ndim == 2 else "(N, {0}, H, W)"
            raise ValueError(
                f"{self!r} expects input of shape {shape.format(self.num_features)}, got {tuple(x.shape)}"
            )
        if not backend.xp.issubdtype(x.dtype, backend.xp.floating):
            raise TypeError(f"{self!r} expects a floating-point input, got dtype {x.dtype}")
        xp = backend.xp
        if self.training:
            m = x.size // self.num_features  # values per feature: N, or N·H·W
            if m < 2:
                raise ValueError(
                    f"{self!r} in training needs more than one value per feature to take batch "
                    f"statistics, got input of shape {tuple(x.shape)} (a batch of one); "
                    "use a larger batch, or net.eval() to use the running statistics"
                )
            mean = x.mean(axis=self.axes)  # μ
            centered = x - self._shaped(mean)
            var = (centered * centered).mean(axis=self.axes)  # σ² (biased: divides by m)
            self.inv_std = 1.0 / xp.sqrt(var + self.eps)  # 1 / s
            self.x_hat = centered * self._shaped(self.inv_std)  # x̂ = (x − μ) / s
            momentum = self.momentum
            self.running_mean = (1 - momentum) * self.running_mean + momentum * mean
            self.running_var = (1 - momentum) * self.running_var + momentum * var * (m / (m - 1))
        else:
            self.inv_std = 1.0 / xp.sqrt(self.running_var + self.eps)
            self.x_hat = (x - self._shaped(self.running_mean)) * self._shaped(self.inv_std)
        self.was_training = self.training  # backward follows the mode of its forward
        return self._shaped(self.weight.data) * self.x_hat + self._shaped(self.bias.data)  # y = γ x̂ + β

    # ---------------------------------------------------------------- backward
    def backward(self, delta):
        x_hat, axes = self.x_hat, self.axes
        self.weight.grad += (delta * x_hat).sum(axis=axes)  # ∂C/∂γ = Σ δ x̂
        self.bias.grad += delta.sum(axis=axes)  # ∂C/∂β = Σ δ
        scale = self._shaped(self.weight.data * self.inv_std)  # γ / s
        if not self.was_training:
            return delta * scale  # μ, σ² are constants in evaluation
        mean_delta = delta.mean(axis=axes, keepdims=True)  # (1/m) Σ_j δ_j
        mean_delta_x_hat = (delta * x_hat).mean(axis=axes, keepdims=True)  # (1/m) Σ_j δ_j x̂_j
        return scale * (delta - mean_delta - x_hat * mean_delta_x_hat)  # the three-term form

    def __repr__(self):
        return f"{type(self).__name__}({self.num_features})"


class BatchNorm1D(_BatchNorm):
    """Batch normalization of (N, D) inputs, one μ, σ², γ, β per feature (m = N).

    ``BatchNorm1D(features, eps=1e-5, momentum=0.1)`` — PyTorch's ``nn.BatchNorm1d`` for
    2-D inputs. See the module docstring for the forward, the running statistics and the
    three-term backward.
    """

    axes = (0,)
    ndim = 2


class BatchNorm2D(_BatchNorm):
    """Batch normalization of (N, C, H, W) inputs, one μ, σ², γ, β per channel (m = N·H·W).

    ``BatchNorm2D(channels, eps=1e-5, momentum=0.1)`` — PyTorch's ``nn.BatchNorm2d``. See
    the module docstring for the forward, the running statistics and the three-term backward.
    """

    axes = (0, 2, 3)
    ndim = 4
