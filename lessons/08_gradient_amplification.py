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
# # Lesson 08 — Intelligent gradient amplification
#
# When the gradients of the lower layers are small, one remedy is to make them bigger on
# purpose. Basodi, Pusuluri, Xiao and Pan (*Intelligent gradient amplification for deep
# neural networks*) multiply the gradient of chosen layers by a factor `amp` (eq. 2):
#
# $$\nabla J_{\text{amp}} = \text{amp}\cdot\nabla J, \qquad
#   W \leftarrow W - \eta\,\text{amp}\,\nabla J = W - \eta_{\text{amp}}\,\nabla J,
#   \quad \eta_{\text{amp}} = \text{amp}\cdot\eta \quad\text{(eq. 3)},$$
#
# so amplifying a layer *is* giving it a larger learning rate. The interesting part is
# **which** layers. Over one analysis epoch of $m$ iterations $j$, for layer $l$ with $n$
# weights $i$, the paper measures how consistently the gradients point one way:
#
# $$G_l = \frac{\left|\sum_i \sum_j g_{lij}\right|}{\sum_i\sum_j |g_{lij}|}\ \text{(eq. 4)},
#   \qquad
#   G'_l = \frac1n \sum_i \frac{\left|\sum_j g_{lij}\right|}{\sum_j |g_{lij}|}\ \text{(eq. 7)},$$
#
# both in $[0, 1]$ (the absolute value of the sum is our reading of the text: it is what
# $0 \le G \le 1$ in eq. 5 needs). $G = 1$ when every gradient of the layer had one sign all
# epoch; $G \approx 0$ when they cancelled. The measures are then standardized across the
# layers, $\hat G_l = (G_l - \operatorname{mean}_l G)/\operatorname{std}_l G$ (eq. 6), and
# Algorithm 1 amplifies layer $l$ when $\hat G_l > \text{threshold}$ (case 1) or when
# $|\hat G_l| > \text{threshold}$ (case 2).
#
# You will record the gradients of one epoch, compute $G$, $G'$ and $\hat G$ by hand, select
# layers by both cases, and show that amplifying by 2 is doubling the learning rate for one
# SGD step — then compare the two *scopes* of amplification. Time: about 40 minutes.
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
# `QUICK = True` records an epoch of 8 mini-batches (what the tests use); `QUICK = False`
# one of 32. `FIGURE_DIR` is a folder where figures are also saved as PNG files. `THRESHOLD`
# is Algorithm 1's threshold (the paper sweeps 0.7–2.5) and `FACTOR` the amplification, for
# the "Try it". This cell is tagged `parameters`.

# %% tags=["parameters"]
QUICK = False
FIGURE_DIR = None
THRESHOLD = 0.7
FACTOR = 2.0

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
from nanograd_ad.amplify import select_layers

backend.set_default_dtype("float64")  # hand computations and the library's agree to ~1e-15
BATCHES = 8 if QUICK else 32
BATCH_SIZE = 32
LR = 0.1


def save(fig, name):
    """Save a figure as FIGURE_DIR/name.png when FIGURE_DIR is set (the notebook shows it anyway)."""
    if FIGURE_DIR is not None:
        Path(FIGURE_DIR).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(FIGURE_DIR) / f"{name}.png", dpi=110, bbox_inches="tight")


# a 3-class problem: 10 Gaussian inputs, the class is the largest of three random projections
rng = np.random.default_rng(0)
x_all = rng.standard_normal((BATCHES * BATCH_SIZE, 10))
y_all = np.argmax(x_all @ rng.standard_normal((10, 3)), axis=1)


def build():
    """A 10-16-16-16-3 tanh network, the same weights every call (seed 0)."""
    ng.seed(0)
    return ng.Sequential(
        ng.Dense(10, 16), ng.Tanh(), ng.Dense(16, 16), ng.Tanh(), ng.Dense(16, 16), ng.Tanh(),
        ng.Dense(16, 3),
    )  # fmt: skip


loss = ng.SoftmaxCrossEntropy()

# %% [markdown]
# ## 1. One analysis epoch, recorded two ways
#
# We train one epoch with SGD and keep every weight gradient $g_{lj}$ of every iteration
# $j$ in a list (fine for a small network; the library never does this). Beside it,
# `ng.GradientStatistics` — a feedback rule that reads each layer's gradient right after
# its backward — keeps only the two sums per weight, $\sum_j g$ and $\sum_j |g|$:
# $O(\text{params})$ memory, whatever $m$ is.

