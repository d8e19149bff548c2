# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 03 — Convolution and pooling, backward by hand
#
# A convolutional layer slides one small kernel over the whole image. Its backward pass
# is the same chain rule as a dense layer's — every output position is a little dense
# layer sharing its weights — but the bookkeeping of *where* each number goes is where
# students (and libraries) slip. In this lesson you will:
#
# 1. write the convolution as loops, with padding and stride;
# 2. write its backward — $\partial C/\partial W$, $\partial C/\partial b$ and
#    $\partial C/\partial x$ — and see $\partial C/\partial x$ as the *full* correlation of
#    $\delta$ with the kernel rotated by 180°;
# 3. write `im2col` (which turns the convolution into one matrix product) and its adjoint
#    `col2im`, and prove they are adjoints: $\langle \mathrm{im2col}(x), c\rangle = \langle x, \mathrm{col2im}(c)\rangle$;
# 4. write max- and mean-pooling backward.
#
# Every exercise is checked against the library's `Conv2D`, `MaxPool2D` and `AvgPool2D`
# to $10^{-10}$ in float64. Time: about 60 minutes. Prerequisite: Lesson 01.

# %%
# Setup check: this notebook needs nanograd_ad (with NumPy and Matplotlib) in its kernel.
try:
    import nanograd_ad
except ImportError as err:
    raise ImportError(
        "nanograd_ad is not installed in this kernel. In a clone of the repository run\n"
        '    pip install -e ".[lessons]"\n'
        "or, in a hosted notebook (Colab, Binder, a JupyterHub), install the wheel your course\n"
        "shares (built with `pip wheel --no-deps -w dist .`; see the site's page 'Running the\n"
        "lessons on a hosted service', docs/hosted.md) in a cell:\n"
        '    %pip install "nanograd_ad-0.1.0-py3-none-any.whl[lessons]"\n'
        "and restart the kernel."
    ) from err
print("nanograd_ad", nanograd_ad.__version__, "from", nanograd_ad.__file__)

# %% [markdown]
# ## Size of the run
#
# Everything here is small enough to run in seconds either way; `QUICK` only shrinks the
# image of the last figure. `FIGURE_DIR` is a folder where the figures are also saved as
# PNG files. This cell is tagged `parameters`.

# %% tags=["parameters"]
QUICK = False
FIGURE_DIR = None

# %%
import sys
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:  # run as a plain script: draw into files, no window
    matplotlib.use("Agg")
    FIGURE_DIR = FIGURE_DIR or "lesson_figures"
import matplotlib.pyplot as plt
import numpy as np

import nanograd_ad as ng
from nanograd_ad import backend

backend.set_default_dtype("float64")  # checks to 1e-10 need float64
TOL = 1e-10


def save(fig, name):
    """Save a figure as FIGURE_DIR/name.png when FIGURE_DIR is set (the notebook shows it anyway)."""
    if FIGURE_DIR is not None:
        Path(FIGURE_DIR).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(FIGURE_DIR) / f"{name}.png", dpi=110, bbox_inches="tight")


def library_conv(x, W, b, stride, padding):
    """A Conv2D layer of the library holding W and b; returns (layer, its forward output)."""
    layer = ng.Conv2D(W.shape[1], W.shape[0], W.shape[2], stride=stride, padding=padding)
    layer.weight.data[...] = W
    layer.bias.data[...] = b
    return layer, backend.to_numpy(layer(x))


# %% [markdown]
# ## The data
#
# Tensors are NCHW: $N$ images, $C$ channels, height $H$, width $W$. A kernel bank $W$ has
# shape $(C_{out}, C_{in}, k, k)$ and one bias per output channel.

# %%
rng = np.random.default_rng(0)  # check cells draw from their own generators (they may run more than once)
N, C_in, H, Wd, C_out, k = 2, 3, 7, 6, 4, 3
x = rng.standard_normal((N, C_in, H, Wd))
W = rng.standard_normal((C_out, C_in, k, k))
b = rng.standard_normal(C_out)
print("x", x.shape, " W", W.shape, " b", b.shape)

