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
# 2. compute the errors $\delta^L$ and $\delta^l = (\delta^{l+1} W^{l+1\,T}) \odot f'(z^l)$ by hand, in NumPy;
# 3. check that `Sequential.backward` of `nanograd_ad` produces exactly the same numbers;
# 4. check both against finite differences, and learn to read a *relative error*;
# 5. draw the network with its $\delta$ values, and train it with the gradients you computed.
#
# Nothing here is hidden: every number the library produces, you will produce first.
#
# **How the exercises work.** Each exercise cell holds `# YOUR CODE HERE` and
# `raise NotImplementedError()`: replace both by your code. The cell after it calls
# `ng.check(name, yours, expected)`, which is silent when your array is right and
# otherwise tells you which array is wrong, where, by how much — and, when it recognises
# the mistake (a transposed matrix, a missing sum or $1/N$, a flipped sign), what it
# probably is. Time: about 45 minutes. Prerequisites: NumPy arrays and the chain rule.

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
# `QUICK = True` takes 300 gradient-descent steps at the end (what the automatic tests
# use); `QUICK = False` takes 3000. `FIGURE_DIR` is a folder where the figures are also
# saved as PNG files (`None`: only show them in the notebook). `ACTIVATION`
# (`"sigmoid"` or `"tanh"`) and `HIDDEN` (the number of hidden units) are there for the
# "Try it" at the end. This cell is tagged `parameters`, so tools such as the test suite
# or papermill can override it.

# %% tags=["parameters"]
QUICK = False
FIGURE_DIR = None
ACTIVATION = "sigmoid"
HIDDEN = 3

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
# $$z^1 = x\,W^1 + b^1,\quad a^1 = f(z^1),\qquad z^2 = a^1 W^2 + b^2,\quad a^2 = f(z^2),\qquad f = \sigma .$$
#
# Shapes (rows are samples): $W^1$ is $(2, 3)$, $b^1$ is $(3,)$, $z^1, a^1$ are $(4, 3)$;
# $W^2$ is $(3, 1)$, $b^2$ is $(1,)$, $z^2, a^2$ are $(4, 1)$. Here $L = 2$ is the top layer.
#
# The loss is the mean squared error over the $N \cdot 1$ outputs:
#
# $$C = \frac{1}{N}\sum_{n=1}^{N} \left(a^2_n - y_n\right)^2 .$$
#
# Below, `f(z)` is the activation and `f_prime(a)` its derivative *written through the
# output* $a = f(z)$: for the sigmoid $\sigma'(z) = \sigma(z)(1-\sigma(z)) = a(1-a)$; for
# tanh $\tanh'(z) = 1 - a^2$. Use these two functions in your code, and the "Try it" at
# the end (`ACTIVATION = "tanh"`) will work without touching your exercises.
#
# In `nanograd_ad` the activation is a layer of its own, so the network is four layers:

# %%
ACTIVATIONS = {
    # name: (f, f′ through a = f(z), the library's layer, a step size that trains XOR)
    "sigmoid": (lambda z: 1.0 / (1.0 + np.exp(-z)), lambda a: a * (1 - a), ng.Sigmoid, 5.0),
    "tanh": (np.tanh, lambda a: 1 - a**2, ng.Tanh, 0.5),
}
f, f_prime, Activation, ETA = ACTIVATIONS[ACTIVATION]

ng.seed(0)  # the same weights every time you run this
net = ng.Sequential(ng.Dense(2, HIDDEN), Activation(), ng.Dense(HIDDEN, 1), Activation())
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
#
# **Exercise 1.** Complete `forward_by_hand`: return $z^1, a^1, z^2, a^2$ for all four
# samples at once (one matrix product per layer, the bias added to every row).


# %% exercise="forward" nbgrader={"grade": false, "grade_id": "forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def forward_by_hand(x, W1, b1, W2, b2):
    """Every intermediate of the forward pass, by name: z1, a1 (N, HIDDEN); z2, a2 (N, 1)."""
    ### BEGIN SOLUTION
    z1 = x @ W1 + b1
    a1 = f(z1)
    z2 = a1 @ W2 + b2
    a2 = f(z2)
    ### END SOLUTION
    return z1, a1, z2, a2


