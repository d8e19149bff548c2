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
# # Lesson 02 — Swapping the derivative
#
# In Lesson 01 the error travelled down the network by
#
# $$\delta^l = \left(W^{l+1\,T}\,\delta^{l+1}\right) \odot d^l, \qquad d^l = f'(z^l).$$
#
# The factor $d^l$ is the only place where the activation's *derivative* enters
# training. Hu, Zhang and Ge (*Artificial Derivative*, IEEE Access 2021) ask: what if
# $d^l$ is **not** $f'(z^l)$, but a hand-made substitute — an *artificial derivative*
# (AD) — chosen so that the error does not die on its way down? The forward pass, and
# so the trained model, is unchanged; only the way it learns changes.
#
# In this lesson you will:
#
# 1. plot ReLU's and sigmoid's true derivatives beside the paper's ADs (its Figures 1–2);
# 2. build a ReLU network in which every hidden unit is *dead*, watch it fail to learn with
#    the true derivative, and learn with the AD;
# 3. see why a finite-difference gradient check now disagrees — and use the explicit
#    recursion to verify the AD backward instead.

# %% [markdown]
# ## Size of the run
#
# `QUICK = True` trains for 15 epochs (what the automatic tests use); `QUICK = False` for
# 60. `FIGURE_DIR` is a folder where the figures are also saved as PNG files
# (`None`: only show them in the notebook). This cell is tagged `parameters`.

# %% tags=["parameters"]
QUICK = False
FIGURE_DIR = None

# %%
import copy
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

EPOCHS = 15 if QUICK else 60
K = 3.5  # the AD for ReLU is sigmoid(K·z); the paper's experiments use 3.5


def save(fig, name):
    """Save a figure as FIGURE_DIR/name.png when FIGURE_DIR is set (the notebook shows it anyway)."""
    if FIGURE_DIR is not None:
        Path(FIGURE_DIR).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(FIGURE_DIR) / f"{name}.png", dpi=110, bbox_inches="tight")


def rel_error(a, b):
    """max |a − b| / max(|a|, |b|, 1e-8), as in Lesson 01."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-8)))


# %% [markdown]
# ## 1. ReLU: the true derivative and the artificial one
#
# ReLU is $f(z) = \max(0, z)$. Its derivative (eq. 7 of the paper) is a step, and the
# AD (eq. 8) is a smooth sigmoid in its place:
#
# $$d_0(z) = \begin{cases} 0, & z < 0 \\ 1, & z \ge 0 \end{cases}
#   \qquad\qquad
#   d_1(z) = \sigma(k z) = \frac{1}{1 + e^{-k z}} .$$
#
# Eq. 8 has $k = 1$; the paper's experiments use $k = 3.5$, which hugs the step more
# closely. The point of $d_1$: it is **never zero**. A unit with $z < 0$ still passes
# a little error down and still receives a gradient, so it can come back to life.
#
# In `nanograd_ad` a derivative is a function `d(z, a)` owned by the activation;
# `ReLU(derivative="ad", k=…)` picks the AD. We read the curves straight from the library:

# %%
z = np.linspace(-6, 6, 1201)


def derivative_of(activation, z):
    """The factor d(z, a) that this activation's backward multiplies the error by."""
    a = activation(z)
    return backend.to_numpy(activation.d(z, a))


relu_true = derivative_of(ng.ReLU(), z)
relu_ad = {k: derivative_of(ng.ReLU(derivative="ad", k=k), z) for k in (1.0, K)}

fig, ax = plt.subplots(figsize=(5.5, 3.6))
ax.plot(z, relu_true, color="k", lw=2, label=r"ReLU's derivative $d_0$ (eq. 7)")
for k, d in relu_ad.items():
    kz = "z" if k == 1 else rf"{k:g}\,z"
    ax.plot(z, d, lw=1.6, ls="--" if k == 1 else "-", label=rf"AD $d_1 = \sigma({kz})$ (eq. 8)")