# %% [markdown]
# ## 1. The convolution, as loops
#
# With padding $p$ (zeros around the image) and stride $s$ (the step between windows),
#
# $$z[n, o, y, x] = b[o] + \sum_{c, i, j} W[o, c, i, j]\; x_{pad}[n, c,\ y s + i,\ x s + j],
#   \qquad H_{out} = \left\lfloor \frac{H + 2p - k}{s} \right\rfloor + 1 .$$
#
# (Deep-learning "convolution" is this *cross-correlation*: the kernel is not flipped.)
#
# **Exercise 1.** Write it with loops over the output positions $(y, x)$; inside, one
# `np.einsum` (or `np.tensordot`) over $c, i, j$ handles all images and output channels.
# `np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))` pads.


# %% exercise="conv_forward" nbgrader={"grade": false, "grade_id": "conv_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv_forward(x, W, b, stride=1, padding=0):
    """z (N, C_out, H_out, W_out) from x (N, C_in, H, W), W (C_out, C_in, k, k), b (C_out,)."""
    ### BEGIN SOLUTION
    k = W.shape[2]
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    h_out = (x.shape[2] + 2 * padding - k) // stride + 1
    w_out = (x.shape[3] + 2 * padding - k) // stride + 1
    z = np.empty((x.shape[0], W.shape[0], h_out, w_out))
    for y in range(h_out):
        for xx in range(w_out):
            patch = x_pad[:, :, y * stride : y * stride + k, xx * stride : xx * stride + k]
            z[:, :, y, xx] = np.einsum("ncij,ocij->no", patch, W) + b
    return z
    ### END SOLUTION


# %% check="conv_forward" nbgrader={"grade": true, "grade_id": "check_conv_forward", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(1, "conv_forward"):
    for stride, padding in [(1, 0), (2, 1), (1, 2)]:
        _, expected = library_conv(x, W, b, stride, padding)
        ng.check(
            f"conv_forward(stride={stride}, padding={padding})",
            conv_forward(x, W, b, stride, padding),
            expected,
            rtol=TOL,
        )
    print("your convolution equals Conv2D's for three strides/paddings")
    ### BEGIN HIDDEN TESTS
    hidden_rng = np.random.default_rng(31)  # a non-square input, another kernel size, stride 3
    hidden_x, hidden_W, hidden_b = (
        hidden_rng.standard_normal((1, 2, 7, 11)),
        hidden_rng.standard_normal((3, 2, 2, 2)),
        hidden_rng.standard_normal(3),
    )
    ng.check(
        "conv_forward of a 7×11 input, k = 2, stride 3, padding 1",
        conv_forward(hidden_x, hidden_W, hidden_b, 3, 1),
        library_conv(hidden_x, hidden_W, hidden_b, 3, 1)[1],
        rtol=TOL,
    )
    ### END HIDDEN TESTS

# %% [markdown]
# ## 2. The backward pass
#
# Let $\delta = \partial C/\partial z$, same shape as $z$. Each output $z[n,o,y,x]$ is a dot
# product of the kernel with one window, so — exactly as for a dense layer:
#
# $$\frac{\partial C}{\partial W[o,c,i,j]} = \sum_{n, y, x} \delta[n,o,y,x]\; x_{pad}[n, c, ys+i, xs+j],
#   \qquad \frac{\partial C}{\partial b[o]} = \sum_{n,y,x} \delta[n,o,y,x],$$
#
# and each window sends $\delta[n,o,y,x]\,W[o,c,i,j]$ back to the input position it read,
# where contributions of overlapping windows **add up**:
#
# $$\frac{\partial C}{\partial x_{pad}}[n, c, ys+i, xs+j] \mathrel{+}= \sum_o \delta[n,o,y,x]\; W[o,c,i,j] .$$
#
# $\partial C/\partial x$ is then $\partial C/\partial x_{pad}$ without its padding border.
#
# **Exercise 2.** Write `conv_backward`: the same loops as the forward pass, now
# accumulating `dW`, `db` and `dx_pad`.


