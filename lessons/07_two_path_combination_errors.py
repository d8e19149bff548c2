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
# # Lesson 07 — Two-path combination errors
#
# In Lesson 06 a PN layer used norm($d^l$) for *everything*: for its own weight gradient and
# for the error it passes down. Bu et al. (2026) separate the two. Every hidden layer has two
# errors (rows are samples):
#
# $$\begin{aligned}
# \text{local}\quad & e^l = (c^{l+1} W^{l+1\,T}) \odot d^l
#   && \to \partial C/\partial W^l = a^{l-1\,T} e^l,\ \ \partial C/\partial b^l = \textstyle\sum_{\text{batch}} e^l \\
# \text{carried}\quad & c^l = (c^{l+1} W^{l+1\,T}) \odot \text{norm}(d^l) && \text{at PN layers; } c^l = e^l \text{ elsewhere} \\
# \text{top}\quad & c^L = e^L = \delta^L .
# \end{aligned}$$
#
# The carried ("combination") error travels on through all the remaining layers; the local
# error makes only the layer's own gradient. Since RMS is one number per sample,
#
# $$c^l = \frac{e^l}{\text{RMS}(d^l) + \varepsilon}:$$
#
# the two paths differ only in whether a layer's own gradient sees its own normalization.
# You will write both recursions on the paper's 6-layer tanh network (PN layers 4 and 2, its
# blocks δ^6…δ^4 and δ^3…δ^2), check them against the library, and predict — before
# looking — which gradients differ from the single path. Time: about 30 minutes.
# Prerequisite: Lesson 06.

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
# a folder where figures are also saved as PNG files. This cell is tagged `parameters`.

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

backend.set_default_dtype("float64")
N = 8 if QUICK else 64
EPS = 1e-8
L = 6
PN = (2, 4)  # the paper's PN layers of its 6-layer network (Lesson 06)
rng = np.random.default_rng(0)
x = rng.standard_normal((N, 3))
y = rng.integers(0, 3, N)
loss = ng.SoftmaxCrossEntropy()


def save(fig, name):
    """Save a figure as FIGURE_DIR/name.png when FIGURE_DIR is set (the notebook shows it anyway)."""
    if FIGURE_DIR is not None:
        Path(FIGURE_DIR).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(FIGURE_DIR) / f"{name}.png", dpi=110, bbox_inches="tight")


def network(two_path):
    """The paper's 6-layer tanh network (width 4 here) with PN at layers 4 and 2."""
    ng.seed(0)
    layers = []
    sizes = [3, 4, 4, 4, 4, 4, 3]
    for l in range(L):
        layers.append(ng.Dense(sizes[l], sizes[l + 1], weight_init="lecun_normal"))
        if l < L - 1:
            layers.append(ng.Tanh())
    net = ng.Sequential(*layers)
    rule = ng.PseudoNormalize(period=2, start=2, two_path=two_path)
    net.add_feedback(rule)
    return net, rule


def run(net):
    """One backward pass; returns ∂C/∂x."""
    net.zero_grad()
    loss.forward(net(x), y)
    return net.backward(loss.backward())


two, two_rule = network(two_path=True)
dx_two = run(two)
one, one_rule = network(two_path=False)
dx_one = run(one)
print("PN layers (Sequential indices of the tanh layers):", two_rule.pn_layers)
W = [layer.weight.data for layer in two.layers[::2]]
b = [layer.bias.data for layer in two.layers[::2]]


def norm(d):
    """d / (RMS(d) + ε), one RMS per sample (Lesson 06)."""
    return d / (np.sqrt(np.mean(d**2, axis=1)) + EPS)[:, None]


# %% [markdown]
# **Exercise 1.** Write `two_path_errors(x, y)`: the forward pass, $\delta^L$, and the
# two-path recursion down to layer 1. Return three dicts keyed by the hidden layer number
# $l = 1..L-1$: `local` ($e^l$), `carried` ($c^l$), and `grads`, keyed $1..L$, with
# $\partial C/\partial W^l = a^{l-1\,T} e^l$ (for $l = L$: $a^{L-1\,T}\delta^L$). Use `W`, `b`,
# `norm` and `PN` from above.


