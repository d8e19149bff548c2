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
# # Lesson 04 — Vanishing gradients, seen
#
# Lesson 01 noted that each sigmoid layer multiplies the error by $f'(z) \le 1/4$ on its
# way down. Here you measure what that does to deep networks: 10, 20 and 30 layers of
# sigmoid or tanh units. You will:
#
# 1. write the RMS of an array and the backward recursion for $\delta^l$ of a deep network,
#    and check both against the library's `GradientFlow` telemetry;
# 2. watch RMS($\delta^l$) fall layer by layer — and prove a bound on how fast: with
#    $\sigma' \le \tfrac14$, RMS($\delta^l$) $\le \tfrac14\,\lVert W^{l+1}\rVert_2\,$RMS($\delta^{l+1}$) (equal widths);
# 3. measure each layer's *speed of learning* (Nielsen, *Neural Networks and Deep
#    Learning*, ch. 5): the size of $\partial C/\partial b^l$, and how far each layer's weights
#    actually move in training;
# 4. see what the activation (tanh) and the initialization change.
#
# Time: about 45 minutes. Prerequisites: Lessons 01 and 02.

# %%
# Setup check: this notebook needs nanograd_ad (with NumPy, Matplotlib, scikit-learn) in its kernel.
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
# `QUICK = True` trains for 1 epoch in section 4 (what the automatic tests use);
# `QUICK = False` for 10. `FIGURE_DIR` is a folder where the figures are also saved as PNG
# files. `WIDTH` is the number of hidden units per layer. This cell is tagged `parameters`.

# %% tags=["parameters"]
QUICK = False
FIGURE_DIR = None
WIDTH = 32  # hidden units per layer (see the "Try it")

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
from nanograd_ad import backend, datasets

backend.set_default_dtype(
    "float64"
)  # δ of layer 1 in a 30-layer sigmoid net is far below float32's range of digits
EPOCHS = 1 if QUICK else 10
DEPTHS = (10, 20, 30)
ACTIVATIONS = {"sigmoid": ng.Sigmoid, "tanh": ng.Tanh}


def save(fig, name):
    """Save a figure as FIGURE_DIR/name.png when FIGURE_DIR is set (the notebook shows it anyway)."""
    if FIGURE_DIR is not None:
        Path(FIGURE_DIR).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(FIGURE_DIR) / f"{name}.png", dpi=110, bbox_inches="tight")


def deep_net(depth, activation="sigmoid", weight_init="torch", seed=0):
    """depth weight layers: 64 → 32 → … → 32 → 10, the activation after every hidden layer."""
    ng.seed(seed)
    sizes = [64] + [WIDTH] * (depth - 1) + [10]
    layers = []
    for l in range(depth):
        layers.append(ng.Dense(sizes[l], sizes[l + 1], weight_init=weight_init))
        if l < depth - 1:
            layers.append(ACTIVATIONS[activation]())
    return ng.Sequential(*layers)


data = datasets.digits(image=False)
x, y = data.x_train[:100].astype(np.float64), data.y_train[:100]
loss = ng.SoftmaxCrossEntropy()
print(data.description)

# %% [markdown]
# ## 1. RMS, and δ layer by layer
#
# The size of an error array is measured by its root mean square over every entry (all
# samples of the batch, all units):
#
# $$\mathrm{RMS}(v) = \sqrt{\frac{1}{n}\sum_{i=1}^{n} v_i^2} .$$
#
# **Exercise 1.** Write `rms`.


# %% exercise="rms" nbgrader={"grade": false, "grade_id": "rms", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rms(v):
    """sqrt(mean(v²)) over all entries of v."""
    ### BEGIN SOLUTION
    return float(np.sqrt(np.mean(np.square(v))))
    ### END SOLUTION


# %% check="rms" nbgrader={"grade": true, "grade_id": "check_rms", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(1, "rms"):
    probe = np.random.default_rng(0).standard_normal((7, 5))
    ng.check("rms([3, 4])", rms(np.array([3.0, 4.0])), np.sqrt(12.5))
    ng.check("rms(probe)", rms(probe), np.linalg.norm(probe) / np.sqrt(probe.size))
    ### BEGIN HIDDEN TESTS
    ng.check("rms of a 2×3×4 array of −2", rms(np.full((2, 3, 4), -2.0)), 2.0)  # negative entries, 3 axes
    hidden_v = np.random.default_rng(41).standard_normal((3, 4, 5))
    ng.check("rms of a 3-D array", rms(hidden_v), np.linalg.norm(hidden_v.ravel()) / np.sqrt(hidden_v.size))
    ### END HIDDEN TESTS