# %% exercise="conv_backward" nbgrader={"grade": false, "grade_id": "conv_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv_backward(delta, x, W, stride=1, padding=0):
    """(dW, db, dx) for δ = ∂C/∂z of conv_forward(x, W, b, stride, padding)."""
    ### BEGIN SOLUTION
    k = W.shape[2]
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dW, dx_pad = np.zeros_like(W), np.zeros_like(x_pad)
    db = delta.sum(axis=(0, 2, 3))
    for y in range(delta.shape[2]):
        for xx in range(delta.shape[3]):
            rows, cols = slice(y * stride, y * stride + k), slice(xx * stride, xx * stride + k)
            dW += np.einsum("no,ncij->ocij", delta[:, :, y, xx], x_pad[:, :, rows, cols])
            dx_pad[:, :, rows, cols] += np.einsum("no,ocij->ncij", delta[:, :, y, xx], W)
    dx = dx_pad[:, :, padding : dx_pad.shape[2] - padding, padding : dx_pad.shape[3] - padding]
    return dW, db, dx
    ### END SOLUTION


# %% check="conv_backward" nbgrader={"grade": true, "grade_id": "check_conv_backward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
with ng.checking(2, "conv_backward"):
    for stride, padding in [(1, 0), (2, 1)]:
        layer, z = library_conv(x, W, b, stride, padding)
        delta = np.random.default_rng(stride).standard_normal(
            z.shape
        )  # a random upstream error, never all ones
        dx_library = backend.to_numpy(layer.backward(delta))
        dW, db, dx = conv_backward(delta, x, W, stride, padding)
        where = f"(stride={stride}, padding={padding})"
        ng.check(f"dW {where}", dW, layer.weight.grad, rtol=TOL)
        ng.check(f"db {where}", db, layer.bias.grad, rtol=TOL)
        ng.check(f"dx {where}", dx, dx_library, rtol=TOL)
    print("your dW, db and dx equal Conv2D.backward's")
    ### BEGIN HIDDEN TESTS
    hidden_rng = np.random.default_rng(32)  # a non-square input, another kernel size, stride 3
    hidden_x, hidden_W, hidden_b = (
        hidden_rng.standard_normal((1, 2, 7, 11)),
        hidden_rng.standard_normal((3, 2, 2, 2)),
        hidden_rng.standard_normal(3),
    )
    hidden_layer, hidden_z = library_conv(hidden_x, hidden_W, hidden_b, 3, 1)
    hidden_delta = hidden_rng.standard_normal(hidden_z.shape)
    hidden_dx = backend.to_numpy(hidden_layer.backward(hidden_delta))
    hidden_grads = conv_backward(hidden_delta, hidden_x, hidden_W, 3, 1)
    ng.check("dW of a 7×11 input, stride 3", hidden_grads[0], hidden_layer.weight.grad, rtol=TOL)
    ng.check("db of a 7×11 input, stride 3", hidden_grads[1], hidden_layer.bias.grad, rtol=TOL)
    ng.check("dx of a 7×11 input, stride 3", hidden_grads[2], hidden_dx, rtol=TOL)
    ### END HIDDEN TESTS

