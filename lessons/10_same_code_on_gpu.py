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
# # Lesson 10 — The same code on a GPU
#
# **Why a GPU at all.** Almost all the work of training is a few large array operations per
# layer: the products $z = xW + b$ (forward), $\delta W^T$ and $x^T\delta$ (backward), and
# elementwise passes such as $\delta \odot d(z)$. Each of them is thousands to millions of
# independent multiply-adds. A CPU core does them a few at a time; a GPU has thousands of
# simple arithmetic units and its own fast memory, and does them all at once. Nothing in
# the δ recursion
#
# $$\delta^l = (\delta^{l+1} W^{l+1\,T}) \odot d^l, \qquad \frac{\partial C}{\partial W^l} = a^{l-1\,T}\delta^l$$
#
# changes: only *which array library* executes each line. That is why `nanograd_ad`'s layers
# never import NumPy for their arithmetic: they ask `backend.xp`, which is NumPy on the host
# or CuPy (NumPy's interface, computing on an NVIDIA GPU) on the device. One line of the
# library, two machines.
#
# **Why it is not free.** Three costs come with the second machine, and this lesson measures
# or meets each of them:
#
# 1. *Two memories.* The GPU cannot read the host's arrays. Data and weights are copied
#    across (host → device and back) explicitly, and CuPy refuses to mix the two kinds of
#    array in one operation.
# 2. *Fixed costs per operation.* Every array operation on the GPU is a *kernel launch* of
#    some 5–10 µs before any arithmetic happens, and the host must *wait* (a sync) whenever
#    it reads a number back. A step of a small network at a small batch is all fixed cost;
#    the GPU pays only when the arrays are large.
# 3. *Other rounding.* A GPU adds the terms of a sum in another order than the CPU does, and
#    floating-point addition is not associative. Two correct backends therefore agree only to
#    float32's precision, never bit for bit — and a gradient check, which divides a tiny
#    difference of losses by a tiny step, needs float64 on any machine.
#
# You will write: moving arrays to the backend and back; the same seed giving the same start
# on both; the median time of a training step; a measure of agreement between two backends;
# the float64 copy a gradient check works on (exercise cells). **Without a GPU** (no CuPy, or
# CuPy without a device) the lesson runs every step on NumPy and says so; the GPU-only
# assertions are then skipped, loudly. Time: about 35 minutes. Prerequisites: Lessons 01
# and 11.

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
# `QUICK = True` times three batch sizes with few repeats (what the tests use); `QUICK =
# False` six batch sizes up to 8192 with seven repeats each (0.5–2 minutes on the 2-core
# machine it was written on, by how busy it was). `FIGURE_DIR` is a folder where the figures are also saved as PNG files. `DEVICE`
# picks the machine: `"auto"` takes the GPU when CuPy finds one and NumPy otherwise,
# `"numpy"` stays on the host, `"cupy"` insists on a GPU (and fails, saying why, where
# there is none). `HIDDEN` is the width of the network, for the "Try it". `BLAS_THREADS`
# is how many threads the CPU's matrix products may use while section 4 times them (`None`:
# the library's default, all cores; it needs the `threadpoolctl` package). This cell is
# tagged `parameters`.

# %% tags=["parameters"]
QUICK = False
FIGURE_DIR = None
DEVICE = "auto"
HIDDEN = 256
BLAS_THREADS = 1

# %%
import copy
import sys
import time
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:  # run as a plain script: draw into files, no window
    matplotlib.use("Agg")
    FIGURE_DIR = FIGURE_DIR or "lesson_figures"
import matplotlib.pyplot as plt
import numpy as np

import nanograd_ad as ng
from nanograd_ad import backend

try:
    from threadpoolctl import threadpool_limits  # limits the BLAS library's threads (optional)
except ImportError:
    threadpool_limits = None

backend.use("numpy")
backend.set_default_dtype("float32")  # what a GPU is fast at; section 6 switches to float64
rng = np.random.default_rng(0)

FEATURES, CLASSES = 64, 10
BATCHES = (1, 16, 256) if QUICK else (1, 8, 64, 512, 2048, 8192)
REPEATS = 3 if QUICK else 7
x_all = rng.standard_normal((max(BATCHES), FEATURES)).astype(np.float32)  # host data
teacher = rng.standard_normal((FEATURES, CLASSES))
y_all = np.argmax(x_all @ teacher, axis=1)  # labels a linear teacher gives: int64
# check_labels=False: the labels are made right here; checking them on every call would read
# their range back from the device — a second sync per step (ng.fit checks a dataset once)
loss = ng.SoftmaxCrossEntropy(check_labels=False)


def save(fig, name):
    """Save a figure as FIGURE_DIR/name.png when FIGURE_DIR is set (the notebook shows it anyway)."""
    if FIGURE_DIR is not None:
        Path(FIGURE_DIR).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(FIGURE_DIR) / f"{name}.png", dpi=110, bbox_inches="tight")


