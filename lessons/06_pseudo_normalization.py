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
# # Lesson 06 — Pseudo-normalization, single path
#
# Lesson 04 showed the error shrinking as it travels down a deep tanh or sigmoid network:
# every layer multiplies it by $W^{l+1\,T}$ and by the derivative $d^l$, whose entries are
# below 1. Bu, Jiang, Lu and Zhang (*Pseudo-normalizing derivatives*, Entropy 2026) rescale
# the derivative instead of the weights. At chosen layers the recursion uses
#
# $$\text{RMS}(d) = \sqrt{\tfrac{1}{m}\textstyle\sum_i d_i^2}, \qquad
#   \text{norm}(d) = \frac{d}{\text{RMS}(d) + \varepsilon},$$
#
# "pseudo" because the mean is not subtracted; $m$ is the number of outputs of the layer,
# and we take one RMS **per sample** (our reading of the paper; the library also offers one
# per batch). The single-path recursion (rows are samples) is
#
# $$\delta^l = (\delta^{l+1} W^{l+1\,T}) \odot \text{norm}(d^l)\ \ \text{at PN layers},\qquad
#   \delta^l = (\delta^{l+1} W^{l+1\,T}) \odot d^l\ \ \text{elsewhere},\qquad
#   \frac{\partial C}{\partial W^l} = a^{l-1\,T}\delta^l .$$
#
# **Why the RMS.** For independent zero-mean factors the variance of a product is the product
# of the variances; scaling one factor to unit size keeps the product from shrinking. A
# derivative is positive, not zero-mean, but multiplying it by random signs makes it so, with
# variance $E[d^2] = \text{RMS}(d)^2$ — the RMS, not the standard deviation, is its scale.
#
# **Which layers.** Not all: the paper normalizes every other layer, counting from the top.
# Its 6-layer example's first feedback path covers "δ^(6) to δ^(4) or δ^(3) to δ^(2)" —
# blocks [6, 5, 4] and [3, 2] — so the normalized derivatives are those of layers 4 and 2,
# i.e. $L-2, L-4, \dots$ The output layer is never normalized. Time: about 40 minutes.
# Prerequisites: Lessons 01 and 04.

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
# `QUICK = True` uses a batch of 8 (what the tests use); `QUICK = False` 64. `FIGURE_DIR` is
# a folder where figures are also saved as PNG files. `DEPTH` is the number of weight layers
# of the deep network in section 4 (for the "Try it"). This cell is tagged `parameters`.

# %% tags=["parameters"]
QUICK = False
FIGURE_DIR = None
DEPTH = 20

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
from nanograd_ad.pseudo_normalization import pseudo_normalize, rms

backend.set_default_dtype("float64")
N = 8 if QUICK else 64
EPS = 1e-8
rng = np.random.default_rng(0)
x = rng.standard_normal((N, 3))
y = rng.integers(0, 3, N)
loss = ng.SoftmaxCrossEntropy()


def save(fig, name):
    """Save a figure as FIGURE_DIR/name.png when FIGURE_DIR is set (the notebook shows it anyway)."""
    if FIGURE_DIR is not None:
        Path(FIGURE_DIR).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(FIGURE_DIR) / f"{name}.png", dpi=110, bbox_inches="tight")


def tanh_mlp(depth, width=4, inputs=3, classes=3, seed=0):
    """depth Dense layers, tanh between them, LeCun normal weights (the paper's init)."""
    ng.seed(seed)
    layers = []
    sizes = [inputs] + [width] * (depth - 1) + [classes]
    for l in range(depth):
        layers.append(ng.Dense(sizes[l], sizes[l + 1], weight_init="lecun_normal"))
        if l < depth - 1:
            layers.append(ng.Tanh())
    return ng.Sequential(*layers)


# %% [markdown]
# ## 1. RMS and norm(d)
#
# **Exercise 1.** For a derivative array `d` of shape (N, m), write `rms_per_sample(d)` →
# shape (N,), and `norm(d, eps)` = d / (RMS + ε) with each sample's row divided by its own RMS.


# %% exercise="rms_norm" nbgrader={"grade": false, "grade_id": "rms_norm", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rms_per_sample(d):
    """RMS(d) = sqrt((1/m) Σ_i d_i²) for each row: (N, m) → (N,)."""
    ### BEGIN SOLUTION
    return np.sqrt(np.mean(d**2, axis=1))
    ### END SOLUTION