# %% [markdown]
# ### $\partial C/\partial x$ is a full correlation with the rotated kernel
#
# Take stride 1. Substitute $p = y + i$, $q = x + j$ in the scatter above and collect what
# arrives at input position $(p, q)$:
#
# $$\frac{\partial C}{\partial x_{pad}}[n,c,p,q] = \sum_{o,i,j} \delta[n,o,\,p-i,\,q-j]\; W[o,c,i,j]
#   = \sum_{o,i',j'} \delta_{pad}[n,o,\,p+i',\,q+j']\; W[o,c,\,k-1-i',\,k-1-j'],$$
#
# with $i' = k-1-i$ and $\delta$ padded by $k-1$ zeros (positions outside $\delta$ count 0).
# That is a correlation — your `conv_forward` — of the padded $\delta$ with the kernel
# **rotated by 180°** (`W[:, :, ::-1, ::-1]`) and its two channel axes swapped
# (`.transpose(1, 0, 2, 3)`: the input channels become the outputs). Padding $\delta$ by
# $k-1$ gives the *full* correlation, one output per padded input position; to undo a
# forward padding $p$, pad by $k-1-p$ instead:
#
# $$\frac{\partial C}{\partial x} = \mathrm{corr}\!\left(\delta,\ \mathrm{rot}_{180}(W)^{T},\ \text{padding } k-1-p\right).$$
#
# **Exercise 3.** Compute `dx_full` for stride 1, padding 1 with one call of your
# `conv_forward` (zero bias).

# %%
padding = 1
layer, z = library_conv(x, W, b, 1, padding)
delta = np.random.default_rng(1).standard_normal(z.shape)
dx_library = backend.to_numpy(layer.backward(delta))

# %% exercise="dx_full_correlation" nbgrader={"grade": false, "grade_id": "dx_full_correlation", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
W_rotated = W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (C_in, C_out, k, k), rotated by 180°
dx_full = conv_forward(delta, W_rotated, np.zeros(C_in), stride=1, padding=k - 1 - padding)
### END SOLUTION

# %% check="dx_full_correlation" nbgrader={"grade": true, "grade_id": "check_dx_full_correlation", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(3, "dx_full_correlation"):
    unflipped = conv_forward(
        delta, W.transpose(1, 0, 2, 3), np.zeros(C_in), stride=1, padding=k - 1 - padding
    )
    ng.check(
        "dx_full",
        dx_full,
        dx_library,
        rtol=TOL,
        hints={"the kernel is not rotated by 180° (W[:, :, ::-1, ::-1])": unflipped},
    )
    print("∂C/∂x = the full correlation of δ with the rotated kernel")

# %% [markdown]
# The unrotated kernel gives a different array — the check above would name it — so
# the rotation is not a convention: it is where the chain rule sends each number.

# %% alt="Panels of the error delta, the kernel rotated by 180 degrees and the input gradient dC/dx that their correlation gives, summed over output channels."
assert np.abs(unflipped - dx_library).max() > 0.1 * np.abs(dx_library).max(), "an unflipped kernel must fail"

fig, axes = plt.subplots(1, 4, figsize=(12, 2.8))
panels = [
    (W[0, 0], "kernel W[0, 0]"),
    (W[0, 0, ::-1, ::-1], "rotated by 180°"),
    (delta[0, 0], "δ[0, 0] (upstream error)"),
    (dx_library[0, 0], "∂C/∂x[0, 0]"),
]
for ax, (image, title) in zip(axes, panels):
    limit = np.abs(image).max()
    ax.imshow(image, cmap="coolwarm", vmin=-limit, vmax=limit)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("∂C/∂x is δ correlated with the rotated kernel (summed over output channels)", y=1.04)
save(fig, "03_rotated_kernel")

# %% [markdown]
# ## 3. im2col and col2im: the convolution as one matrix product
#
# Loops over positions are slow in Python. `im2col` copies every window into a row of a
# matrix: `cols[n, y, x, c, i, j] = x_pad[n, c, y s + i, x s + j]`. Flattened to
# $(N H_{out} W_{out},\ C k^2)$ and multiplied by the kernel flattened to $(C_{out}, C k^2)$, it
# gives all outputs at once:
#
# $$z_2 = \mathrm{cols}_2\, W_2^{T} + b .$$
#
# Its backward is the dense layer's: $\partial C/\partial W_2 = \delta_2^{T}\,\mathrm{cols}_2$ and
# $\partial C/\partial \mathrm{cols}_2 = \delta_2 W_2$ — and then those window gradients must go
# back to the image. That is `col2im`: it **adds** each window's entries back where
# `im2col` copied them from. Since `im2col` is linear, call it $A$; `col2im` is its
# *adjoint* $A^{T}$, the one map with $\langle A x, c\rangle = \langle x, A^{T} c\rangle$ for every
# $x$ and $c$. (The library's `Conv2D` uses the same pair, NCHW as here, in `im2col` and
# `col2im` of `nanograd_ad/layers.py`; its `col2im` loops over the $k^2$ kernel offsets with
# slice `+=`.)
#
# **Exercise 4.** Write `im2col` with a loop over the $k^2$ kernel offsets $(i, j)$: each is
# one strided slice of `x_pad`.