def build_net():
    """The lesson's MLP 64 → HIDDEN → HIDDEN → 10 (ReLU), drawn from ng's generator."""
    return ng.Sequential(
        ng.Dense(FEATURES, HIDDEN), ng.ReLU(), ng.Dense(HIDDEN, HIDDEN), ng.ReLU(), ng.Dense(HIDDEN, CLASSES)
    )


def using(backend_name, make):
    """make() with ``backend_name`` selected (arrays created meanwhile live there); restored after."""
    previous = backend.name()
    backend.use(backend_name)
    try:
        return make()
    finally:
        backend.use(previous)


# %% [markdown]
# ## 1. Which machine is this?
#
# `backend.module("cupy")` imports CuPy and asks the CUDA driver for a device; it raises
# `ng.BackendError`, saying which of the two is missing, where it cannot. The lesson's
# `device` is then `"cupy"` or `"numpy"`, and everything below runs on it.


# %%
def find_device(requested):
    """("cupy" or "numpy", why): the GPU when requested or "auto" and CuPy finds one."""
    if requested not in ("auto", "numpy", "cupy"):
        raise ValueError(f"DEVICE must be 'auto', 'numpy' or 'cupy', got {requested!r}")
    if requested == "numpy":
        return "numpy", "DEVICE = 'numpy' was asked for"
    try:
        module = backend.module("cupy")
    except ng.BackendError as err:
        if requested == "cupy":
            raise
        return "numpy", str(err)
    return "cupy", f"array module {module.__name__}"


device, reason = find_device(DEVICE)
ON_GPU = device == "cupy"
if ON_GPU:
    print(f"GPU found ({reason}): the device runs below use CuPy and are compared with NumPy.")
else:
    print(
        f"NO GPU here: {reason}.\n"
        "This lesson runs every step on NumPy. Where it says 'the device', read 'the host again':\n"
        "the timings are the CPU's alone, the backend comparison is NumPy against NumPy (exact),\n"
        "and the float32 agreement of the two backends (to 1e-5) is asserted only on a GPU."
    )

# %% [markdown]
# ## 2. Moving arrays
#
# Host memory (where NumPy arrays live) and device memory (CuPy's) are separate, joined by
# a bus that moves a few to some tens of GB/s — fast, but slow beside the GPU's own memory.
# So every crossing is explicit in this library, as in CuPy:
#
# | direction | call | under CuPy |
# | --- | --- | --- |
# | host → device | `backend.asarray(a)` | a copy onto the GPU |
# | device → host | `backend.to_numpy(a)` | a copy back, and a sync: the host waits for the GPU |
# | where is it? | `backend.array_backend(a)` | `"numpy"`, `"cupy"` (or `None`: not an array) |
#
# A move copies the values as they are: it does not change the dtype (integer labels stay
# integers, float64 stays float64). `np.asarray(gpu_array)` raises a `TypeError` in CuPy
# (an implicit copy back is refused), and so does an operation mixing a NumPy array with a
# CuPy one. On NumPy alone both calls hand the array back unchanged.
#
# **Exercise 1.** Write `to_device(arrays)` and `to_host(arrays)` for a dict
# `{name: array}`: the first puts every array on the backend in use, the second brings every
# array back as a NumPy array.

# %%
backend.use(device)  # from here on the lesson computes on the device
print("computing with", backend.name())


def call(label, function, *args, **kwargs):
    """function(*args, **kwargs); a TypeError (an implicit host↔device move) becomes a CheckError."""
    try:
        return function(*args, **kwargs)
    except TypeError as err:
        hint = (
            "CuPy refuses implicit moves (np.asarray of a device array, or a NumPy array meeting "
            "a device array): move explicitly with backend.asarray(a) / backend.to_numpy(a)"
        )
        raise ng.CheckError(
            f"check '{label}' failed: it raised TypeError: {err}\n  hint: {hint}", label, hint=hint
        ) from err


MOVE_KEEPS_DTYPE = "a move must not cast: labels stay integers, float64 stays float64 (no dtype=...)"


def check_placement(label, arrays, backend_name, like, dtype_hint=MOVE_KEEPS_DTYPE):
    """CheckError unless ``arrays`` is a dict with like's keys, each an array on ``backend_name``
    with like's dtype (like: {name: NumPy array}); the values are for ng.check."""
    if not isinstance(arrays, dict) or set(arrays) != set(like):
        got = sorted(arrays) if isinstance(arrays, dict) else type(arrays).__name__
        raise ng.CheckError(
            f"check '{label}' failed: expected a dict with keys {sorted(like)}, got {got}", label
        )
    for key, expected in like.items():
        name, value = f"{label}[{key!r}]", arrays[key]
        where = backend.array_backend(value)
        if where != backend_name:
            found = f"lives on {where}" if where else f"is a {type(value).__name__}, not an array"
            raise ng.CheckError(
                f"check '{name}' failed: it {found}, expected an array on {backend_name}", name
            )
        if value.dtype != expected.dtype:
            raise ng.CheckError(
                f"check '{name}' failed: dtype {value.dtype}, expected {expected.dtype}\n  hint: {dtype_hint}",
                name,
                hint=dtype_hint,
            )