# %% check="forward" nbgrader={"grade": true, "grade_id": "check_forward", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(1, "forward"):
    z1, a1, z2, a2 = forward_by_hand(x, W1, b1, W2, b2)
    ng.check("z1", z1, backend.to_numpy(net[0](x)))  # the library's first Dense layer
    ng.check("a1", a1, backend.to_numpy(net[1](net[0](x))))  # ... and its activation
    ng.check("z2", z2, backend.to_numpy(net[2](net[1](net[0](x)))))  # the second Dense layer
    ng.check("a2", a2, backend.to_numpy(net(x)))  # the whole network
    print("a2 =", a2.ravel().round(4))
    ### BEGIN HIDDEN TESTS
    hidden_x = np.random.default_rng(11).standard_normal((3, 2))  # three other samples
    hidden_out = forward_by_hand(hidden_x, W1, b1, W2, b2)
    ng.check("z1 of three other samples", hidden_out[0], backend.to_numpy(net[0](hidden_x)))
    ng.check("a2 of three other samples", hidden_out[3], backend.to_numpy(net(hidden_x)))
    ng.check("a2 of one sample", forward_by_hand(x[1:2], W1, b1, W2, b2)[3], backend.to_numpy(net(x[1:2])))
    net(x)  # the network's cache back on the lesson's data
    ### END HIDDEN TESTS

# %% [markdown]
# **Exercise 2.** The loss $C = \frac1N\sum_n (a^2_n - y_n)^2$, as a Python float.


# %% exercise="cost" nbgrader={"grade": false, "grade_id": "cost", "locked": false, "schema_version": 3, "solution": true, "task": false}
def cost_by_hand(x, y, W1, b1, W2, b2):
    """C = (1/N) Σ_n (a²_n − y_n)²."""
    a2 = forward_by_hand(x, W1, b1, W2, b2)[-1]
    ### BEGIN SOLUTION
    return float(np.mean((a2 - y) ** 2))
    ### END SOLUTION


# %% check="cost" nbgrader={"grade": true, "grade_id": "check_cost", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
with ng.checking(2, "cost"):
    loss = ng.MSE()
    C = cost_by_hand(x, y, W1, b1, W2, b2)
    ng.check("C", C, loss(net(x), y), factors={"N": N})  # the library's MSE
    print(f"C = {C:.6f}")
    ### BEGIN HIDDEN TESTS
    hidden_x = np.random.default_rng(12).standard_normal((3, 2))  # another batch size: N = 3
    hidden_y = np.array([[0.2], [0.9], [0.4]])
    ng.check(
        "C of three other samples",
        cost_by_hand(hidden_x, hidden_y, W1, b1, W2, b2),
        ng.MSE()(net(hidden_x), hidden_y),
        factors={"N": 3},
    )
    net(x)
    ### END HIDDEN TESTS

# %% [markdown]
# ## 2. The backward pass, by hand
#
# Write $\delta^l = \partial C/\partial z^l$ — how much the loss changes when the
# pre-activation of layer $l$ moves. Everything else follows from it.
#
# **Output layer.** By the chain rule through $a^L = f(z^L)$,
#
# $$\delta^L = \frac{\partial C}{\partial a^L} \odot f'(z^L)
#   = \frac{2}{N}\left(a^L - y\right) \odot f'(z^L),$$
#
# where $\odot$ multiplies entry by entry; for the sigmoid $f'(z^L) = a^L(1 - a^L)$.
#
# **Exercise 3.** Compute `dC_da2` $= \partial C/\partial a^2$ and `delta2` $= \delta^2$,
# both of shape $(4, 1)$.

# %% exercise="delta_output" nbgrader={"grade": false, "grade_id": "delta_output", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
dC_da2 = 2.0 * (a2 - y) / N  # ∂C/∂a², shape (4, 1)
delta2 = dC_da2 * f_prime(a2)  # δ² = ∂C/∂a² ⊙ f′(z²)
### END SOLUTION