# %%
net = build()
stats = ng.GradientStatistics()
net.add_feedback(stats)
opt = ng.SGD(net.parameters(), lr=LR)
layers = stats.layers  # the layers with a weight: 0, 2, 4, 6
recorded = {l: [] for l in layers}
stats.start()
for j in range(BATCHES):
    rows = slice(j * BATCH_SIZE, (j + 1) * BATCH_SIZE)
    opt.zero_grad()
    loss.forward(net(x_all[rows]), y_all[rows])
    net.backward(loss.backward())
    for l in layers:
        recorded[l].append(net.layers[l].weight.grad.copy())
    opt.step()
stats.stop()
print("layers:", layers, "— iterations recorded:", {l: len(g) for l, g in recorded.items()})

# %% [markdown]
# **Exercise 1.** Write `G_of(grads)` and `G_prime_of(grads)`: `grads` is the list of one
# layer's gradient arrays over the epoch ($m$ arrays of the weight's shape). Sum over the
# iterations first, then apply eq. 4 (all weights pooled) and eq. 7 (per weight, then the
# mean over the $n$ weights; a weight whose gradients were all 0 counts 0).


# %% exercise="measures" nbgrader={"grade": false, "grade_id": "measures", "locked": false, "schema_version": 3, "solution": true, "task": false}
def G_of(grads):
    """G = |Σ_i Σ_j g_ij| / Σ_i Σ_j |g_ij| (eq. 4); 0 when the denominator is 0."""
    ### BEGIN SOLUTION
    g = np.stack(grads)
    denominator = np.abs(g).sum()
    return float(np.abs(g.sum()) / denominator) if denominator > 0 else 0.0
    ### END SOLUTION


def G_prime_of(grads):
    """G′ = (1/n) Σ_i |Σ_j g_ij| / Σ_j |g_ij| (eq. 7); weights with Σ_j |g_ij| = 0 count 0."""
    ### BEGIN SOLUTION
    g = np.stack(grads)
    total, total_abs = g.sum(axis=0), np.abs(g).sum(axis=0)
    ratio = np.where(total_abs > 0, np.abs(total) / np.where(total_abs > 0, total_abs, 1), 0.0)
    return float(ratio.mean())
    ### END SOLUTION


# %% check="measures" nbgrader={"grade": true, "grade_id": "check_measures", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(1, "measures"):
    G_lib, G_prime_lib = stats.G(), stats.G_prime()
    ng.check("G per layer", [G_of(recorded[l]) for l in layers], [G_lib[l] for l in layers], rtol=1e-10)
    ng.check(
        "G′ per layer",
        [G_prime_of(recorded[l]) for l in layers],
        [G_prime_lib[l] for l in layers],
        rtol=1e-10,
    )
    for l in layers:
        print(f"layer {l}: G = {G_lib[l]:.4f}, G′ = {G_prime_lib[l]:.4f}")
    ### BEGIN HIDDEN TESTS
    # By hand: two iterations of a 1×3 weight; sums [2, 0, 0], sums of |g| [2, 2, 0] (the third
    # weight never received a gradient: it counts 0 in G′'s mean over all n = 3 weights).
    hidden_grads = [np.array([[1.0, -1.0, 0.0]]), np.array([[1.0, 1.0, 0.0]])]
    ng.check("G of a hand-computed case", G_of(hidden_grads), 0.5)
    ng.check("G′ of a hand-computed case, one weight never reached", G_prime_of(hidden_grads), 1 / 3)
    ng.check("G of all-zero gradients", G_of([np.zeros((2, 2))] * 3), 0.0)
    ng.check("G′ of all-zero gradients", G_prime_of([np.zeros((2, 2))] * 3), 0.0)
    ### END HIDDEN TESTS

# %% [markdown]
# The output layer's $G$ is 0 (to rounding), always: the softmax + cross-entropy error
# $\delta^L = (p - y)/N$ sums to zero over the classes in every row, so the sum over all of
# that layer's weight gradients, $\sum_{k,c} a_k\,\delta_c = \sum_k a_k \sum_c \delta_c$, is 0.
#
# Two properties worth seeing with your own functions. Both measures are **ratios**, so
# multiplying a layer's gradients by any $c \ne 0$ changes nothing — which is why the
# library may measure a layer that is already being amplified. And $G \le G'$: pooling
# all weights before taking $|\cdot|$ lets weights of opposite drift cancel, taking it per
# weight does not (the triangle inequality, weight by weight).

# %%
for l in layers:
    scaled = [-3.0 * g for g in recorded[l]]
    ng.check(f"G of −3 × layer {l}'s gradients", G_of(scaled), G_of(recorded[l]), rtol=1e-12)
    assert G_of(recorded[l]) <= G_prime_of(recorded[l]) + 1e-12