# %% exercise="move" nbgrader={"grade": false, "grade_id": "move", "locked": false, "schema_version": 3, "solution": true, "task": false}
def to_device(arrays):
    """{name: array} → {name: the same values on the backend in use} (host → device under CuPy)."""
    ### BEGIN SOLUTION
    return {name: backend.asarray(value) for name, value in arrays.items()}
    ### END SOLUTION


def to_host(arrays):
    """{name: array on either backend} → {name: NumPy array} (device → host under CuPy)."""
    ### BEGIN SOLUTION
    return {name: backend.to_numpy(value) for name, value in arrays.items()}
    ### END SOLUTION


# %% check="move" nbgrader={"grade": true, "grade_id": "check_move", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(1, "move"):
    host = {"images": x_all[:6], "labels": y_all[:6], "weights64": teacher[:3]}
    on_device = call("to_device(host)", to_device, host)
    check_placement("to_device(host)", on_device, device, host)
    back = call("to_host(to_device(host))", to_host, on_device)
    check_placement("to_host(to_device(host))", back, "numpy", host)
    for key, value in host.items():  # a move copies exactly: no tolerance
        ng.check(f"to_device(host)[{key!r}]", on_device[key], value, rtol=1e-15, atol=0.0)
        ng.check(f"to_host(to_device(host))[{key!r}]", back[key], value, rtol=1e-15, atol=0.0)

# %% [markdown]
# A network moves the way PyTorch's does: `net.to("cupy")` copies every parameter, gradient
# and cached array across *in place* (the same `Parameter` objects, so an optimizer built
# on `net.parameters()` still holds them). The data must go too: a network on the device
# handed a host array refuses it, and says which of the two to move.

# %%
ng.seed(0)
net = build_net()  # built with the device selected: NumPy draws the weights, asarray copies them over
net.to(device)  # (a no-op here; net.to("numpy") would bring it back to the host)
print({name: backend.array_backend(p.data) for name, p in net.named_parameters()})
data = to_device({"x": x_all[:32], "y": y_all[:32]})
print("output", net(data["x"]).shape, "on", backend.array_backend(net(data["x"])))
if ON_GPU:
    try:
        net(x_all[:32])  # a host array into a device network
    except TypeError as err:  # backend.DeviceMismatchError is a TypeError
        print(f"{type(err).__name__}: {err}")
    else:
        raise AssertionError("a host input to a device network should have been refused")
else:
    print("(on NumPy there is only one memory: nothing to refuse)")

# %% [markdown]
# ## 3. The same seed, the same start
#
# A GPU has random number generators of its own, and they do not produce NumPy's numbers.
# If the layers drew their weights there, a seed would give one network on the host and
# another on the GPU, and no comparison between the two would mean anything. So
# `nanograd_ad` always draws on the host, with NumPy's generator (`ng.seed` resets it), and
# copies the draws over: the seed decides the weights, the backend only where they live.
#
# **Exercise 2.** Write `initial_parameters(seed, backend_name)`: with `backend_name`
# selected (the helper `using` does that), seed the generator, build the network with
# `build_net()` and return host copies `{name: NumPy array}` of its parameters, keyed by
# `net.named_parameters()`'s names. The check compares them with the network the library
# builds on the host.


# %% exercise="same_start" nbgrader={"grade": false, "grade_id": "same_start", "locked": false, "schema_version": 3, "solution": true, "task": false}
def initial_parameters(seed, backend_name):
    """{name: NumPy copy} of build_net()'s parameters after ng.seed(seed), built on backend_name."""

    def make():
        ### BEGIN SOLUTION
        ng.seed(seed)
        net = build_net()
        return to_host({name: p.data for name, p in net.named_parameters()})
        ### END SOLUTION

    return using(backend_name, make)


# %% check="same_start" nbgrader={"grade": true, "grade_id": "check_same_start", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(2, "same_start"):
    ng.seed(0)
    host_start = using("numpy", lambda: {name: p.data.copy() for name, p in build_net().named_parameters()})
    for label in ("initial_parameters(0, device)", "initial_parameters(0, device), again"):
        start = initial_parameters(0, device)
        check_placement(label, start, "numpy", host_start)
        for name, value in host_start.items():  # bit for bit: the same draws, copied
            ng.check(f"{label}[{name!r}]", start[name], value, rtol=1e-15, atol=0.0)
    other = initial_parameters(1, device)
    if all(np.array_equal(backend.to_numpy(other[name]), host_start[name]) for name in host_start):
        raise ng.CheckError(
            "check 'initial_parameters(1, device)' failed: seed 1 gives seed 0's weights — "
            "is the seed argument passed to ng.seed?",
            "initial_parameters(1, device)",
        )
    print(f"seed 0 on {device} is bit for bit seed 0 on the host; seed 1 is another network")