# %% exercise="im2col" nbgrader={"grade": false, "grade_id": "im2col", "locked": false, "schema_version": 3, "solution": true, "task": false}
def im2col(x_pad, k, stride, h_out, w_out):
    """cols (N, h_out, w_out, C, k, k) with cols[n, y, x, c, i, j] = x_pad[n, c, y·s + i, x·s + j]."""
    ### BEGIN SOLUTION
    n, c = x_pad.shape[:2]
    cols = np.empty((n, h_out, w_out, c, k, k))
    for i in range(k):
        for j in range(k):
            window = x_pad[:, :, i : i + stride * h_out : stride, j : j + stride * w_out : stride]
            cols[:, :, :, :, i, j] = window.transpose(0, 2, 3, 1)
    return cols
    ### END SOLUTION


# %% check="im2col" nbgrader={"grade": true, "grade_id": "check_im2col", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(4, "im2col"):
    stride, padding = 2, 1
    _, expected = library_conv(x, W, b, stride, padding)
    h_out, w_out = expected.shape[2:]
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = im2col(x_pad, k, stride, h_out, w_out)
    z2 = cols.reshape(-1, C_in * k * k) @ W.reshape(C_out, -1).T + b  # one matrix product
    z_from_cols = z2.reshape(N, h_out, w_out, C_out).transpose(0, 3, 1, 2)
    ng.check("z from im2col", z_from_cols, expected, rtol=TOL)
    ### BEGIN HIDDEN TESTS
    hidden_rng = np.random.default_rng(33)  # a non-square input, k = 2, stride 3
    hidden_x, hidden_W, hidden_b = (
        hidden_rng.standard_normal((1, 2, 7, 11)),
        hidden_rng.standard_normal((3, 2, 2, 2)),
        hidden_rng.standard_normal(3),
    )
    hidden_expected = library_conv(hidden_x, hidden_W, hidden_b, 3, 0)[1]
    hidden_cols = im2col(hidden_x, 2, 3, *hidden_expected.shape[2:])
    hidden_z = (
        (hidden_cols.reshape(-1, 2 * 2 * 2) @ hidden_W.reshape(3, -1).T + hidden_b)
        .reshape(1, *hidden_expected.shape[2:], 3)
        .transpose(0, 3, 1, 2)
    )
    ng.check("z from im2col of a 7×11 input, k = 2, stride 3", hidden_z, hidden_expected, rtol=TOL)
    ### END HIDDEN TESTS

# %% [markdown]
# **Exercise 5.** Write `col2im`, the adjoint: the same loop, adding (`+=`) each offset's
# slice of `cols` back into an image of `x_shape`.


# %% exercise="col2im" nbgrader={"grade": false, "grade_id": "col2im", "locked": false, "schema_version": 3, "solution": true, "task": false}
def col2im(cols, x_shape, stride):
    """The adjoint of im2col: x (x_shape) with every window's entries added back where they came from."""
    ### BEGIN SOLUTION
    _, h_out, w_out, _, k, _ = cols.shape
    x_pad = np.zeros(x_shape)
    for i in range(k):
        for j in range(k):
            x_pad[:, :, i : i + stride * h_out : stride, j : j + stride * w_out : stride] += cols[
                :, :, :, :, i, j
            ].transpose(0, 3, 1, 2)
    return x_pad
    ### END SOLUTION