# %% [markdown]
# **Exercise 2.** Standardize across the layers (eq. 6): `standardize_by_hand(values)` takes
# the list $[G_l]$ and returns $[\hat G_l]$, using the *population* standard deviation
# (divide by the number of layers; our reading — the paper does not say).


# %% exercise="standardize" nbgrader={"grade": false, "grade_id": "standardize", "locked": false, "schema_version": 3, "solution": true, "task": false}
def standardize_by_hand(values):
    """Ĝ_l = (G_l − mean G) / std G, population std; all 0 when std is 0."""
    ### BEGIN SOLUTION
    values = np.asarray(values, dtype=float)
    std = values.std()
    return np.zeros_like(values) if std == 0 else (values - values.mean()) / std
    ### END SOLUTION


# %% check="standardize" nbgrader={"grade": true, "grade_id": "check_standardize", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(2, "standardize"):
    G_hat_lib = stats.normalized("G")
    G_values = [G_lib[l] for l in layers]
    ng.check("Ĝ per layer", standardize_by_hand(G_values), [G_hat_lib[l] for l in layers], rtol=1e-10)
    ng.check("Ĝ of equal values", standardize_by_hand([0.3, 0.3, 0.3]), [0.0, 0.0, 0.0])
    ### BEGIN HIDDEN TESTS
    ng.check(
        "Ĝ of [1, 2, 3, 4]",
        standardize_by_hand([1.0, 2.0, 3.0, 4.0]),
        np.array([-3.0, -1.0, 1.0, 3.0]) / np.sqrt(5.0),
    )  # population std √1.25
    ng.check("Ĝ of one value", standardize_by_hand([0.7]), [0.0])
    ### END HIDDEN TESTS

# %% [markdown]
# **Exercise 3.** Select the layers by Algorithm 1 at `THRESHOLD`: `case1` (Ĝ above the
# threshold) and `case2` (|Ĝ| above it), as sorted lists of layer indices, from
# `G_hat = {layer: Ĝ}`.

# %% exercise="select" nbgrader={"grade": false, "grade_id": "select", "locked": false, "schema_version": 3, "solution": true, "task": false}
G_hat = dict(zip(layers, standardize_by_hand(G_values)))
### BEGIN SOLUTION
case1 = sorted(l for l, value in G_hat.items() if value > THRESHOLD)
case2 = sorted(l for l, value in G_hat.items() if abs(value) > THRESHOLD)
### END SOLUTION

# %% check="select" nbgrader={"grade": true, "grade_id": "check_select", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(3, "select"):
    ng.check("case1", case1, select_layers(G_hat_lib, THRESHOLD, case=1))
    ng.check("case2", case2, select_layers(G_hat_lib, THRESHOLD, case=2))
    print(f"threshold {THRESHOLD}: case 1 amplifies {case1}, case 2 amplifies {case2}")

# %% alt="Gradient directionality G per layer from one recorded epoch, and the standardized G-hat with dashed lines at plus and minus the threshold."
fig, (ax_g, ax_hat) = plt.subplots(1, 2, figsize=(9, 3.4))
positions = np.arange(len(layers))
ax_g.bar(positions - 0.2, G_values, 0.4, label="G (eq. 4)")
ax_g.bar(positions + 0.2, [G_prime_lib[l] for l in layers], 0.4, label="G′ (eq. 7)")
ax_g.set(xticks=positions, xticklabels=[f"layer {l}" for l in layers], ylabel="directionality", ylim=(0, 1))
ax_g.legend(fontsize=8)
ax_g.set_title("one epoch's gradient directionality")
ax_hat.bar(positions, [G_hat_lib[l] for l in layers], color="C2")
for sign in (1, -1):
    ax_hat.axhline(sign * THRESHOLD, color="grey", ls="--", lw=1)
ax_hat.set(xticks=positions, xticklabels=[f"layer {l}" for l in layers], ylabel="Ĝ (eq. 6)")
ax_hat.set_title(f"standardized; dashed: ±threshold {THRESHOLD}")
fig.tight_layout()
save(fig, "08_directionality")

# %% [markdown]
# ## 2. Amplifying by 2 is doubling the learning rate — for one step
#
# `ng.Amplify(factor, selected=[...])` is a feedback rule: it multiplies the error
# entering a selected layer by the factor (so its $\partial C/\partial W = a^T(\text{amp}\,\delta)$
# is amp times larger) and, in the default `scope="weights"`, divides the error that layer
# passes down again, so the layers below see the plain error. Take one SGD step with and
# without it, from the same weights and batch.
#
# **Exercise 4.** Write `amplified_step(W, grad, lr, factor)`: the weights after one SGD
# step whose gradient is amplified by `factor` (eq. 3).