# %% [markdown]
# ## 4. Timing a training step
#
# Three things make a naive stopwatch lie, worst of all on a GPU:
#
# - **The GPU works asynchronously.** A CuPy call returns as soon as its kernel is *queued*;
#   the clock would measure the queueing. The clock must stop after a sync. Our
#   `training_step` ends by reading the loss with `float(...)`, one device → host copy: it
#   waits for every kernel queued before it, the backward pass and the update included.
# - **The first steps are slow.** The first call of each kernel compiles or loads it, and
#   the memory pool grows to the sizes the step needs; a CPU warms its caches. So the first
#   `warmup` steps run untimed.
# - **Other programs share the machine.** A step that lost its core to another process for a
#   moment takes many times longer. The **median** of the timed steps ignores such outliers;
#   the mean does not. On a machine that is busy all the time no statistic helps: a larger
#   step is more likely to be interrupted, and the lesson says so instead of asserting what
#   the curve should do.
# - **The CPU's threads wait for each other.** NumPy hands matrix products to a BLAS library
#   that splits each product over all cores and waits for every part. If another program
#   holds one of the cores, each product waits for it: on the 2-core machine this lesson was
#   written on, with other work running, an 8-sample step took 114 ms on two BLAS threads
#   and 0.78 ms on one. So the CPU is timed on `BLAS_THREADS = 1` thread — one core, a fair
#   unit beside one GPU.
#
# The time of a step at batch size $B$ is roughly $T(B) \approx T_0 + cB$: a fixed cost
# $T_0$ (Python, and on a GPU some 50 kernel launches) and a cost $c$ per sample. Per sample,
# $T(B)/B = T_0/B + c$ falls with the batch until the arithmetic dominates. A GPU has the
# larger $T_0$ and a far smaller $c$, so it is slower at small batches and faster beyond
# some batch size that depends on the network.
#
# **Exercise 3.** Write `median_step_time(step, repeats, warmup, clock)`: call `step()`
# `warmup` times untimed, then `repeats` times, each timed with `clock()` read just before
# and just after; return the median of those durations in seconds. The check hands it a
# scripted clock that only moves when `step` runs, so its answer is known exactly.


# %% exercise="step_time" nbgrader={"grade": false, "grade_id": "step_time", "locked": false, "schema_version": 3, "solution": true, "task": false}
def median_step_time(step, repeats, warmup=2, clock=time.perf_counter):
    """Median duration (s) of `repeats` calls of step(), after `warmup` untimed calls."""
    ### BEGIN SOLUTION
    for _ in range(warmup):
        step()
    durations = []
    for _ in range(repeats):
        start = clock()
        step()
        durations.append(clock() - start)
    return float(np.median(durations))
    ### END SOLUTION


# %% check="step_time" nbgrader={"grade": true, "grade_id": "check_step_time", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(3, "step_time"):

    class ScriptedClock:
        """A clock that moves only when step() runs, by the next of the scripted durations."""

        def __init__(self, durations):
            self.now, self.durations, self.calls = 0.0, list(durations), 0

        def __call__(self):
            return self.now

        def step(self):
            if self.calls == len(self.durations):
                raise ng.CheckError(
                    f"check 'calls of step()' failed: step() called more than warmup + repeats = "
                    f"{len(self.durations)} times",
                    "calls of step()",
                )
            self.now += self.durations[self.calls]
            self.calls += 1

    # two warm-up steps (the first compiles), then five timed ones, one of them hit by another process
    clock = ScriptedClock([0.5, 0.03, 0.010, 0.012, 0.009, 0.090, 0.011])
    measured = median_step_time(clock.step, repeats=5, warmup=2, clock=clock)
    ng.check(
        "median_step_time(clock.step, repeats=5, warmup=2, clock=clock)",
        measured,
        0.011,
        hints={
            "the mean of the timed steps: one slow step pulls it up (take the median)": 0.0264,
            "the warm-up steps were timed too (or not run first)": 0.012,
            "the fastest step (the minimum), not the median": 0.009,
            "the sum of the timed steps, not their median": 0.132,
        },
    )
    ng.check("calls of step()", clock.calls, 7)
    ### BEGIN HIDDEN TESTS
    # An even number of timed steps (the median is the mean of the middle two), one warm-up step;
    # then no warm-up at all.
    hidden_clock = ScriptedClock([0.4, 0.020, 0.024, 0.018, 0.200])
    ng.check(
        "median_step_time(..., repeats=4, warmup=1): an even number of timed steps",
        median_step_time(hidden_clock.step, repeats=4, warmup=1, clock=hidden_clock),
        0.022,
        hints={"the upper of the two middle steps: for an even count the median is their mean": 0.024},
    )
    ng.check("calls of step() with warmup=1", hidden_clock.calls, 5)
    hidden_clock = ScriptedClock([0.3, 0.1, 0.2])
    ng.check(
        "median_step_time(..., repeats=3, warmup=0)",
        median_step_time(hidden_clock.step, repeats=3, warmup=0, clock=hidden_clock),
        0.2,
    )
    ### END HIDDEN TESTS


