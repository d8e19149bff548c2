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
# # Lesson 11 — Debugging a backward
#
# A backward pass that is wrong rarely crashes. It returns arrays of the right shape with
# plausible numbers, the loss still goes down a little, and the mistake shows only as a
# network that trains worse than it should. The cure is to *check* every backward you
# write against a reference that cannot share its mistake: **finite differences** of the
# loss itself,
#
# $$\frac{\partial C}{\partial \theta_i} \approx \frac{C(\theta + h e_i) - C(\theta - h e_i)}{2h},$$
#
# compared entry by entry through a **relative error**
#
# $$\text{rel}_i = \frac{|g_i - n_i|}{\max(|g_i|, |n_i|, \text{floor})},$$
#
# where $g_i$ is the backward's (analytic) value, $n_i$ the numeric one, and the floor keeps
# entries that are nearly 0 from producing huge relative errors out of rounding noise
# (Lesson 01 derived it: the difference quotient resolves about $10\,\varepsilon_{64}|C|/h$).
#
# In this lesson five bugs are planted in layers that look right:
#
# | bug | where | what is wrong |
# | --- | --- | --- |
# | 1 | `Dense.backward` | the error passed down is $\delta W$ instead of $\delta W^T$ |
# | 2 | `Dense.backward` | the bias gradient is the *mean* of δ over the batch, not the sum |
# | 3 | a tanh derivative | the sign is flipped: $-(1 - a^2)$ |
# | 4 | a sigmoid derivative | off by 1 %: $1.01\,y(1-y)$ |
# | 5 | nothing! | a ReLU whose input sits exactly on its kink at 0 |
#
# For each you run `ng.gradcheck` (a whole network) or `ng.check_layer` (one layer), read
# which parameter it names, and mend the code. Bug 5 is the one that teaches the most: the
# check fails although the code is right. Last, an **artificial derivative** network, where
# `gradcheck` must fail even without a bug, and `ng.explicit_backward` takes over.
#
# You write the relative error, the central difference and the mended pieces (exercise
# cells). Time: about 45 minutes. Prerequisites: Lessons 01 and 02.

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
# Everything here is small and fast; `QUICK` only shortens the last figure's sweep over
# step sizes. `FIGURE_DIR` is a folder where the figures are also saved as PNG files
# (`None`: only show them). `BATCH` is the number of samples (for the "Try it" at the
# end). This cell is tagged `parameters`.

# %% tags=["parameters"]
QUICK = False
FIGURE_DIR = None
BATCH = 8

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

backend.set_default_dtype("float64")  # checks need ~16 digits: always check in float64
ng.seed(0)
rng = np.random.default_rng(0)


def save(fig, name):
    """Save a figure as FIGURE_DIR/name.png when FIGURE_DIR is set (the notebook shows it anyway)."""
    if FIGURE_DIR is not None:
        Path(FIGURE_DIR).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(FIGURE_DIR) / f"{name}.png", dpi=110, bbox_inches="tight")


def failing(report):
    """The names of the parameters a gradcheck report flags, worst first."""
    bad = [p for p in report.params if p.max_rel_error >= report.tol]
    return [p.name for p in sorted(bad, key=lambda p: -p.max_rel_error)]


x = rng.standard_normal((BATCH, 4))
y = rng.integers(0, 3, BATCH)  # class labels for a softmax + cross-entropy loss
loss = ng.SoftmaxCrossEntropy()

# %% [markdown]
# ## 1. A correct network, and how its check reads
#
# Our test subject is a 4-4-3 tanh network, $z^1 = x W^1 + b^1$, $a^1 = \tanh z^1$,
# $z^2 = a^1 W^2 + b^2$ (rows are samples), softmax + cross-entropy on top. With the
# library's own layers the check passes: every relative error is around $10^{-9}$ or below.


# %%
def network(first=ng.Dense, second=ng.Dense, activation=None):
    """A 4-4-3 network from the given layer classes, always with the same weights."""
    ng.seed(1)
    net = ng.Sequential(first(4, 4), activation or ng.Tanh(), second(4, 3))
    return net


report = ng.gradcheck(network(), loss, x, y)
print(report)
assert report.passed

