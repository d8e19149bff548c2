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
# # Lesson 09 — The regularized ReLU and internal covariate shift
#
# *Internal covariate shift* is the name for the distribution of a layer's inputs changing
# as the layers below it train. Zhifeng Wang (*regularized ReLU against internal covariate
# shift*) locates one cause in the plain ReLU: a layer whose $n$ feature maps each look at
# overlapping windows of the same input re-extracts every input value many times, so the
# scale of the activations grows layer by layer. The remedy is a fixed, per-layer
# coefficient in front of the ReLU,
#
# $$f(z) = \max(0,\, r z), \qquad r = \frac{c}{s\,n\,m}, \qquad f'(z) = r\cdot 1[z > 0],$$
#
# read from the geometry of the layer that produces $z$:
#
# | symbol | meaning | Conv2D($C_{in}\to C_{out}$, $k\times k$) on $(C_{in}, H_{in}, W_{in})$ | Dense($D_{in}\to D_{out}$) |
# | --- | --- | --- | --- |
# | $c$ | values in one input image of the layer | $C_{in} H_{in} W_{in}$ | $D_{in}$ |
# | $m$ | filter size of one neuron | $C_{in} k^2$ | $D_{in}$ |
# | $s$ | neurons in one feature map | $H_{out} W_{out}$ | 1 |
# | $n$ | feature maps | $C_{out}$ | $D_{out}$ |
#
# $1/n$ undoes the $n$ maps extracting the same input; $c/(s\,m) = (c/m)/s$ — the neurons
# needed to cover the input once, over the neurons there are — undoes the overlap of their
# receptive fields. In this lesson you compute $r$ by hand, watch the activation scale with
# and without it, prove that at zero bias the regularized network is the plain one times
# $\prod_l r_l$, and derive the input factor that undoes that product (the paper multiplies
# its inputs by 10000). Time: about 35 minutes. Prerequisites: Lessons 01 and 03.

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
# `QUICK = True` uses 16 images of 16×16 (what the tests use); `QUICK = False` 64 of
# 32×32, the CIFAR size. `FIGURE_DIR` is a folder where figures are also saved as PNG
# files. `CHANNELS` are the widths of the convolutions and `PAPER_INIT` picks the paper's
# initial weights (both for the "Try it"). This cell is tagged `parameters`.

# %% tags=["parameters"]
QUICK = False
FIGURE_DIR = None
CHANNELS = (8, 8, 16, 16)
PAPER_INIT = False  # True: weights uniform in [−1, 1], as in the paper; False: PyTorch's default

# %%
import math
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

backend.set_default_dtype("float64")
SIZE = 16 if QUICK else 32
N = 16 if QUICK else 64
rng = np.random.default_rng(0)
images = rng.uniform(0, 1, (N, 3, SIZE, SIZE))  # stand-ins for CIFAR images scaled to [0, 1]


def save(fig, name):
    """Save a figure as FIGURE_DIR/name.png when FIGURE_DIR is set (the notebook shows it anyway)."""
    if FIGURE_DIR is not None:
        Path(FIGURE_DIR).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(FIGURE_DIR) / f"{name}.png", dpi=110, bbox_inches="tight")


# %% [markdown]
# ## 1. r by hand
#
# **Exercise 1.** Write `r_conv(C_in, H_in, W_in, C_out, k, stride, padding)` and
# `r_dense(D_in, D_out)`. For the convolution you need $H_{out} = \lfloor (H_{in} + 2p - k)/s
# \rfloor + 1$ (and the same for $W$).


# %% exercise="r_by_hand" nbgrader={"grade": false, "grade_id": "r_by_hand", "locked": false, "schema_version": 3, "solution": true, "task": false}
def r_conv(C_in, H_in, W_in, C_out, k, stride=1, padding=0):
    """r = c/(s·n·m) of a Conv2D(C_in → C_out, k×k) on a (C_in, H_in, W_in) input."""
    ### BEGIN SOLUTION
    H_out = (H_in + 2 * padding - k) // stride + 1
    W_out = (W_in + 2 * padding - k) // stride + 1
    c, m, s, n = C_in * H_in * W_in, C_in * k * k, H_out * W_out, C_out
    return c / (s * n * m)
    ### END SOLUTION


def r_dense(D_in, D_out):
    """r = c/(s·n·m) of a Dense(D_in → D_out)."""
    ### BEGIN SOLUTION
    return D_in / (1 * D_out * D_in)
    ### END SOLUTION