# %% [markdown]
# Now the real thing: one SGD step of the 64 → 256 → 256 → 10 network at each batch size,
# on the host and, where there is one, on the GPU.


# %% alt="Median time of one SGD step against batch size with the straight-line fit T0 + cB, and the time per sample T(B)/B."
def training_step(net, optimizer, x, y):
    """One SGD step on the batch (x, y); returns the loss as a float — one sync, so a GPU has finished."""
    net.zero_grad()
    c = loss.forward(net(x), y)
    net.backward(loss.backward(), input_grad=False)
    optimizer.step()
    return float(c)


def step_times(backend_name):
    """Median seconds per training step at each of BATCHES, on backend_name."""

    def sweep():
        ng.seed(0)
        net = build_net()
        optimizer = ng.SGD(net.parameters(), lr=0.01)
        times = []
        for batch in BATCHES:
            batch_data = to_device({"x": x_all[:batch], "y": y_all[:batch]})

            def step(batch_data=batch_data):
                return training_step(net, optimizer, batch_data["x"], batch_data["y"])

            times.append(median_step_time(step, REPEATS))
        return np.array(times)

    return using(backend_name, sweep)


if BLAS_THREADS is not None and threadpool_limits is not None:
    with threadpool_limits(BLAS_THREADS):
        timings = {"numpy (CPU)": step_times("numpy")}
    cpu_threads = f"{BLAS_THREADS} BLAS thread(s)"
else:
    timings = {"numpy (CPU)": step_times("numpy")}
    cpu_threads = "the default BLAS threads" + (" (threadpoolctl is not installed)" if BLAS_THREADS else "")
print("the CPU timed on", cpu_threads)
if ON_GPU:
    timings[f"{device} (GPU)"] = step_times(device)
batches = np.array(BATCHES)
print(f"{'batch':>6} " + " ".join(f"{label + ' ms/step':>22}" for label in timings))
for i, batch in enumerate(BATCHES):
    print(f"{batch:>6} " + " ".join(f"{1e3 * t[i]:>22.3f}" for t in timings.values()))

fig, (ax_step, ax_sample) = plt.subplots(1, 2, figsize=(10, 3.8))
for label, seconds in timings.items():
    ax_step.loglog(batches, 1e3 * seconds, marker="o", label=label)
    ax_sample.loglog(batches, 1e6 * seconds / batches, marker="o", label=label)
ax_step.set_xlabel("batch size B")
ax_step.set_ylabel("median time per step (ms)")
ax_step.set_title("T(B) ≈ T₀ + cB")
ax_sample.set_xlabel("batch size B")
ax_sample.set_ylabel("time per sample (µs)")
ax_sample.set_title("T(B)/B = T₀/B + c")
for ax in (ax_step, ax_sample):
    ax.legend()
fig.suptitle(f"One SGD step of a {FEATURES}-{HIDDEN}-{HIDDEN}-{CLASSES} MLP, float32; CPU on {cpu_threads}")
save(fig, "10_step_time")

host_times = timings["numpy (CPU)"]
assert np.all(np.isfinite(host_times)) and np.all(host_times > 0), host_times
per_sample = host_times / batches
print(f"per sample on the CPU: {1e6 * per_sample[0]:.2f} µs at B = {BATCHES[0]}, "
      f"{1e6 * per_sample[-1]:.2f} µs at B = {BATCHES[-1]}")  # fmt: skip
if per_sample[-1] < per_sample[0]:
    print(
        f"as T₀/B + c predicts: {per_sample[0] / per_sample[-1]:.0f}× less time per sample at the largest batch"
    )
else:  # timings are measurements, not results: a busy machine can reverse them
    print(
        "NOT as predicted: a sample costs more at the largest batch than alone. The machine was busy —\n"
        "other programs, or the BLAS library's threads waiting for a free core — and stretched the\n"
        "larger steps. Run the cell again on a quieter machine."
    )
if ON_GPU:
    gpu_times = timings[f"{device} (GPU)"]
    faster = [b for b, t_cpu, t_gpu in zip(BATCHES, host_times, gpu_times) if t_gpu < t_cpu]
    print("the GPU is faster at batch sizes", faster or "none of these (try a larger HIDDEN)")
else:
    print("NO GPU: only the CPU's curve is drawn.")

