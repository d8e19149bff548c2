"""Layers: forward caches what backward needs; backward stores gradients and returns
the error for the layer below.

Contract (cs231n's ``(out, cache)`` habit, kept on the object)::

    y = layer.forward(x)          # caches self.x (and friends), overwritten each call
    dx = layer.backward(delta)    # param.grad += ∂C/∂param ; returns ∂C/∂x
    layer.backward(delta, input_grad=False)   # Dense, Conv2D: gradients only, returns None

Rows are samples: a Dense layer computes z = x W + b with W of shape (in, out) — the
transpose of PyTorch's ``nn.Linear.weight`` (out, in), as in CS231n. Tensors are NCHW and
Conv2D's weight is (C_out, C_in, kH, kW), PyTorch's layout. Convolution and pooling use
im2col; col2im is a loop over the
kH×kW kernel offsets with slice ``+=`` (no ``np.add.at``), identical on NumPy and CuPy.
"""

from __future__ import annotations

import math
import numbers
import threading

from . import backend, init, threads
from .backend import Array

__all__ = [
    "AvgPool2D",
    "Conv2D",
    "Dense",
    "Flatten",
    "Layer",
    "MaxPool2D",
    "Parameter",
    "col2im",
    "conv_output_size",
    "im2col",
]


class Parameter:
    """A trainable array ``data`` and its accumulated gradient ``grad`` (same shape).

    The gradient follows the data, as in PyTorch: assigning ``data`` an array of another
    dtype (or array type) re-allocates ``grad`` as zeros of the new kind, so float64
    weights never get float32-rounded gradients. An array of another shape is refused.
    """

    #: ∂C/∂data, accumulated with ``+=`` (allocated by the ``data`` setter, so never None after ``__init__``)
    grad: Array

    def __init__(self, data: Array, name: str):
        self.name = name
        self._data: Array | None = None  # set by the data setter below
        self.grad = None
        self.data = data

    @property
    def data(self) -> Array:
        """The parameter's values."""
        return self._data

    @data.setter
    def data(self, value: Array) -> None:
        if not backend.is_array(value):
            raise TypeError(f"Parameter {self.name}: data must be an array, got {type(value).__name__}")
        if self._data is not None and tuple(value.shape) != tuple(self._data.shape):
            raise ValueError(
                f"Parameter {self.name}: expected shape {tuple(self._data.shape)}, got {tuple(value.shape)}"
            )
        grad = self.grad
        if grad is None or grad.dtype != value.dtype or type(grad) is not type(value):
            self.grad = backend.xp.zeros_like(value)
        self._data = value

    @property
    def shape(self) -> tuple:
        return self.data.shape

    def zero_grad(self) -> None:
        """grad ← 0. Gradients accumulate with ``+=``, so call this before each backward."""
        self.grad[...] = 0

    def to(self, backend_name: str) -> Parameter:
        """Move ``data`` and ``grad`` to ``"numpy"`` (host) or ``"cupy"`` (device), in place."""
        # both at once: the ``data`` setter would replace a gradient of the other array type by zeros
        self._data, self.grad = backend.move(self._data, backend_name), backend.move(self.grad, backend_name)
        return self

    def __repr__(self):
        return f"Parameter({self.name}, shape={self.shape})"