# %% [markdown]
# **Exercise 1 — the relative error.** Write `relative_error(analytic, numeric, floor)` for
# arrays of the same shape: $|g - n| / \max(|g|, |n|, \text{floor})$, entry by entry.
# The check compares it with the numbers `gradcheck` printed for its worst entries.


# %% exercise="relative_error" nbgrader={"grade": false, "grade_id": "relative_error", "locked": false, "schema_version": 3, "solution": true, "task": false}
def relative_error(analytic, numeric, floor):
    """|g − n| / max(|g|, |n|, floor), entrywise."""
    ### BEGIN SOLUTION
    analytic, numeric = np.asarray(analytic, dtype=float), np.asarray(numeric, dtype=float)
    return np.abs(analytic - numeric) / np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)
    ### END SOLUTION


# %% check="relative_error" nbgrader={"grade": true, "grade_id": "check_relative_error", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(1, "relative_error"):
    # gradcheck's worst entries: their analytic and numeric values and the relative error it found
    worst_g = np.array([p.analytic for p in report.params])
    worst_n = np.array([p.numeric for p in report.params])
    floor = max(report.atol / report.tol, 1e-8)
    ng.check(
        "relative_error(worst_g, worst_n, floor)",
        relative_error(worst_g, worst_n, floor),
        [p.max_rel_error for p in report.params],
        rtol=1e-6,
        atol=1e-15,
        hints={
            "|g| + |n| in the denominator (about half the expected error): use max(|g|, |n|, floor)": np.abs(
                worst_g - worst_n
            )
            / np.maximum(np.abs(worst_g) + np.abs(worst_n), floor)
        },
    )
    # small made-up entries, where the floor decides
    tiny_g, tiny_n = np.array([1e-9, 0.0, 2.0, -3.0, 1e-3]), np.array([2e-9, 1e-9, 2.0, 3.0, 3e-3])
    ng.check(
        "relative_error(tiny_g, tiny_n, 1e-6)",
        relative_error(tiny_g, tiny_n, 1e-6),
        [1e-9 / 1e-6, 1e-9 / 1e-6, 0.0, 2.0, 2e-3 / 3e-3],
        atol=1e-15,
    )
    ### BEGIN HIDDEN TESTS
    ng.check(
        "relative_error of a 2×2 array",
        relative_error(np.array([[1.0, -2.0], [0.0, 4.0]]), np.array([[1.5, -2.0], [0.0, -4.0]]), 1e-3),
        [[0.5 / 1.5, 0.0], [0.0, 2.0]],
        atol=1e-15,
    )
    ### END HIDDEN TESTS

# %% [markdown]
# **Exercise 2 — the central difference.** Write `central_difference(objective, values,
# index, h)`: nudge the single entry `values[index]` by $+h$ and by $-h$, call `objective()`
# each time (it returns the loss $C$ as a float), **put the entry back**, and return
# $(C_+ - C_-)/2h$. This is all `gradcheck` does, once per entry.


# %% exercise="central_difference" nbgrader={"grade": false, "grade_id": "central_difference", "locked": false, "schema_version": 3, "solution": true, "task": false}
def central_difference(objective, values, index, h=1e-5):
    """(C(θ + h e_i) − C(θ − h e_i)) / 2h for the entry values[index]; values is restored."""
    ### BEGIN SOLUTION
    saved = values[index]
    values[index] = saved + h
    plus = objective()
    values[index] = saved - h
    minus = objective()
    values[index] = saved
    return (plus - minus) / (2 * h)
    ### END SOLUTION


# %% check="central_difference" nbgrader={"grade": true, "grade_id": "check_central_difference", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(2, "central_difference"):
    net = network()
    W1 = net.layers[0].weight.data

    def objective():
        return float(loss.forward(net(x), y))

    net.zero_grad()
    loss.forward(net(x), y)
    net.backward(loss.backward())
    backprop_W1 = net.layers[0].weight.grad.copy()
    before = W1.copy()
    numeric_W1 = np.array(
        [[central_difference(objective, W1, (i, j)) for j in range(W1.shape[1])] for i in range(W1.shape[0])]
    )
    ng.check("W1 after central_difference (restored?)", W1, before, rtol=1e-15, atol=0.0)
    ng.check("numeric ∂C/∂W¹", numeric_W1, backprop_W1, rtol=1e-6, atol=1e-10)
    ### BEGIN HIDDEN TESTS
    hidden_values = np.array([1.0, 2.0, 3.0])
    hidden_saved = hidden_values.copy()
    ng.check(
        "central_difference of Σ v³ at v = 2",
        central_difference(lambda: float(np.sum(hidden_values**3)), hidden_values, 1),
        12.0,
        rtol=1e-8,
    )
    ng.check("values after central_difference (restored?)", hidden_values, hidden_saved, rtol=1e-15, atol=0.0)
    ### END HIDDEN TESTS