def norm(d, eps=EPS):
    """d / (RMS(d) + ε), row by row: (N, m) → (N, m)."""
    ### BEGIN SOLUTION
    return d / (rms_per_sample(d) + eps)[:, None]
    ### END SOLUTION


# %% check="rms_norm" nbgrader={"grade": true, "grade_id": "check_rms_norm", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(1, "rms_norm"):
    d = 1 - np.tanh(rng.standard_normal((N, 5)) * 2) ** 2  # a tanh derivative: entries in (0, 1]
    ng.check("rms_per_sample(d)", rms_per_sample(d), rms(d), rtol=1e-12)
    ng.check("norm(d)", norm(d), pseudo_normalize(d, eps=EPS), rtol=1e-12)
    ng.check("RMS(norm(d))", rms_per_sample(norm(d)), np.ones(N), rtol=1e-6)  # 1 up to ε/RMS
    ### BEGIN HIDDEN TESTS
    hidden_d = np.vstack(
        [np.zeros(4), np.full(4, 0.5), np.random.default_rng(61).random(4)]
    )  # a zero row: ε keeps it finite
    ng.check("rms_per_sample of 3 other samples", rms_per_sample(hidden_d), rms(hidden_d), rtol=1e-12)
    ng.check("norm of 3 other samples", norm(hidden_d), pseudo_normalize(hidden_d, eps=EPS), rtol=1e-12)
    ### END HIDDEN TESTS

# %% [markdown]
# ## 2. Which layers are normalized
#
# Number the weight layers $1..L$ from the input; hidden layer $l$ is the tanh after weight
# layer $l$ ($l = 1..L-1$). With `start` $= 2$ and `period` $= 2$ the PN layers are
# $L-2, L-4, \dots \ge 1$.
#
# **Exercise 2.** Write `pn_layers(L, start=2, period=2)`: the PN hidden layers, ascending.


# %% exercise="pn_layers" nbgrader={"grade": false, "grade_id": "pn_layers", "locked": false, "schema_version": 3, "solution": true, "task": false}
def pn_layers(L, start=2, period=2):
    """Hidden layers L − start, L − start − period, … ≥ 1, in ascending order."""
    ### BEGIN SOLUTION
    return sorted(range(L - start, 0, -period))
    ### END SOLUTION