# %% exercise="amplified_step" nbgrader={"grade": false, "grade_id": "amplified_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def amplified_step(W, grad, lr, factor):
    """W − lr · factor · grad (eq. 3: amplification is the learning rate factor · lr)."""
    ### BEGIN SOLUTION
    return W - lr * factor * grad
    ### END SOLUTION


# %% check="amplified_step" nbgrader={"grade": true, "grade_id": "check_amplified_step", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(4, "amplified_step"):
    chosen = case1 or [layers[0]]
    plain, amplified = build(), build()
    amplified.add_feedback(ng.Amplify(FACTOR, scope="weights", selected=chosen))
    xb, yb = x_all[:BATCH_SIZE], y_all[:BATCH_SIZE]
    before = {l: plain.layers[l].weight.data.copy() for l in layers}
    for model in (plain, amplified):
        sgd = ng.SGD(model.parameters(), lr=LR)
        sgd.zero_grad()
        loss.forward(model(xb), yb)
        model.backward(loss.backward())
        sgd.step()

    def stepped(selection):
        """Your amplified step for the given layers, all their weights in one flat array."""
        return np.concatenate(
            [
                amplified_step(
                    before[l], plain.layers[l].weight.grad, LR, FACTOR if l in chosen else 1.0
                ).ravel()
                for l in selection
            ]
        )

    def library(selection):
        return np.concatenate([amplified.layers[l].weight.data.ravel() for l in selection])

    others = [l for l in layers if l not in chosen]
    ng.check("weights of the amplified layers after the step", stepped(chosen), library(chosen), rtol=1e-12)
    ng.check("weights of the other layers after the step", stepped(others), library(others), rtol=1e-12)
    print(f"amplified layers {chosen}: their step is {FACTOR:g}× the plain one; the others are unchanged")
    ### BEGIN HIDDEN TESTS
    ng.check(
        "amplified_step of a 2×3 layer, factor 3",
        amplified_step(np.ones((2, 3)), np.full((2, 3), 0.5), 0.1, 3.0),
        np.full((2, 3), 0.85),
    )
    ng.check(
        "amplified_step with factor 1 (not amplified)",
        amplified_step(np.ones(4), np.full(4, -2.0), 0.25, 1.0),
        np.full(4, 1.5),
    )
    ### END HIDDEN TESTS

# %% [markdown]
# After that step the two networks differ, so their next gradients differ too: the
# equivalence holds for *one* step (or for a layer trained with `factor · lr` throughout,
# which is exactly what eq. 3 says).
#
# ## 3. The two scopes
#
# The paper amplifies "the gradients" of a layer. Our default reading multiplies only the
# layer's own weight and bias gradients. With `scope="backward"` the division is skipped:
# the error passed down stays amplified, so *every layer below* also gets amp × its
# gradient — amplifying layer $l$ then amplifies the whole stack under it.

# %%
scopes = {}
for scope in ("weights", "backward"):
    model = build()
    rule = ng.Amplify(FACTOR, scope=scope, selected=[layers[2]])
    model.add_feedback(rule)
    model.zero_grad()
    loss.forward(model(xb), yb)
    model.backward(loss.backward())
    reference = build()
    reference.zero_grad()
    loss.forward(reference(xb), yb)
    reference.backward(loss.backward())
    ratios = [float(np.median(model.layers[l].weight.grad / reference.layers[l].weight.grad)) for l in layers]
    scopes[scope] = ratios
    print(f"scope={scope!r:<10} gradient ratio per layer", {l: round(r, 6) for l, r in zip(layers, ratios)})
    assert np.allclose(ratios, [rule.gradient_scale(l) for l in layers])
assert np.allclose(scopes["weights"], [1, 1, FACTOR, 1])
assert np.allclose(scopes["backward"], [FACTOR, FACTOR, FACTOR, 1])

# %% [markdown]
# ## 4. In training: the phase strategy
#
# The paper drives all of this with a list of phases `(end_epoch, lr, amplify, factor)`:
# the first epoch of an amplifying phase is the analysis epoch that chooses the layers for
# the rest of the phase, and the last phase trains without amplification.
# `ng.AmplificationStrategy` is that schedule as a training callback;
# `nanograd-ad reproduce amplify` runs the paper's sweep over thresholds.
#
# ## Try it
#
# - Set `THRESHOLD = 0.3`: more layers pass case 2 than case 1 (case 2 also takes layers
#   whose gradients are unusually *un*directional).
# - Set `FACTOR = 3.0`: section 2 still holds to rounding (division by 3 is not exact in
#   binary, so the checks use a relative tolerance rather than equality).