# %% check="r_by_hand" nbgrader={"grade": true, "grade_id": "check_r_by_hand", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(1, "r_by_hand"):
    geometries = [  # (C_in, H, W, C_out, k, stride, padding)
        (3, 32, 32, 16, 3, 1, 1),  # the module docstring's example: 3072 / (1024·16·27) = 1/144
        (3, 32, 32, 64, 11, 4, 5),  # AlexNet's first convolution
        (16, 15, 15, 32, 3, 2, 0),
        (3, 20, 28, 8, 3, 1, 1),  # not square: H ≠ W (an image 20 high, 28 wide) ...
        (5, 17, 9, 4, 3, 2, 0),  # ... and taller than wide, with a stride
    ]
    mine, library = [], []
    for C_in, H, W, C_out, k, stride, padding in geometries:
        net = ng.Sequential(ng.Conv2D(C_in, C_out, k, stride=stride, padding=padding), ng.RegularizedReLU())
        net.build((C_in, H, W))
        mine.append(r_conv(C_in, H, W, C_out, k, stride, padding))
        library.append(net.layers[1].r)
    ng.check("r_conv for the five geometries", mine, library, rtol=1e-12)
    dense = ng.Sequential(ng.Dense(100, 40), ng.RegularizedReLU())
    dense.build((100,))
    ng.check("r_dense(100, 40)", r_dense(100, 40), dense.layers[1].r, rtol=1e-12)
    ### BEGIN HIDDEN TESTS
    for hidden_geometry in [(2, 12, 7, 6, 5, 1, 2), (4, 31, 10, 3, 4, 3, 1), (1, 6, 40, 9, 3, 1, 0)]:
        c_in, h_in, w_in, c_out, k_size, step, pad = hidden_geometry
        hidden_net = ng.Sequential(
            ng.Conv2D(c_in, c_out, k_size, stride=step, padding=pad), ng.RegularizedReLU()
        )
        hidden_net.build((c_in, h_in, w_in))
        ng.check(f"r_conv{hidden_geometry}", r_conv(*hidden_geometry), hidden_net.layers[1].r, rtol=1e-12)
    hidden_dense = ng.Sequential(ng.Dense(7, 300), ng.RegularizedReLU())
    hidden_dense.build((7,))
    ng.check("r_dense(7, 300)", r_dense(7, 300), hidden_dense.layers[1].r, rtol=1e-12)
    ### END HIDDEN TESTS
    print("r of the three convolutions:", [f"1/{1 / r:.4g}" for r in library], "; dense:", dense.layers[1].r)

# %% [markdown]
# The library derives $r$ when the network is built (its `build` reads the layer below);
# `describe()` shows it. $r$ is never typed by hand, so changing the input size changes $r$:

# %%
print(net.describe())

# %% [markdown]
# ## 2. The activation scale, layer by layer
#
# Build the same convolutional stack twice from the same weights, with zero biases: once
# with ReLU, once with the regularized ReLU, and measure the mean $|a^l|$ after each
# activation. **Exercise 2**: write `mean_abs_after_activations(net, x)` — run the layers
# one by one (`layer(x)`) and, after each activation layer (`isinstance(layer,
# ng.Activation)`), record `np.abs(a).mean()`.