# %% [markdown]
# For a network of $L$ weight layers, $z^l = a^{l-1} W^l + b^l$, $a^l = f(z^l)$ for $l < L$, and
# the top layer's $z^L$ are the logits of the softmax cross-entropy, whose backward gives
# $\delta^L = \partial C/\partial z^L = (p - y)/N$ directly. Then, as in Lesson 01,
#
# $$\delta^l = \left(\delta^{l+1} W^{l+1\,T}\right) \odot f'(z^l), \qquad l = L-1, \dots, 1 .$$
#
# The forward pass is written out for you below (it keeps every $z^l$ and $a^l$).
#
# **Exercise 2.** Complete `deltas_by_hand`: return the list $[\delta^1, \dots, \delta^L]$.
# `f_prime(a)` is the derivative written through the output ($a(1-a)$ for the sigmoid,
# $1 - a^2$ for tanh); `activations[l]` is $a^l$ (with `activations[0]` $= x$) and
# `weights[l - 1]` is $W^l$.

# %%
F_PRIME = {"sigmoid": lambda a: a * (1 - a), "tanh": lambda a: 1 - a**2}


def forward_by_hand(net, x):
    """(weights W¹..W^L, activations a⁰ = x, a¹, …, a^{L−1}, logits z^L) from the net's parameters."""
    weights = [backend.to_numpy(layer.weight.data) for layer in net if isinstance(layer, ng.Dense)]
    biases = [backend.to_numpy(layer.bias.data) for layer in net if isinstance(layer, ng.Dense)]
    f = {ng.Sigmoid: lambda z: 1 / (1 + np.exp(-z)), ng.Tanh: np.tanh}[type(net[1])]
    activations = [x]
    for W, b in zip(weights[:-1], biases[:-1]):
        activations.append(f(activations[-1] @ W + b))
    return weights, activations, activations[-1] @ weights[-1] + biases[-1]


# %%
class RecordErrors(ng.FeedbackRule):
    """Remembers the error entering each layer during backward (δ^l enters Dense layer l); changes nothing."""

    def bind(self, net):
        super().bind(net)
        self.entering = {}

    def before_layer(self, index, layer, delta):
        self.entering[index] = backend.to_numpy(delta).copy()
        return delta


# %% exercise="deltas" nbgrader={"grade": false, "grade_id": "deltas", "locked": false, "schema_version": 3, "solution": true, "task": false}
def deltas_by_hand(weights, activations, delta_top, f_prime):
    """[δ¹, …, δ^L] from δ^L = delta_top by δ^l = (δ^{l+1} W^{l+1 T}) ⊙ f′(z^l)."""
    ### BEGIN SOLUTION
    deltas = [delta_top]
    for l in range(len(weights) - 1, 0, -1):  # l = L−1, …, 1; weights[l] is W^{l+1}
        deltas.append((deltas[-1] @ weights[l].T) * f_prime(activations[l]))
    return deltas[::-1]
    ### END SOLUTION


# %% check="deltas" nbgrader={"grade": true, "grade_id": "check_deltas", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
with ng.checking(2, "deltas"):
    net = deep_net(10, "sigmoid")
    flow = ng.GradientFlow()
    net.add_feedback(flow)  # records RMS(δ^l) entering every weight layer, per backward pass
    net.zero_grad()
    loss(net(x), y)
    delta_top = backend.to_numpy(loss.backward())  # δ^L = ∂C/∂z^L
    net.backward(loss.backward())

    weights, activations, logits = forward_by_hand(net, x)
    ng.check("logits", logits, backend.to_numpy(net(x)))  # the written-out forward pass is right
    deltas = deltas_by_hand(weights, activations, delta_top, F_PRIME["sigmoid"])
    depths, flow_rms = flow.profile("delta", step=0)
    ng.check("RMS of your deltas, layers 1..L", [rms(d) for d in deltas], flow_rms, rtol=1e-10)
    # the arrays themselves, not only their size: δ^l is the error entering Dense layer l
    recorder = RecordErrors()
    net.add_feedback(recorder)
    net.zero_grad()
    loss(net(x), y)
    net.backward(loss.backward())
    for l in range(1, len(deltas) + 1):
        entering = recorder.entering[2 * (l - 1)]
        ng.check(f"your δ^{l}", deltas[l - 1], entering, rtol=1e-10, atol=1e-12 * np.abs(entering).max())
    ### BEGIN HIDDEN TESTS
    hidden_net = deep_net(5, "tanh", seed=3)  # another depth, activation and seed
    hidden_recorder = RecordErrors()
    hidden_net.add_feedback(hidden_recorder)
    hidden_net.zero_grad()
    loss(hidden_net(x[:7]), y[:7])
    hidden_top = backend.to_numpy(loss.backward())
    hidden_net.backward(loss.backward())
    hidden_weights, hidden_activations, _ = forward_by_hand(hidden_net, x[:7])
    hidden_deltas = deltas_by_hand(hidden_weights, hidden_activations, hidden_top, F_PRIME["tanh"])
    for l in range(1, 6):
        entering = hidden_recorder.entering[2 * (l - 1)]
        ng.check(
            f"δ^{l} of a 5-layer tanh network",
            hidden_deltas[l - 1],
            entering,
            rtol=1e-10,
            atol=1e-12 * np.abs(entering).max(),
        )
    ### END HIDDEN TESTS
    print("layer  RMS(δ^l)")
    for l, value in zip(depths, flow_rms):
        print(f"{l:5d}  {value:.3e}")