# %% check="delta_output" nbgrader={"grade": true, "grade_id": "check_delta_output", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(3, "delta_output"):
    # The library's loss returns ∂C/∂a² (MSE's backward); its output activation turns that into δ².
    loss(net(x), y)
    ng.check("dC_da2", dC_da2, loss.backward(), factors={"N": N})
    ng.check(
        "delta2", delta2, net[3].backward(loss.backward()), hints={"yours lacks the factor f′(z²)": dC_da2}
    )
    print("δ² =", delta2.ravel())

# %% [markdown]
# **Hidden layer.** $z^2$ depends on $z^1$ through $a^1$, and each hidden unit feeds the
# output through its weight. Summing over the paths gives the recursion. In the
# textbook form (Nielsen), one sample is a *column* and $W^{l+1}$ is stored
# $(D_{out}, D_{in})$:
#
# $$\delta^l = \left(W^{l+1\,T}\,\delta^{l+1}\right) \odot f'(z^l) \qquad\text{(column form)}.$$
#
# Our samples are *rows* and our $W$ is stored $(D_{in}, D_{out})$ — the transpose of the
# textbook's matrix — so the same formula reads, for all four samples at once,
#
# $$\delta^l = \left(\delta^{l+1}\, W^{l+1\,T}\right) \odot f'(z^l), \qquad
#   \delta^1:\ (4,1)\cdot(1,3) \to (4,3).$$
#
# **Exercise 4.** Compute `delta1` $= \delta^1$, shape $(4, 3)$.

# %% exercise="delta_hidden" nbgrader={"grade": false, "grade_id": "delta_hidden", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
delta1 = (delta2 @ W2.T) * f_prime(a1)  # δ¹ = (δ² W^{2T}) ⊙ f′(z¹)
### END SOLUTION

# %% check="delta_hidden" nbgrader={"grade": true, "grade_id": "check_delta_hidden", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(4, "delta_hidden"):
    # The library: Dense 2 passes δ² W^{2T} down, the hidden activation multiplies by f′(z¹).
    net(x)
    expected_delta1 = net[1].backward(net[2].backward(delta2))
    ng.check("delta1", delta1, expected_delta1, hints={"yours lacks the factor f′(z¹)": delta2 @ W2.T})
    net.zero_grad()  # Dense 2's backward just stored gradients; clear them
    print("δ¹ =\n", delta1)

# %% [markdown]
# **Gradients.** $z^l = a^{l-1}W^l + b^l$ is linear in $W^l$ and $b^l$, so each sample
# contributes $a^{l-1}_n$ times its $\delta^l_n$; the batch sums them:
#
# $$\frac{\partial C}{\partial W^l} = a^{l-1\,T}\,\delta^l, \qquad
#   \frac{\partial C}{\partial b^l} = \sum_{n} \delta^l_n, \qquad a^0 = x .$$
#
# One more step gives the error that reaches the input, $\partial C/\partial x = \delta^1 W^{1\,T}$.
#
# **Exercise 5.** Fill in the four gradients (named like the library's parameters) and
# `dC_dx`. Mind the shapes: each gradient has the shape of its parameter.

# %% exercise="gradients" nbgrader={"grade": false, "grade_id": "gradients", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
grads_by_hand = {
    "0.weight": x.T @ delta1,  # ∂C/∂W¹ = a^{0T} δ¹   (2, 3)
    "0.bias": delta1.sum(axis=0),  # ∂C/∂b¹ = Σ_n δ¹_n    (3,)
    "2.weight": a1.T @ delta2,  # ∂C/∂W² = a^{1T} δ²   (3, 1)
    "2.bias": delta2.sum(axis=0),  # ∂C/∂b² = Σ_n δ²_n    (1,)
}
dC_dx_by_hand = delta1 @ W1.T  # ∂C/∂x                (4, 2)
### END SOLUTION