# %% check="pn_layers" nbgrader={"grade": true, "grade_id": "check_pn_layers", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(2, "pn_layers"):

    def library_pn_layers(L, start=2, period=2):
        """The hidden layers the library's rule normalizes, as numbers 1..L−1."""
        rule = ng.PseudoNormalize(period=period, start=start)
        tanh_mlp(L).add_feedback(rule)
        return [(index + 1) // 2 for index in rule.pn_layers]  # Sequential index 2l − 1 ↔ hidden layer l

    ng.check("pn_layers(6)", pn_layers(6), library_pn_layers(6))
    ng.check("pn_layers(7)", pn_layers(7), library_pn_layers(7))
    ng.check("pn_layers(10, start=1, period=3)", pn_layers(10, 1, 3), library_pn_layers(10, 1, 3))
    print("the paper's 6-layer network normalizes hidden layers", pn_layers(6))
    ### BEGIN HIDDEN TESTS
    for hidden_args in [(3,), (12, 3, 4), (9, 1, 1)]:
        ng.check(f"pn_layers{hidden_args}", pn_layers(*hidden_args), library_pn_layers(*hidden_args))
    ### END HIDDEN TESTS

# %% [markdown]
# ## 3. The PN recursion by hand
#
# **Exercise 3.** For the paper's 6-layer tanh network, write `pn_gradients(net, x, y)`:
# the forward pass (keep every $z^l$ and $a^l$), $\delta^L = (\text{softmax}(z^L) - Y)/N$
# (the fused loss's error; $Y$ one-hot), the single-path recursion with norm at
# `pn_layers(L)`, and return the list of $\partial C/\partial W^l$, $l = 1..L$. The weights are
# `net.layers[2 * (l - 1)].weight.data` and the biases `.bias.data`.


# %% exercise="pn_recursion" nbgrader={"grade": false, "grade_id": "pn_recursion", "locked": false, "schema_version": 3, "solution": true, "task": false}
def pn_gradients(net, x, y, start=2, period=2):
    """[∂C/∂W^1, …, ∂C/∂W^L] of the single-path PN recursion, by hand."""
    W = [layer.weight.data for layer in net.layers[::2]]
    b = [layer.bias.data for layer in net.layers[::2]]
    L = len(W)
    ### BEGIN SOLUTION
    a, zs = [x], []
    for l in range(L):
        z = a[-1] @ W[l] + b[l]
        zs.append(z)
        a.append(np.tanh(z) if l < L - 1 else z)
    p = np.exp(zs[-1] - zs[-1].max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    delta = (p - np.eye(p.shape[1])[y]) / len(x)
    pn = set(pn_layers(L, start, period))
    grads = [None] * L
    for l in range(L, 0, -1):  # weight layer l is W[l − 1]
        grads[l - 1] = a[l - 1].T @ delta
        if l > 1:
            d = 1 - a[l - 1] ** 2  # derivative of hidden layer l − 1
            delta = (delta @ W[l - 1].T) * (norm(d) if l - 1 in pn else d)
    return grads
    ### END SOLUTION


# %% check="pn_recursion" nbgrader={"grade": true, "grade_id": "check_pn_recursion", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
with ng.checking(3, "pn_recursion"):
    net = tanh_mlp(6)
    net.add_feedback(ng.PseudoNormalize(period=2, start=2))
    net.zero_grad()
    loss.forward(net(x), y)
    net.backward(loss.backward())
    library_grads = [layer.weight.grad for layer in net.layers[::2]]
    mine = pn_gradients(net, x, y)
    for l in range(6, 0, -1):
        ng.check(f"∂C/∂W^{l} with PN", mine[l - 1], library_grads[l - 1], rtol=1e-10, atol=1e-14)
    print("hand PN gradients equal the library's for every layer")
    ### BEGIN HIDDEN TESTS
    hidden_net = tanh_mlp(7)  # another depth, start and period, another batch
    hidden_net.add_feedback(ng.PseudoNormalize(period=3, start=1))
    hidden_net.zero_grad()
    loss.forward(hidden_net(x[:5]), y[:5])
    hidden_net.backward(loss.backward())
    hidden_mine = pn_gradients(hidden_net, x[:5], y[:5], start=1, period=3)
    for l in range(7, 0, -1):
        ng.check(
            f"∂C/∂W^{l} with PN every 3rd layer from 1, depth 7",
            hidden_mine[l - 1],
            hidden_net.layers[2 * (l - 1)].weight.grad,
            rtol=1e-10,
            atol=1e-14,
        )
    ### END HIDDEN TESTS

# %% [markdown]
# ## 4. How much the first layer gains
#
# Because RMS is one number per sample, it commutes with everything below: the matrix
# products act row by row, and the other derivatives multiply entrywise. So below the PN
# layers, each sample's error with PN is its plain error divided by the product of that
# sample's scales,
#
# $$\delta^1_{\text{PN}}[n] = \frac{\delta^1_{\text{plain}}[n]}{\prod_{k \in \text{PN}} (\text{RMS}(d^k[n]) + \varepsilon)} .$$
#
# **Exercise 4.** Write `growth(ds)`: given the list of the PN layers' derivative arrays
# (each (N, m)), return the per-sample factor $\prod_k 1/(\text{RMS}(d^k) + \varepsilon)$, shape (N,).


# %% exercise="growth" nbgrader={"grade": false, "grade_id": "growth", "locked": false, "schema_version": 3, "solution": true, "task": false}
def growth(ds):
    """Π_k 1 / (RMS(d^k) + ε) per sample: a list of (N, m) arrays → (N,)."""
    ### BEGIN SOLUTION
    factor = np.ones(len(ds[0]))
    for d in ds:
        factor = factor / (rms_per_sample(d) + EPS)
    return factor
    ### END SOLUTION


# %% check="growth" nbgrader={"grade": true, "grade_id": "check_growth", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(4, "growth"):
    deep_plain, deep_pn = tanh_mlp(DEPTH), tanh_mlp(DEPTH)
    rule = ng.PseudoNormalize(period=2, start=2)
    deep_pn.add_feedback(rule)
    deltas = {}
    for name, model in (("plain", deep_plain), ("pn", deep_pn)):
        model.zero_grad()
        loss.forward(model(x), y)
        deltas[name] = model.backward(loss.backward())  # ∂C/∂x = δ¹ W¹ᵀ: scaled like δ¹
    pn_derivatives = [1 - deep_pn.layers[i].a ** 2 for i in rule.pn_layers]
    ng.check(
        "∂C/∂x with PN against plain × growth",
        deltas["pn"],
        deltas["plain"] * growth(pn_derivatives)[:, None],
        rtol=1e-9,
        atol=1e-300,
    )
    first_plain = float(np.sqrt(np.mean(deep_plain.layers[0].weight.grad ** 2)))
    first_pn = float(np.sqrt(np.mean(deep_pn.layers[0].weight.grad ** 2)))
    print(
        f"depth {DEPTH}: RMS of ∂C/∂W¹ plain {first_plain:.3e}, PN {first_pn:.3e} ({first_pn / first_plain:.3g}×)"
    )
    print(
        f"per-sample growth factors: min {growth(pn_derivatives).min():.3g}, max {growth(pn_derivatives).max():.3g}"
    )
    ### BEGIN HIDDEN TESTS
    # One sample; then two samples, PN layers of widths 2 and 3, sample 2's first derivative row all 0
    # (where only ε keeps the factor finite).
    ng.check("growth of one PN layer, one sample", growth([np.array([[0.5, -0.5]])]), [1 / (0.5 + EPS)])
    hidden_ds = [np.array([[3.0, 4.0], [0.0, 0.0]]), np.array([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])]
    ng.check(
        "growth of two samples, widths 2 and 3, one derivative row all 0",
        growth(hidden_ds),
        [1 / ((math.sqrt(12.5) + EPS) * (1 + EPS)), 1 / (EPS * (2 + EPS))],
        rtol=1e-12,
    )
    ### END HIDDEN TESTS

# %% [markdown]
# ## 5. Why not every layer
#
# Normalizing one factor of a product to unit scale keeps the product from *shrinking*; it
# does nothing to keep it from *growing*. The entries of norm(d) have RMS 1, so roughly a
# Gaussian's share of them exceed 1 in size — $P(|X| > 1) = \operatorname{erfc}(1/\sqrt2)
# \approx 31.7\,\%$ — and a chain of such factors multiplies up. The paper normalizes every
# other layer, letting the plain layers between pull the scale back. Compare the δ RMS by
# depth for none, every other and every layer:

# %% alt="RMS of delta per layer without and with pseudo-normalization, the normalized network keeping it level."
print(f"P(|X| > 1) for a standard Gaussian: {math.erfc(1 / math.sqrt(2)):.4f}")
profiles = {}
for label, rule_args in (("plain", None), ("PN every other layer", (2, 2)), ("PN every layer", (1, 1))):
    model = tanh_mlp(DEPTH)
    if rule_args is not None:
        model.add_feedback(ng.PseudoNormalize(period=rule_args[0], start=rule_args[1]))
    flow = ng.GradientFlow()
    model.add_feedback(flow)
    model.zero_grad()
    loss.forward(model(x), y)
    model.backward(loss.backward())
    depths, values = flow.profile("delta")
    profiles[label] = (depths, values)
fig, ax = plt.subplots(figsize=(6, 3.8))
for label, (depths, values) in profiles.items():
    ax.semilogy(depths, values, marker="o", ms=3, label=label)
ax.set(xlabel="layer (from the input)", ylabel="RMS of δ")
ax.set_title(f"{DEPTH}-layer tanh network at initialization")
ax.legend(fontsize=8)
save(fig, "06_delta_by_depth")
bottom = {label: values[0] for label, (_, values) in profiles.items()}
print({label: f"{v:.3e}" for label, v in bottom.items()})
assert bottom["PN every layer"] > bottom["PN every other layer"] > bottom["plain"]

# %% [markdown]
# At initialization of this narrow network, normalizing every layer already gives the
# bottom layer the largest error of the three, and nothing pulls its scale back: in
# training such errors keep growing (the `pn-depth` experiment, `nanograd-ad reproduce
# pn-depth`, records PN gradients exploding at depth ≥ 20 with a larger learning rate even
# with every other layer normalized).
#
# In the library all of this is one feedback rule, `ng.PseudoNormalize(period=2, start=2)`,
# added to any network with `net.add_feedback(...)`; no layer changes for it. Lesson 07 adds
# the paper's second path: a layer's own gradient that does *not* see its own normalization.
#
# ## Try it
#
# - Set `DEPTH = 40`: the plain network's first-layer gradient shrinks by orders of
#   magnitude more, PN's much less.
# - In section 2, `pn_layers(6, start=1)` gives the earlier reading (layers 5, 3, 1); run
#   section 3's check with `start=1` in both the rule and your function — it still agrees.