# %% [markdown]
# ## 5. Do the two backends agree?
#
# Floating-point addition rounds after every operation, so $(a + b) + c$ and $a + (b + c)$
# can differ in the last bit. A matrix product adds $K$ terms for each entry; a GPU splits
# that sum into blocks added in parallel, a CPU library into others. A rounded sum is the
# exact sum of slightly perturbed terms,
#
# $$\operatorname{fl}\Big(\sum_{k=1}^{K} t_k\Big) = \sum_{k=1}^{K} t_k (1 + \theta_k), \qquad |\theta_k| \lesssim (K-1)\,u,$$
#
# with the unit roundoff $u = 2^{-24} \approx 6 \cdot 10^{-8}$ in float32 (and $2^{-53}
# \approx 1.1 \cdot 10^{-16}$ in float64); in practice the errors partly cancel and grow
# more like $\sqrt{K}\,u$. Two things follow. First, two correct backends agree to a few
# float32 roundings — some $10^{-7}$ to $10^{-6}$ after a few layers and steps — which is why
# a bound of $10^{-5}$ separates rounding from a real difference. Second, the error of an
# entry is set by the size of the *terms* $|t_k|$, not by the result: an entry that is a
# near-cancellation (close to 0) carries absolute noise as large as its big neighbours'. An
# entry-by-entry relative error can then be 1 for a perfectly correct backend. So measure the
# disagreement against the array's scale:
#
# $$\text{difference}(a, b) = \frac{\max_i |a_i - b_i|}{\max_i |b_i|}\qquad (b\text{: the reference}).$$
#
# Here is the same sum of $10^5$ float32 numbers in two orders (NumPy's pairwise `sum`, and
# one running total, the last entry of `cumsum`), against the exact sum:

# %%
terms = rng.standard_normal(100_000).astype(np.float32)
exact = float(np.sum(terms.astype(np.float64)))  # float64 is exact enough to serve as the truth here
pairwise, running = float(np.sum(terms)), float(np.cumsum(terms)[-1])
print(f"exact {exact:.7f}   pairwise {pairwise:.7f}   running total {running:.7f}")
print(
    f"the two float32 orders differ by {abs(pairwise - running):.2e} (sum of |t| = {np.abs(terms).sum():.0f})"
)
assert pairwise != running  # the same terms, the same precision, another order: another result

# %% [markdown]
# **Exercise 4.** Write `largest_relative_difference(yours, reference)`, the measure above.
# Either argument may live on the host or on the device: bring both to the host and compute
# in float64 (the differences you want to see are *below* float32's resolution), and return
# a Python `float` (one number, read once).


# %% exercise="agreement" nbgrader={"grade": false, "grade_id": "agreement", "locked": false, "schema_version": 3, "solution": true, "task": false}
def largest_relative_difference(yours, reference):
    """max |yours − reference| / max |reference| over all entries, in float64 on the host."""
    ### BEGIN SOLUTION
    yours = backend.to_numpy(yours).astype(np.float64)
    reference = backend.to_numpy(reference).astype(np.float64)
    return float(np.max(np.abs(yours - reference)) / np.max(np.abs(reference)))
    ### END SOLUTION


# %% check="agreement" nbgrader={"grade": true, "grade_id": "check_agreement", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(4, "agreement"):
    reference_values = np.array([[1.0, 3e-9, -4.0], [0.5, -2.0, 1e-3]])
    nudged = reference_values + np.array([[-2e-8, 1e-9, 0.0], [0.0, 3e-9, 0.0]])
    differences = np.abs(nudged - reference_values)
    for label, yours, reference in (
        ("largest_relative_difference(nudged, reference_values)", nudged, reference_values),
        ("largest_relative_difference(nudged on the device, reference_values)", backend.asarray(nudged), reference_values),
        ("largest_relative_difference(nudged, reference_values on the device)", nudged, backend.asarray(reference_values)),
    ):  # fmt: skip
        measured = call(label, largest_relative_difference, yours, reference)
        if not isinstance(measured, float):
            raise ng.CheckError(
                f"check '{label}' failed: yours is a {type(measured).__name__}, expected a Python float "
                "(float(...) reads it once)",
                label,
            )
        ng.check(
            label,
            measured,
            2e-8 / 4.0,
            hints={
                "entry by entry: the noise on the tiny entries dominates (divide by the largest |reference|)": float(
                    np.max(differences / np.abs(reference_values))
                ),
                "the largest signed difference: |yours − reference| needs the abs": 3e-9 / 4.0,
                "max(reference) without abs: its largest entry is negative": 2e-8 / 1.0,
                "the mean difference instead of the largest": float(np.mean(differences)) / 4.0,
                "computed in float32: differences below its resolution vanish (work in float64)": float(
                    np.max(np.abs(nudged.astype(np.float32) - reference_values.astype(np.float32)))
                )
                / 4.0,
            },
        )
    ### BEGIN HIDDEN TESTS
    # Yours' largest entry is not the reference's: the scale must come from the reference.
    hidden_reference = np.array([[2.0, -1.0], [0.5, 0.0]])
    hidden_yours = np.array([[2.5, -1.0], [0.5, 0.0]])
    hidden_label = "largest_relative_difference(yours larger than the reference, reference)"
    ng.check(
        hidden_label,
        call(hidden_label, largest_relative_difference, hidden_yours, hidden_reference),
        0.25,
        hints={"divided by max |yours| instead of max |reference|": 0.2},
    )
    ### END HIDDEN TESTS


# %% [markdown]
# Now the comparison the lesson is about: the same network from the same seed, the same
# data, forward and three SGD steps, once in float32 and once in float64 on the host — the
# float32 rounding, measured — and, on a GPU, in float32 on the device against float32 on
# the host.


