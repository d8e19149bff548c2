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
#
# You write the artificial derivatives, the constant-predictor floor and the AD backward
# yourself (exercise cells: replace `raise NotImplementedError()`); `ng.check` tells you
# what is wrong if they are. Time: about 40 minutes. Prerequisite: Lesson 01.

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
# `QUICK = True` trains for 15 epochs (what the automatic tests use); `QUICK = False` for
# 60. `FIGURE_DIR` is a folder where the figures are also saved as PNG files
# (`None`: only show them in the notebook). `K` (the AD's slope) and `HIDDEN_BIAS` (the
# hidden biases' starting value) are there for the "Try it" at the end. This cell is
# tagged `parameters`.

# %% tags=["parameters"]
QUICK = False
FIGURE_DIR = None
K = 3.5  # the AD for ReLU is sigmoid(K·z); the paper's experiments use 3.5
HIDDEN_BIAS = -2.0

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

# %% [markdown]
# **Exercise 1.** Write the AD of eq. 8 yourself, $d_1(z) = \sigma(kz) = 1/(1 + e^{-kz})$,
# in NumPy (float64; the values of `z` here are small, so `np.exp` cannot overflow).


# %% exercise="relu_ad" nbgrader={"grade": false, "grade_id": "relu_ad", "locked": false, "schema_version": 3, "solution": true, "task": false}
def relu_ad_of(z, k):
    """The artificial derivative of ReLU, σ(k·z) (Hu, Zhang & Ge 2021, eq. 8)."""
    ### BEGIN SOLUTION
    return 1.0 / (1.0 + np.exp(-k * z))
    ### END SOLUTION


# %% check="relu_ad" nbgrader={"grade": true, "grade_id": "check_relu_ad", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(1, "relu_ad"):
    ng.check(
        "relu_ad_of(z, K)",
        relu_ad_of(z, K),
        relu_ad[K],
        hints={"the true derivative (the step of eq. 7) instead of the AD σ(kz)": relu_true},
    )
    ng.check("relu_ad_of(z, 1)", relu_ad_of(z, 1.0), relu_ad[1.0])
    ### BEGIN HIDDEN TESTS
    hidden_z = 4 * np.random.default_rng(12).standard_normal((3, 4))  # a 2-D array, another k
    ng.check(
        "relu_ad_of(z, 2.5) of a 3×4 array",
        relu_ad_of(hidden_z, 2.5),
        derivative_of(ng.ReLU(derivative="ad", k=2.5), hidden_z),
    )
    ### END HIDDEN TESTS

# %% alt="ReLU's true derivative (a step) beside the artificial derivative sigma(kz) for several k, against z."
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
for d in relu_ad.values():
    assert np.all(d > 0), "on this range the AD is positive: no unit gets exactly zero gradient"
    assert abs(d[z == 0][0] - 0.5) < 1e-12
    assert np.all(np.diff(d) >= 0), "like the step, the AD never decreases"
print(
    "At z = −2 the true derivative is 0; the AD gives",
    {k: float(d[np.argmin(abs(z + 2))]) for k, d in relu_ad.items()},
)

# %% [markdown]
# **"Never zero", precisely.** Mathematically $\sigma(kz) > 0$ for every $z$. A computer
# stores it as a floating-point number, and the library trains in **float32**, whose
# smallest *normal* positive number is $2^{-126} \approx 1.18\cdot10^{-38}$. Below that come
# the *subnormal* numbers (fewer and fewer significant digits, down to $2^{-149} \approx
# 1.4\cdot10^{-45}$), and then $0$. Since $\sigma(kz) \approx e^{kz}$ for very negative
# $kz$, the precise statement is:
#
# > in float32 the AD is positive wherever its value is a normal float32 — for
# > $kz \ge \ln 2^{-126} \approx -87.3$ — subnormal below that, and exactly $0$ once
# > $e^{kz}$ drops under half the smallest subnormal ($kz \lesssim -103.97$).
#
# For $k = 3.5$ that is every $z \ge -24.9$: far beyond any pre-activation a sane network
# produces. (This needs a sigmoid computed tail-accurately, as $e^{z}/(1+e^{z})$ for
# $z < 0$; the textbook $1/(1+e^{-z})$ in float32 overflows $e^{-z}$ to $\infty$ at
# $z < -88.7$ and the common $\tfrac12(1 + \tanh(z/2))$ rounds to $0$ already near
# $z \approx -17$.) Let's verify it on the library's float32 AD:

# %%
z32 = np.linspace(-40, 0, 400_001, dtype=np.float32)
ad32 = derivative_of(ng.ReLU(derivative="ad", k=K), z32)
exact = 1.0 / (1.0 + np.exp(-K * z32.astype(np.float64)))  # float64 reference, no underflow here
tiny = np.finfo(np.float32).tiny  # smallest normal float32, 2^-126
assert ad32.dtype == np.float32
normal = exact >= tiny
assert np.all(ad32[normal] > 0), "the AD must be positive wherever its value is a normal float32"
ng.check("float32 AD where normal", ad32[normal], exact[normal], rtol=1e-6)
print(f"float32 AD, k = {K:g}: normal for k·z ≥ {K * z32[normal].min():.2f}, ", end="")
print(f"exactly 0 for k·z ≤ {K * z32[ad32 == 0].max():.2f}" if np.any(ad32 == 0) else "never 0 on this range")

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
y_sig = 1 / (1 + np.exp(-z))

# %% [markdown]
# **Exercise 2.** Write the sigmoid's AD (eq. 11) as a function of the output $y = \sigma(z)$.


# %% exercise="sigmoid_ad" nbgrader={"grade": false, "grade_id": "sigmoid_ad", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sigmoid_ad_of(y):
    """The artificial derivative of the sigmoid, min(y, 1 − y) (Hu, Zhang & Ge 2021, eq. 11)."""
    ### BEGIN SOLUTION
    return np.minimum(y, 1 - y)
    ### END SOLUTION


# %% check="sigmoid_ad" nbgrader={"grade": true, "grade_id": "check_sigmoid_ad", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(2, "sigmoid_ad"):
    ng.check(
        "sigmoid_ad_of(y)",
        sigmoid_ad_of(y_sig),
        sigmoid_ad,
        hints={"the true derivative y(1 − y) (eq. 10) instead of the AD min(y, 1 − y)": sigmoid_true},
    )
    ### BEGIN HIDDEN TESTS
    hidden_z = 6 * np.random.default_rng(13).standard_normal((2, 5))  # both tails, a 2-D array
    ng.check(
        "sigmoid_ad_of(y) of a 2×5 array",
        sigmoid_ad_of(1 / (1 + np.exp(-hidden_z))),
        derivative_of(ng.Sigmoid(derivative="ad"), hidden_z),
    )
    ### END HIDDEN TESTS

# %% alt="The sigmoid's true derivative beside the artificial derivative min(y, 1 - y), against z."

fig, ax = plt.subplots(figsize=(5.5, 3.6))
ax.plot(z, sigmoid_true, color="k", lw=2, label=r"sigmoid's derivative $y(1-y)$ (eq. 10)")
ax.plot(z, sigmoid_ad, lw=1.8, label=r"AD $\min(y, 1-y)$ (eq. 11)")
ax.set_xlabel("z")
ax.set_ylabel("d(z)")
ax.set_title("Sigmoid's derivative and the artificial derivative (cf. Fig. 2)")
ax.legend(loc="upper left", fontsize=8)
save(fig, "02_sigmoid_derivatives")

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


def constant(value):
    """An initializer: every entry equals `value`."""
    return lambda shape, fan_in, fan_out, rng: np.full(shape, value)