# %%
def stack(activation):
    """Four 3×3 convolutions (padding 1), a mean-pool after the second, zero biases."""
    ng.seed(0)
    layers, c_in = [], 3
    weights = ng.init.uniform(-1.0, 1.0) if PAPER_INIT else "torch"
    for i, c_out in enumerate(CHANNELS):
        layers += [ng.Conv2D(c_in, c_out, 3, padding=1, weight_init=weights, bias_init="zeros"), activation()]
        if i == 1:
            layers.append(ng.AvgPool2D(2))
        c_in = c_out
    layers += [ng.Flatten(), ng.Dense(c_in * (SIZE // 2) ** 2, 2, bias_init="zeros")]
    net = ng.Sequential(*layers)
    net.build(images.shape[1:])
    return net


plain, regularized = stack(ng.ReLU), stack(ng.RegularizedReLU)


# %% exercise="scales" nbgrader={"grade": false, "grade_id": "scales", "locked": false, "schema_version": 3, "solution": true, "task": false}
def mean_abs_after_activations(net, x):
    """[mean |a^l|] after every activation layer, bottom first."""
    ### BEGIN SOLUTION
    scales = []
    for layer in net.layers:
        x = layer(x)
        if isinstance(layer, ng.Activation):
            scales.append(float(np.abs(x).mean()))
    return scales
    ### END SOLUTION


# %% check="scales" nbgrader={"grade": true, "grade_id": "check_scales", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(2, "scales"):
    for name, net in (("plain", plain), ("regularized", regularized)):
        ng.check(
            f"mean |a| per layer, {name}",
            mean_abs_after_activations(net, images),
            [s["mean_abs"] for s in ng.activation_scales(net, images)],
            rtol=1e-10,
        )
    plain_scale = mean_abs_after_activations(plain, images)
    regularized_scale = mean_abs_after_activations(regularized, images)
    print("plain ReLU:       ", np.round(plain_scale, 4))
    print("regularized ReLU: ", [f"{v:.3g}" for v in regularized_scale])
    ### BEGIN HIDDEN TESTS
    for hidden_name, hidden_net in (("plain", plain), ("regularized", regularized)):  # another batch
        ng.check(
            f"mean |a| per layer, {hidden_name}, 3 images",
            mean_abs_after_activations(hidden_net, images[:3]),
            [s["mean_abs"] for s in ng.activation_scales(hidden_net, images[:3])],
            rtol=1e-10,
        )
    ### END HIDDEN TESTS

# %% alt="Mean absolute activation per layer with the plain ReLU and with the regularized ReLU."
fig, ax = plt.subplots(figsize=(5.5, 3.6))
depth = np.arange(1, len(CHANNELS) + 1)
ax.semilogy(depth, plain_scale, marker="o", label="ReLU")
ax.semilogy(depth, regularized_scale, marker="s", label="regularized ReLU")
ax.set(xlabel="activation layer", ylabel="mean |a| (log scale)", xticks=depth)
ax.set_title("Activation scale by depth, zero biases, same weights")
ax.legend()
save(fig, "09_activation_scale")

# %% [markdown]
# With PyTorch's default initialization (not variance-preserving for ReLU) the plain stack's
# scale changes by a modest factor per layer — here it shrinks by about 2×. With the
# paper's initial weights, uniform in $[-1, 1]$, it *grows* layer by layer instead, the
# effect the paper sets out to correct (set `PAPER_INIT = True`). The regularized ReLU
# shrinks the scale by roughly its $r_l \approx 1/100$ per layer in both cases: the
# coefficient *over*-corrects, and that is why the paper must magnify its input. By how
# much? Section 3 answers it exactly.
#
# ## 3. At zero bias: the plain network times $\prod_l r_l$
#
# With $r > 0$, $\max(0, rz) = r\max(0, z)$, and a convolution, mean-pool or dense layer
# **without bias** is linear: it passes a factor through unchanged. So every regularized
# layer just contributes its $r_l$ as a factor, and
#
# $$\text{net}_{\text{reg}}(x) = \Big(\prod_l r_l\Big)\,\text{net}_{\text{plain}}(x).$$
#
# **Exercise 3.** Write `product_of_r(net)`: the product of `layer.r` over every
# `ng.RegularizedReLU` in the network.


# %% exercise="product_of_r" nbgrader={"grade": false, "grade_id": "product_of_r", "locked": false, "schema_version": 3, "solution": true, "task": false}
def product_of_r(net):
    """Π_l r_l over the regularized ReLUs of net."""
    ### BEGIN SOLUTION
    return math.prod(layer.r for layer in net.layers if isinstance(layer, ng.RegularizedReLU))
    ### END SOLUTION


# %% check="product_of_r" nbgrader={"grade": true, "grade_id": "check_product_of_r", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(3, "product_of_r"):
    out_plain, out_regularized = plain(images), regularized(images)
    ng.check(
        "net_reg(x) against Π r · net_plain(x)",
        product_of_r(regularized) * out_plain,
        out_regularized,
        rtol=1e-10,
        atol=1e-300,
    )
    print(f"Π r = {product_of_r(regularized):.4g} = 1/{1 / product_of_r(regularized):.4g}")
    ### BEGIN HIDDEN TESTS
    # Another network: dense layers only, a plain ReLU between two regularized ones; and one with none.
    hidden_rng = np.random.default_rng(94)
    hidden_weights = [hidden_rng.standard_normal(shape) for shape in ((5, 6), (6, 4), (4, 3), (3, 2))]
    hidden_nets = {}
    for hidden_name, hidden_act in (("plain", ng.ReLU), ("regularized", ng.RegularizedReLU)):
        hidden_nets[hidden_name] = ng.Sequential(
            ng.Dense(5, 6, weight_init="zeros", bias_init="zeros"),
            hidden_act(),
            ng.Dense(6, 4, weight_init="zeros", bias_init="zeros"),
            ng.ReLU(),
            ng.Dense(4, 3, weight_init="zeros", bias_init="zeros"),
            hidden_act(),
            ng.Dense(3, 2, weight_init="zeros", bias_init="zeros"),
        )
        hidden_nets[hidden_name].build((5,))
        hidden_dense = [layer for layer in hidden_nets[hidden_name].layers if isinstance(layer, ng.Dense)]
        for layer, w in zip(hidden_dense, hidden_weights):
            layer.weight.data[...] = w
    hidden_x = hidden_rng.standard_normal((4, 5))
    ng.check(
        "dense net_reg(x) against Π r · net_plain(x)",
        product_of_r(hidden_nets["regularized"]) * hidden_nets["plain"](hidden_x),
        hidden_nets["regularized"](hidden_x),
        rtol=1e-10,
        atol=1e-300,
    )
    ng.check("Π r of a network without a regularized ReLU", product_of_r(hidden_nets["plain"]), 1.0)
    ### END HIDDEN TESTS

# %% [markdown]
# ## 4. The input factor
#
# A factor in front of the input passes through the same way: $\text{net}(\alpha x) =
# \alpha\,\text{net}(x)$ for $\alpha > 0$ (the network is *positively homogeneous*). To give
# the logits unit root-mean-square at initialization, take
#
# $$\alpha = \frac{1}{\text{RMS}(\text{net}(x))}, \qquad
#   \text{RMS}(z) = \sqrt{\tfrac{1}{NK}\textstyle\sum_{n,k} z_{nk}^2}.$$
#
# **Exercise 4.** Write `input_factor(net, x)` by this formula. The check compares it with
# `ng.suggest_input_scale`, which also handles networks with biases (no longer homogeneous)
# by bisection.


# %% exercise="input_factor" nbgrader={"grade": false, "grade_id": "input_factor", "locked": false, "schema_version": 3, "solution": true, "task": false}
def input_factor(net, x):
    """α = 1 / RMS(net(x)): the input factor that gives the logits unit RMS (zero biases)."""
    ### BEGIN SOLUTION
    logits = net(x)
    return float(1.0 / np.sqrt(np.mean(logits**2)))
    ### END SOLUTION


# %% check="input_factor" nbgrader={"grade": true, "grade_id": "check_input_factor", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(4, "input_factor"):
    alpha = input_factor(regularized, images)
    ng.check(
        "input_factor(regularized, images)", alpha, ng.suggest_input_scale(regularized, images), rtol=1e-9
    )
    ### BEGIN HIDDEN TESTS
    hidden_x = 3.0 * images[: len(images) // 2]  # other inputs: 3 × half the batch
    ng.check(
        "input_factor of other inputs",
        input_factor(regularized, hidden_x),
        ng.suggest_input_scale(regularized, hidden_x),
        rtol=1e-9,
    )
    ### END HIDDEN TESTS
    scaled_logits = regularized(alpha * images)
    print(f"α = {alpha:.4g}; RMS of the logits at α·x: {np.sqrt(np.mean(scaled_logits**2)):.6f}")
    print(f"compare 1/Π r = {1 / product_of_r(regularized):.4g}: α compensates the product of the r's")

# %% [markdown]
# In the library the factor is a layer, `ng.Scale(α)`, put first in the network; the `ics`
# experiment (`nanograd-ad reproduce ics`) does exactly this before training the three
# models of the paper from the same initial weights, and reports the best test accuracy
# under the paper's peak-accuracy protocol.
#
# ## Try it
#
# - Set `PAPER_INIT = True`: the plain ReLU's mean |a| now grows from layer to layer
#   (the paper's observation), the regularized one still shrinks, and every check passes.
# - Set `CHANNELS = (32, 32, 64, 64)`: every $r$ shrinks (larger $n$), and so does
#   $\prod_l r_l$; $\alpha$ grows by the same factor, and every check still passes.
# - Give the convolutions biases (`bias_init="torch"` in `stack`): section 3's check
#   fails — the network is no longer homogeneous — while `ng.suggest_input_scale` still
#   finds a factor (by bisection), and section 4's check then says by how much the
#   one-step formula misses.