ax.set_xlabel("z")
ax.set_ylabel("d(z)")
ax.set_title("ReLU's derivative and the artificial derivative (cf. Fig. 1)")
ax.legend(loc="upper left", fontsize=8)
save(fig, "02_relu_derivatives")

# %%
negative = z < 0
assert np.all(relu_true[negative] == 0) and np.all(relu_true[~negative] == 1)
for k, d in relu_ad.items():
    assert np.all(d > 0), "the AD is positive everywhere: no unit ever gets exactly zero gradient"
    assert abs(d[z == 0][0] - 0.5) < 1e-12
    assert np.all(np.diff(d) >= 0), "like the step, the AD never decreases"
print(
    "At z = −2 the true derivative is 0; the AD gives",
    {k: float(d[np.argmin(abs(z + 2))]) for k, d in relu_ad.items()},
)

# %% [markdown]
# ## 2. Sigmoid: $y(1-y)$ and $\min(y, 1-y)$
#
# For the sigmoid $y = \sigma(z)$, the true derivative (eq. 10) and the AD (eq. 11) are
#
# $$d_0 = y\,(1 - y), \qquad\qquad d_1 = \min(y,\ 1 - y).$$
#
# Both vanish as $|z| \to \infty$, but the AD is larger everywhere:
# $d_1 / d_0 = 1/\max(y, 1-y)$, which lies between $1$ (far out) and $2$ (at $z = 0$).
# The true derivative is at most $1/4$, so in a deep sigmoid network the derivative
# factors alone shrink the error at least $4\times$ per layer; with the AD, at least $2\times$.

# %%
sigmoid_true = derivative_of(ng.Sigmoid(), z)
sigmoid_ad = derivative_of(ng.Sigmoid(derivative="ad"), z)

fig, ax = plt.subplots(figsize=(5.5, 3.6))
ax.plot(z, sigmoid_true, color="k", lw=2, label=r"sigmoid's derivative $y(1-y)$ (eq. 10)")
ax.plot(z, sigmoid_ad, lw=1.8, label=r"AD $\min(y, 1-y)$ (eq. 11)")
ax.set_xlabel("z")
ax.set_ylabel("d(z)")
ax.set_title("Sigmoid's derivative and the artificial derivative (cf. Fig. 2)")
ax.legend(loc="upper left", fontsize=8)
save(fig, "02_sigmoid_derivatives")

# %%
y_sig = 1 / (1 + np.exp(-z))
assert rel_error(sigmoid_true, y_sig * (1 - y_sig)) < 1e-12
assert rel_error(sigmoid_ad, np.minimum(y_sig, 1 - y_sig)) < 1e-12
ratio = sigmoid_ad / sigmoid_true
assert np.all(ratio >= 1 - 1e-12) and np.all(ratio <= 2 + 1e-12)
print(f"AD / true derivative: {ratio.min():.4f} (at |z| = 6) … {ratio.max():.4f} (at z = 0)")

# %% [markdown]
# ## 3. Same model, different learning
#
# The derivative is used only by `backward`. Two networks with the same weights, one
# with the true derivative and one with the AD, compute exactly the same outputs:

# %%
ng.seed(0)
with_true_derivative = ng.Sequential(ng.Dense(4, 5), ng.ReLU(), ng.Dense(5, 2))
with_ad = ng.Sequential(ng.Dense(4, 5), ng.ReLU(derivative="ad", k=K), ng.Dense(5, 2))
with_ad.load_state_dict(with_true_derivative.state_dict())  # copy the weights over
probe = np.random.default_rng(1).standard_normal((8, 4)).astype(np.float32)
assert np.array_equal(backend.to_numpy(with_true_derivative(probe)), backend.to_numpy(with_ad(probe)))
print(with_true_derivative[1], "and", with_ad[1], "give identical outputs.")