def dead_relu_net(derivative, k=None, bias=None):
    """64 → 32 → 32 → 10, ReLU hidden layers; same weights for any derivative.

    k: the AD's slope (default K); bias: the hidden biases' start (default HIDDEN_BIAS)."""
    k = K if k is None else k
    bias = HIDDEN_BIAS if bias is None else bias
    ng.seed(0)
    return ng.Sequential(
        ng.Dense(64, 32, bias_init=constant(bias)),
        ng.ReLU(derivative=derivative, k=k),
        ng.Dense(32, 32, bias_init=constant(bias)),
        ng.ReLU(derivative=derivative, k=k),
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

#
# **Exercise 3.** Compute `floor` $= H$ from the class frequencies `class_freq` (natural log).

# %%
class_freq = np.bincount(y_train, minlength=10) / len(y_train)

# %% exercise="floor" nbgrader={"grade": false, "grade_id": "floor", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
floor = float(-(class_freq * np.log(class_freq)).sum())
### END SOLUTION

# %% check="floor" nbgrader={"grade": true, "grade_id": "check_floor", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(3, "floor"):
    # The library's loss of the best constant predictor: logits log p_c for every digit.
    constant_logits = np.tile(np.log(class_freq), (len(y_train), 1))
    ng.check(
        "floor",
        floor,
        ng.SoftmaxCrossEntropy()(constant_logits, y_train),
        rtol=1e-6,
        hints={"log base 2 instead of the natural log": float(-(class_freq * np.log2(class_freq)).sum())},
    )
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
    for _ in range(EPOCHS):
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

# %% alt="Loss and the number of dead units over training, for the true derivative (stuck) and the artificial derivative (learning)."
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
#   within 60 epochs. The AD makes the gradient nonzero;
#   Adam makes a nonzero gradient count (the next section shows why SGD fails).
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
# ### Why plain SGD revives nothing: float32's resolution
#
# Replace Adam by `ng.SGD(net.parameters(), lr=0.1)` in `train` and, with the paper's
# $k = 3.5$, the check above fails with `0.bias did not move`. The AD gradient of $b^1$ is not zero — but SGD's
# update $\eta\,\partial C/\partial b^1$ is smaller than the gap between $-2$ and the
# next float32, so $b^1 - \eta\,\partial C/\partial b^1$ rounds back to exactly $-2$.
#
# How small is it? $\delta^1 = (\delta^2 W^{2T}) \odot \sigma(k z^1)$ and
# $\delta^2 = (\delta^3 W^{3T}) \odot \sigma(k z^2)$ with $z^1, z^2 \approx -2$: two AD factors
# $\sigma(-7) \approx 9\cdot10^{-4}$ in a row, times two weight matrices of entries
# $\approx 0.1$, times $\delta^3 = (p - y)/50$, summed over the batch: gradients of
# order $10^{-8}$ to $10^{-7}$, so updates $\eta\,\partial C/\partial b^1$ of about $10^{-8}$. Float32 carries 24 significant bits: its neighbours of $-2$
# are $-2 + 2^{-23}$ and $-2 - 2^{-22}$, so any update below $2^{-24} \approx 6\cdot10^{-8}$
# in size is rounded away — every step, for good. Adam's first step is about the
# learning rate, $10^{-3}$, whatever the gradient's size. We measure one SGD step at
# $k = 3.5$ and biases $-2$, whatever the parameters cell says (with $k = 1$ the AD factor at $z = -2$ is $\sigma(-2) \approx 0.12$, over a
# hundred times larger, and the updates are large enough to move $b^1$):

# %%
sgd_net = dead_relu_net("ad", k=3.5, bias=-2.0)
first_batch = next(iter(datasets.batches(len(x_train), 50, np.random.default_rng(0))))
sgd_net.zero_grad()
loss(sgd_net(x_train[first_batch]), y_train[first_batch])
sgd_net.backward(loss.backward())
bias_before = backend.to_numpy(sgd_net[0].bias.data).copy()
update = 0.1 * backend.to_numpy(sgd_net[0].bias.grad)  # what SGD(lr=0.1) subtracts from b¹
ng.SGD(sgd_net.parameters(), lr=0.1).step()
half_gap = 2.0**-24  # half the gap from −2 to its nearer float32 neighbour −2 + 2⁻²³
print(f"largest |SGD update| of b¹: {np.abs(update).max():.1e}   half the float32 gap at −2: {half_gap:.1e}")
assert 0 < np.abs(update).max() < half_gap, (
    "the AD gradient is nonzero, but its SGD update is below float32's resolution"
)
assert np.array_equal(backend.to_numpy(sgd_net[0].bias.data), bias_before), "so b¹ stays exactly −2"

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
# **Exercise 4.** Now write that recursion yourself for this network. The forward pass
# is done below; `delta_out` $= \partial C/\partial z^3$ (the top layer is `Dense`, so
# $d^3 = 1$ and $\delta^3$ = `delta_out`). Compute $\delta^2$, $\delta^1$ with the AD
# $d^l = \sigma(K z^l)$ (your `relu_ad_of`) and `grad_W1` $= \partial C/\partial W^1$ as the AD
# backward defines it.

# %%
W1_, W2_, W3_ = (backend.to_numpy(net64[i].weight.data) for i in (0, 2, 4))
b1_, b2_ = (backend.to_numpy(net64[i].bias.data) for i in (0, 2))
z1_ = x64 @ W1_ + b1_
z2_ = np.maximum(z1_, 0) @ W2_ + b2_

# %% exercise="ad_backward" nbgrader={"grade": false, "grade_id": "ad_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
delta_3 = backend.to_numpy(delta_out)
delta_2 = (delta_3 @ W3_.T) * relu_ad_of(z2_, K)
delta_1 = (delta_2 @ W2_.T) * relu_ad_of(z1_, K)
grad_W1 = x64.T @ delta_1
### END SOLUTION


# %% check="ad_backward" nbgrader={"grade": true, "grade_id": "check_ad_backward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
with ng.checking(4, "ad_backward"):

    def step(v):
        """ReLU's true derivative, 1[v ≥ 0]."""
        return (v >= 0).astype(float)

    true_d_grad_W1 = x64.T @ ((((backend.to_numpy(delta_out) @ W3_.T) * step(z2_)) @ W2_.T) * step(z1_))
    ng.check(
        "grad_W1",
        grad_W1,
        net64[0].weight.grad,
        hints={
            "the true derivative f′(z) = 1[z ≥ 0] instead of the artificial derivative σ(kz)": true_d_grad_W1
        },
    )
    ### BEGIN HIDDEN TESTS
    # Your δ² and δ¹ themselves, through the other gradients the AD backward stored: ∂C/∂W² = a¹ᵀ δ²,
    # ∂C/∂b¹ = Σ_n δ¹_n, ∂C/∂x = δ¹ W¹ᵀ (every entry of δ¹), the same d = σ(K z) at both layers.
    ng.check("a¹ᵀ delta_2 against ∂C/∂W²", np.maximum(z1_, 0).T @ delta_2, net64[2].weight.grad)
    ng.check("Σ_n delta_1 against ∂C/∂b¹", delta_1.sum(axis=0), net64[0].bias.grad)
    ng.check("delta_1 W¹ᵀ against ∂C/∂x", delta_1 @ W1_.T, dC_dx)
    ### END HIDDEN TESTS

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
# **Try it.** Set `K = 1.0` (eq. 8) in the parameters cell: the AD factor at $z = -2$ is
# then $\sigma(-2) \approx 0.12$ instead of $\sigma(-7) \approx 9\cdot10^{-4}$ — do the units
# revive sooner? With `K = 3.5`, replace Adam by `ng.SGD(net.parameters(), lr=0.1)` in
# `train`: the check after the training plot then fails with `0.bias did not move` — the section on
# float32's resolution says why (the gradient of $b^1$ carries the AD factors of *both*
# hidden layers). Set `HIDDEN_BIAS = -1.0`: how many units are dead at the start, and
# how close to alive is the liveliest (look at the largest $z^1$)? The paper also *switches*
# between the AD and the true derivative during training (`ng.SwitchingRule`).