# %% check="col2im" nbgrader={"grade": true, "grade_id": "check_col2im", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
with ng.checking(5, "col2im"):
    # Adjointness, with random x and c — for stride 1 (windows overlap a lot) and stride 2:
    for s in (1, 2):
        ho, wo = (H + 2 - k) // s + 1, (Wd + 2 - k) // s + 1
        x_probe = np.random.default_rng(10 + s).standard_normal((N, C_in, H + 2, Wd + 2))
        c_probe = np.random.default_rng(20 + s).standard_normal((N, ho, wo, C_in, k, k))
        lhs = float(np.sum(im2col(x_probe, k, s, ho, wo) * c_probe))  # ⟨im2col(x), c⟩
        ng.check(
            f"⟨x, col2im(c)⟩ (stride {s})",
            float(np.sum(x_probe * col2im(c_probe, x_probe.shape, s))),
            lhs,
            rtol=TOL,
        )
    # ... and the convolution's ∂C/∂x through col2im equals Conv2D.backward's:
    layer, z = library_conv(x, W, b, stride, padding)
    delta = np.random.default_rng(2).standard_normal(z.shape)
    delta2 = delta.transpose(0, 2, 3, 1).reshape(-1, C_out)  # δ₂ (N·H_out·W_out, C_out)
    dcols = (delta2 @ W.reshape(C_out, -1)).reshape(cols.shape)  # ∂C/∂cols = δ₂ W₂
    dx_pad = col2im(dcols, x_pad.shape, stride)
    ng.check(
        "dx from col2im",
        dx_pad[:, :, padding : dx_pad.shape[2] - padding, padding : dx_pad.shape[3] - padding],
        backend.to_numpy(layer.backward(delta)),
        rtol=TOL,
    )
    print("col2im is im2col's adjoint, and gives Conv2D's ∂C/∂x")
    ### BEGIN HIDDEN TESTS
    hidden_rng = np.random.default_rng(34)  # a non-square input, k = 2, stride 3 (gaps between windows)
    hidden_x = hidden_rng.standard_normal((1, 2, 7, 11))
    hidden_c = hidden_rng.standard_normal((1, 2, 4, 2, 2, 2))
    ng.check(
        "⟨x, col2im(c)⟩ of a 7×11 input, stride 3",
        float(np.sum(hidden_x * col2im(hidden_c, hidden_x.shape, 3))),
        float(np.sum(im2col(hidden_x, 2, 3, 2, 4) * hidden_c)),
        rtol=TOL,
    )
    ### END HIDDEN TESTS

# %% [markdown]
# ## 4. Pooling backward
#
# **Max pooling** passes on the largest entry of each window. Only that entry influenced
# the output, so the whole error of the window goes to it (the *argmax*), and the other
# entries get $0$. (At a tie the gradient is not defined; the library picks the first
# maximum. Our inputs are distinct, so there are no ties.)
#
# **Mean pooling** passes on the mean $\frac{1}{k^2}\sum$ of each window, so every entry
# of a window receives $\delta / k^2$ — and with overlapping windows (stride $< k$) an
# entry collects a share from each window that contains it.
#
# **Exercise 6.** Max-pooling backward for $k \times k$ windows with stride $s$.

# %%
x_pool = (
    np.random.default_rng(3).permutation(np.arange(N * C_in * 8 * 8, dtype=float)).reshape(N, C_in, 8, 8)
    / 100
)  # distinct, 0.01 apart


# %% exercise="maxpool_backward" nbgrader={"grade": false, "grade_id": "maxpool_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def maxpool_backward(delta, x, k, stride):
    """∂C/∂x of max pooling: each window's δ goes to the window's largest entry."""
    ### BEGIN SOLUTION
    dx = np.zeros_like(x)
    for y in range(delta.shape[2]):
        for xx in range(delta.shape[3]):
            window = x[:, :, y * stride : y * stride + k, xx * stride : xx * stride + k]
            flat = window.reshape(*window.shape[:2], -1)
            i, j = np.unravel_index(flat.argmax(axis=2), (k, k))
            n_idx, c_idx = np.indices(i.shape)
            dx[n_idx, c_idx, y * stride + i, xx * stride + j] += delta[:, :, y, xx]
    return dx
    ### END SOLUTION