# %% [markdown]
# ## 4. A network that is dead on arrival
#
# A ReLU unit is **dead** when $z < 0$ for every input: it outputs $0$, its true
# derivative is $0$, so no error reaches it and its weights never change — it stays
# dead for good. Here we make *every* hidden unit dead, honestly: a
# $64 \to 32 \to 32 \to 10$ ReLU network on the 8×8 digits (pixels in $[0, 1]$), whose
# hidden biases start at $-2$ instead of near $0$. With weights drawn from
# $U(-1/8, 1/8)$ (the library's default for 64 inputs), no digit pushes $x W^1$ anywhere
# near $+2$ (we check it below), so $z^1 < 0$ everywhere; then $a^1 = 0$, so
# $z^2 = 0 \cdot W^2 + b^2 = -2 < 0$ too.

# %%
data = datasets.digits(image=False)
x_train, y_train = data.x_train, data.y_train
x_test, y_test = data.x_test, data.y_test
print(data.description)

HIDDEN_BIAS = -2.0


def constant(value):
    """An initializer: every entry equals `value`."""
    return lambda shape, fan_in, fan_out, rng: np.full(shape, value)


def dead_relu_net(derivative):
    """64 → 32 → 32 → 10, ReLU hidden layers with biases −2; same weights for any derivative."""
    ng.seed(0)
    return ng.Sequential(
        ng.Dense(64, 32, bias_init=constant(HIDDEN_BIAS)),
        ng.ReLU(derivative=derivative, k=K),
        ng.Dense(32, 32, bias_init=constant(HIDDEN_BIAS)),
        ng.ReLU(derivative=derivative, k=K),
        ng.Dense(32, 10),
    )


def dead_fraction(net, x):
    """Fraction of hidden ReLU units whose output is 0 on every sample of x.

    Reads each ReLU's cached output `a` from the forward pass net(x)."""
    net(x)
    return dead_after_forward(net)


def dead_after_forward(net):
    """The dead fraction from the activations the last forward pass left in the ReLU layers."""
    alive = [backend.to_numpy(layer.a > 0).any(axis=0) for layer in net if isinstance(layer, ng.ReLU)]
    return 1.0 - float(np.concatenate(alive).mean())


net = dead_relu_net("true")
net(x_train)
print("largest z¹ over all training digits:", float(backend.to_numpy(net[0](x_train)).max()))
print("fraction of dead hidden units:", dead_fraction(net, x_train))
assert dead_fraction(net, x_train) == 1.0

# %% [markdown]
# With every hidden output at $0$, the network's output is $z^3 = 0 \cdot W^3 + b^3 = b^3$,
# the same for every digit. The best such a network can do is predict the class
# frequencies $p_c$, with cross-entropy $H = -\sum_c p_c \log p_c$ — the **constant-predictor
# floor**. Any loss below it requires hidden units that are alive.

# %%
class_freq = np.bincount(y_train, minlength=10) / len(y_train)
floor = float(-(class_freq * np.log(class_freq)).sum())
print(f"constant-predictor floor H = {floor:.4f}   (log 10 = {np.log(10):.4f})")

# %% [markdown]
# ### Training, with the true derivative and with the AD
#
# Both runs start from the same weights and use the optimiser of the paper's
# hyper-parameter set A: Adam with learning rate $10^{-3}$ and batches of 50. After each epoch we record the training
# loss and the fraction of dead units.

# %%
loss = ng.SoftmaxCrossEntropy()