class Layer:
    """Base class: no parameters, identity shapes.

    ``skips_input_grad``: True where ``backward(delta, input_grad=False)`` is accepted and
    skips ∂C/∂x (``Sequential.backward(..., input_grad=False)`` asks its bottom layer so).
    ``training`` is True unless ``Sequential.eval()`` switched it off; only layers that
    behave differently in evaluation (batch normalization) read it.
    """

    skips_input_grad = False
    training = True

    def __init__(self) -> None:
        self.x: Array | None = None

    def forward(self, x):
        raise NotImplementedError

    def _check_delta(self, delta) -> None:
        """δ must be an array of the shape forward returned (``self.out_shape``)."""
        expected = getattr(self, "out_shape", None)
        if expected is None:
            raise RuntimeError(f"{self!r}: backward called before forward (nothing is cached)")
        if not backend.is_array(delta):
            raise TypeError(
                f"{self!r}: delta must be an array of shape {expected}, got {type(delta).__name__}"
            )
        if tuple(delta.shape) != expected:
            raise ValueError(
                f"{self!r}: backward expects delta of shape {expected} (the shape forward returned), "
                f"got {tuple(delta.shape)}"
            )

    def backward(self, delta):
        raise NotImplementedError

    def parameters(self) -> list[Parameter]:
        """The layer's trainable parameters (weight first, then bias)."""
        return [p for p in (getattr(self, "weight", None), getattr(self, "bias", None)) if p is not None]

    def output_shape(self, input_shape: tuple) -> tuple:
        """Per-sample output shape for a per-sample input shape (no batch axis)."""
        return tuple(input_shape)

    def build(self, input_shape: tuple, previous: Layer | None = None) -> tuple:
        """Called by ``Sequential.build`` with the per-sample input shape and the layer below.

        Records ``self.input_shape`` (per-sample, no batch axis), so a layer above can read
        the geometry it was built on (the regularized ReLU's c = C_in·H_in·W_in).
        """
        output = self.output_shape(input_shape)
        self.input_shape = tuple(input_shape)
        return output

    def to(self, backend_name: str) -> Layer:
        """Move parameters, gradients and every cached array (``self.x``, ``self.z``, …)
        to ``"numpy"`` (host) or ``"cupy"`` (device), in place."""
        for p in self.parameters():
            p.to(backend_name)
        for key, value in vars(self).items():
            setattr(self, key, backend.move(value, backend_name))
        return self

    def astype(self, dtype) -> Layer:
        """Cast parameters (and their gradients) to ``dtype`` in place."""
        for p in self.parameters():
            p.data = p.data.astype(dtype)
            p.grad = p.grad.astype(dtype)
        return self

    def __call__(self, x):
        return self.forward(x)

    def __repr__(self):
        return f"{type(self).__name__}()"


def _check_array(layer: Layer, x) -> None:
    if not backend.is_array(x):
        raise TypeError(
            f"{layer!r} expects an array (convert with np.asarray(x, dtype=np.float32)), "
            f"got {type(x).__name__}"
        )


def _check_float(layer: Layer, x) -> None:
    _check_array(layer, x)
    if not backend.xp.issubdtype(x.dtype, backend.xp.floating):
        raise TypeError(f"{layer!r} expects a floating-point input, got dtype {x.dtype}")


class Dense(Layer):
    """Fully connected layer, z = x @ W + b.

    Shapes: x (N, D_in) → z (N, D_out); W (D_in, D_out); b (D_out,).
    With ``models=E`` (a seed ensemble): x (E, N, D_in) or shared (N, D_in),
    W (E, D_in, D_out), b (E, 1, D_out), z (E, N, D_out) — the maths runs over the
    last two axes, so nothing else changes.

    Backward, with δ = ∂C/∂z:  ∂C/∂W = xᵀ δ,  ∂C/∂b = Σ_batch δ,  ∂C/∂x = δ Wᵀ
    (skipped, returning None, with ``input_grad=False``).
    Default init: PyTorch's U(−1/√D_in, 1/√D_in) for weight and bias.
    """

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
        in_features, out_features = _check_positive_int(
            self, in_features=in_features, out_features=out_features
        )
        self.in_features, self.out_features, self.models = in_features, out_features, models
        lead = () if models is None else (models,)
        w = init.draw(weight_init, (*lead, in_features, out_features), in_features, out_features, rng)
        b = init.draw(
            bias_init, lead + ((1,) if models else ()) + (out_features,), in_features, out_features, rng
        )
        self.weight = Parameter(backend.asarray(w, backend.default_dtype()), "weight")
        self.bias = Parameter(backend.asarray(b, backend.default_dtype()), "bias")

    def output_shape(self, input_shape):
        if tuple(input_shape)[-1:] != (self.in_features,):
            raise ValueError(
                f"{self!r} expects per-sample input ({self.in_features},), got {tuple(input_shape)}"
            )
        return (*tuple(input_shape)[:-1], self.out_features)

    def forward(self, x):
        _check_array(self, x)
        if x.ndim < 2 or x.shape[-1] != self.in_features:
            raise ValueError(f"{self!r} expects input of shape (N, {self.in_features}), got {tuple(x.shape)}")
        _check_float(self, x)
        self.x = x
        z = x @ self.weight.data + _bias_rows(self.bias.data, x.shape[-2])
        self.out_shape = tuple(z.shape)
        return z

    skips_input_grad = True

    def backward(self, delta, input_grad: bool = True):
        self._check_delta(delta)
        assert self.x is not None  # cached by forward (_check_delta saw it ran)
        x_t = self.x.swapaxes(-1, -2)
        self.weight.grad += _sum_to(x_t @ delta, self.weight.shape)  # ∂C/∂W = xᵀ δ
        self.bias.grad += _sum_to(_sum_rows(delta), self.bias.shape)  # ∂C/∂b = Σ_batch δ
        if not input_grad:
            return None
        return delta @ _transposed(self.weight.data)  # ∂C/∂x = δ Wᵀ

    def __repr__(self):
        models = f", models={self.models}" if self.models else ""
        return f"Dense({self.in_features}, {self.out_features}{models})"