# %% check="gradients" nbgrader={"grade": true, "grade_id": "check_gradients", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
with ng.checking(5, "gradients"):
    net.zero_grad()  # gradients accumulate with +=, so start from 0
    loss(net(x), y)
    dC_dx_library = net.backward(loss.backward())
    for name, p in net.named_parameters():
        ng.check(f"grads_by_hand[{name}]", grads_by_hand[name], p.grad, factors={"N": N})
    ng.check("dC_dx_by_hand", dC_dx_by_hand, dC_dx_library)
    for name, g in grads_by_hand.items():
        print(f"{name:9s}", g.ravel().round(6))
    ### BEGIN HIDDEN TESTS
    # Yours must be arrays of your own: the library's next backward (other samples) leaves them as they were.
    hidden_saved = {name: backend.to_numpy(p.grad).copy() for name, p in net.named_parameters()}
    hidden_x = np.random.default_rng(13).standard_normal((3, 2))
    try:
        net.zero_grad()
        loss(net(hidden_x), np.ones((3, 1)))
        net.backward(loss.backward())
        for name, saved in hidden_saved.items():
            ng.check(f"grads_by_hand[{name}] after the library's next backward", grads_by_hand[name], saved)
    finally:  # the network's gradients and caches back on the lesson's data
        net.zero_grad()
        loss(net(x), y)
        net.backward(loss.backward())
    ### END HIDDEN TESTS

# %% [markdown]
# ## 3. The same numbers from `Sequential.backward`
#
# The checks above asked single layers of the library. In one call, the loss hands
# $\partial C/\partial a^L$ to the top layer (here the activation, which multiplies by
# $f'(z^L)$ to make $\delta^L$), and `Sequential.backward` walks down the layers:
#
# | layer | does | passes down |
# |---|---|---|
# | 3 activation | $\delta^2 = \partial C/\partial a^2 \odot f'(z^2)$ | $\delta^2$ |
# | 2 `Dense(3, 1)` | stores $\partial C/\partial W^2 = a^{1T}\delta^2$, $\partial C/\partial b^2$ | $\delta^2 W^{2T}$ |
# | 1 activation | multiplies by $f'(z^1)$ | $\delta^1$ |
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

net.zero_grad()
loss(net(x), y)
net.backward(loss.backward())
print("∂C/∂a² from the loss:", recorder.entering[3].ravel())
print("δ² entering Dense 2: ", recorder.entering[2].ravel())

# %% [markdown]
# The two computations do the same arithmetic, so they agree to the last few bits —
# far below `ng.check`'s default tolerance of $10^{-7}$:

# %%
ng.check("∂C/∂a² entering layer 3", recorder.entering[3], dC_da2)
ng.check("δ² entering layer 2", recorder.entering[2], delta2)
ng.check("δ¹ entering layer 0", recorder.entering[0], delta1)
print("Your δ's match Sequential.backward.")

# %% [markdown]
# ## 4. Checking against finite differences
#
# Both computations above could share the same mistake (a wrong $f'$, a missing
# transpose). An independent referee is the definition of the derivative itself: nudge
# one weight by a small $h$ each way and watch the loss,
#
# $$\frac{\partial C}{\partial \theta} \approx \frac{C(\theta + h) - C(\theta - h)}{2h}, \qquad h = 10^{-5}.$$
#
# **Exercise 6.** Do it by hand for one weight, `W2[1, 0]` (from hidden unit 1 to the
# output, counting from 0): build `W2_plus` and `W2_minus` (copies of `W2` with that entry
# moved by $\pm h$) and compute `numeric` with `cost_by_hand`.

# %% exercise="finite_difference" nbgrader={"grade": false, "grade_id": "finite_difference", "locked": false, "schema_version": 3, "solution": true, "task": false}
h = 1e-5
### BEGIN SOLUTION
W2_plus, W2_minus = W2.copy(), W2.copy()
W2_plus[1, 0] += h
W2_minus[1, 0] -= h
numeric = (cost_by_hand(x, y, W1, b1, W2_plus, b2) - cost_by_hand(x, y, W1, b1, W2_minus, b2)) / (2 * h)
### END SOLUTION