# %% check="maxpool_backward" nbgrader={"grade": true, "grade_id": "check_maxpool_backward", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(6, "maxpool_backward"):
    for size, stride in [(2, 2), (3, 2)]:
        pool = ng.MaxPool2D(size, stride=stride)
        out = backend.to_numpy(pool(x_pool))
        delta = np.random.default_rng(size).standard_normal(out.shape)
        ng.check(
            f"maxpool_backward(k={size}, stride={stride})",
            maxpool_backward(delta, x_pool, size, stride),
            backend.to_numpy(pool.backward(delta)),
            rtol=TOL,
        )
    ### BEGIN HIDDEN TESTS
    hidden_x = (
        np.random.default_rng(35).permutation(np.arange(2 * 6 * 9, dtype=float)).reshape(1, 2, 6, 9) / 100
    )  # no ties
    for hidden_k, hidden_stride in [(3, 1), (2, 3)]:  # overlapping windows, and gaps, on a non-square input
        hidden_pool = ng.MaxPool2D(hidden_k, stride=hidden_stride)
        hidden_delta = np.random.default_rng(36).standard_normal(
            backend.to_numpy(hidden_pool(hidden_x)).shape
        )
        ng.check(
            f"maxpool_backward of a 6×9 input (k={hidden_k}, stride={hidden_stride})",
            maxpool_backward(hidden_delta, hidden_x, hidden_k, hidden_stride),
            backend.to_numpy(hidden_pool.backward(hidden_delta)),
            rtol=TOL,
        )
    ### END HIDDEN TESTS

# %% [markdown]
# **Exercise 7.** Mean-pooling backward, for windows that may overlap.


# %% exercise="avgpool_backward" nbgrader={"grade": false, "grade_id": "avgpool_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def avgpool_backward(delta, x_shape, k, stride):
    """∂C/∂x of mean pooling: each entry of a window receives δ/k² from that window."""
    ### BEGIN SOLUTION
    dx = np.zeros(x_shape)
    for y in range(delta.shape[2]):
        for xx in range(delta.shape[3]):
            share = delta[:, :, y, xx][:, :, None, None] / k**2
            dx[:, :, y * stride : y * stride + k, xx * stride : xx * stride + k] += share
    return dx
    ### END SOLUTION


# %% check="avgpool_backward" nbgrader={"grade": true, "grade_id": "check_avgpool_backward", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(7, "avgpool_backward"):
    for size, stride in [(2, 2), (3, 1)]:
        pool = ng.AvgPool2D(size, stride=stride)
        out = backend.to_numpy(pool(x_pool))
        delta = np.random.default_rng(10 + size).standard_normal(out.shape)
        ng.check(
            f"avgpool_backward(k={size}, stride={stride})",
            avgpool_backward(delta, x_pool.shape, size, stride),
            backend.to_numpy(pool.backward(delta)),
            rtol=TOL,
            factors={"k": size, "k²": size * size},  # the batch size is no factor of a pooling backward
        )
    print("your pooling backward passes equal MaxPool2D's and AvgPool2D's")
    ### BEGIN HIDDEN TESTS
    hidden_x = np.random.default_rng(37).standard_normal((1, 2, 6, 9))
    for hidden_k, hidden_stride in [(3, 2), (2, 3)]:  # another k, and gaps, on a non-square input
        hidden_pool = ng.AvgPool2D(hidden_k, stride=hidden_stride)
        hidden_delta = np.random.default_rng(38).standard_normal(
            backend.to_numpy(hidden_pool(hidden_x)).shape
        )
        ng.check(
            f"avgpool_backward of a 6×9 input (k={hidden_k}, stride={hidden_stride})",
            avgpool_backward(hidden_delta, hidden_x.shape, hidden_k, hidden_stride),
            backend.to_numpy(hidden_pool.backward(hidden_delta)),
            rtol=TOL,
            factors={"k": hidden_k, "k²": hidden_k**2},
        )
    ### END HIDDEN TESTS