def train(derivative):
    net = dead_relu_net(derivative)
    start = {name: backend.to_numpy(p.data).copy() for name, p in net.named_parameters()}
    optimizer = ng.Adam(net.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    history = {"loss": [], "dead": []}

    def record():  # one pass over the whole training set
        history["loss"].append(loss(net(x_train), y_train))
        history["dead"].append(dead_after_forward(net))

    record()
    for epoch in range(EPOCHS):
        for idx in datasets.batches(len(x_train), 50, rng):
            net.zero_grad()
            loss(net(x_train[idx]), y_train[idx])
            net.backward(loss.backward())
            optimizer.step()
        record()
    accuracy = float((backend.to_numpy(net(x_test)).argmax(axis=1) == y_test).mean())
    return net, start, history, accuracy


runs = {name: train(name) for name in ("true", "ad")}
for name, (_, _, history, accuracy) in runs.items():
    print(
        f"{name:>4}: loss {history['loss'][0]:.4f} → {history['loss'][-1]:.4f}, "
        f"dead units {history['dead'][0]:.0%} → {history['dead'][-1]:.0%}, test accuracy {accuracy:.1%}"
    )

# %%
fig, (ax_loss, ax_dead) = plt.subplots(1, 2, figsize=(10, 3.6))
labels = {"true": "true derivative $d_0$", "ad": rf"AD $\sigma({K:g}\,z)$"}
for name, (_, _, history, _) in runs.items():
    ax_loss.plot(history["loss"], marker=".", label=labels[name])
    ax_dead.plot(history["dead"], marker=".", label=labels[name])
ax_loss.axhline(floor, color="k", ls=":", zorder=3, label="constant-predictor floor")
ax_loss.set_yscale("log")
ax_loss.set_xlabel("epoch")
ax_loss.set_ylabel("training loss (log scale)")
ax_loss.set_title("All hidden units dead at the start")
ax_loss.legend(fontsize=8)
ax_dead.set_xlabel("epoch")
ax_dead.set_ylabel("fraction of dead hidden units")
ax_dead.set_ylim(-0.05, 1.05)
ax_dead.set_title("Dead units (zero output on every training digit)")
ax_dead.legend(fontsize=8)
fig.tight_layout()
save(fig, "02_dead_relu_training")

# %% [markdown]
# What happened:
#
# * **True derivative.** Every $d^l$ in the hidden layers is $0$, so every $\delta^l$ below
#   the output is $0$ and every hidden weight gradient is exactly $0$ — Adam moves nothing.
#   Only the output bias $b^3$ learns (its gradient does not pass through a ReLU); it
#   learns the class frequencies, the loss sinks to the constant-predictor floor and stays.
# * **AD.** $d^l = \sigma(k z^l)$ is small for $z^l \approx -2$ (about $10^{-3}$ for
#   $k = 3.5$) but not zero. The error reaches the hidden layers, their weights and biases
#   move (the biases rise from $-2$), and the units come back to life one after another.
# * **The optimiser matters too.** Adam rescales each parameter's step by that
#   parameter's typical gradient size, so a small-but-nonzero gradient still gives a
#   full-sized step, while a gradient that is exactly zero stays zero. With plain SGD
#   (learning rate 0.1) the AD gradients here are too small: in our runs no unit revived
#   within 60 epochs, for $k = 3.5$ and $k = 1$ alike. The AD makes the gradient nonzero;
#   Adam makes a nonzero gradient count.
#
# The checks below make each of these claims executable.

# %%
true_net, true_start, true_history, _ = runs["true"]
ad_net, ad_start, ad_history, ad_accuracy = runs["ad"]

for name, p in true_net.named_parameters():
    moved = not np.array_equal(backend.to_numpy(p.data), true_start[name])
    assert moved == (name == "4.bias"), f"{name}: only the output bias can learn"
for name, p in ad_net.named_parameters():
    assert not np.array_equal(backend.to_numpy(p.data), ad_start[name]), f"{name} did not move"
    if name in ("0.bias", "2.bias"):
        print(f"AD run, mean {name}: {ad_start[name].mean():+.3f} → {float(p.data.mean()):+.3f}")
assert true_history["dead"][-1] == 1.0, "with the true derivative, dead units stay dead"
assert min(true_history["loss"]) > floor - 1e-4, "a network of dead units cannot beat the floor"

assert ad_history["dead"][-1] < 0.5 * ad_history["dead"][0], "the AD should revive most units"
assert ad_history["loss"][-1] < 0.5 * floor, "the AD run should learn far below the floor"
print(
    f"AD run: {ad_history['dead'][-1]:.0%} dead at the end, loss {ad_history['loss'][-1]:.3f} "
    f"< floor {floor:.3f}, test accuracy {ad_accuracy:.1%}"
)

# %% [markdown]
# ## 5. Gradient checking no longer applies …
#
# In Lesson 01 finite differences were the referee. Let's run the same check on a
# network with the AD. We take a fresh one — the same shape, ordinary initial biases, so
# its units are alive — and 16 digits. (The network trained above already fits these
# digits so well that most of its gradients are tiny, which makes any check harder to
# read; more on that below.)


# %%
def fresh_net(derivative):
    """64 → 32 → 32 → 10 ReLU network with the library's default initialisation."""
    ng.seed(1)
    return ng.Sequential(
        ng.Dense(64, 32),
        ng.ReLU(derivative=derivative, k=K),
        ng.Dense(32, 32),
        ng.ReLU(derivative=derivative, k=K),
        ng.Dense(32, 10),
    )


x_check, y_check = x_train[:16], y_train[:16]
ad_check_net = fresh_net("ad")
ad_report = ng.gradcheck(ad_check_net, ng.SoftmaxCrossEntropy(), x_check, y_check)
print(ad_report)
assert not ad_report.passed and ad_report.max_rel_error > 0.5

# %% [markdown]
# It fails — and it should. Finite differences measure how the loss **really** changes,
# $\partial C/\partial\theta$. The AD backward multiplies by $\sigma(k z)$ instead of
# $f'(z)$, so its numbers are *not* $\partial C/\partial\theta$: for a unit with $z > 0$
# it uses $\sigma(kz) < 1$ where the truth is $1$, and for $z < 0$ it reports a gradient
# where the truth is $0$. Relative errors near $2$ mean the two even disagree in sign.
# Only the output layer's own gradients (`4.weight`, `4.bias`) are unaffected — no ReLU
# lies between them and the loss; their small relative errors have another cause, which
# we meet in a moment. The AD is a deliberate change to the *learning rule*, not a bug —
# so the gradient check can no longer tell right from wrong.
#
# For comparison, the very same weights with the true derivative swapped back in
# (`set_derivative` changes only the backward):

# %%
checked = copy.deepcopy(ad_check_net)
for layer in checked:
    if isinstance(layer, ng.ReLU):
        layer.set_derivative("true")
true_report = ng.gradcheck(checked, ng.SoftmaxCrossEntropy(), x_check, y_check)
print(true_report)
assert true_report.passed, "the true derivative must pass the finite-difference check"

# %% [markdown]
# This one passes — but look at the first line of the report. Some gradient entries here
# are tiny ($10^{-6}$ to $10^{-7}$), and their *absolute* errors are a few
# $\times 10^{-11}$. That is the resolution of the difference quotient itself: $C \approx
# 2.3$ is known to about $\varepsilon_{64} C$ (16 digits), and dividing a difference of two
# such numbers by $2h$ leaves an uncertainty of about $\varepsilon_{64} C / h \approx
# 5\times 10^{-11}$. A gradient of $10^{-7}$ cannot be checked to 7 digits at that
# resolution, so `gradcheck` floors the denominator of the relative error at
# (resolution / tolerance): an error as large as the resolution then counts as exactly
# the tolerance, and entries well above it keep their plain relative error. Lesson 01's
# rule of thumb ("$\lesssim 10^{-7}$ is right") assumes gradients well above the floor;
# a network of this size has some that are not. Compare both backward passes with
# the floor directly:

# %%
C_check = ng.SoftmaxCrossEntropy()(checked(x_check), y_check)  # ≈ 2.3
noise_floor = np.finfo(np.float64).eps * C_check / 1e-5  # ε·C/h, h = 1e-5 (gradcheck's default)
worst_true = max(p.max_abs_error for p in true_report.params)
worst_ad = max(p.max_abs_error for p in ad_report.params)
print(f"finite-difference resolution ε·C/h ≈ {noise_floor:.1e}")
print(f"largest absolute error, true derivative: {worst_true:.1e}   AD: {worst_ad:.1e}")
assert worst_true < 20 * noise_floor, "the true-derivative backward should agree to the resolution"
assert worst_ad > 1e5 * noise_floor, "the AD backward differs far beyond the resolution"

# %% [markdown]
# ## 6. … so verify the AD backward against the explicit recursion
#
# What *can* be checked is that the backward computes what we meant: the recursion
#
# $$\delta^L = \frac{\partial C}{\partial a^L} \odot d^L,\qquad
#   \delta^l = \left(W^{l+1\,T}\delta^{l+1}\right) \odot d^l,\qquad
#   \frac{\partial C}{\partial W^l} = a^{l-1\,T}\delta^l,\qquad
#   \frac{\partial C}{\partial b^l} = \sum_n \delta^l_n$$
#
# with the **same** $d^l$ — here $\sigma(k z^l)$. `ng.explicit_backward` writes this
# recursion out as one textbook loop (Nielsen's `backprop`, with lists of $z^l$ and
# $a^l$), independently of the layer-by-layer `Sequential.backward`. If the two agree,
# the AD backward is right. We compare them in float64, on the network the AD trained
# in section 4:

# %%
net64 = copy.deepcopy(ad_net).astype(np.float64)
x64 = x_check.astype(np.float64)

loss64 = ng.SoftmaxCrossEntropy()
loss64(net64(x64), y_check)
delta_out = loss64.backward()  # ∂C/∂a^L (the top layer is Dense: d^L = 1)
net64.zero_grad()
dC_dx = net64.backward(delta_out)

explicit = ng.explicit_backward(net64, x64, delta_out)
for name, p in net64.named_parameters():
    err = rel_error(p.grad, explicit[name])
    print(f"{name:9s} Sequential.backward vs explicit recursion: relative error {err:.1e}")
    assert err < 1e-7, f"the AD backward disagrees with the recursion for {name}"
assert rel_error(dC_dx, explicit["input"]) < 1e-7
print("The AD backward equals the explicit recursion with d = σ(k z) to 1e-7.")

# %% [markdown]
# The comparison has teeth: the recursion with the *true* derivative gives different
# numbers, so a backward that silently ignored the AD would be caught.

# %%
with_true_d = copy.deepcopy(net64)
for layer in with_true_d:
    if isinstance(layer, ng.ReLU):
        layer.set_derivative("true")
explicit_true = ng.explicit_backward(with_true_d, x64, delta_out)
difference = max(rel_error(p.grad, explicit_true[name]) for name, p in net64.named_parameters())
print(f"AD backward vs recursion with the true derivative: relative error {difference:.2f}")
assert difference > 1e-2

# %% [markdown]
# ## Summary
#
# * Backpropagation multiplies by $d^l$ once per layer. Replacing $d^l = f'(z^l)$ by an
#   artificial derivative — $\sigma(kz)$ for ReLU, $\min(y, 1-y)$ for sigmoid — changes how
#   the network learns, never what it computes.
# * The ReLU AD is never zero, so dead units still receive gradient and can revive; the
#   true derivative leaves them dead for good.
# * With an AD, the backward no longer computes $\partial C/\partial\theta$, so a
#   finite-difference check *must* fail. The right check is the explicit recursion with
#   the same $d$.
#
# **Try it.** Set `K = 1.0` (eq. 8): do the units revive sooner? Replace Adam by
# `ng.SGD(net.parameters(), lr=0.1)` and explain why nothing revives (hint: the gradient
# of $W^1$ carries the AD factors of *both* hidden layers). Start the biases at $-1$
# instead of $-2$: how many units are dead at the start? The paper also *switches*
# between the AD and the true derivative during training
# (`nanograd_ad.train.SwitchingRule`).
