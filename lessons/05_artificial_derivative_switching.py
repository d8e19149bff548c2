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
# # Lesson 05 — The artificial derivative and the switching rule
#
# Lesson 02 swapped ReLU's step derivative for the artificial derivative (AD)
# $d_1(z) = \sigma(kz)$ of Hu, Zhang and Ge (*Artificial Derivative*, IEEE Access 2021,
# eq. 8). This lesson does three things the paper does with it:
#
# 1. **The switching rule** (§III.A). AD costs a little more per step, and near a minimum
#    the true gradient may be the better guide, so training may alternate: after each epoch,
#    if the last epoch's training loss exceeds $A$ times the best training loss so far,
#    switch between AD and the original derivative ($A = 1.035$). Our reading: the switch
#    toggles, training starts in AD mode, the best loss is kept across switches.
# 2. **Table 2**, one row: the width-2 ReLU networks that approximate $f(x) = |x|$, trained
#    as a *seed ensemble* (many independent models in one network with a leading model
#    axis), reported as mean ± standard error beside the paper's number.
# 3. **The float32 tail** of $\sigma(kz)$: why how you compute the sigmoid decides whether
#    the AD can revive a dead unit at all.
#
# Time: about 40 minutes. Prerequisites: Lessons 01 and 02.

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
# `QUICK = True` trains 8 models for 10 epochs (what the tests use); `QUICK = False` the
# paper's 100 models for 300 epochs (about a minute). `FIGURE_DIR` is a folder where figures
# are also saved as PNG files. `DEPTH` is the row of Table 2 (2, 4, 6 or 8 layers) and `A`
# the switching threshold, for the "Try it". This cell is tagged `parameters`.

# %% tags=["parameters"]
QUICK = False
FIGURE_DIR = None
DEPTH = 4
A = 1.035

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
from nanograd_ad.artificial_derivative import SwitchingRule
from nanograd_ad.experiments import ad_tables

# The paper's cell is 100 runs x 300 epochs (about 90 s here: `nanograd-ad reproduce ad-relu`
# runs it); the full mode of this lesson keeps every cell well under 30 s on 2 cores.
MODELS = 8 if QUICK else 30
EPOCHS = 10 if QUICK else 100


def save(fig, name):
    """Save a figure as FIGURE_DIR/name.png when FIGURE_DIR is set (the notebook shows it anyway)."""
    if FIGURE_DIR is not None:
        Path(FIGURE_DIR).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(FIGURE_DIR) / f"{name}.png", dpi=110, bbox_inches="tight")


# %% [markdown]
# ## 1. The switching rule on a loss sequence you can read
#
# Here is a made-up sequence of training losses, one per epoch (epochs count from 0). The
# rule looks at each epoch's loss $C_t$ against the best of the epochs *before*,
# $C^\star_{t-1} = \min_{s<t} C_s$, and switches when $C_t > A\,C^\star_{t-1}$ (the first epoch
# has no best yet and never switches).

# %%
losses = [1.00, 0.80, 0.82, 0.85, 0.60, 0.63, 0.70, 0.71, 0.50, 0.52]

# %% [markdown]
# **Exercise 1.** Write `switch_epochs(losses, A)`: the list of epochs at which the rule
# switches. (By hand first: at epoch 3, $0.85 > 1.035 \times 0.80 = 0.828$ — a switch.)


# %% exercise="switching" nbgrader={"grade": false, "grade_id": "switching", "locked": false, "schema_version": 3, "solution": true, "task": false}
def switch_epochs(losses, A):
    """Epochs t with C_t > A · min(C_0 … C_{t−1}); the first epoch never switches."""
    ### BEGIN SOLUTION
    epochs, best = [], math.inf
    for t, loss in enumerate(losses):
        if loss > A * best:
            epochs.append(t)
        best = min(best, loss)
    return epochs
    ### END SOLUTION