# %% [markdown]
# ## 2. Bug 1 — a missing transpose
#
# Dense's backward has three lines (rows are samples, $\delta = \partial C/\partial z$):
#
# $$\frac{\partial C}{\partial W} = x^T \delta, \qquad \frac{\partial C}{\partial b} = \sum_{\text{batch}} \delta,
#   \qquad \frac{\partial C}{\partial x} = \delta\, W^T .$$
#
# Here is a layer that forgets the last transpose. $W^2$ is 4×3 in our network, so
# $\delta W$ would not even multiply … but a *square* weight hides the bug completely. Put the
# buggy layer where the weight is square (4×4, the first layer sees a 4-wide input, so use
# it on top of a 4-unit layer):


# %%
class DenseBug1(ng.Dense):
    """Dense whose error for the layer below is δ W (bug: should be δ Wᵀ)."""

    def backward(self, delta, input_grad=True):
        self.weight.grad += self.x.T @ delta
        self.bias.grad += delta.sum(axis=0)
        return delta @ self.weight.data  # BUG


ng.seed(1)
square = ng.Sequential(ng.Dense(4, 4), ng.Tanh(), DenseBug1(4, 4), ng.Tanh(), ng.Dense(4, 3))
report1 = ng.gradcheck(square, loss, x, y)
print(report1)
print("flagged:", failing(report1))

# %% [markdown]
# Read the report from the top of the network down: `4.*` (the output layer) and `2.*`
# (the buggy layer's *own* weight and bias) pass — its weight gradient $x^T\delta$ is right.
# Everything *below* it fails: `0.weight`, `0.bias` and the input. A bug in the error passed
# down shows up in the layers below the culprit, never in the culprit's own gradients. The
# highest failing layer points at the layer just above it. `check_layer` on the suspect
# alone confirms it (it checks a layer's parameters and its input error):

# %%
assert failing(report1)[0] in ("0.weight", "0.bias", "input")
assert not {"2.weight", "2.bias", "4.weight", "4.bias"} & set(failing(report1))
alone = ng.check_layer(DenseBug1(4, 4), x)
print(alone)
assert failing(alone) == ["input"], failing(alone)

# %% [markdown]
# **Exercise 3 — mend it.** Write `input_error(delta, W)`, the error Dense passes down.


# %% exercise="input_error" nbgrader={"grade": false, "grade_id": "input_error", "locked": false, "schema_version": 3, "solution": true, "task": false}
def input_error(delta, W):
    """∂C/∂x of z = x W + b, given δ = ∂C/∂z: (N, D_out), (D_in, D_out) → (N, D_in)."""
    ### BEGIN SOLUTION
    return delta @ W.T
    ### END SOLUTION


# %% check="input_error" nbgrader={"grade": true, "grade_id": "check_input_error", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(3, "input_error"):
    reference = ng.Dense(4, 4)
    delta = rng.standard_normal((BATCH, 4))
    reference(x)
    expected_dx = reference.backward(delta)
    ng.check("input_error(delta, W)", input_error(delta, reference.weight.data), expected_dx)
    ### BEGIN HIDDEN TESTS
    hidden_rng = np.random.default_rng(111)  # a non-square W: 3 inputs → 6 outputs, batch 5
    hidden_W, hidden_delta = hidden_rng.standard_normal((3, 6)), hidden_rng.standard_normal((5, 6))
    hidden_dense = ng.Dense(3, 6)
    hidden_dense.weight.data = hidden_W
    hidden_dense(hidden_rng.standard_normal((5, 3)))
    ng.check(
        "input_error of a 3 → 6 layer",
        input_error(hidden_delta, hidden_W),
        hidden_dense.backward(hidden_delta),
    )
    ### END HIDDEN TESTS


