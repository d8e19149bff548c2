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
# # Lesson 01 — Backpropagation by hand
#
# A network learns by nudging every weight against the slope of the loss, $\partial C/\partial W$.
# *Backpropagation* is the bookkeeping that gets all those slopes in one backward sweep.
# In this lesson you will:
#
# 1. write out the forward pass of a tiny 2-layer network on four data points;
# 2. compute the errors $\delta^L$ and $\delta^l = (W^{l+1\,T}\delta^{l+1}) \odot f'(z^l)$ by hand, in NumPy;
# 3. check that `Sequential.backward` of `nanograd_ad` produces exactly the same numbers;
# 4. check both against finite differences, and learn to read a *relative error*;
# 5. draw the network with its $\delta$ values, and train it with the gradients you computed.
#
# Nothing here is hidden: every number the library produces, you will produce first.

# %% [markdown]
# ## Size of the run
#
# `QUICK = True` takes 300 gradient-descent steps at the end (what the automatic tests
# use); `QUICK = False` takes 3000. `FIGURE_DIR` is a folder where the figures are also
# saved as PNG files (`None`: only show them in the notebook). This cell is tagged
# `parameters`, so tools such as the test suite or papermill can override it.

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

STEPS = 300 if QUICK else 3000


def save(fig, name):
    """Save a figure as FIGURE_DIR/name.png when FIGURE_DIR is set (the notebook shows it anyway)."""
    if FIGURE_DIR is not None:
        Path(FIGURE_DIR).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(FIGURE_DIR) / f"{name}.png", dpi=110, bbox_inches="tight")