def _bias_rows(b, n: int):
    """b as added to the n rows of x @ W: (D,) broadcasts as it is; an ensemble's (E, 1, D) is
    repeated to (E, n, D) — the same sum, but NumPy adds equal shapes ~4× faster than it
    broadcasts over the middle axis of a stacked width-2 layer."""
    return backend.xp.repeat(b, n, axis=-2) if b.ndim == 3 else b


def _transposed(w):
    """Wᵀ over the last two axes: a view for one model (BLAS reads it transposed for free), a
    contiguous copy for an ensemble's stacked (E, D_in, D_out) (NumPy's stacked matmul is
    ~1.5× faster on it)."""
    w_t = w.swapaxes(-1, -2)
    return backend.xp.ascontiguousarray(w_t) if w.ndim == 3 else w_t


def _sum_rows(delta):
    """Σ_n δ[..., n, :], keeping the axis: (…, N, D) → (…, 1, D), as a row of ones times δ.

    Same sum as ``delta.sum(axis=-2, keepdims=True)``; NumPy reduces the middle axis of a
    stacked (E, N, 2) ensemble error about 5× slower than this product.
    """
    ones = backend.xp.ones((*delta.shape[:-2], 1, delta.shape[-2]), dtype=delta.dtype)
    return ones @ delta


def _sum_to(g, shape):
    """Reshape ``g`` to ``shape``, summing a broadcast leading axis away if there is one."""
    if g.ndim > len(shape):
        g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    return g.reshape(shape)