# %% check="finite_difference" nbgrader={"grade": true, "grade_id": "check_finite_difference", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(6, "finite_difference"):
    analytic = grads_by_hand["2.weight"][1, 0]
    ng.check("numeric", numeric, analytic, rtol=1e-6, hints={"divided by h instead of 2h": 2 * analytic})
    print(f"analytic {analytic:.12f}\nnumeric  {numeric:.12f}")
    ### BEGIN HIDDEN TESTS
    # W2 itself is left as it was (nudged copies, not the lesson's W2 moved in place and left moved)
    ng.check("W2 after the finite difference", W2, backend.to_numpy(net[2].weight.data))
    ### END HIDDEN TESTS

# %% [markdown]
# `nanograd_ad.gradcheck` does this for every weight, bias and input entry (in float64,
# on a copy of the network). For each parameter it reports its *worst* entry, the one
# with the largest relative error
#
# $$\text{relative error} = \frac{|\,g_\text{analytic} - g_\text{numeric}\,|}{\max\left(|g_\text{analytic}|,\ |g_\text{numeric}|,\ \text{floor}\right)},
#   \qquad \text{floor} = \frac{\text{resolution}}{\text{tolerance}} .$$
#
# **How to read it.** The relative error is roughly $10^{-(\text{number of digits that agree})}$.
# The difference quotient itself is not exact, for two reasons:
#
# * *truncation*: it is off by about $\tfrac{h^2}{6}\,\partial^3 C/\partial\theta^3 \approx 10^{-11}$;
# * *rounding*: each loss is known to about $\varepsilon_{64}|C|$ ($\varepsilon_{64} \approx 2.2\cdot10^{-16}$),
#   so the quotient is uncertain by about $\varepsilon_{64}|C|/h$.
#
# `gradcheck` therefore uses a **resolution** of $10\,\varepsilon_{64}\max(|C|, 1)/h$
# ($\approx 2.2\cdot10^{-10}$ here, since $C < 1$) — the smallest absolute error it
# trusts itself to see, with a margin of 10 — and a **tolerance** of $10^{-6}$ on the
# relative error. An entry passes when its relative error is below the tolerance. The
# **floor** $=$ resolution / tolerance ($\approx 2.2\cdot10^{-4}$ here) makes an absolute
# error as large as the resolution count as exactly the tolerance, so a gradient smaller
# than the floor is judged by its absolute error (Lesson 02 meets such gradients); entries
# well above the floor keep their plain relative error.
#
# Each line of the report reads `name: max rel error R (abs A) at index I: analytic … vs
# numeric …`. $R$, $I$ and the two values belong to the worst entry by relative error;
# $A$ is the largest *absolute* error over all the parameter's entries, which may sit at
# another index. Our gradients are about $10^{-2}$, far above the floor, so a *correct*
# backward shows relative errors around $10^{-9}$ — well below the tolerance — while a
# *bug* shows $10^{-3}$ to $1$: a wrong factor, a wrong sign, a missing term.

# %%
report = ng.gradcheck(net, ng.MSE(), x, y)
print(report)
resolution = 10 * np.finfo(np.float64).eps * max(abs(C), 1.0) / 1e-5  # gradcheck's default h = 1e-5
assert report.tol == 1e-6 and abs(report.atol - resolution) < 1e-3 * resolution, (
    "the text above is out of date"
)
print(f"resolution {report.atol:.2e}, tolerance {report.tol:g}, floor {report.atol / report.tol:.2e}")
assert report.passed, "the backward pass disagrees with finite differences"
print(f"worst relative error {report.max_rel_error:.1e} < tolerance {report.tol:g}: passed")

# %% [markdown]
# To see what a bug looks like, give the hidden activation a derivative that is 1% too
# large — the kind of slip that is easy to make and hard to notice in a training curve:

# %%
buggy = ng.Sequential(
    ng.Dense(2, HIDDEN),
    Activation(derivative=lambda z, a: 1.01 * f_prime(a)),
    ng.Dense(HIDDEN, 1),
    Activation(),
)
buggy.load_state_dict(net.state_dict())  # the very same weights
buggy_report = ng.gradcheck(buggy, ng.MSE(), x, y)
print(buggy_report)
assert not buggy_report.passed and buggy_report.max_rel_error > 1e-3

