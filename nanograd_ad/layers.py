"""The reference layers: plain maths over the whole batch, each line an equation of its docstring.

    y = layer.forward(x)          # caches self.x (and friends), overwritten each call
    dx = layer.backward(delta)    # param.grad += ∂C/∂param ; returns ∂C/∂x (None: input_grad=False)

Rows are samples (W of Dense is (in, out), as in CS231n); tensors are NCHW. im2col and col2im
loop over the kernel offsets with slices (no ``np.add.at``): the same lines run on NumPy and CuPy.
"""

from __future__ import annotations

import math
import numbers

from . import backend, init
from .base import Layer, Parameter, check_array, check_batch, check_positive_int

__all__ = ["AvgPool2D", "Conv2D", "Dense", "Flatten", "Layer", "MaxPool2D", "Parameter"]
__all__ += ["col2im", "conv_output_size", "im2col", "window"]


class Dense(Layer):
    """Fully connected layer, z = x W + b; ``Dense(..., models=E)`` builds a seed ensemble's layer,
    ``nanograd_ad.ensemble.EnsembleDense`` (the same maths over a leading model axis).

    Shapes: x (N, D_in) → z (N, D_out); W (D_in, D_out); b (D_out,). Default init: PyTorch's
    U(−1/√D_in, 1/√D_in). Backward, with δ = ∂C/∂z:  ∂C/∂W = xᵀ δ,  ∂C/∂b = Σ_batch δ,  ∂C/∂x = δ Wᵀ.
    """

    models: int | None = None
    skips_input_grad = True
    #: what ``Dense(..., models=E)`` builds: ``EnsembleDense``, which ``nanograd_ad/ensemble.py`` sets here
    ensemble_class: type[Dense]

    def __new__(cls, *args, **kwargs):
        models = kwargs.get("models", args[4] if len(args) > 4 else None)
        ensemble = models is not None and not getattr(cls, "models_axis", False)
        layer = super().__new__(cls.ensemble_class if ensemble else cls)
        if not isinstance(layer, cls):  # a subclass's ensemble: Python runs __init__ only on a cls
            cls.ensemble_class.__init__(layer, *args, **kwargs)
        return layer

    def __init__(
        self,
        in_features: int,
        out_features: int,
        weight_init: str | init.Initializer = "torch",
        bias_init: str | init.Initializer = "torch",
        models: int | None = None,
        rng=None,
    ):
        super().__init__()
        sizes = check_positive_int(self, in_features=in_features, out_features=out_features)
        self.in_features, self.out_features = in_features, out_features = sizes
        dtype = backend.default_dtype()
        w = init.draw(weight_init, (in_features, out_features), in_features, out_features, rng, dtype)
        b = init.draw(bias_init, (out_features,), in_features, out_features, rng, dtype)
        self.weight = Parameter(backend.asarray(w, dtype), "weight")
        self.bias = Parameter(backend.asarray(b, dtype), "bias")

    def output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if input_shape[-1:] != (self.in_features,):
            raise ValueError(f"{self!r} expects per-sample input ({self.in_features},), got {input_shape}")
        return (*input_shape[:-1], self.out_features)

    def forward(self, x):
        width = self.in_features
        check_batch(self, x, f"(N, {width})", lambda x: x.ndim == 2 and x.shape[1] == width)
        self.x = x
        z = x @ self.weight.data + self.bias.data  # z = x W + b
        self.out_shape = tuple(z.shape)
        return z

    def backward(self, delta, input_grad: bool = True):
        self._check_delta(delta)
        self.weight.grad += self.x.T @ delta  # ∂C/∂W = xᵀ δ
        self.bias.grad += delta.sum(axis=0)  # ∂C/∂b = Σ_batch δ
        if not input_grad:
            return None
        return delta @ self.weight.data.T  # ∂C/∂x = δ Wᵀ

    def __repr__(self):
        models = f", models={self.models}" if self.models else ""
        return f"Dense({self.in_features}, {self.out_features}{models})"


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """H_out = ⌊(H + 2p − k) / s⌋ + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def window(offset: int, stride: int, size: int) -> slice:
    """The input rows (or columns) that kernel offset ``offset`` reads for ``size`` outputs."""
    return slice(offset, offset + stride * size, stride)


def im2col(x, k: int, stride: int, h_out: int, w_out: int):
    """The k×k patches of a padded x (N, C, H, W) as rows: cols (N·H_out·W_out, C·k·k).

    cols[(n, y, x), (c, i, j)] = x[n, c, y·s + i, x·s + j] — one strided slice per kernel offset.
    """
    n, c = x.shape[:2]
    cols = backend.xp.empty((n, h_out, w_out, c, k, k), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            rows, columns = window(i, stride, h_out), window(j, stride, w_out)
            cols[..., i, j] = x[:, :, rows, columns].transpose(0, 2, 3, 1)
    return cols.reshape(n * h_out * w_out, c * k * k)


def col2im(cols, x_shape: tuple, k: int, stride: int, h_out: int, w_out: int):
    """Adjoint of :func:`im2col`: each patch value added back where it was read, dx (N, C, H, W).

    dx[n, c, y·s + i, x·s + j] += cols[(n, y, x), (c, i, j)] — overlapping windows add up.
    """
    n, c = x_shape[:2]
    cols = cols.reshape(n, h_out, w_out, c, k, k)
    dx = backend.xp.zeros(x_shape, dtype=cols.dtype)
    for i in range(k):
        for j in range(k):
            rows, columns = window(i, stride, h_out), window(j, stride, w_out)
            dx[:, :, rows, columns] += cols[..., i, j].transpose(0, 3, 1, 2)
    return dx


class Conv2D(Layer):
    """2-D convolution (cross-correlation), NCHW, as one matrix product over the whole batch.

    x (N, C_in, H, W) → z (N, C_out, H_out, W_out), H_out = ⌊(H + 2p − k)/s⌋ + 1;
    W (C_out, C_in, k, k), b (C_out,) (left out with ``bias=False``, as before batch normalization).

        z[n, o, y, x] = Σ_{c,i,j} W[o, c, i, j] · x_pad[n, c, y·s + i, x·s + j] + b[o]

    With cols = im2col(x_pad) (N·H_out·W_out, K), W₂ = W as (C_out, K), K = C_in·k·k, and δ₂
    the error as (N·H_out·W_out, C_out):

        z₂ = cols W₂ᵀ + b
        ∂C/∂W₂ = δ₂ᵀ cols       (x cross-correlated with δ)
        ∂C/∂b  = Σ_{n,y,x} δ
        ∂C/∂x  = col2im(δ₂ W₂)  (δ convolved with the flipped kernel)
    """

    skips_input_grad = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        weight_init: str | init.Initializer = "torch",
        bias_init: str | init.Initializer = "torch",
        rng=None,
        bias: bool = True,
    ):
        super().__init__()
        if not isinstance(bias, bool):
            raise ValueError(f"Conv2D: bias must be True or False, got {bias!r}")
        self.in_channels, self.out_channels, self.kernel_size, self.stride = check_positive_int(
            self, in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size, stride=stride
        )
        if not isinstance(padding, numbers.Integral) or isinstance(padding, bool) or padding < 0:
            raise ValueError(f"Conv2D: padding must be an int ≥ 0, got {padding!r}")
        self.padding: int = int(padding)
        k, c_in, c_out, dtype = self.kernel_size, self.in_channels, self.out_channels, backend.default_dtype()
        w = init.draw(weight_init, (c_out, c_in, k, k), c_in * k**2, c_out * k**2, rng, dtype)
        self.weight: Parameter = Parameter(backend.asarray(w, dtype), "weight")
        self.bias: Parameter | None = None
        if bias:
            b = init.draw(bias_init, (c_out,), c_in * k**2, c_out * k**2, rng, dtype)
            self.bias = Parameter(backend.asarray(b, dtype), "bias")

    def output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 3 or input_shape[0] != self.in_channels:
            channels = self.in_channels
            raise ValueError(f"{self!r} expects per-sample input ({channels}, H, W), got {input_shape}")
        k, s, p = self.kernel_size, self.stride, self.padding
        h, w = (conv_output_size(size, k, s, p) for size in input_shape[1:])
        if h < 1 or w < 1:
            shape = input_shape
            raise ValueError(f"{self!r}: input {shape} is smaller than the kernel {k}×{k} with padding {p}")
        return (self.out_channels, h, w)

    def _check_input(self, x) -> tuple[int, int]:
        """Refuse what is not a float (N, C_in, H, W) batch; return (H_out, W_out)."""
        check_batch(self, x, f"(N, {self.in_channels}, H, W)", lambda x: x.ndim == 4)
        if x.shape[0] == 0:
            raise ValueError(f"{self!r}: empty batch (input of shape {tuple(x.shape)})")
        return self.output_shape(x.shape[1:])[1:]

    def forward(self, x):
        h_out, w_out = self._check_input(x)
        n, c, h, w = x.shape
        k, s, p = self.kernel_size, self.stride, self.padding
        self.x_pad = backend.xp.zeros((n, c, h + 2 * p, w + 2 * p), dtype=x.dtype)
        self.x_pad[:, :, p : p + h, p : p + w] = x  # zeros around, x inside
        self.cols = im2col(self.x_pad, k, s, h_out, w_out)  # (N·H_out·W_out, K)
        z = self.cols @ self.weight.data.reshape(self.out_channels, -1).T  # z₂ = cols W₂ᵀ
        if self.bias is not None:
            z = z + self.bias.data  # + b
        self.out_shape = (n, self.out_channels, h_out, w_out)
        return z.reshape(n, h_out, w_out, self.out_channels).transpose(0, 3, 1, 2)

    def backward(self, delta, input_grad: bool = True):
        self._check_delta(delta)
        _, c_out, h_out, w_out = delta.shape
        delta2 = delta.transpose(0, 2, 3, 1).reshape(-1, c_out)  # δ₂ (N·H_out·W_out, C_out)
        self.weight.grad += (delta2.T @ self.cols).reshape(self.weight.shape)  # ∂C/∂W₂ = δ₂ᵀ cols
        if self.bias is not None:
            self.bias.grad += delta.sum(axis=(0, 2, 3))  # ∂C/∂b = Σ δ
        if not input_grad:
            return None
        k, s, p = self.kernel_size, self.stride, self.padding
        dcols = delta2 @ self.weight.data.reshape(c_out, -1)  # δ₂ W₂
        dx_pad = col2im(dcols, self.x_pad.shape, k, s, h_out, w_out)  # ∂C/∂x_pad = col2im(δ₂ W₂)
        return dx_pad[:, :, p : dx_pad.shape[2] - p, p : dx_pad.shape[3] - p]  # ∂C/∂x: the padding cut off

    def __repr__(self):
        extra = f", stride={self.stride}" if self.stride != 1 else ""
        extra += f", padding={self.padding}" if self.padding else ""
        extra += ", bias=False" if self.bias is None else ""
        return f"Conv2D({self.in_channels}, {self.out_channels}, {self.kernel_size}{extra})"


class _Pool2D(Layer):
    """Shared shape logic of max and mean pooling (no padding; stride defaults to the kernel)."""

    def __init__(self, kernel_size: int, stride: int | None = None):
        super().__init__()
        stride = kernel_size if stride is None else stride
        self.kernel_size, self.stride = check_positive_int(self, kernel_size=kernel_size, stride=stride)

    def output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise ValueError(f"{self!r} expects per-sample input (C, H, W), got {input_shape}")
        h, w = (conv_output_size(size, self.kernel_size, self.stride, 0) for size in input_shape[1:])
        if h < 1 or w < 1:
            raise ValueError(f"{self!r}: input {input_shape} is smaller than the pooling window")
        return (input_shape[0], h, w)

    def _check_input(self, x) -> tuple[int, int]:
        """Refuse what is not a float (N, C, H, W) batch; cache x's shape; return (H_out, W_out)."""
        check_batch(self, x, "(N, C, H, W)", lambda x: x.ndim == 4)
        _, h_out, w_out = self.output_shape(x.shape[1:])
        self.x_shape, self.x_dtype, self.out_hw = x.shape, x.dtype, (h_out, w_out)
        self.out_shape = (x.shape[0], x.shape[1], h_out, w_out)
        return h_out, w_out

    def offsets(self, h_out: int, w_out: int) -> list[tuple[slice, slice]]:
        """The kernel offsets (i, j) in order, each as the rows and columns of x it reads."""
        k, s = self.kernel_size, self.stride
        return [(window(i, s, h_out), window(j, s, w_out)) for i in range(k) for j in range(k)]

    def __repr__(self):
        stride = f", stride={self.stride}" if self.stride != self.kernel_size else ""
        return f"{type(self).__name__}({self.kernel_size}{stride})"