def _check_positive_int(layer, **values) -> tuple[int, ...]:
    """Each value a positive integer (a NumPy integer too); returned as Python ints, in order."""
    for key, value in values.items():
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{type(layer).__name__}: {key} must be a positive int, got {value!r}")
    return tuple(int(v) for v in values.values())


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """H_out = ⌊(H + 2p − k) / s⌋ + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def im2col(x, kh: int, kw: int, stride: int, h_out: int, w_out: int, out=None):
    """Patches of an already padded channels-last x (N, H, W, C) as cols (N, h_out, w_out, kh, kw, C).

    ``cols[n, y, x, i, j, c] = x[n, y·s + i, x·s + j, c]``. The patches are first a strided
    view of x (no copy: moving one output pixel moves s pixels in x, moving one kernel
    offset moves one pixel), then copied once — into ``out`` when given (an array or view
    of cols' shape), else into a new array —, split over the batch across threads
    (:mod:`nanograd_ad.threads`); channels last makes each copied run kW·C contiguous
    values. ``tests/test_layers.py`` checks it against the plain loop over offsets.
    """
    n, _, _, c = x.shape
    step_n, step_h, step_w, step_c = x.strides
    patches = backend.xp.lib.stride_tricks.as_strided(
        x,
        shape=(n, h_out, w_out, kh, kw, c),
        strides=(step_n, stride * step_h, stride * step_w, step_h, step_w, step_c),
    )
    cols = backend.xp.empty(patches.shape, dtype=x.dtype) if out is None else out

    def copy(start, stop):
        cols[start:stop] = patches[start:stop]

    threads.over_batch(copy, n)
    return cols


def col2im(cols, x_shape: tuple, stride: int, out=None):
    """Adjoint of :func:`im2col`: add cols (N, h_out, w_out, kh, kw, C) back into x_shape (N, H, W, C).

    Overlapping windows add up; a loop over kernel offsets with slice ``+=`` (into ``out``
    when given, else into zeros), split over the batch across threads.
    """
    _, h_out, w_out, kh, kw, _ = cols.shape
    dx = backend.xp.zeros(x_shape, dtype=cols.dtype) if out is None else out

    def add(start, stop):
        for i in range(kh):
            for j in range(kw):
                window = dx[start:stop, _window(i, stride, h_out), _window(j, stride, w_out), :]
                window += cols[start:stop, :, :, i, j, :]

    threads.over_batch(add, x_shape[0])
    return dx


def _window(offset: int, stride: int, size: int) -> slice:
    """The input rows (or columns) that kernel offset ``offset`` reads for ``size`` outputs."""
    return slice(offset, offset + stride * size, stride)


#: Conv2D cuts im2col patches for this many bytes of samples at a time (the whole batch's
#: cols would be 9× the input: 75 MB for the reference CNN's second layer at batch 256)
PATCH_BYTES = 2 * 2**20

_scratch_arrays = threading.local()


def _scratch(name: str, shape: tuple, dtype):
    """An uninitialized array of ``shape``, reused by the next call with the same name in
    this thread (a new one when it has to grow, or when it is over 2 · PATCH_BYTES).

    Conv2D cuts its patches and δ₂W₂'s blocks into these instead of new arrays: a new array
    of megabytes comes from the allocator as pages the kernel must map and zero on first
    touch, several times per step; the reference CNN's step on two threads took about 5 ms
    less this way (medians of 40 steps, three runs each: 74.5–78.3 vs 79.6–80.5 ms). One
    array stays allocated per name, thread and dtype, of at most 2 · PATCH_BYTES (Conv2D's
    two hold one block, ≤ PATCH_BYTES, unless one sample's patches are larger). Each
    thread has its own, so two networks trained in two threads never share one.
    """
    xp = backend.xp
    size = math.prod(shape)
    if size * xp.dtype(dtype).itemsize > 2 * PATCH_BYTES:
        return xp.empty(shape, dtype=dtype)  # a single sample larger than a block: not kept
    arrays = getattr(_scratch_arrays, "arrays", None)
    if arrays is None:
        arrays = _scratch_arrays.arrays = {}
    key = (name, backend.name(), xp.dtype(dtype).str)
    flat = arrays.get(key)
    if flat is None or flat.size < size:
        flat = arrays[key] = xp.empty(size, dtype=dtype)
    return flat[:size].reshape(shape)


class Conv2D(Layer):
    """2-D convolution (cross-correlation), NCHW.

    x (N, C_in, H, W) → z (N, C_out, H_out, W_out), H_out = ⌊(H + 2p − k)/s⌋ + 1;
    W (C_out, C_in, kH, kW), b (C_out,).

        z[n, o, y, x] = Σ_{c,i,j} W[o, c, i, j] · x_pad[n, c, y·s + i, x·s + j] + b[o]

    ``bias=False`` leaves b out (a convolution followed by batch normalization, whose β
    takes its place, as in ResNet and VGG with batch norm).

    As one matrix product: z₂ = cols W₂ᵀ + b, with cols the im2col patches (N·H_out·W_out, K)
    and W₂ the weight flattened to (C_out, K), K = kH·kW·C_in. Backward, with δ₂ the
    error as (N·H_out·W_out, C_out):

        ∂C/∂W₂ = δ₂ᵀ cols      (x cross-correlated with δ)
        ∂C/∂b  = Σ δ₂ = δ₂ᵀ 1
        ∂C/∂x  = col2im(δ₂ W₂)  (δ convolved with the flipped kernel; skipped, returning
                                 None, with ``input_grad=False``)

    The bias is the weight of a constant input 1: cols get a last column of ones and W₂ the
    column b, so z₂ = [cols 1][W₂ b]ᵀ is one product, and [∂C/∂W₂ ∂C/∂b] = δ₂ᵀ[cols 1] is
    one too — no separate pass over z to add b, nor over δ to sum it.

    δ₂ W₂ is computed one kernel offset at a time — its columns for offset (i, j) are
    δ₂ W[:, :, i, j], (N·H_out·W_out, C_out)·(C_out, C_in) — and kept offset-major, so each
    of col2im's kH·kW additions reads one contiguous block instead of runs of C_in values.

    The products run on blocks of the batch (``PATCH_BYTES`` of cols at a time), so the
    patches never exist for the whole batch at once; forward caches x_pad, not cols. Each
    block's patches and δ₂W₂ are written into scratch arrays reused from call to call
    (:func:`_scratch`), not new ones.
    Internally patches are cut channels-last (N, H, W, C): each copy is then a run of
    contiguous channels, and the output, NHWC in memory, is returned as an NCHW view —
    so the next convolution's transpose costs nothing. Shapes seen from outside are NCHW.
    """

    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int
    padding: int
    weight: Parameter
    #: the padded input, channels last (N, H + 2p, W + 2p, C_in), cached by forward
    x_pad: Array | None

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
        in_channels, out_channels, kernel_size, stride = _check_positive_int(
            self, in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size, stride=stride
        )
        if not isinstance(padding, numbers.Integral) or isinstance(padding, bool) or padding < 0:
            raise ValueError(f"Conv2D: padding must be an int ≥ 0, got {padding!r}")
        padding = int(padding)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        fan_in, fan_out = in_channels * kernel_size**2, out_channels * kernel_size**2
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        w = init.draw(weight_init, shape, fan_in, fan_out, rng)
        self.weight = Parameter(backend.asarray(w, backend.default_dtype()), "weight")
        self.bias: Parameter | None = None
        if bias:
            b = init.draw(bias_init, (out_channels,), fan_in, fan_out, rng)
            self.bias = Parameter(backend.asarray(b, backend.default_dtype()), "bias")

    def output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 3 or input_shape[0] != self.in_channels:
            raise ValueError(
                f"{self!r} expects per-sample input ({self.in_channels}, H, W), got {input_shape}"
            )
        k, s, p = self.kernel_size, self.stride, self.padding
        h, w = (conv_output_size(size, k, s, p) for size in input_shape[1:])
        if h < 1 or w < 1:
            raise ValueError(
                f"{self!r}: input {input_shape} is smaller than the kernel {k}×{k} with padding {p}"
            )
        return (self.out_channels, h, w)

    def _w2(self):
        """The weight as (C_out, K), K ordered (kH, kW, C_in) like the patches."""
        return self.weight.data.transpose(0, 2, 3, 1).reshape(self.out_channels, -1)

    def _w2_b(self):
        """[W₂ b] (C_out, K + 1): the bias as the weight of the ones column (W₂ without a bias)."""
        if self.bias is None:
            return self._w2()
        return backend.xp.concatenate([self._w2(), self.bias.data[:, None]], axis=1)

    def forward(self, x):
        _check_array(self, x)
        if x.ndim != 4:
            raise ValueError(
                f"{self!r} expects input of shape (N, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        _check_float(self, x)
        if x.shape[0] == 0:
            raise ValueError(f"{self!r}: empty batch (input of shape {tuple(x.shape)})")
        _, h_out, w_out = self.output_shape(x.shape[1:])
        n, p = x.shape[0], self.padding
        self.x_pad = None  # the last step's copy goes before this one is made
        x = x.transpose(0, 2, 3, 1)  # channels last (N, H, W, C)
        if p:  # x_pad: zeros around, x inside
            padded = backend.xp.zeros((n, x.shape[1] + 2 * p, x.shape[2] + 2 * p, x.shape[3]), x.dtype)

            def copy(start, stop):
                padded[start:stop, p:-p, p:-p, :] = x[start:stop]

            threads.over_batch(copy, n)
            x = padded
        self.x_pad, self.out_hw = x, (h_out, w_out)
        z = backend.xp.empty((n * h_out * w_out, self.out_channels), dtype=x.dtype)
        w2_b_t = self._w2_b().T
        for rows, cols in self._patches():
            backend.xp.matmul(cols, w2_b_t, out=z[rows])  # z₂ = [cols 1][W₂ b]ᵀ = cols W₂ᵀ + b
        self.out_shape = (n, self.out_channels, h_out, w_out)
        return z.reshape(n, h_out, w_out, self.out_channels).transpose(0, 3, 1, 2)

    def _patches(self):
        """(rows of z₂, [cols 1] of those samples as (rows, K + 1)) for blocks of the batch
        (cols alone, (rows, K), without a bias).

        The patches are cut from the cached x_pad again in backward rather than kept:
        they are kH·kW times the input, and cutting them is a copy, cheap beside the products.
        """
        x, (h_out, w_out) = self.x_pad, self.out_hw
        assert x is not None  # cached by forward
        k, pixels, K = self.kernel_size, h_out * w_out, self.kernel_size**2 * self.in_channels
        width = K + (self.bias is not None)  # + 1: the ones column
        block = max(1, PATCH_BYTES // (pixels * width * x.itemsize))
        buffer = _scratch("patches", (min(block, x.shape[0]) * pixels, width), x.dtype)
        if self.bias is not None:
            buffer[:, K] = 1  # the constant input of the bias
        for start in range(0, x.shape[0], block):
            stop = min(start + block, x.shape[0])
            cols = buffer[: (stop - start) * pixels]
            patches = cols[:, :K].reshape(stop - start, h_out, w_out, k, k, self.in_channels)
            im2col(x[start:stop], k, k, self.stride, h_out, w_out, out=patches)
            yield slice(start * pixels, stop * pixels), cols

    skips_input_grad = True

    def backward(self, delta, input_grad: bool = True):
        self._check_delta(delta)
        xp, c_out, k, c_in = backend.xp, self.out_channels, self.kernel_size, self.in_channels
        delta2 = delta.transpose(0, 2, 3, 1).reshape(-1, c_out)  # δ₂ (N·P, C_out)
        grad = xp.zeros((c_out, k * k * c_in + (self.bias is not None)), dtype=delta2.dtype)
        for rows, cols in self._patches():
            grad += delta2[rows].T @ cols  # [∂C/∂W₂ ∂C/∂b] = δ₂ᵀ [cols 1], block by block
        del cols  # the last block goes before δ₂ W₂'s blocks are made
        self.weight.grad += grad[:, : k * k * c_in].reshape(c_out, k, k, c_in).transpose(0, 3, 1, 2)
        if self.bias is not None:
            self.bias.grad += grad[:, -1]  # ∂C/∂b = δ₂ᵀ 1 = Σ δ₂
        if not input_grad:
            return None
        assert self.x_pad is not None  # cached by forward
        dx: Array = xp.zeros(self.x_pad.shape, dtype=delta2.dtype)
        n, (h_out, w_out) = dx.shape[0], self.out_hw
        w_offsets = self.weight.data.transpose(2, 3, 0, 1).reshape(k * k, c_out, c_in)  # W₂'s blocks
        block = max(1, PATCH_BYTES // (h_out * w_out * k * k * c_in * dx.itemsize))
        for start in range(0, n, block):
            stop = min(start + block, n)
            rows = slice(start * h_out * w_out, stop * h_out * w_out)
            dcols = _scratch("delta2_w2", (k * k, rows.stop - rows.start, c_in), dx.dtype)
            xp.matmul(delta2[rows], w_offsets, out=dcols)  # δ₂ W₂, one (rows, C_in) block per offset
            dcols = dcols.reshape(k, k, stop - start, h_out, w_out, c_in)
            dcols = dcols.transpose(2, 3, 4, 0, 1, 5)  # as im2col's (N, h_out, w_out, kH, kW, C_in)
            col2im(dcols, dx[start:stop].shape, self.stride, out=dx[start:stop])  # ∂C/∂x = col2im(δ₂ W₂)
        p = self.padding
        if p:
            dx = dx[:, p : dx.shape[1] - p, p : dx.shape[2] - p, :]
        return dx.transpose(0, 3, 1, 2)  # back to NCHW

    def __repr__(self):
        extra = (
            (f", stride={self.stride}" if self.stride != 1 else "")
            + (f", padding={self.padding}" if self.padding else "")
            + (", bias=False" if self.bias is None else "")
        )
        return f"Conv2D({self.in_channels}, {self.out_channels}, {self.kernel_size}{extra})"


class _Pool2D(Layer):
    """Shared shape logic of max and mean pooling (no padding; stride defaults to the kernel)."""

    def __init__(self, kernel_size: int, stride: int | None = None):
        super().__init__()
        stride = kernel_size if stride is None else stride
        kernel_size, stride = _check_positive_int(self, kernel_size=kernel_size, stride=stride)
        self.kernel_size, self.stride = kernel_size, stride

    def output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise ValueError(f"{self!r} expects per-sample input (C, H, W), got {input_shape}")
        h, w = (conv_output_size(size, self.kernel_size, self.stride, 0) for size in input_shape[1:])
        if h < 1 or w < 1:
            raise ValueError(f"{self!r}: input {input_shape} is smaller than the pooling window")
        return (input_shape[0], h, w)

    def _windows(self, x):
        """The kH·kW strided views of x, one per kernel offset, each (N, H_out, W_out, C).

        Pooling runs channels last: a convolution's output is NHWC in memory (seen as an
        NCHW view), and there each window view is a run of contiguous channels — several
        times faster for NumPy than the same views taken along NCHW axes.
        """
        _check_array(self, x)
        if x.ndim != 4:
            raise ValueError(f"{self!r} expects input of shape (N, C, H, W), got {tuple(x.shape)}")
        _check_float(self, x)
        _, h_out, w_out = self.output_shape(x.shape[1:])
        k, s = self.kernel_size, self.stride
        self.x_shape, self.x_dtype, self.out_hw = x.shape, x.dtype, (h_out, w_out)  # backward needs no x
        self.out_shape = (x.shape[0], x.shape[1], h_out, w_out)
        x = x.transpose(0, 2, 3, 1)  # channels last (N, H, W, C)
        return [x[:, _window(i, s, h_out), _window(j, s, w_out), :] for i in range(k) for j in range(k)]

    def _scatter(self, piece):
        """Add one (N, H_out, W_out, C) piece per kernel offset back into an x-shaped array.

        ``piece(offset, start, stop, out=None)`` gives the error of samples [start, stop)
        for one kernel offset. When the windows tile the input exactly (stride = kernel,
        sizes divisible) every input position is written once, so each piece is written
        straight into its window (``out=``), not added to zeros. Split over the batch
        across threads; returns an NCHW view of channels-last memory.
        """
        k, s = self.kernel_size, self.stride
        h_out, w_out = self.out_hw
        n, c, h, w = self.x_shape
        tiles = s == k and h == k * h_out and w == k * w_out
        xp = backend.xp
        dx = (xp.empty if tiles else xp.zeros)((n, h, w, c), dtype=self.x_dtype)  # channels last

        def scatter(start, stop):
            for offset in range(k * k):
                i, j = divmod(offset, k)
                window = dx[start:stop, _window(i, s, h_out), _window(j, s, w_out), :]
                if tiles:
                    piece(offset, start, stop, out=window)
                else:
                    window += piece(offset, start, stop)

        threads.over_batch(scatter, n, sample_bytes=dx[:1].nbytes)  # kH·kW passes: cache-sized blocks
        return dx.transpose(0, 3, 1, 2)  # NCHW view

    def __repr__(self):
        stride = f", stride={self.stride}" if self.stride != self.kernel_size else ""
        return f"{type(self).__name__}({self.kernel_size}{stride})"


class MaxPool2D(_Pool2D):
    """Max pooling: y = max over each k×k window; the error goes to the argmax only.

    x (N, C, H, W) → (N, C, H_out, W_out), H_out = ⌊(H − k)/s⌋ + 1.

        y[n, c, Y, X] = max_{i,j} x[n, c, Y·s + i, X·s + j]
        ∂C/∂x[n, c, Y·s + i, X·s + j] += δ[n, c, Y, X]   for (i, j) = the first argmax

    Ties go to the first offset in (i, j) order, as in PyTorch. ``argmax`` keeps that
    offset (i·k + j) per output; the loop over offsets compares, never branches per value.
    """

    def forward(self, x):
        xp = backend.xp
        windows = self._windows(x)
        y = xp.empty(windows[0].shape, dtype=x.dtype)
        offsets = xp.int8 if len(windows) <= 127 else xp.int32
        self.argmax = xp.empty(y.shape, dtype=offsets)  # the first offset holding the max

        def pool(start, stop):  # samples [start, stop), one thread
            y_part, argmax = y[start:stop], self.argmax[start:stop]
            y_part[...], argmax[...] = windows[0][start:stop], 0
            larger = xp.empty(y_part.shape, dtype=bool)
            for offset, window in enumerate(windows[1:], start=1):
                xp.greater(window[start:stop], y_part, out=larger)  # strictly: ties keep the earlier
                argmax += larger * (offsets(offset) - argmax)  # argmax ← offset where larger
                xp.maximum(y_part, window[start:stop], out=y_part)

        threads.over_batch(pool, y.shape[0], sample_bytes=x[:1].nbytes)  # kH·kW passes: cache-sized blocks
        return y.transpose(0, 3, 1, 2)

    def backward(self, delta):
        self._check_delta(delta)
        xp = backend.xp
        delta = delta.transpose(0, 2, 3, 1)  # channels last, like argmax

        def piece(offset, start, stop, out=None):  # δ where this offset held the max, else 0
            return xp.multiply(delta[start:stop], self.argmax[start:stop] == offset, out=out)

        return self._scatter(piece)


class AvgPool2D(_Pool2D):
    """Mean pooling: y = (1/k²) Σ over each k×k window; each input gets δ/k² per window.

    y[n, c, Y, X] = (1/k²) Σ_{i,j} x[n, c, Y·s + i, X·s + j]
    ∂C/∂x[n, c, Y·s + i, X·s + j] += δ[n, c, Y, X] / k²
    """

    def forward(self, x):
        windows = self._windows(x)
        y = backend.xp.empty(windows[0].shape, dtype=x.dtype)

        def pool(start, stop):  # samples [start, stop), one thread
            y_part = y[start:stop]
            y_part[...] = windows[0][start:stop]
            for window in windows[1:]:
                y_part += window[start:stop]
            y_part /= len(windows)

        threads.over_batch(pool, y.shape[0], sample_bytes=x[:1].nbytes)  # kH·kW passes: cache-sized blocks
        return y.transpose(0, 3, 1, 2)

    def backward(self, delta):
        self._check_delta(delta)
        share = delta.transpose(0, 2, 3, 1) / self.kernel_size**2  # channels last

        def piece(offset, start, stop, out=None):
            if out is None:
                return share[start:stop]
            out[...] = share[start:stop]
            return out

        return self._scatter(piece)


class Flatten(Layer):
    """(N, C, H, W) → (N, C·H·W); backward reshapes the error back."""

    def output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def forward(self, x):
        _check_array(self, x)
        self.x_shape = x.shape
        self.out_shape = (x.shape[0], math.prod(x.shape[1:]))
        return x.reshape(self.out_shape)

    def backward(self, delta):
        self._check_delta(delta)
        return delta.reshape(self.x_shape)