# %% [markdown]
# The output layer's gradients are still right (the bug sits below them), but every
# gradient that flows through the hidden activation is off by about 1% — relative error
# $\approx 10^{-2}$, four orders of magnitude above the tolerance.
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


# %% alt="The 2-3-1 XOR network drawn as nodes and edges, each node coloured by its error delta, for the four samples."
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
# Things to notice (for the sigmoid):
#
# * $\delta^2_n$ has the sign of $a^2_n - y_n$: positive (red) where the output is too
#   high (targets 0), negative (blue) where it is too low (targets 1).
# * Each hidden $\delta^1$ is $\delta^2$ times the outgoing weight times $f'(z^1) \le 1/4$.
#   Unless the weights are large, a sigmoid layer shrinks the error at least 4× on its
#   way down — the seed of the *vanishing gradient* that Lesson 04 measures.
# * Since $f' > 0$, the sign of $\delta^1$ follows $\delta^2$ across a solid (positive)
#   edge and flips across a dashed (negative) one.
# * The bias gradient of a unit is the sum of its $\delta$ over the four panels.

# %% [markdown]
# ## 6. Using the gradients
#
# Gradient descent repeats: forward, backward, then $\theta \leftarrow \theta - \eta\,\partial C/\partial\theta$
# for every parameter. (`ng.SGD(net.parameters(), lr=η)` does exactly this update; here
# it is written out.) We remove the recorder first: it is not needed for training.
# The step size $\eta$ is 5 for the sigmoid and 0.5 for tanh: tanh's derivative is up to
# $1$ where the sigmoid's is at most $1/4$, so with tanh the same $\eta = 5$ makes steps
# many times larger, overshoots, and the loss does not fall.

# %% alt="Training loss of the XOR network against gradient-descent step, falling on a log scale."
net.feedback = []
history = []
for _ in range(STEPS):
    net.zero_grad()
    history.append(loss(net(x), y))
    net.backward(loss.backward())
    for p in net.parameters():
        p.data -= ETA * p.grad  # θ ← θ − η ∂C/∂θ

final = loss(net(x), y)
print(f"loss {history[0]:.4f} → {final:.6f} after {STEPS} steps")
print("outputs:", backend.to_numpy(net(x)).ravel().round(3), " targets:", y.ravel())

fig, ax = plt.subplots(figsize=(5, 3.2))
ax.semilogy(history)
ax.set_xlabel("gradient-descent step")
ax.set_ylabel("loss C (log scale)")
ax.set_title(f"XOR, 2-{HIDDEN}-1 {ACTIVATION} network, η = {ETA:g}")
save(fig, "01_training_loss")

assert final < 0.1 * history[0], "gradient descent should cut the loss at least tenfold"

# %% [markdown]
# ## Summary
#
# $$\delta^L = \frac{\partial C}{\partial a^L} \odot f'(z^L),\qquad
#   \delta^l = \left(\delta^{l+1} W^{l+1\,T}\right) \odot f'(z^l),\qquad
#   \frac{\partial C}{\partial W^l} = a^{l-1\,T}\delta^l,\qquad
#   \frac{\partial C}{\partial b^l} = \sum_n \delta^l_n .$$
#
# * `Sequential.backward` is this recursion: a `Dense` layer turns $\delta^{l+1}$ into
#   $\delta^{l+1}W^{l+1\,T}$ and stores its gradients; the activation below multiplies by $f'$.
# * Finite differences are the independent referee: a relative error far below
#   `gradcheck`'s tolerance $10^{-6}$ means right; $\gtrsim 10^{-3}$ means a bug.
#
# **Try it.** Set `ACTIVATION = "tanh"` in the parameters cell and run all cells: your
# exercises use `f` and `f_prime`, so every check still passes, and training uses
# $\eta = 0.5$ (see section 6 for why not 5). Then set `HIDDEN = 4`: every shape follows
# (check what $\delta^1$ and $\partial C/\partial W^1$ look like now). In Lesson 02 the
# factor $f'(z^l)$ itself is swapped for something that is *not* the derivative — and the
# finite-difference check will (rightly) object.
