"""The fast wing's layers: the reference layers' classes, with every speed and memory device.

Each class subclasses its reference in ``nanograd_ad.layers`` — the same constructor
arguments, parameter names, ``state_dict`` and checkpoints, the same argument and input
checks — and overrides ``forward``/``backward`` only; ``tests/test_fast_layers.py`` proves
both equal to the reference (float64 to 1e-12, float32 to float32 rounding).

Conv2D. One matrix product per block of the batch, channels last:

* The bias is the weight of a constant input 1: cols get a last column of ones and W₂ the
  column b, so z₂ = [cols 1][W₂ b]ᵀ is one product, and [∂C/∂W₂ ∂C/∂b] = δ₂ᵀ[cols 1] is
  one too — no separate pass over z to add b, nor over δ to sum it.
* δ₂ W₂ is computed one kernel offset at a time — its columns for offset (i, j) are
  δ₂ W[:, :, i, j], (N·H_out·W_out, C_out)·(C_out, C_in) — and kept offset-major, so each
  of col2im's kH·kW additions reads one contiguous block instead of runs of C_in values.
* The products run on blocks of the batch (``PATCH_BYTES`` of cols at a time), so the
  patches never exist for the whole batch at once; forward caches x_pad, not cols. Each
  block's patches and δ₂W₂ are written into scratch arrays reused from call to call
  (:func:`_scratch`), not new ones. The blocks are shared out across threads
  (:func:`nanograd_ad.fast.threads.over_blocks`): each thread cuts its own blocks' patches
  and multiplies them on one BLAS thread; ∂C/∂W₂ is summed over the blocks in their order,
  so no result depends on the number of threads.
* Patches are cut channels-last (N, H, W, C): each copy is then a run of contiguous
  channels, and the output, NHWC in memory, is returned as an NCHW view — so the next
  convolution's transpose costs nothing. Shapes seen from outside are NCHW.

Pooling runs channels last too, split over the batch across threads
(:mod:`nanograd_ad.fast.threads`), in cache-sized blocks. Dense sums δ over the batch as a
row of ones times δ (one BLAS product).
"""

from __future__ import annotations

import math
import threading

from .. import backend, layers
from ..backend import Array
from ..ensemble import sum_rows
from ..layers import Flatten, conv_output_size
from ..layers import window as _window
from . import threads

__all__ = [
    "PATCH_BYTES",
    "AvgPool2D",
    "Conv2D",
    "Dense",
    "Flatten",
    "MaxPool2D",
    "col2im",
    "conv_output_size",
    "im2col",
]


class Dense(layers.Dense):
    """The reference Dense (z = x W + b), with ∂C/∂b = 1ᵀ δ as one BLAS product."""

    def backward(self, delta, input_grad: bool = True):
        self._check_delta(delta)
        self.weight.grad += self.x.T @ delta  # ∂C/∂W = xᵀ δ
        self.bias.grad += sum_rows(delta).reshape(self.bias.shape)  # ∂C/∂b = Σ_batch δ
        if not input_grad:
            return None
        return delta @ self.weight.data.T  # ∂C/∂x = δ Wᵀ