class MaxPool2D(_Pool2D):
    """Max pooling: y = max over each k×k window; the error goes to the argmax only.
    x (N, C, H, W) → (N, C, H_out, W_out), H_out = ⌊(H − k)/s⌋ + 1.

        y[n, c, Y, X] = max_{i,j} x[n, c, Y·s + i, X·s + j]
        ∂C/∂x[n, c, Y·s + i, X·s + j] += δ[n, c, Y, X]   for (i, j) = the first argmax

    Ties go to the first offset in (i, j) order, as in PyTorch; ``argmax`` keeps it (i·k + j).
    """

    def forward(self, x):
        offsets = self.offsets(*self._check_input(x))
        y = x[:, :, offsets[0][0], offsets[0][1]].copy()
        self.argmax = backend.xp.zeros(y.shape, dtype=backend.xp.int32)
        for offset, (rows, columns) in enumerate(offsets[1:], start=1):
            larger = x[:, :, rows, columns] > y  # strictly: a tie keeps the earlier offset
            self.argmax = backend.xp.where(larger, offset, self.argmax)
            y = backend.xp.maximum(y, x[:, :, rows, columns])
        return y

    def backward(self, delta):
        self._check_delta(delta)
        dx = backend.xp.zeros(self.x_shape, dtype=delta.dtype)
        for offset, (rows, columns) in enumerate(self.offsets(*self.out_hw)):
            dx[:, :, rows, columns] += delta * (self.argmax == offset)  # δ where this offset held the max
        return dx


class AvgPool2D(_Pool2D):
    """Mean pooling: y = (1/k²) Σ over each k×k window; each input gets δ/k² per window.

    y[n, c, Y, X] = (1/k²) Σ_{i,j} x[n, c, Y·s + i, X·s + j]
    ∂C/∂x[n, c, Y·s + i, X·s + j] += δ[n, c, Y, X] / k²
    """

    def forward(self, x):
        offsets = self.offsets(*self._check_input(x))
        return sum(x[:, :, rows, columns] for rows, columns in offsets) / len(offsets)

    def backward(self, delta):
        self._check_delta(delta)
        dx = backend.xp.zeros(self.x_shape, dtype=delta.dtype)
        for rows, columns in self.offsets(*self.out_hw):
            dx[:, :, rows, columns] += delta / self.kernel_size**2
        return dx


class Flatten(Layer):
    """(N, C, H, W) → (N, C·H·W); backward reshapes the error back."""

    def output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def forward(self, x):
        check_array(self, x)
        self.x_shape = x.shape
        self.out_shape = (x.shape[0], math.prod(x.shape[1:]))
        return x.reshape(self.out_shape)

    def backward(self, delta):
        self._check_delta(delta)
        return delta.reshape(self.x_shape)