# %% [markdown]
# ## 5. The independent referee, once more
#
# Your functions agree with the library's layers; finite differences confirm the layers
# themselves (`ng.check_layer` runs `gradcheck` on one layer with a random upstream
# error, in float64). Inputs to max pooling are kept distinct, away from ties.

# %%
conv = ng.Conv2D(C_in, C_out, k, stride=2, padding=1)
report = ng.check_layer(conv, x)
print(report)
assert report.passed
for pool in (ng.MaxPool2D(2), ng.AvgPool2D(3, stride=1)):
    assert ng.check_layer(pool, x_pool).passed, pool

# %% [markdown]
# ## A last picture: what one output pixel's gradient touches
#
# Put $\delta = 1$ at one output position of a stride-1 convolution and $0$ elsewhere:
# $\partial C/\partial x$ is then the (channel-summed) kernel itself, pasted where that
# window sat. With stride 2 and $k = 3$, neighbouring windows overlap in one row and
# column, so a uniform $\delta$ gives a grid pattern: entries read by two windows get twice
# as much. (That unevenness is one source of the checkerboard artefacts of strided
# convolutions.)

# %% alt="The input gradient dC/dx for delta = 1 everywhere at each stride: a heat map counting the windows that cover each input pixel."
size = 9 if QUICK else 15
image = np.zeros((1, 1, size, size))
kernel = np.ones((1, 1, 3, 3))
fig, axes = plt.subplots(1, 2, figsize=(7, 3.2))
for ax, stride in zip(axes, (1, 2)):
    layer, z = library_conv(image, kernel, np.zeros(1), stride, 0)
    dx = backend.to_numpy(layer.backward(np.ones_like(z)))
    dW, db, dx_yours = conv_backward(np.ones_like(z), image, kernel, stride, 0)
    ng.check(f"dx, uniform δ, stride {stride}", dx_yours, dx, rtol=TOL)
    ax.imshow(dx[0, 0], cmap="viridis")
    ax.set_title(f"∂C/∂x for δ = 1 everywhere, stride {stride}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
save(fig, "03_overlap_counts")

# %% [markdown]
# ## Summary
#
# * Forward: $z[n,o,y,x] = b[o] + \sum_{c,i,j} W[o,c,i,j]\, x_{pad}[n,c,ys+i,xs+j]$.
# * Backward: $\partial C/\partial W$ correlates the input with $\delta$; $\partial C/\partial b$
#   sums $\delta$; $\partial C/\partial x$ scatters $\delta W$ back to the windows, which for
#   stride 1 is the full correlation of $\delta$ with the kernel rotated by 180°.
# * `im2col` makes the convolution one matrix product; `col2im`, its adjoint, adds the
#   window gradients back — overlapping windows add up.
# * Pooling backward routes $\delta$ to the argmax (max) or spreads $\delta/k^2$ (mean).
#
# **Try it.** Change `stride, padding` in the `im2col` check to `1, 0`: everything still
# agrees. In `col2im`, replace `+=` by `=`: the adjointness check then fails for stride 1
# — windows overlap, and assignment keeps only the last one's contribution.
#
# **Open the library.** Open `nanograd_ad/layers.py`: it is your code — `Conv2D.forward` is
# pad → `im2col` → $z_2 = \mathrm{cols}_2 W_2^{T} + b$, and `Conv2D.backward` is the three
# gradients above, `db = delta.sum(axis=(0, 2, 3))` included. `nanograd_ad/fast/layers.py` is
# the same maths, faster (blocked, channels last, threaded), and `tests/test_fast_layers.py`
# proves it: forward, input error and every parameter gradient equal to the reference.