def rel_error(a, b):
    """max |a − b| / max(|a|, |b|, 1e-8): how many digits two arrays share (≈ 10^−digits)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-8)))


# %% [markdown]
# We work in **float64** (about 16 significant digits) so that two ways of computing
# the same number agree to ~1e-15, and a finite-difference check is not drowned in
# rounding noise. The library's default is float32 (about 7 digits), which is plenty for
# training but too coarse for checking.

# %%
backend.set_default_dtype("float64")

# %% [markdown]
# ## The data: XOR on four points
#
# Four inputs $x \in \{0,1\}^2$; the target is $1$ when exactly one coordinate is $1$.
# No straight line separates the ones from the zeros, so the network needs its hidden layer.
#
# Following the library's convention, the $N = 4$ samples are the **rows** of `x`:
# `x` has shape $(N, 2)$ and `y` has shape $(N, 1)$.

# %%
x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
y = np.array([[0.0], [1.0], [1.0], [0.0]])
N = len(x)
print("x =\n", x, "\ny =", y.ravel())

# %% [markdown]
# ## The network
#
# Two layers of weights, $2 \to 3 \to 1$, with the logistic sigmoid $\sigma(z) = 1/(1+e^{-z})$
# after each:
#
# $$z^1 = x\,W^1 + b^1,\quad a^1 = \sigma(z^1),\qquad z^2 = a^1 W^2 + b^2,\quad a^2 = \sigma(z^2).$$
#
# Shapes (rows are samples): $W^1$ is $(2, 3)$, $b^1$ is $(3,)$, $z^1, a^1$ are $(4, 3)$;
# $W^2$ is $(3, 1)$, $b^2$ is $(1,)$, $z^2, a^2$ are $(4, 1)$. Here $L = 2$ is the top layer.
#
# The loss is the mean squared error over the $N \cdot 1$ outputs:
#
# $$C = \frac{1}{N}\sum_{n=1}^{N} \left(a^2_n - y_n\right)^2 .$$
#
# In `nanograd_ad` the activation is a layer of its own, so the network is four layers:

# %%
ng.seed(0)  # the same weights every time you run this
net = ng.Sequential(ng.Dense(2, 3), ng.Sigmoid(), ng.Dense(3, 1), ng.Sigmoid())
net.build((2,))
print(net.describe())

# %% [markdown]
# The library numbers all four layers from 0: `net[0]` holds $W^1, b^1$ and `net[2]`
# holds $W^2, b^2$, so the gradient it calls `0.weight` is $\partial C/\partial W^1$.
# We copy the weights out as plain NumPy arrays; from here on, the "by hand" code uses
# only these arrays and NumPy.

# %%
W1 = backend.to_numpy(net[0].weight.data).copy()
b1 = backend.to_numpy(net[0].bias.data).copy()
W2 = backend.to_numpy(net[2].weight.data).copy()
b2 = backend.to_numpy(net[2].bias.data).copy()
print("W1 =\n", W1.round(4), "\nb1 =", b1.round(4))
print("W2 =\n", W2.round(4), "\nb2 =", b2.round(4))

# %% [markdown]
# ## 1. The forward pass, written out


# %%
def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def forward_by_hand(x, W1, b1, W2, b2):
    """Every intermediate of the forward pass, by name."""
    z1 = x @ W1 + b1  # (4, 3)
    a1 = sigmoid(z1)  # (4, 3)
    z2 = a1 @ W2 + b2  # (4, 1)
    a2 = sigmoid(z2)  # (4, 1)
    return z1, a1, z2, a2


def cost_by_hand(x, y, W1, b1, W2, b2):
    """C = (1/N) Σ (a² − y)²."""
    a2 = forward_by_hand(x, W1, b1, W2, b2)[-1]
    return float(np.mean((a2 - y) ** 2))


z1, a1, z2, a2 = forward_by_hand(x, W1, b1, W2, b2)
C = cost_by_hand(x, y, W1, b1, W2, b2)
print("a2 =", a2.ravel().round(4), "  C =", round(C, 6))

# %% [markdown]
# The library's forward pass must give the same outputs and the same loss:

# %%
loss = ng.MSE()
prediction = net(x)
C_library = loss(prediction, y)
assert rel_error(prediction, a2) < 1e-12, "the forward passes differ"
assert abs(C_library - C) < 1e-12
print(f"library: C = {C_library:.6f}  (by hand: {C:.6f})")

# %% [markdown]
# ## 2. The backward pass, by hand
#
# Write $\delta^l = \partial C/\partial z^l$ — how much the loss changes when the
# pre-activation of layer $l$ moves. Everything else follows from it.
#
# **Output layer.** By the chain rule through $a^L = \sigma(z^L)$,
#
# $$\delta^L = \frac{\partial C}{\partial a^L} \odot f'(z^L)
#   = \frac{2}{N}\left(a^L - y\right) \odot a^L\left(1 - a^L\right),$$
#
# where $\odot$ multiplies entry by entry and we used $\sigma'(z) = \sigma(z)(1-\sigma(z)) = a(1-a)$.

# %%
dC_da2 = 2.0 * (a2 - y) / N  # ∂C/∂a², shape (4, 1)
fprime_z2 = a2 * (1 - a2)  # f′(z²) = σ(z²)(1 − σ(z²))
delta2 = dC_da2 * fprime_z2  # δ² = ∂C/∂a² ⊙ f′(z²)
print("δ² =", delta2.ravel())

# %% [markdown]
# **Hidden layer.** $z^2$ depends on $z^1$ through $a^1$, and each hidden unit feeds the
# output through its weight. Summing over the paths gives the recursion
#
# $$\delta^l = \left(W^{l+1\,T}\,\delta^{l+1}\right) \odot f'(z^l).$$
#
# That is the textbook form, with one sample as a *column*. Our samples are *rows* and
# our $W$ is stored $(D_{in}, D_{out})$ — the transpose of the textbook's matrix — so the
# same formula reads, for all four samples at once,
#
# $$\delta^1 = \left(\delta^2\, W^{2\,T}\right) \odot f'(z^1) \qquad (4,1)\cdot(1,3) \to (4,3).$$

# %%
fprime_z1 = a1 * (1 - a1)  # f′(z¹)
delta1 = (delta2 @ W2.T) * fprime_z1  # δ¹ = (δ² W^{2T}) ⊙ f′(z¹), in row form
print("δ¹ =\n", delta1)

# %% [markdown]
# **Gradients.** $z^l = a^{l-1}W^l + b^l$ is linear in $W^l$ and $b^l$, so each sample
# contributes $a^{l-1}_n$ times its $\delta^l_n$; the batch sums them:
#
# $$\frac{\partial C}{\partial W^l} = a^{l-1\,T}\,\delta^l, \qquad
#   \frac{\partial C}{\partial b^l} = \sum_{n} \delta^l_n, \qquad a^0 = x .$$
#
# One more step gives the error that reaches the input, $\partial C/\partial x = \delta^1 W^{1\,T}$.

# %%
grads_by_hand = {
    "0.weight": x.T @ delta1,  # ∂C/∂W¹ = a^{0T} δ¹   (2, 3)
    "0.bias": delta1.sum(axis=0),  # ∂C/∂b¹ = Σ_n δ¹_n    (3,)
    "2.weight": a1.T @ delta2,  # ∂C/∂W² = a^{1T} δ²   (3, 1)
    "2.bias": delta2.sum(axis=0),  # ∂C/∂b² = Σ_n δ²_n    (1,)
}
dC_dx_by_hand = delta1 @ W1.T  # ∂C/∂x                (4, 2)
for name, g in grads_by_hand.items():
    print(f"{name:9s}", g.ravel().round(6))

# %% [markdown]
# ## 3. The same numbers from `Sequential.backward`
#
# In the library the loss hands $\partial C/\partial a^L$ to the top layer (here the
# sigmoid, which multiplies by $f'(z^L)$ to make $\delta^L$), and `Sequential.backward`
# walks down the layers:
#
# | layer | does | passes down |
# |---|---|---|
# | 3 `Sigmoid` | $\delta^2 = \partial C/\partial a^2 \odot f'(z^2)$ | $\delta^2$ |
# | 2 `Dense(3, 1)` | stores $\partial C/\partial W^2 = a^{1T}\delta^2$, $\partial C/\partial b^2$ | $\delta^2 W^{2T}$ |
# | 1 `Sigmoid` | multiplies by $f'(z^1)$ | $\delta^1$ |
# | 0 `Dense(2, 3)` | stores $\partial C/\partial W^1 = x^T\delta^1$, $\partial C/\partial b^1$ | $\partial C/\partial x$ |
#
# To *see* the $\delta$s, we attach a feedback rule — the hook `Sequential.backward`
# calls before and after every layer — that only records the error entering each layer.


# %%
class RecordErrors(ng.FeedbackRule):
    """Remembers the error entering each layer during backward; changes nothing."""

    def bind(self, net):
        super().bind(net)
        self.entering = {}

    def before_layer(self, index, layer, delta):
        self.entering[index] = backend.to_numpy(delta).copy()
        return delta


recorder = RecordErrors()
net.add_feedback(recorder)

net.zero_grad()  # gradients accumulate with +=, so start from 0
C_library = loss(net(x), y)
dC_dx_library = net.backward(loss.backward())

print("∂C/∂a² from the loss:", recorder.entering[3].ravel())
print("δ² entering Dense 2: ", recorder.entering[2].ravel())

# %% [markdown]
# Now compare. The two computations do the same arithmetic, so they should agree to
# the last few bits — far below our bar of $10^{-7}$.

# %%
assert rel_error(recorder.entering[3], dC_da2) < 1e-7, "∂C/∂a² differs"
assert rel_error(recorder.entering[2], delta2) < 1e-7, "δ² differs"
assert rel_error(recorder.entering[0], delta1) < 1e-7, "δ¹ differs"
for name, p in net.named_parameters():
    err = rel_error(p.grad, grads_by_hand[name])
    print(f"{name:9s} relative error {err:.1e}")
    assert err < 1e-7, f"your gradient for {name} does not match the library's"
assert rel_error(dC_dx_library, dC_dx_by_hand) < 1e-7
print("Your δ's and gradients match Sequential.backward to 1e-7.")

# %% [markdown]
# ## 4. Checking against finite differences
#
# Both computations above could share the same mistake (a wrong $f'$, a missing
# transpose). An independent referee is the definition of the derivative itself: nudge
# one weight by a small $h$ each way and watch the loss,
#
# $$\frac{\partial C}{\partial \theta} \approx \frac{C(\theta + h) - C(\theta - h)}{2h}, \qquad h = 10^{-5}.$$
#
# Let's do it by hand for one weight, `W2[1, 0]` (from hidden unit 1 to the output,
# counting from 0):

# %%
h = 1e-5
W2_plus, W2_minus = W2.copy(), W2.copy()
W2_plus[1, 0] += h
W2_minus[1, 0] -= h
numeric = (cost_by_hand(x, y, W1, b1, W2_plus, b2) - cost_by_hand(x, y, W1, b1, W2_minus, b2)) / (2 * h)
analytic = grads_by_hand["2.weight"][1, 0]
print(f"analytic {analytic:.12f}\nnumeric  {numeric:.12f}\nrelative error {rel_error(analytic, numeric):.1e}")
assert rel_error(analytic, numeric) < 1e-7

# %% [markdown]
# `nanograd_ad.gradcheck` does this for every weight, bias and input entry (in float64,
# on a copy of the network), and reports the worst entry of each parameter:
#
# $$\text{relative error} = \frac{|\,g_\text{analytic} - g_\text{numeric}\,|}{\max\left(|g_\text{analytic}|,\ |g_\text{numeric}|,\ 10^{-8}\right)} .$$
#
# **How to read it.** It is roughly $10^{-(\text{number of digits that agree})}$.
# The difference quotient is not exact: it is off by about $h^2/6 \approx 10^{-11}$ times
# the loss's third derivative, and rounding the two losses to 16 digits adds about
# $\varepsilon_{64}\, C / h \approx 2\cdot 10^{-16} \cdot 0.27 / 10^{-5} \approx 6 \cdot 10^{-12}$.
# Against gradients of about $10^{-2}$ that leaves ~9 good digits, so a *correct*
# backward shows $10^{-7}$ or (usually much) less. A *bug* shows $10^{-3}$ to $1$: a
# wrong factor, a wrong sign, a missing term. (Those errors of the difference quotient
# are absolute: a gradient that is itself tiny cannot be checked to 7 digits — Lesson 02
# meets this. The $10^{-8}$ in the denominator keeps two nearly-zero numbers from
# looking wildly different.)

# %%
report = ng.gradcheck(net, ng.MSE(), x, y)
print(report)
assert report.passed and report.max_rel_error < 1e-7, "the backward pass disagrees with finite differences"

# %% [markdown]
# To see what a bug looks like, give the hidden sigmoid a derivative that is 1% too
# large — the kind of slip that is easy to make and hard to notice in a training curve:

# %%
buggy = ng.Sequential(
    ng.Dense(2, 3), ng.Sigmoid(derivative=lambda z, a: 1.01 * a * (1 - a)), ng.Dense(3, 1), ng.Sigmoid()
)
buggy.load_state_dict(net.state_dict())  # the very same weights
buggy_report = ng.gradcheck(buggy, ng.MSE(), x, y)
print(buggy_report)
assert not buggy_report.passed and buggy_report.max_rel_error > 1e-3

# %% [markdown]
# The output layer's gradients are still right (the bug sits below them), but every
# gradient that flows through the hidden sigmoid is off by about 1% — relative error
# $\approx 10^{-2}$, five orders of magnitude above a correct backward.
#
# Why float64? In float32 the loss itself only has ~7 digits, so $C(\theta\pm h)$
# differ in their last digit or two and the difference quotient is mostly noise.
# That is why `gradcheck` always works on a float64 copy.

# %% [markdown]
# ## 5. A picture of the backward pass
#
# Each panel is one data point. The number in each unit is its error $\delta$ for that
# sample (on the input units: $\partial C/\partial x$, what reaches the input). Blue
# means "raising $z$ would lower the loss", red the opposite, and all panels share one
# colour scale. The edges are the weights — thicker for larger $|W|$, solid for positive,
# dashed for negative — and the error travels along them from right to left.


# %%
def draw_network(ax, weights, node_values, vmax, title):
    """Nodes in columns (one per layer), edges for the weights, node colour = value."""
    sizes = [w.shape[0] for w in weights] + [weights[-1].shape[1]]
    ys = [np.linspace(0.8, -0.8, n) if n > 1 else np.zeros(1) for n in sizes]
    for l, w in enumerate(weights):
        width_scale = 3.0 / max(np.abs(w).max(), 1e-12)
        for i in range(w.shape[0]):
            for j in range(w.shape[1]):
                ax.plot(
                    [l, l + 1],
                    [ys[l][i], ys[l + 1][j]],
                    color="0.45",
                    lw=0.5 + width_scale * abs(w[i, j]),
                    ls="-" if w[i, j] >= 0 else "--",
                    zorder=1,
                )
    cmap = plt.get_cmap("coolwarm")
    for l, values in enumerate(node_values):
        for i, v in enumerate(values):
            ax.scatter([l], [ys[l][i]], s=1500, color=cmap(0.5 + 0.5 * v / vmax), edgecolors="k", zorder=2)
            ax.text(
                l,
                ys[l][i],
                f"{v:+.4f}",
                ha="center",
                va="center",
                fontsize=8,
                zorder=3,
                color="white" if abs(v) > 0.6 * vmax else "black",
            )
    ax.annotate("", xy=(0.15, -1.15), xytext=(1.85, -1.15), arrowprops=dict(arrowstyle="->", color="0.3"))
    ax.text(1.0, -1.28, "backward", ha="center", va="top", fontsize=8, color="0.3")
    for l, label in enumerate(["∂C/∂x", "δ¹", "δ²"]):
        ax.text(l, 1.15, label, ha="center", fontsize=10)
    ax.set_title(title, fontsize=10)
    ax.set_xlim(-0.4, 2.4)
    ax.set_ylim(-1.45, 1.35)
    ax.axis("off")


vmax = max(np.abs(delta1).max(), np.abs(delta2).max(), np.abs(dC_dx_by_hand).max())
fig, axes = plt.subplots(1, N, figsize=(4 * N, 4))
for n, ax in enumerate(axes):
    draw_network(
        ax,
        [W1, W2],
        [dC_dx_by_hand[n], delta1[n], delta2[n]],
        vmax,
        f"x = {x[n].astype(int)}, y = {int(y[n, 0])}, a² = {a2[n, 0]:.3f}",
    )
fig.suptitle("δ for each of the four samples (by hand = library)", y=1.02)
save(fig, "01_network_deltas")

# %% [markdown]
# Things to notice:
#
# * $\delta^2_n$ has the sign of $a^2_n - y_n$: positive (red) where the output is too
#   high (targets 0), negative (blue) where it is too low (targets 1).
# * Each hidden $\delta^1$ is $\delta^2$ times the outgoing weight times $f'(z^1) \le 1/4$.
#   Unless the weights are large, a sigmoid layer shrinks the error at least 4× on its
#   way down — the seed of the *vanishing gradient* that the next lessons deal with.
# * Since $f' > 0$, the sign of $\delta^1$ follows $\delta^2$ across a solid (positive)
#   edge and flips across a dashed (negative) one.
# * The bias gradient of a unit is the sum of its $\delta$ over the four panels.

# %% [markdown]
# ## 6. Using the gradients
#
# Gradient descent repeats: forward, backward, then $\theta \leftarrow \theta - \eta\,\partial C/\partial\theta$
# for every parameter. (`ng.SGD(net.parameters(), lr=η)` does exactly this update; here
# it is written out.) We remove the recorder first: it is not needed for training.

# %%
net.feedback = []
eta = 5.0
history = []
for step in range(STEPS):
    net.zero_grad()
    history.append(loss(net(x), y))
    net.backward(loss.backward())
    for p in net.parameters():
        p.data -= eta * p.grad  # θ ← θ − η ∂C/∂θ

final = loss(net(x), y)
print(f"loss {history[0]:.4f} → {final:.6f} after {STEPS} steps")
print("outputs:", backend.to_numpy(net(x)).ravel().round(3), " targets:", y.ravel())

fig, ax = plt.subplots(figsize=(5, 3.2))
ax.semilogy(history)
ax.set_xlabel("gradient-descent step")
ax.set_ylabel("loss C (log scale)")
ax.set_title("XOR, 2-3-1 sigmoid network, η = 5")
save(fig, "01_training_loss")

assert final < 0.1 * history[0], "gradient descent should cut the loss at least tenfold"

# %% [markdown]
# ## Summary
#
# $$\delta^L = \frac{\partial C}{\partial a^L} \odot f'(z^L),\qquad
#   \delta^l = \left(W^{l+1\,T}\delta^{l+1}\right) \odot f'(z^l),\qquad
#   \frac{\partial C}{\partial W^l} = a^{l-1\,T}\delta^l,\qquad
#   \frac{\partial C}{\partial b^l} = \sum_n \delta^l_n .$$
#
# * `Sequential.backward` is this recursion: a `Dense` layer turns $\delta^{l+1}$ into
#   $W^{l+1\,T}\delta^{l+1}$ and stores its gradients; the activation below multiplies by $f'$.
# * Finite differences are the independent referee: relative error $\lesssim 10^{-7}$
#   means right, $\gtrsim 10^{-3}$ means a bug.
#
# **Try it.** Replace the sigmoids by `ng.Tanh()` (and $f'$ by $1 - a^2$ in your hand
# code) and rerun the checks. Then give `Dense(2, 3)` a fourth unit. In
# Lesson 02 the factor $f'(z^l)$ itself is swapped for something that is *not* the
# derivative — and the finite-difference check will (rightly) object.