# %% [markdown]
# Your RMS values equal `GradientFlow`'s to $10^{-10}$. RMS($\delta^l$) falls about
# sevenfold per layer: layer 1 receives an error some $10^{8}$ times smaller than layer 10. Why?
#
# ## 2. How fast: the $\sigma' \le \tfrac14$ bound
#
# Take Frobenius norms in the recursion. Multiplying entry by entry by $f'(z^l)$ shrinks a
# norm at least by $\max f'$, and multiplying by a matrix stretches it at most by the
# matrix's largest singular value $\lVert W\rVert_2$ (its *spectral norm*):
#
# $$\lVert\delta^l\rVert_F \le \max|f'(z^l)|\;\lVert W^{l+1}\rVert_2\;\lVert\delta^{l+1}\rVert_F .$$
#
# RMS is the Frobenius norm over $\sqrt{N D_l}$, so with the widths $D_l$:
#
# $$\frac{\mathrm{RMS}(\delta^l)}{\mathrm{RMS}(\delta^{l+1})} \le \tfrac14\,\lVert W^{l+1}\rVert_2\,\sqrt{D_{l+1}/D_l}
#   \qquad\text{for the sigmoid, since } \sigma'(z) = \sigma(z)(1-\sigma(z)) \le \tfrac14 .$$
#
# With the default initialization, $U(-1/\sqrt{32}, 1/\sqrt{32})$, a $32\times32$ matrix has
# $\lVert W\rVert_2 \approx 1.1$: the error must shrink by at least $\approx 3.5\times$ per
# sigmoid layer — *whatever the data* — and in practice shrinks more.
#
# **Exercise 3.** From `flow_rms` (the RMS of $\delta^1..\delta^L$), compute `ratios`: the
# $L-1$ ratios RMS($\delta^l$) / RMS($\delta^{l+1}$) for $l = 1, \dots, L-1$.

# %% exercise="ratios" nbgrader={"grade": false, "grade_id": "ratios", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
ratios = flow_rms[:-1] / flow_rms[1:]
### END SOLUTION

# %% check="ratios" nbgrader={"grade": true, "grade_id": "check_ratios", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(3, "ratios"):
    hand = np.array([rms(d) for d in deltas])
    ng.check(
        "ratios",
        ratios,
        hand[:-1] / hand[1:],
        rtol=1e-10,
        hints={"ratios upside down: RMS(δ^{l+1}) / RMS(δ^l)": hand[1:] / hand[:-1]},
    )

# %% [markdown]
# Now the bound, layer by layer:

# %%
widths = [W.shape[1] for W in weights]  # D_1 … D_L
bounds = np.array(
    [
        0.25 * np.linalg.norm(weights[l], 2) * np.sqrt(widths[l] / widths[l - 1])
        for l in range(1, len(weights))
    ]
)
print(" l   RMS ratio   bound ¼‖W^{l+1}‖₂√(D_{l+1}/D_l)")
for l, (ratio, bound) in enumerate(zip(ratios, bounds), start=1):
    print(f"{l:2d}   {ratio:.4f}      {bound:.4f}")