# %% exercise="two_path" nbgrader={"grade": false, "grade_id": "two_path", "locked": false, "schema_version": 3, "solution": true, "task": false}
def two_path_errors(x, y):
    """(local e^l, carried c^l, ∂C/∂W^l) of the two-path PN recursion, by hand."""
    ### BEGIN SOLUTION
    a, zs = [x], []
    for l in range(L):
        z = a[-1] @ W[l] + b[l]
        zs.append(z)
        a.append(np.tanh(z) if l < L - 1 else z)
    p = np.exp(zs[-1] - zs[-1].max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    carried_above = (p - np.eye(3)[y]) / len(x)  # c^L = e^L = δ^L
    local, carried, grads = {}, {}, {L: a[L - 1].T @ carried_above}
    for l in range(L - 1, 0, -1):
        u = carried_above @ W[l].T  # c^{l+1} W^{l+1 T}
        d = 1 - a[l] ** 2  # tanh′(z^l)
        local[l] = u * d
        carried[l] = u * norm(d) if l in PN else local[l]
        grads[l] = a[l - 1].T @ local[l]
        carried_above = carried[l]
    return local, carried, grads
    ### END SOLUTION


# %% check="two_path" nbgrader={"grade": true, "grade_id": "check_two_path", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
with ng.checking(1, "two_path"):
    local, carried, grads = two_path_errors(x, y)
    for l in sorted(PN, reverse=True):  # from the top, the way the errors travel
        index = 2 * l - 1  # the tanh after weight layer l
        ng.check(f"local error e^{l}", local[l], two_rule.local_error[index], rtol=1e-10, atol=1e-15)
        ng.check(f"carried error c^{l}", carried[l], two_rule.carried_error[index], rtol=1e-10, atol=1e-15)
    for l in range(L, 0, -1):
        ng.check(
            f"∂C/∂W^{l} (two paths)", grads[l], two.layers[2 * (l - 1)].weight.grad, rtol=1e-10, atol=1e-15
        )
    print("your local and carried errors and every gradient equal the library's")
    ### BEGIN HIDDEN TESTS
    import copy

    # Five other samples (another batch size), through a copy of the library's two-path network.
    hidden_two, hidden_rule = copy.deepcopy((two, two_rule))
    hidden_x = np.random.default_rng(71).standard_normal((5, 3))
    hidden_y = np.array([2, 0, 1, 1, 2])
    hidden_two.zero_grad()
    hidden_loss = ng.SoftmaxCrossEntropy()
    hidden_loss.forward(hidden_two(hidden_x), hidden_y)
    hidden_two.backward(hidden_loss.backward())
    hidden_local, hidden_carried, hidden_grads = two_path_errors(hidden_x, hidden_y)
    for l in sorted(PN, reverse=True):
        index = 2 * l - 1
        ng.check(
            f"local error e^{l} of 5 other samples",
            hidden_local[l],
            hidden_rule.local_error[index],
            rtol=1e-10,
            atol=1e-15,
        )
        ng.check(
            f"carried error c^{l} of 5 other samples",
            hidden_carried[l],
            hidden_rule.carried_error[index],
            rtol=1e-10,
            atol=1e-15,
        )
    for l in range(L, 0, -1):
        ng.check(
            f"∂C/∂W^{l} of 5 other samples",
            hidden_grads[l],
            hidden_two.layers[2 * (l - 1)].weight.grad,
            rtol=1e-10,
            atol=1e-15,
        )
    ### END HIDDEN TESTS

# %% [markdown]
# **Exactly the scalar.** The carried error is the local one divided by one number per
# sample — check it on the library's own arrays, with the library's RMS:

# %%
for l in PN:
    index = 2 * l - 1
    d = 1 - two.layers[index].a ** 2
    scale = np.sqrt(np.mean(d**2, axis=1)) + EPS
    ng.check(
        f"c^{l} = e^{l} / (RMS(d^{l}) + ε)",
        two_rule.carried_error[index],
        two_rule.local_error[index] / scale[:, None],
        rtol=1e-15,
        atol=0.0,
    )

# %% [markdown]
# ## 2. Predict: which gradients differ from the single path?
#
# Compare with Lesson 06's single path, where $\delta^l = (\delta^{l+1} W^{l+1\,T}) \odot
# \text{norm}(d^l)$ is used for both jobs. Above a PN layer, both paths carry the same
# error. At a PN layer $l$ the error sent down is the same ($c^l = \delta^l$), so every
# layer below receives the same error again — and so does the input. Only one thing is
# different: the gradient made *at* the PN layer, from $e^l$ instead of $\delta^l$.
#
# **Exercise 2.** Set `differ` to the sorted list of weight layers $l$ (1..6) whose
# $\partial C/\partial W^l$ differ between the two networks, and `ratio` to the list, for
# those layers, of (two-path gradient RMS) / (single-path gradient RMS) — predict it from
# the scalar above before you compute anything (the RMS of a product with a per-sample
# scale is not exactly the scale's mean, so compute it from the gradients).

# %% exercise="predict" nbgrader={"grade": false, "grade_id": "predict", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
differ = sorted(PN)
ratio = [
    float(
        np.sqrt(np.mean(two.layers[2 * (l - 1)].weight.grad ** 2))
        / np.sqrt(np.mean(one.layers[2 * (l - 1)].weight.grad ** 2))
    )
    for l in differ
]
### END SOLUTION

# %% check="predict" nbgrader={"grade": true, "grade_id": "check_predict", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(2, "predict"):
    observed = [
        l
        for l in range(1, L + 1)
        if not np.allclose(
            two.layers[2 * (l - 1)].weight.grad, one.layers[2 * (l - 1)].weight.grad, rtol=1e-12
        )
    ]
    ng.check("differ", differ, observed)
    rms_of = lambda net, l: np.sqrt(np.mean(net.layers[2 * (l - 1)].weight.grad ** 2))  # noqa: E731
    ng.check("ratio", ratio, [rms_of(two, l) / rms_of(one, l) for l in observed], rtol=1e-10)
    ng.check("∂C/∂x (the input receives the carried error)", dx_two, dx_one, rtol=1e-12, atol=1e-18)
    print("gradients that differ:", differ, "— two-path / single-path RMS:", np.round(ratio, 4))

# %% alt="Gradients per layer of single-path and two-path pseudo-normalization: the two differ only at the PN layers' own gradients."
fig, ax = plt.subplots(figsize=(5.8, 3.6))
depth = np.arange(1, L + 1)
ax.semilogy(depth, [rms_of(one, l) for l in depth], marker="o", label="single path")
ax.semilogy(depth, [rms_of(two, l) for l in depth], marker="s", ls="--", label="two paths")
for l in PN:
    ax.axvline(l, color="grey", lw=0.8, ls=":")
ax.set(xlabel="weight layer l (dotted: PN layers)", ylabel="RMS of ∂C/∂W^l", xticks=depth)
ax.set_title("The paths differ only at the PN layers' own gradients")
ax.legend()
save(fig, "07_two_paths")

# %% [markdown]
# Why would one want this? A PN layer's derivative is small where its units saturate; its
# own gradient then stays the honest, small one (the local error), while the layers below
# are still fed a normalized error that has not shrunk. In the library the choice is one
# argument, `ng.PseudoNormalize(two_path=True)`, and `rule.local_error` / `rule.carried_error`
# keep the last backward's arrays to look at.
#
# ## Try it
#
# - Change `PN` to `(1, 3, 5)` *and* build the rule with `start=1` in `network`: your
#   recursion and the library's agree again, and `differ` becomes `[1, 3, 5]`.