# %% check="switching" nbgrader={"grade": true, "grade_id": "check_switching", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(1, "switching"):

    class LossLog:
        """Just enough of a trainer for the rule: a history to record its switches in."""

        def __init__(self):
            self.history = ng.History()

    def library_switches(losses, A):
        """Drive the library's SwitchingRule with the loss sequence; the epochs it switched at."""
        rule = SwitchingRule([ng.ReLU(derivative="ad", k=3.5)], A=A)
        trainer = LossLog()
        for epoch, loss in enumerate(losses):
            rule.on_epoch_end(trainer, epoch, {"train_loss": loss})
        return [epoch for epoch, _ in rule.switches], rule

    ng.check("switch_epochs(losses, A)", switch_epochs(losses, A), library_switches(losses, A)[0])
    ng.check("switch_epochs(losses, 1.0)", switch_epochs(losses, 1.0), library_switches(losses, 1.0)[0])
    epochs_switched, rule = library_switches(losses, A)
    print("switches at epochs", epochs_switched, "→ modes", [mode for _, mode in rule.switches])
    ### BEGIN HIDDEN TESTS
    for hidden_losses in (
        [1.0, 0.9, 0.95, 0.97, 0.8, 0.85, 0.9, 0.92, 0.7],
        [1.0, 0.5, 0.25, 0.125],
        [0.3, 0.3, 0.3],
    ):
        for hidden_A in (1.05, 1.0):
            ng.check(
                f"switch_epochs({hidden_losses}, {hidden_A})",
                switch_epochs(hidden_losses, hidden_A),
                library_switches(hidden_losses, hidden_A)[0],
            )
    ### END HIDDEN TESTS

# %% [markdown]
# The modes alternate: AD → original at the first switch, back to AD at the second, and so
# on. An activation under the rule has its derivative swapped in place
# (`act.set_derivative`), so nothing else in the network knows.
#
# ## 2. Table 2, one row, as a seed ensemble
#
# The paper trains $n$-layer ReLU networks of width 2 on $f(x) = |x|$ (3000 training and
# 1000 test points, $x \sim U(-\sqrt3, \sqrt3)$), 100 independent runs per cell, and reports
# the mean of each run's lowest test loss. Set A: batch 50, Adam (lr $10^{-3}$), PyTorch's
# default initialization. `ad_tables.train_cell` trains all the runs of a cell *at once*: one
# network whose layers carry a leading model axis, `ng.from_seeds(build, seeds)` — model $e$
# starts exactly as the single network seed $e$ would, and gets its own batch order, its own
# optimizer state and its own switching state. First, prove that claim for one member:

# %%
hyper = ad_tables.TASKS["ad-relu"].sets["A"]
data = ad_tables.load_data("ad-relu", 0)
seeds = list(range(MODELS))
cells = {}
for variant in ("AD ReLU", "ReLU"):
    print(f"training {variant}: {MODELS} runs x {EPOCHS} epochs at once ...", flush=True)
    cells[variant] = ad_tables.train_cell("ad-relu", hyper, DEPTH, variant, seeds, EPOCHS, data)
    print(f"  done in {cells[variant]['wall_time_s']:.1f} s", flush=True)

# %%
# a member whose lowest loss is not 0 (0 = 0 would prove nothing): the first above 10⁻³
member = next(m for m, value in enumerate(cells["AD ReLU"]["lowest_test_loss"]) if value > 1e-3)
alone = ad_tables.train_cell("ad-relu", hyper, DEPTH, "AD ReLU", [seeds[member]], EPOCHS, data)
print(f"model {member} of the ensemble: {cells['AD ReLU']['lowest_test_loss'][member]:.10f}")
print(f"seed {seeds[member]} trained alone: {alone['lowest_test_loss'][0]:.10f}")
ng.check(
    "ensemble member's lowest test loss vs the single run",
    cells["AD ReLU"]["lowest_test_loss"][member],
    alone["lowest_test_loss"][0],
    rtol=1e-6,
)