# %%
def train_a_little(backend_name, dtype, steps=3):
    """Host copies of the first output, and of each parameter and gradient after `steps` SGD steps."""

    def run():
        backend.set_default_dtype(dtype)  # the network is drawn in float64, then cast: the same draws
        try:
            ng.seed(0)
            net = build_net()
            optimizer = ng.SGD(net.parameters(), lr=0.1)
            batch_data = to_device({"x": x_all[:256].astype(dtype), "y": y_all[:256]})
            result = {"first output": net(batch_data["x"])}
            for _ in range(steps):
                training_step(net, optimizer, batch_data["x"], batch_data["y"])
            for name, p in net.named_parameters():
                result[name], result[f"∂C/∂{name}"] = p.data, p.grad
            return to_host(result)
        finally:
            backend.set_default_dtype("float32")

    return using(backend_name, run)


host32 = train_a_little("numpy", "float32")
host64 = train_a_little("numpy", "float64")
rounding = {name: largest_relative_difference(host32[name], host64[name]) for name in host64}
compared = {"float32 vs float64 (host)": rounding}
if ON_GPU:
    device32 = train_a_little(device, "float32")
    compared[f"{device} vs numpy (float32)"] = {
        name: largest_relative_difference(device32[name], host32[name]) for name in host32
    }
print(f"{'array':>16} " + " ".join(f"{label:>28}" for label in compared))
for name in host64:
    print(f"{name:>16} " + " ".join(f"{d[name]:>28.2e}" for d in compared.values()))
assert 0 < max(rounding.values()) < 1e-5, rounding  # float32 rounds, by about 1e-7 … 1e-6
if ON_GPU:
    worst = max(compared[f"{device} vs numpy (float32)"].values())
    assert worst < 1e-5, f"the GPU and the CPU disagree by {worst:.2e} > 1e-5 in float32"
    print(f"the backends agree to {worst:.1e} ≤ 1e-5 in float32")
else:
    print("NO GPU: the device run would be this NumPy run again (difference exactly 0); the 1e-5\n"
          "agreement of CuPy and NumPy is asserted only where a GPU is present.")  # fmt: skip

# %% [markdown]
# ## 6. Gradient checking in float64, on any machine
#
# Lesson 11's central difference $\frac{C(\theta + h) - C(\theta - h)}{2h}$ subtracts two
# nearly equal losses. Each is known only to about $u\,|C|$, so the quotient is uncertain by
# about $u\,|C|/h$:
#
# $$\text{float64: } \frac{1.1\cdot 10^{-16} \times 2.3}{10^{-5}} \approx 3 \cdot 10^{-11},
#   \qquad \text{float32: } \frac{6\cdot 10^{-8} \times 2.3}{10^{-5}} \approx 10^{-2}.$$
#
# In float32 the "reference" carries an absolute noise of $10^{-3}$–$10^{-2}$, as large as
# the gradient entries themselves: worse than any bug it should find. So `ng.gradcheck` never checks the network it is given: it works on a **float64
# copy**, on the same backend (a GPU computes in float64 too, only more slowly), and leaves
# the original as it was.
#
# **Exercise 5.** Write `float64_copy(net)`: a copy of the network, cast to float64, on the
# backend the network is on; `net` itself must keep its float32 parameters. (`astype` casts
# a network in place and returns it.)


# %% exercise="float64_copy" nbgrader={"grade": false, "grade_id": "float64_copy", "locked": false, "schema_version": 3, "solution": true, "task": false}
def float64_copy(net):
    """A float64 copy of ``net`` on its own backend; ``net`` is left untouched."""
    ### BEGIN SOLUTION
    return copy.deepcopy(net).astype(np.float64)
    ### END SOLUTION