# %%
class DenseFixed1(ng.Dense):
    """Dense with the error passed down mended."""

    def backward(self, delta, input_grad=True):
        self.weight.grad += self.x.T @ delta
        self.bias.grad += delta.sum(axis=0)
        return input_error(delta, self.weight.data)


assert ng.check_layer(DenseFixed1(4, 4), x).passed
print("bug 1 mended: check_layer passes")

# %% [markdown]
# ## 3. Bug 2 — the bias gradient averaged instead of summed
#
# The loss already averages over the batch (δ^L carries the 1/N), so every parameter
# gradient is a plain **sum** over the samples. A second 1/N is easy to add by habit:


# %%
class DenseBug2(ng.Dense):
    """Dense whose bias gradient is the mean of δ over the batch (bug: should be the sum)."""

    def backward(self, delta, input_grad=True):
        self.weight.grad += self.x.T @ delta
        self.bias.grad += delta.mean(axis=0)  # BUG
        return delta @ self.weight.data.T


report2 = ng.gradcheck(network(second=DenseBug2), loss, x, y)
print(report2)
assert failing(report2) == ["2.bias"], failing(report2)
worst = next(p for p in report2.params if p.name == "2.bias")
print(f"analytic / numeric at the worst entry: {worst.analytic / worst.numeric:.6f} = 1/{BATCH}")

# %% [markdown]
# Only `2.bias` fails, and the ratio analytic/numeric is exactly $1/N$: a bug local to a
# layer's own gradient names exactly that parameter. **Exercise 4:** write `bias_gradient(delta)`.


# %% exercise="bias_gradient" nbgrader={"grade": false, "grade_id": "bias_gradient", "locked": false, "schema_version": 3, "solution": true, "task": false}
def bias_gradient(delta):
    """∂C/∂b of z = x W + b from δ = ∂C/∂z: (N, D) → (D,)."""
    ### BEGIN SOLUTION
    return delta.sum(axis=0)
    ### END SOLUTION


# %% check="bias_gradient" nbgrader={"grade": true, "grade_id": "check_bias_gradient", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(4, "bias_gradient"):
    reference = ng.Dense(4, 4)
    reference(x)
    reference.backward(delta)
    ng.check("bias_gradient(delta)", bias_gradient(delta), reference.bias.grad, factors={"N": len(delta)})
    ### BEGIN HIDDEN TESTS
    ng.check(
        "bias_gradient of ones (3 samples)", bias_gradient(np.ones((3, 5))), np.full(5, 3.0), factors={"N": 3}
    )
    ### END HIDDEN TESTS

# %% [markdown]
# ## 4. Bugs 3 and 4 — a wrong derivative
#
# In `nanograd_ad` the derivative an activation multiplies the error by is pluggable: any
# `d(z, a)`. That makes a wrong derivative a one-liner to plant. A flipped sign (bug 3) and
# a derivative 1 % too large (bug 4):

# %%
tanh_wrong_sign = ng.Tanh(derivative=lambda z, a: -(1 - a**2))
sigmoid_one_percent = ng.Sigmoid(derivative=lambda z, a: 1.01 * a * (1 - a))
report3 = ng.gradcheck(network(activation=tanh_wrong_sign), loss, x, y)
report4 = ng.gradcheck(network(activation=sigmoid_one_percent), loss, x, y)
print(report3, report4, sep="\n")
for r in (report3, report4):
    assert set(failing(r)) == {"0.weight", "0.bias", "input"}, failing(r)
print(f"bug 4: largest relative error {report4.max_rel_error:.4f} ≈ 0.01/1.01 = {0.01 / 1.01:.4f}")

# %% [markdown]
# Both flag exactly the parameters *below* the activation (its derivative sits in the
# error passed down). Bug 3's relative errors are 2 (yours = −numeric); bug 4's are
# 0.0099: a 1 % bug is five orders of magnitude above the tolerance of $10^{-6}$ — a
# check this tight catches mistakes no training curve would ever show.
#
# **Exercise 5:** write the true derivative of tanh as `d(z, a)`, the function the
# activation calls with its cached pre-activation $z$ and output $a = \tanh z$.