# %% [markdown]
# (Equal to float32 rounding: the ensemble multiplies stacked matrices, the single run plain
# ones, and the two may round the last bit differently.)
#
# **Exercise 2.** Write `mean_and_standard_error(values)`: the mean and the standard error
# of the mean, $s/\sqrt{n}$ with $s$ the sample standard deviation (divide by $n - 1$).


# %% exercise="standard_error" nbgrader={"grade": false, "grade_id": "standard_error", "locked": false, "schema_version": 3, "solution": true, "task": false}
def mean_and_standard_error(values):
    """(mean, s / sqrt(n)), s the sample standard deviation (ddof = 1)."""
    ### BEGIN SOLUTION
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values)))
    ### END SOLUTION


# %% check="standard_error" nbgrader={"grade": true, "grade_id": "check_standard_error", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(2, "standard_error"):
    sample = [0.1, 0.3, 0.2, 0.6]
    mean = sum(sample) / len(sample)
    s = math.sqrt(sum((v - mean) ** 2 for v in sample) / (len(sample) - 1))
    ng.check("mean_and_standard_error(sample)", mean_and_standard_error(sample), [mean, s / 2])
    ### BEGIN HIDDEN TESTS
    hidden_sample = np.random.default_rng(7).random(9)  # another sample, of another size
    ng.check(
        "mean_and_standard_error of 9 values",
        mean_and_standard_error(hidden_sample),
        [hidden_sample.mean(), hidden_sample.std(ddof=1) / 3],
    )
    ### END HIDDEN TESTS

# %% alt="Histograms of the lowest test loss per run for AD ReLU and ReLU, with dashed lines at the paper's means."
paper = {
    r["activation"]: r["mean_test_loss"]
    for r in ad_tables.paper_rows(2)
    if r["set"] == "A" and r["layers"] == DEPTH
}
rows = []
for variant, cell in cells.items():
    m, se = mean_and_standard_error(cell["lowest_test_loss"])
    rows.append((variant, m, se, paper[variant]))
    print(
        f"{variant:<8} {DEPTH} layers, {MODELS} runs x {EPOCHS} epochs: {m:.4f} ± {se:.4f}   paper {paper[variant]}"
    )
if QUICK:
    print("(quick mode: far fewer runs and epochs than the paper's 100 x 300; do not compare levels)")
else:
    print("(30 runs x 100 epochs, not the paper's 100 x 300: `nanograd-ad reproduce ad-relu` runs those)")

fig, ax = plt.subplots(figsize=(5.5, 3.6))
for i, (variant, cell) in enumerate(cells.items()):
    ax.hist(cell["lowest_test_loss"], bins=20, alpha=0.6, label=f"{variant} (ours)", color=f"C{i}")
    ax.axvline(paper[variant], color=f"C{i}", ls="--", label=f"{variant}: paper's mean")
ax.set(xlabel="lowest test loss of a run (MSE)", ylabel="runs")
ax.set_title(f"Table 2, set A, {DEPTH} layers: {MODELS} runs x {EPOCHS} epochs")
ax.legend(fontsize=7)
save(fig, "05_table2_row")

# %% [markdown]
# ## 3. The float32 tail of $\sigma(kz)$
#
# A dead unit ($z < 0$ on every input) is revived only if $\sigma(kz) > 0$ there. In float32 a
# sigmoid computed as $\tfrac12(1 + \tanh(z/2))$ — a common, overflow-free formula — rounds
# to exactly 0 already near $z \approx -17$: $\tanh(z/2)$ is $-1$ to float32's 7 digits, and
# $1 + (-1) = 0$. With $k = 3.5$, every unit with $z < -5$ gets no error at all. Computing
# $\sigma(z) = e^{z}/(1 + e^{z})$ for $z < 0$ (and $1/(1+e^{-z})$ for $z \ge 0$) keeps the full
# relative precision down to the smallest float32.
#
# **Exercise 3.** Write `sigmoid32(z)` in float32 with the branch on the sign of $z$ (both
# branches use $e^{-|z|} \le 1$, so nothing overflows).