def im2col(x, kh: int, kw: int, stride: int, h_out: int, w_out: int, out=None):
    """Patches of an already padded channels-last x (N, H, W, C) as cols (N, h_out, w_out, kh, kw, C).

    ``cols[n, y, x, i, j, c] = x[n, y·s + i, x·s + j, c]``. The patches are first a strided
    view of x (no copy: moving one output pixel moves s pixels in x, moving one kernel
    offset moves one pixel), then copied once — into ``out`` when given (an array or view
    of cols' shape), else into a new array —, split over the batch across threads
    (:mod:`nanograd_ad.fast.threads`); channels last makes each copied run kW·C contiguous
    values. ``tests/test_fast_layers.py`` checks it against the plain loop over offsets.
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


class Conv2D(layers.Conv2D):
    """The reference Conv2D (z₂ = cols W₂ᵀ + b), blocked, scratch-buffered and channels last
    (the module's docstring says how); forward caches x_pad channels last, not cols."""

    #: the padded input, channels last (N, H + 2p, W + 2p, C_in), cached by forward
    x_pad: Array = None

    def _w2(self):
        """The weight as (C_out, K), K ordered (kH, kW, C_in) like the patches."""
        return self.weight.data.transpose(0, 2, 3, 1).reshape(self.out_channels, -1)

    def _w2_b(self):
        """[W₂ b] (C_out, K + 1): the bias as the weight of the ones column (W₂ without a bias)."""
        if self.bias is None:
            return self._w2()
        return backend.xp.concatenate([self._w2(), self.bias.data[:, None]], axis=1)

    def forward(self, x):
        h_out, w_out = self._check_input(x)
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

        def product(start, stop):  # samples [start, stop), in one thread
            rows, cols = self._cols(start, stop)
            backend.xp.matmul(cols, w2_b_t, out=z[rows])  # z₂ = [cols 1][W₂ b]ᵀ = cols W₂ᵀ + b

        threads.over_blocks(product, n, self._block())
        self.out_shape = (n, self.out_channels, h_out, w_out)
        return z.reshape(n, h_out, w_out, self.out_channels).transpose(0, 3, 1, 2)

    def _block(self) -> int:
        """Samples per block: as many as fit [cols 1] in PATCH_BYTES (at least one)."""
        x, (h_out, w_out) = self.x_pad, self.out_hw
        assert x is not None  # cached by forward
        width = self.kernel_size**2 * self.in_channels + (self.bias is not None)
        return max(1, PATCH_BYTES // (h_out * w_out * width * x.itemsize))

    def _cols(self, start: int, stop: int):
        """(rows of z₂, [cols 1] of samples [start, stop) as (rows, K + 1)), cut from the cached
        x_pad into this thread's scratch array (cols alone, (rows, K), without a bias).

        The patches are cut from x_pad again in backward rather than kept: they are kH·kW
        times the input, and cutting them is a copy, cheap beside the products.
        """
        x, (h_out, w_out) = self.x_pad, self.out_hw
        assert x is not None  # cached by forward
        k, pixels, K = self.kernel_size, h_out * w_out, self.kernel_size**2 * self.in_channels
        cols = _scratch("patches", ((stop - start) * pixels, K + (self.bias is not None)), x.dtype)
        if self.bias is not None:
            cols[:, K] = 1  # the constant input of the bias
        patches = cols[:, :K].reshape(stop - start, h_out, w_out, k, k, self.in_channels)
        im2col(x[start:stop], k, k, self.stride, h_out, w_out, out=patches)
        return slice(start * pixels, stop * pixels), cols

    def backward(self, delta, input_grad: bool = True):
        self._check_delta(delta)
        xp, c_out, k, c_in = backend.xp, self.out_channels, self.kernel_size, self.in_channels
        delta2 = delta.transpose(0, 2, 3, 1).reshape(-1, c_out)  # δ₂ (N·P, C_out)
        assert self.x_pad is not None  # cached by forward
        n, (h_out, w_out), block = self.x_pad.shape[0], self.out_hw, self._block()
        width = k * k * c_in + (self.bias is not None)
        partial = xp.empty((-(-n // block), c_out, width), dtype=delta2.dtype)  # one per block

        def gradient(start, stop):  # samples [start, stop), in one thread
            rows, cols = self._cols(start, stop)
            xp.matmul(delta2[rows].T, cols, out=partial[start // block])  # δ₂ᵀ [cols 1] of the block

        threads.over_blocks(gradient, n, block)
        grad = partial[0]
        for block_grad in partial[1:]:
            grad += block_grad  # [∂C/∂W₂ ∂C/∂b] = Σ over blocks, in block order
        self.weight.grad += grad[:, : k * k * c_in].reshape(c_out, k, k, c_in).transpose(0, 3, 1, 2)
        if self.bias is not None:
            self.bias.grad += grad[:, -1]  # ∂C/∂b = δ₂ᵀ 1 = Σ δ₂
        if not input_grad:
            return None
        dx: Array = xp.zeros(self.x_pad.shape, dtype=delta2.dtype)
        w_offsets = self.weight.data.transpose(2, 3, 0, 1).reshape(k * k, c_out, c_in)  # W₂'s blocks

        def input_error(start, stop):  # samples [start, stop), in one thread
            rows = slice(start * h_out * w_out, stop * h_out * w_out)
            dcols = _scratch("delta2_w2", (k * k, rows.stop - rows.start, c_in), dx.dtype)
            xp.matmul(delta2[rows], w_offsets, out=dcols)  # δ₂ W₂, one (rows, C_in) block per offset
            dcols = dcols.reshape(k, k, stop - start, h_out, w_out, c_in)
            dcols = dcols.transpose(2, 3, 4, 0, 1, 5)  # as im2col's (N, h_out, w_out, kH, kW, C_in)
            col2im(dcols, dx[start:stop].shape, self.stride, out=dx[start:stop])  # ∂C/∂x = col2im(δ₂ W₂)

        dx_block = max(1, PATCH_BYTES // (h_out * w_out * k * k * c_in * dx.itemsize))  # δ₂W₂ ≤ PATCH_BYTES
        threads.over_blocks(input_error, n, dx_block)
        p = self.padding
        if p:
            dx = dx[:, p : dx.shape[1] - p, p : dx.shape[2] - p, :]
        return dx.transpose(0, 3, 1, 2)  # back to NCHW


class _Pool2D(layers._Pool2D):
    """Channels-last windows and a threaded scatter, shared by the fast pooling layers."""

    def _windows(self, x):
        """The kH·kW strided views of x, one per kernel offset, each (N, H_out, W_out, C).

        Pooling runs channels last: a convolution's output is NHWC in memory (seen as an
        NCHW view), and there each window view is a run of contiguous channels — several
        times faster for NumPy than the same views taken along NCHW axes.
        """
        h_out, w_out = self._check_input(x)  # caches x's shape, dtype and (H_out, W_out): backward needs no x
        k, s = self.kernel_size, self.stride
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


class MaxPool2D(_Pool2D, layers.MaxPool2D):
    """The reference MaxPool2D (y = max over each window, δ to the first argmax), channels last
    and split over the batch across threads; ``argmax`` keeps the offset i·k + j as int8 and is
    updated by arithmetic (the loop over offsets compares, never branches per value)."""

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


class AvgPool2D(_Pool2D, layers.AvgPool2D):
    """The reference AvgPool2D (y = (1/k²) Σ over each window, δ/k² back to each input),
    channels last and split over the batch across threads."""

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