assert np.all(ratios <= bounds), "σ′ ≤ 1/4 bounds the decay of every layer"
max_derivative = max(float(F_PRIME["sigmoid"](a).max()) for a in activations[1:])
assert max_derivative <= 0.25
print(f"largest σ′(z) in this batch: {max_derivative:.4f} ≤ 1/4")

# %% [markdown]
# ## 3. Deeper: 10, 20 and 30 layers, sigmoid and tanh
#
# `GradientFlow` records the same numbers for any network. One backward pass each:


# %% alt="RMS of the error delta per layer of 10-, 20- and 30-layer sigmoid networks, falling by orders of magnitude towards the input."
def delta_profile(depth, activation, weight_init="torch"):
    """RMS(δ^l) for l = 1..depth after one backward pass on the batch (x, y)."""
    net = deep_net(depth, activation, weight_init)
    flow = ng.GradientFlow()
    net.add_feedback(flow)
    net.zero_grad()
    loss(net(x), y)
    net.backward(loss.backward())
    return flow.profile("delta", step=0)[1]


profiles = {(act, depth): delta_profile(depth, act) for act in ACTIVATIONS for depth in DEPTHS}

fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
for ax, act in zip(axes, ACTIVATIONS):
    for depth in DEPTHS:
        ax.semilogy(np.arange(1, depth + 1), profiles[act, depth], marker=".", label=f"{depth} layers")
    ax.set_xlabel("layer l (1 = next to the input)")
    ax.set_title(f"{act}, default initialization")
    ax.legend(fontsize=8)
axes[0].set_ylabel("RMS(δ^l)")
fig.suptitle("The error shrinks on its way down to the input", y=1.02)
save(fig, "04_delta_rms_by_depth")

for depth in DEPTHS:
    sigmoid, tanh = profiles["sigmoid", depth], profiles["tanh", depth]
    print(
        f"{depth} layers: RMS(δ¹)/RMS(δ^L) sigmoid {sigmoid[0] / sigmoid[-1]:.1e}, tanh {tanh[0] / tanh[-1]:.1e}"
    )
deepest = profiles["sigmoid", 30]
assert deepest[0] / deepest[-1] < 0.3**29, "30 sigmoid layers: at least the bound's decay"
assert profiles["tanh", 30][0] / profiles["tanh", 30][-1] > deepest[0] / deepest[-1], "tanh′ ≤ 1, not ≤ 1/4"

# %% [markdown]
# Tanh decays more slowly: $\tanh'(z) = 1 - \tanh^2 z \le 1$ (four times the sigmoid's
# bound), and $\tanh'(0) = 1$ — but with this initialization the weights still shrink the
# error at every layer.
#
# ## 4. The speed of learning, layer by layer
#
# Nielsen measures how fast layer $l$ learns by the size of its bias gradient
# $\partial C/\partial b^l = \sum_n \delta^l_n$ (Nielsen, ch. 5). `GradientFlow` records
# RMS($\partial C/\partial b^l$) as `bias_grad`.
#
# **Exercise 4.** From your `deltas` (10-layer sigmoid network), compute `speed`: the list
# of RMS($\partial C/\partial b^l$) for $l = 1, \dots, L$.

# %% exercise="speed" nbgrader={"grade": false, "grade_id": "speed", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
speed = [rms(d.sum(axis=0)) for d in deltas]
### END SOLUTION

# %% check="speed" nbgrader={"grade": true, "grade_id": "check_speed", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(4, "speed"):
    ng.check("speed", speed, flow.profile("bias_grad", step=0)[1], rtol=1e-10, factors={"N": len(x)})

# %% [markdown]
# A gradient is only a slope; what matters is how far each layer actually moves. We
# train a 20-layer network with plain SGD — where the step *is* the gradient, times the
# learning rate — for a few epochs, and measure each weight matrix's relative change
# $\lVert W^l_\text{after} - W^l_\text{before}\rVert_F / \lVert W^l_\text{before}\rVert_F$.


# %% alt="How far each layer's weights move under SGD, by layer, small near the input."
def relative_change(activation, weight_init="torch", depth=20, lr=0.5):
    """Train with SGD for EPOCHS on the digits; return ‖ΔW^l‖/‖W^l‖ per layer and the final loss."""
    net = deep_net(depth, activation, weight_init)
    dense = [layer for layer in net if isinstance(layer, ng.Dense)]
    before = [backend.to_numpy(layer.weight.data).copy() for layer in dense]
    optimizer = ng.SGD(net.parameters(), lr=lr)
    rng = np.random.default_rng(0)
    for _ in range(EPOCHS):
        for idx in datasets.batches(len(data.x_train), 50, rng):
            net.zero_grad()
            loss(net(data.x_train[idx]), data.y_train[idx])
            net.backward(loss.backward())
            optimizer.step()
    change = [
        np.linalg.norm(backend.to_numpy(layer.weight.data) - w) / np.linalg.norm(w)
        for layer, w in zip(dense, before)
    ]
    return np.array(change), loss(net(data.x_train), data.y_train)