# %% check="float64_copy" nbgrader={"grade": true, "grade_id": "check_float64_copy", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with ng.checking(5, "float64_copy"):
    ng.seed(3)
    probe = build_net().to(device)
    probe_data = to_device({"x": x_all[:32], "y": y_all[:32]})
    training_step(
        probe, ng.SGD(probe.parameters(), lr=0.1), probe_data["x"], probe_data["y"]
    )  # off its start
    probe_before = to_host({name: p.data for name, p in probe.named_parameters()})
    probe64 = call("float64_copy(probe)", float64_copy, probe)
    if probe64 is probe:
        raise ng.CheckError(
            "check 'float64_copy(probe)' failed: it returned the network itself (astype casts in place): "
            "copy it first (copy.deepcopy)",
            "float64_copy(probe)",
        )
    probe_after = {name: p.data for name, p in probe.named_parameters()}
    check_placement(
        "probe after float64_copy(probe)",
        probe_after,
        device,
        probe_before,
        dtype_hint="the network handed in was cast: copy all of it (copy.deepcopy) before astype",
    )
    copied = {name: p.data for name, p in probe64.named_parameters()}
    check_placement(
        "float64_copy(probe)",
        copied,
        device,
        {name: value.astype(np.float64) for name, value in probe_before.items()},
        dtype_hint="the copy must be cast: .astype(np.float64)",
    )
    for name, value in probe_before.items():  # float32 → float64 is exact: no tolerance
        ng.check(f"probe after float64_copy(probe)[{name!r}]", probe_after[name], value, rtol=1e-15, atol=0.0)
        ng.check(f"float64_copy(probe)[{name!r}]", copied[name], value, rtol=1e-15, atol=0.0)
    ### BEGIN HIDDEN TESTS
    # Another network (tanh, other widths): the copy follows the network handed in, not build_net().
    hidden_net = ng.Sequential(ng.Dense(FEATURES, 5), ng.Tanh(), ng.Dense(5, 3))
    hidden_net.build((FEATURES,))
    hidden_net = hidden_net.astype(np.float32).to(device)
    hidden_before = to_host({name: p.data for name, p in hidden_net.named_parameters()})
    hidden_label = "float64_copy(a tanh network)"
    try:
        hidden_copy = call(hidden_label, float64_copy, hidden_net)
    except (ng.CheckError, NotImplementedError):
        raise
    except Exception as err:
        raise ng.CheckError(
            f"check '{hidden_label}' failed: it raised {type(err).__name__}: {err}\n"
            "  hint: copy the network handed in (copy.deepcopy), whatever its layers, not build_net()",
            hidden_label,
            hint="copy the network handed in",
        ) from err
    hidden_copied = {name: p.data for name, p in hidden_copy.named_parameters()}
    hidden_like = {name: value.astype(np.float64) for name, value in hidden_before.items()}
    check_placement(hidden_label, hidden_copied, device, hidden_like)
    for name, value in hidden_before.items():
        ng.check(f"{hidden_label}[{name!r}]", hidden_copied[name], value, rtol=1e-15, atol=0.0)
    ### END HIDDEN TESTS

# %% [markdown]
# With it, one central difference by hand in each precision, against the float64 backward
# pass — and then `ng.gradcheck` itself, on the device network (a small tanh network, away
# from ReLU's kink; a few entries per parameter keep it fast).


# %%
def central_difference(net, x, y, index, h=1e-5):
    """(C(W + h e_i) − C(W − h e_i)) / 2h for the first layer's weight entry ``index``."""
    weight = net.layers[0].weight.data
    saved = float(weight[index])
    weight[index] = saved + h
    plus = float(loss.forward(net(x), y))
    weight[index] = saved - h
    minus = float(loss.forward(net(x), y))
    weight[index] = saved
    return (plus - minus) / (2 * h)


ng.seed(4)
small = ng.Sequential(ng.Dense(FEATURES, 16), ng.Tanh(), ng.Dense(16, CLASSES)).to(device)
small64 = float64_copy(small)
x8 = to_device({"x": x_all[:8]})["x"]
x8_64, y8 = to_device({"x": x_all[:8].astype(np.float64), "y": y_all[:8]}).values()
small64.zero_grad()
loss.forward(small64(x8_64), y8)
small64.backward(loss.backward())
exact = backend.to_numpy(small64.layers[0].weight.grad)
entries = [(i, 3 * i + 1) for i in range(5)]
errors = {"float32": [], "float64": []}
for index in entries:
    errors["float32"].append(abs(central_difference(small, x8, y8, index) - exact[index]) / abs(exact[index]))
    errors["float64"].append(
        abs(central_difference(small64, x8_64, y8, index) - exact[index]) / abs(exact[index])
    )
for precision, values in errors.items():
    print(f"{precision}: relative errors of the central difference " + ", ".join(f"{e:.1e}" for e in values))
assert max(errors["float64"]) < 1e-6 and max(errors["float32"]) > 100 * max(errors["float64"]), errors

report = ng.gradcheck(small, loss, x8, y8, max_entries=12)
print(report)
assert report.passed, report
assert small.layers[0].weight.data.dtype == np.float32  # gradcheck worked on its own float64 copy
print(f"gradcheck on {device}: passed, in float64; the network itself is still float32")

# %% [markdown]
# ## Try it
#
# - On a machine with a GPU, set `HIDDEN = 1024` (or 4096): the products grow as
#   $\text{HIDDEN}^2$, the fixed costs do not, and the batch size at which the GPU wins
#   moves down. At `HIDDEN = 32` it may win nowhere.
# - Set `BLAS_THREADS = None` and run section 4 again: on a quiet machine the CPU's curve
#   drops by up to the number of cores at large batches; on a busy one it jumps up instead.
# - In section 4, call `median_step_time` with `warmup=0` on the GPU and look at the first
#   step alone: the kernel compilation is the single largest number in this lesson.
# - Remove the `float(c)` from `training_step` (return `c`) and time the GPU again: the
#   clock then measures how fast Python *queues* kernels, and the curve goes flat.
# - In section 5 run `train_a_little` for 100 steps instead of 3: the float32 run drifts
#   from the float64 one, slowly — every step's rounding is carried into the next.