# %% exercise="sigmoid32" nbgrader={"grade": false, "grade_id": "sigmoid32", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sigmoid32(z):
    """σ(z) for a float32 array, accurate in both tails: e^{−|z|} in both branches."""
    z = np.asarray(z, dtype=np.float32)
    ### BEGIN SOLUTION
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(np.float32)
    ### END SOLUTION


# %% check="sigmoid32" nbgrader={"grade": true, "grade_id": "check_sigmoid32", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(3, "sigmoid32"):
    # the whole float32 range: ±80 finely, then out to the largest float32 (e^z overflows above 88.7)
    far = np.float32(10.0) ** np.arange(2, 39, dtype=np.float32) * np.float32(3.4)
    z32 = np.concatenate([np.linspace(-80, 80, 16001, dtype=np.float32), [88.0, 88.8, 89.0, 100.0], far])
    z32 = np.concatenate([-z32, z32]).astype(np.float32)
    yours = sigmoid32(z32)
    exact = 1 / (
        1 + np.exp(-np.clip(z32.astype(np.float64), -700, 700))
    )  # float64 σ of the float32 arguments
    normal = exact >= np.finfo(np.float32).tiny  # where σ is a normal float32
    tanh_formula = (0.5 * (1 + np.tanh(0.5 * z32))).astype(np.float32)
    ng.check(
        "sigmoid32(z) where σ is a normal float32",
        yours[normal],
        exact[normal],
        rtol=1e-6,
        atol=0.0,
        hints={"½(1 + tanh(z/2)): rounds the left tail to 0": tanh_formula[normal]},
        dtype="float32",
    )
    tiny = float(np.finfo(np.float32).tiny)
    ng.check(
        "sigmoid32(z) where σ < the smallest normal float32",
        yours[~normal],
        exact[~normal],
        rtol=0.5,
        atol=tiny,
    )
    ### BEGIN HIDDEN TESTS
    hidden_grid = np.float32([[-88.5, -20.0], [0.0, 95.0]])  # a 2-D input keeps its shape
    ng.check(
        "sigmoid32 of a 2-D array",
        sigmoid32(hidden_grid),
        1 / (1 + np.exp(-hidden_grid.astype(np.float64))),
        rtol=1e-6,
        dtype="float32",
    )
    ng.check(
        "sigmoid32 of a Python float", sigmoid32(-30.0), 1 / (1 + math.exp(30.0)), rtol=1e-6, dtype="float32"
    )
    ### END HIDDEN TESTS
    library = ng.backend.to_numpy(ng.Sigmoid()(z32))
    ng.check("the library's float32 sigmoid", library[normal], exact[normal], rtol=1e-6, atol=0.0)
    dead = (z32 < -5) & (z32 >= -87 / 3.5)  # dead units where σ(3.5 z) is still a normal float32
    ad_tanh = (0.5 * (1 + np.tanh(0.5 * np.float32(3.5) * z32[dead]))).astype(np.float32)
    ad_library = ng.backend.to_numpy(ng.ReLU(derivative="ad", k=3.5).d(z32[dead], None))
    print(
        f"−24.9 ≤ z < −5 ({int(dead.sum())} points): ½(1 + tanh) gives σ(3.5 z) = 0 at {int((ad_tanh == 0).sum())},"
    )
    print(
        f"the library's AD derivative at {int((ad_library == 0).sum())} (its smallest value {ad_library.min():.3g})"
    )

# %% [markdown]
# The library computes σ this way (`ng.Sigmoid`, and the AD derivative of ReLU), so its AD
# is positive wherever its value is a normal float32 — for $kz \ge \ln 2^{-126} \approx -87.3$.
#
# ## Try it
#
# - Set `DEPTH = 8` (with `QUICK = False`) and compare both columns with the paper's row:
#   runs stuck at the constant predictor (MSE ≈ 0.25) gather at the histogram's right end.
# - Set `A = 1.0`: the rule switches at every epoch whose loss is above the best so far;
#   `switch_epochs(losses, 1.0)` lists them.