changes = {act: relative_change(act) for act in ACTIVATIONS}
changes["tanh, xavier_normal"] = relative_change("tanh", "xavier_normal")

fig, ax = plt.subplots(figsize=(6, 3.8))
for name, (change, final) in changes.items():
    ax.semilogy(np.arange(1, len(change) + 1), change, marker=".", label=f"{name} (loss {final:.2f})")
ax.set_xlabel("layer l")
ax.set_ylabel("‖ΔW^l‖ / ‖W^l‖ after training")
ax.set_title(f"20 layers, SGD, {EPOCHS} epochs: the first layers barely move")
ax.legend(fontsize=8)
save(fig, "04_learning_speed")

sigmoid_change = changes["sigmoid"][0]
print(f"sigmoid: layer 1 moved {sigmoid_change[0]:.1e} of its size, layer 20 {sigmoid_change[-1]:.1e}")
assert sigmoid_change[0] < 1e-3 * sigmoid_change[-1], "in a 20-layer sigmoid net the first layer is frozen"

# %% [markdown]
# ## 5. What the initialization and the activation change
#
# The bound has two factors: $\max f'$ and $\lVert W\rVert_2$. Glorot & Bengio's
# *xavier_normal* initialization draws $W \sim \mathcal N(0, 2/(D_{in} + D_{out}))$, so a
# $32\times32$ matrix has $\lVert W\rVert_2 \approx 2$ and keeps the RMS of a signal
# roughly unchanged *where $f' \approx 1$*. That rescues tanh ($\tanh'(0) = 1$) but not
# the sigmoid: $\tfrac14 \cdot 2 = \tfrac12$ per layer is still a decay.

# %% alt="RMS of delta by layer for sigmoid and tanh networks with the default and the xavier initialization."
fig, ax = plt.subplots(figsize=(6, 3.8))
summary = {}
for act in ACTIVATIONS:
    for init in ("torch", "xavier_normal"):
        profile = delta_profile(30, act, init)
        summary[act, init] = profile[0] / profile[-1]
        ax.semilogy(np.arange(1, 31), profile, marker=".", label=f"{act}, {init}")
ax.set_xlabel("layer l")
ax.set_ylabel("RMS(δ^l)")
ax.set_title("30 layers: the activation and the initialization")
ax.legend(fontsize=8)
save(fig, "04_init_and_activation")
for (act, init), ratio in summary.items():
    print(f"{act:8s} {init:14s} RMS(δ¹)/RMS(δ³⁰) = {ratio:.1e}")
assert summary["tanh", "xavier_normal"] > 1e-3, "tanh with xavier init keeps the error alive over 30 layers"
assert summary["sigmoid", "xavier_normal"] < 1e-6, "the sigmoid still vanishes: σ′ ≤ 1/4"

# %% [markdown]
# ## Summary
#
# * RMS($\delta^l$) shrinks geometrically with depth; for the sigmoid, at least by
#   $\tfrac14\lVert W^{l+1}\rVert_2$ per layer, because $\sigma' \le \tfrac14$.
# * The first layers of a deep sigmoid network get gradients many orders of magnitude
#   smaller than the last and, with SGD, barely move: they learn slowest (Nielsen ch. 5).
# * Tanh ($\tanh' \le 1$) with a variance-preserving initialization keeps the error
#   alive; the later lessons' methods — artificial derivatives, pseudo-normalization,
#   gradient amplification — attack the same product of derivative factors.
#
# **Try it.** Set `WIDTH = 128` in the parameters cell: the default initialization's $\lVert W\rVert_2$ stays
# near 1.15 (it scales with $\sqrt{D}$ times the entries' $1/\sqrt{D}$), so the decay barely
# changes (section 4's training then takes several times longer). Replace `"torch"` by `"he_normal"` in `delta_profile(30, "sigmoid", …)`: a
# larger $\lVert W\rVert_2 \approx 2.8$ gives $\tfrac14 \cdot 2.8 = 0.7$ — still a decay.