# %% exercise="tanh_derivative" nbgrader={"grade": false, "grade_id": "tanh_derivative", "locked": false, "schema_version": 3, "solution": true, "task": false}
def tanh_derivative(z, a):
    """d(z, a) = tanh′(z) = 1 − a²."""
    ### BEGIN SOLUTION
    return 1 - a**2
    ### END SOLUTION


# %% check="tanh_derivative" nbgrader={"grade": true, "grade_id": "check_tanh_derivative", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(5, "tanh_derivative"):
    z_probe = np.linspace(-3, 3, 61)
    a_probe = np.tanh(z_probe)
    ng.check(
        "tanh_derivative(z, a)",
        tanh_derivative(z_probe, a_probe),
        1 / np.cosh(z_probe) ** 2,  # sech² z, another route to the same derivative
        hints={"1 − z² (z where a belongs)": 1 - z_probe**2},
    )
    report5 = ng.gradcheck(network(activation=ng.Tanh(derivative=tanh_derivative)), loss, x, y)
    assert report5.passed, report5
    print("bugs 3 and 4 mended: gradcheck passes with your derivative")
    ### BEGIN HIDDEN TESTS
    hidden_z = np.array([[-20.0, 0.0], [5.0, 0.3]])  # a 2-D array with a far tail
    ng.check(
        "tanh_derivative of a 2×2 array",
        tanh_derivative(hidden_z, np.tanh(hidden_z)),
        1 / np.cosh(hidden_z) ** 2,
        hints={"1 − z² (z where a belongs)": 1 - hidden_z**2},
    )
    ### END HIDDEN TESTS

# %% [markdown]
# ## 5. "Bug" 5 — the check sits on a kink
#
# ReLU is not differentiable at 0. The library's derivative there is 1 (the right-hand
# slope, $z \ge 0$), but a central difference that *straddles* the kink measures the
# average slope $(1 + 0)/2 = 1/2$. If some pre-activation is exactly 0 — easy to get
# with zero inputs and zero biases — `gradcheck` fails on correct code:

# %%
x_kink = x.copy()
x_kink[0] = 0.0  # one sample of zeros …
ng.seed(1)
relu_net = ng.Sequential(ng.Dense(4, 4, bias_init="zeros"), ng.ReLU(), ng.Dense(4, 3))  # … and zero biases
report_kink = ng.gradcheck(relu_net, loss, x_kink, y)
print(report_kink)
assert not report_kink.passed
z_first = relu_net.layers[0](x_kink)
print("smallest |z¹|:", float(np.abs(z_first).min()), "— the check's step h is 1e-5")

# %% [markdown]
# The code is right; the *check* is invalid there. Keep inputs away from kinks by
# construction: here, any data whose $|z|$ stays well above $h$. Move the zero sample off
# the kink and check again:

# %%
x_away = x_kink.copy()
x_away[0] = rng.uniform(0.5, 1.0, 4)
z_away = relu_net.layers[0](x_away)
assert float(np.abs(z_away).min()) > 1e-3
report_away = ng.gradcheck(relu_net, loss, x_away, y)
print(report_away)
assert report_away.passed

# %% [markdown]
# ## 6. An artificial derivative: `gradcheck` must fail, `explicit_backward` decides
#
# Lesson 02's AD ReLU multiplies the error by $\sigma(kz)$ instead of the step. That is not
# the derivative of the loss, so finite differences disagree *by design* — `gradcheck`
# cannot tell an AD network with a bug from one without. What *can* be checked is that
# the backward computes the recursion it claims,
#
# $$\delta^L = \partial C/\partial z^L,\qquad \delta^l = (\delta^{l+1} W^{l+1\,T}) \odot d^l,\qquad
#   \partial C/\partial W^l = a^{l-1\,T} \delta^l,$$
#
# with the same $d$. `ng.explicit_backward(net, x, delta_out)` writes that recursion out
# (Nielsen's loop); compare it with `net.backward`, parameter by parameter.


# %%
def backward_vs_explicit(net, x, y):
    """max relative error between net.backward and explicit_backward, per parameter."""
    net.zero_grad()
    out = net(x)
    loss.forward(out, y)
    delta_top = loss.backward()
    net.backward(delta_top)
    explicit = ng.explicit_backward(net, x, delta_top)
    gaps = {}
    for name, p in net.named_parameters():
        g, e = p.grad, explicit[name]
        gaps[name] = float(np.max(np.abs(g - e) / np.maximum(np.maximum(np.abs(g), np.abs(e)), 1e-12)))
    return gaps


def ad_network(second=ng.Dense):
    ng.seed(1)
    return ng.Sequential(
        ng.Dense(4, 4), ng.ReLU(derivative="ad", k=3.5), second(4, 4), ng.ReLU(derivative="ad", k=3.5),
        ng.Dense(4, 3),
    )  # fmt: skip


good, bugged = ad_network(), ad_network(second=DenseBug1)
for label, candidate in (("without a bug", good), ("with bug 1", bugged)):
    verdict = "passed" if ng.gradcheck(candidate, loss, x, y).passed else "FAILED"
    print(f"gradcheck, AD network {label}: {verdict}")
gaps_good, gaps_bugged = backward_vs_explicit(good, x, y), backward_vs_explicit(bugged, x, y)
print("backward vs explicit, no bug:", {k: f"{v:.1e}" for k, v in gaps_good.items()})
print("backward vs explicit, bug 1: ", {k: f"{v:.1e}" for k, v in gaps_bugged.items()})
assert max(gaps_good.values()) < 1e-12
assert {k for k, v in gaps_bugged.items() if v > 1e-6} == {"0.weight", "0.bias"}

# %% [markdown]
# Both gradchecks fail — the one without a bug too. The comparison with the explicit
# recursion agrees to ~1e-16 for the correct network and flags exactly the parameters
# below the buggy layer for the other: the same reading as in section 2.
#
# ## 7. Why h = 1e-5? The V of the finite difference
#
# The central difference has two errors: truncation, $\propto h^2$ (the curvature of $C$),
# and rounding, $\propto \varepsilon_{64}|C|/h$. The sum is smallest near $h \approx 10^{-5}$
# in float64; in float32 ($\varepsilon_{32} \approx 10^{-7}$) the best achievable error is
# about $10^{-5}$ — one reason `gradcheck` always works on a float64 copy. With your
# `central_difference`:

# %% alt="Error of a finite difference against the step h on log-log axes: truncation error on the right, rounding on the left (a V)."
net = network()
W1 = net.layers[0].weight.data
net.zero_grad()
loss.forward(net(x), y)
net.backward(loss.backward())
exact = float(net.layers[0].weight.grad[0, 0])
steps = np.logspace(-1, -13, 13 if QUICK else 49)
errors = [abs(central_difference(objective, W1, (0, 0), h) - exact) / abs(exact) for h in steps]
fig, ax = plt.subplots(figsize=(5.5, 3.6))
ax.loglog(steps, np.maximum(errors, 1e-17), marker="o", ms=3)
ax.axvline(1e-5, color="grey", ls=":", label="gradcheck's h = 1e-5")
ax.set_xlabel("step h")
ax.set_ylabel("relative error of the central difference")
ax.set_title("Truncation (right) vs rounding (left)")
ax.invert_xaxis()
ax.legend()
save(fig, "11_finite_difference_v")
best = steps[int(np.argmin(errors))]
print(f"smallest error {min(errors):.1e} at h = {best:.0e}")
assert 1e-8 <= best <= 1e-3

# %% [markdown]
# ## Try it
#
# - Set `BATCH = 1` in the parameters cell and run everything again: bug 2 becomes
#   invisible (the mean over one sample *is* the sum) — a reason to check with a batch of
#   several samples. Section 3's assertion says so by failing.
# - In section 4 make the sigmoid derivative `1.000001 * a * (1 - a)`: the relative error
#   drops to ~1e-6, right at the tolerance. Where does `gradcheck` stop telling a bug from
#   rounding? (Lesson 01's discussion of the floor answers it.)
# - In section 5 give the first layer `bias_init="torch"` instead of zeros: the zero sample
#   no longer sits on the kink and the check passes without moving the data.
