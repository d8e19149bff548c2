"""One training step (forward, backward, SGD step) of the reference CNN: nanograd_ad vs PyTorch CPU.

nanograd_ad's step is built from the fast wing (``nanograd_ad.fast``); the same step built
from the reference wing (``nanograd_ad.layers``/``activations``, the plain maths a student
reads) runs in the same alternating blocks, and its ratio to the fast wing is printed too.

    input (64, 3, 32, 32); Conv 3→32 3×3 p1, ReLU, MaxPool 2; Conv 32→64 3×3 p1, ReLU,
    MaxPool 2; Flatten; Dense 4096→10; softmax cross-entropy; SGD(lr=0.01)

The step is written the way a user writes it::

    opt.zero_grad()
    loss.forward(net(x), y)
    net.backward(loss.backward(), input_grad=False)   # nobody needs ∂C/∂x here
    opt.step()

Both run on the same threads (torch.set_num_threads = --threads; NumPy's BLAS, and
nanograd_ad's batch-split helper with it, is limited with threadpoolctl when installed),
in alternating blocks of steps so both see the same machine load. Prints the median step
time of each and the ratio. nanograd_ad is imported before NumPy, as a script using it
would, so its shorter OpenBLAS busy-wait is in force (the line under the title says so;
see ``nanograd_ad.fast.threads``); PyTorch's products run on its own MKL, which it leaves alone.

    python benchmarks/bench_cnn.py [--steps 20] [--threads 2] [--batch 64] [--backend numpy|cupy]
    python benchmarks/bench_cnn.py --profile     # forward / backward time per layer, both libraries
    python benchmarks/bench_cnn.py --memory      # peak memory of a step at batch 16, 64, 256
    python benchmarks/bench_cnn.py --clock cpu   # CPU seconds of this process instead of wall

``--clock cpu`` counts the process's CPU time (all its threads): on a busy shared machine
it is far steadier than the wall clock for one thread; with two threads it adds both
threads' time, so it is not what a user waits for.

``--memory`` runs each library in a fresh subprocess and reports the step's peak resident
memory above what the process held before the network was built (after two steps at
batch 4 that page in the library's code and start its threads), read as VmHWM after
resetting it through /proc/self/clear_refs following two warm-up steps (Linux), and the
ratio — the medians of three processes each, since the allocator's reuse of freed memory
makes one run's figure vary by tens of percent (each run is printed too).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import nanograd_ad as ng  # before NumPy: it shortens OpenBLAS's busy-wait (nanograd_ad.fast.threads)

# isort: split
import numpy as np

from nanograd_ad import backend
from nanograd_ad.fast.threads import blas_wait


def blas_kernels() -> str:
    """One line: NumPy's BLAS, its version and the kernels it picked for this CPU (threadpoolctl),
    and whether the CPU has AVX-512 that those kernels leave unused (OpenBLAS takes its Haswell
    kernels on a CPU it does not recognise, a virtual machine's among them)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "BLAS kernels: unknown (threadpoolctl is not installed)"
    blas = [info for info in threadpool_info() if info.get("user_api") == "blas"]
    if not blas:
        return "BLAS kernels: unknown (no BLAS found by threadpoolctl)"
    info = blas[0]
    kernels = info.get("architecture") or "unknown"
    line = f"{info.get('internal_api')} {info.get('version')}, {kernels} kernels"
    try:
        avx512 = " avx512f" in Path("/proc/cpuinfo").read_text()
    except OSError:
        avx512 = False
    if avx512 and kernels in ("Haswell", "Zen", "Sandybridge"):
        line += "; this CPU has AVX-512, which they leave unused (see the README: OPENBLAS_CORETYPE)"
    return line


def build_ours(wing=ng.fast):
    """The reference CNN from ``wing``: ``nanograd_ad.fast`` (default) or ``nanograd_ad`` (the reference)."""
    ng.seed(0)
    return ng.Sequential(
        wing.Conv2D(3, 32, 3, padding=1),
        wing.ReLU(),
        wing.MaxPool2D(2),
        wing.Conv2D(32, 64, 3, padding=1),
        wing.ReLU(),
        wing.MaxPool2D(2),
        wing.Flatten(),
        wing.Dense(4096, 10),
    )


def build_torch():
    import torch

    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4096, 10),
    )


def _synchronize() -> None:
    if backend.name() == "cupy":
        backend.xp.cuda.Stream.null.synchronize()


def ours_step(x, y, wing=ng.fast):
    """A closure running one nanograd_ad training step, built from ``wing``."""
    net, loss = build_ours(wing), ng.SoftmaxCrossEntropy()
    opt = ng.SGD(net.parameters(), lr=0.01)
    x, y = backend.asarray(x), backend.asarray(y)

    def step():
        opt.zero_grad()
        loss.forward(net(x), y)
        net.backward(loss.backward(), input_grad=False)
        opt.step()
        _synchronize()

    return step


def torch_step(x, y, threads: int):
    """A closure running the same step in PyTorch CPU, or None when torch is absent."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    net = build_torch()
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xt), yt).backward()
        opt.step()

    return step


BLOCK = 5
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter


def timed(fn) -> float:
    start = clock()
    fn()
    return clock() - start


def limit_threads(threads: int) -> None:
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    except ImportError:
        pass


def data(batch: int):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
    return x, rng.integers(0, 10, batch)


def bench_steps(args) -> None:
    x, y = data(args.batch)
    ours, theirs = ours_step(x, y), torch_step(x, y, args.threads)
    plain = ours_step(x, y, ng)  # the reference wing
    for _ in range(2):  # warm-up
        ours()
        plain()
        theirs and theirs()
    ours_times, plain_times, theirs_times = [], [], []
    # alternate blocks, so all see the same machine load; the first step of a block is
    # dropped (thread pools spin-wait for a moment after the other library's last call)
    for _ in range(max(1, args.steps // BLOCK)):
        ours_times += [timed(ours) for _ in range(BLOCK + 1)][1:]
        plain_times += [timed(plain) for _ in range(BLOCK + 1)][1:]
        if theirs:
            theirs_times += [timed(theirs) for _ in range(BLOCK + 1)][1:]
    ours_ms, plain_ms = statistics.median(ours_times) * 1e3, statistics.median(plain_times) * 1e3
    print(
        f"reference CNN, batch {args.batch}, {args.threads} threads, median of {len(ours_times)} steps "
        f"(alternating blocks of {BLOCK}, {args.clock} clock)"
    )
    print(f"  {blas_wait()}")
    print(f"  {blas_kernels()}")
    print(f"  nanograd_ad ({args.backend}), fast wing     : {ours_ms:8.1f} ms/step")
    print(f"  nanograd_ad ({args.backend}), reference wing: {plain_ms:8.1f} ms/step")
    print(f"  ratio reference wing / fast wing = {plain_ms / ours_ms:.2f}x")
    if not theirs:
        print("  PyTorch not installed: no ratio")
        return
    theirs_ms = statistics.median(theirs_times) * 1e3
    print(f"  PyTorch CPU                        : {theirs_ms:8.1f} ms/step")
    print(f"  ratio nanograd_ad (fast wing) / PyTorch = {ours_ms / theirs_ms:.2f}x")


# ------------------------------------------------------------------ per-layer profile


def profile_ours(x, y, reps: int) -> list[list[float]]:
    """[forward ms, backward ms] per layer (and the loss last), medians over ``reps`` steps."""
    net, loss = build_ours(), ng.SoftmaxCrossEntropy()
    opt = ng.SGD(net.parameters(), lr=0.01)
    x, y = backend.asarray(x), backend.asarray(y)
    rows = len(net.layers) + 1
    times: list[list[list[float]]] = [[[], []] for _ in range(rows)]

    def clocked(slot: list, fn):
        start = clock()
        out = fn()
        _synchronize()
        slot.append(clock() - start)
        return out

    for _ in range(reps + 1):
        opt.zero_grad()
        a = x
        for i, layer in enumerate(net.layers):
            a = clocked(times[i][0], lambda layer=layer, a=a: layer.forward(a))
        clocked(times[-1][0], lambda a=a: loss.forward(a, y))
        delta = clocked(times[-1][1], loss.backward)
        for i in reversed(range(len(net.layers))):
            layer = net.layers[i]
            if i == 0:  # the bottom layer, as net.backward(..., input_grad=False) calls it
                clocked(times[i][1], lambda layer=layer, d=delta: layer.backward(d, input_grad=False))
            else:
                delta = clocked(times[i][1], lambda layer=layer, d=delta: layer.backward(d))
        opt.step()
    names = [repr(layer) for layer in net.layers] + ["SoftmaxCrossEntropy"]
    return names, [[statistics.median(t[1:]) * 1e3 for t in row] for row in times]


def profile_torch(x, y, reps: int, threads: int):
    """The same for PyTorch: each module runs on a detached input, backward one module at a time."""
    import torch

    torch.set_num_threads(threads)
    net = build_torch()
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    modules = [*net, lambda logits: torch.nn.functional.cross_entropy(logits, yt)]
    times: list[list[list[float]]] = [[[], []] for _ in modules]
    for _ in range(reps + 1):
        opt.zero_grad()
        inputs, outputs, a = [], [], xt
        for i, module in enumerate(modules):
            a = a.detach().requires_grad_(i > 0)  # the bottom layer needs no input gradient
            start = clock()
            out = module(a)
            times[i][0].append(clock() - start)
            inputs.append(a)
            outputs.append(out)
            a = out
        grad = None
        for i in reversed(range(len(modules))):
            start = clock()
            torch.autograd.backward(outputs[i], grad)
            times[i][1].append(clock() - start)
            grad = inputs[i].grad
        opt.step()
    names = [repr(m) for m in net] + ["cross_entropy"]
    return names, [[statistics.median(t[1:]) * 1e3 for t in row] for row in times]


def bench_profile(args) -> None:
    x, y = data(args.batch)
    names, ours = profile_ours(x, y, args.steps)
    print(
        f"per-layer profile, reference CNN, batch {args.batch}, {args.threads} threads, "
        f"median of {args.steps} steps ({args.clock} clock, ms)"
    )
    print(f"  {blas_wait()}")
    print(f"  {blas_kernels()}")
    try:
        _, theirs = profile_torch(x, y, args.steps, args.threads)
    except ImportError:
        theirs = None
    header = f"  {'layer':<34} {'ours fwd':>9} {'ours bwd':>9}"
    if theirs:
        header += f" {'torch fwd':>10} {'torch bwd':>10} {'ratio':>6}"
    print(header)
    for i, name in enumerate(names):
        line = f"  {name:<34} {ours[i][0]:9.2f} {ours[i][1]:9.2f}"
        if theirs:
            ratio = sum(ours[i]) / max(sum(theirs[i]), 1e-9)
            line += f" {theirs[i][0]:10.2f} {theirs[i][1]:10.2f} {ratio:6.2f}"
        print(line)
    total = f"  {'total':<34} {sum(r[0] for r in ours):9.2f} {sum(r[1] for r in ours):9.2f}"
    if theirs:
        total += f" {sum(r[0] for r in theirs):10.2f} {sum(r[1] for r in theirs):10.2f}"
        total += f" {sum(map(sum, ours)) / sum(map(sum, theirs)):6.2f}"
    print(total)


# ----------------------------------------------------------------------- peak memory


def _resident() -> int:
    """Resident set size of this process, bytes (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_resident() -> int:
    """VmHWM, the peak resident set size since the last reset, bytes (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


#: the warm-up batch of --memory: 4 samples are the fewest nanograd_ad splits over two threads
#: (threads.MIN_SAMPLES_PER_THREAD each), so its worker thread, like PyTorch's, exists before
#: the baseline is read
WARM_BATCH = 4
#: --memory runs each library's child this many times per batch and reports the medians
MEMORY_REPEATS = 3


def memory_child(library: str, batch: int, threads: int) -> None:
    """Print the peak resident bytes of one step above the process's footprint before the net."""
    x, y = data(batch)
    if library == "torch":
        import torch  # imported before the baseline, like NumPy is

        torch.set_num_threads(threads)
    make = ours_step if library == "ours" else lambda x, y: torch_step(x, y, threads)
    warm = make(*data(WARM_BATCH))  # two small steps page in the library's code and start its threads
    warm()
    warm()
    del warm
    gc.collect()
    before = _resident()
    step = make(x, y)
    step()
    step()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    step()
    print(_peak_resident() - before)


def bench_memory(args) -> None:
    print(
        f"peak memory of one step above the process before building the net, {args.threads} threads, "
        f"median of {MEMORY_REPEATS} fresh processes each"
    )
    print(f"  {'batch':>5} {'nanograd_ad MiB':>16} {'PyTorch MiB':>12} {'ratio':>6}   (each run, MiB)")
    for batch in (16, 64, 256):
        peaks: dict[str, list[int]] = {"ours": [], "torch": []}
        for _ in range(MEMORY_REPEATS):
            for library in ("ours", "torch"):  # interleaved: both see the same machine
                command = [sys.executable, __file__, "--threads", str(args.threads)]
                command += ["--memory-child", library, "--batch", str(batch)]
                done = subprocess.run(command, capture_output=True, text=True)
                if done.returncode == 0:
                    peaks[library].append(int(done.stdout.split()[-1]))
        ours = statistics.median(peaks["ours"])
        runs = " ".join(f"{p / 2**20:.1f}" for p in peaks["ours"])
        if not peaks["torch"]:
            print(f"  {batch:>5} {ours / 2**20:16.1f} {'—':>12}          ({runs})")
            continue
        theirs = statistics.median(peaks["torch"])
        runs += " vs " + " ".join(f"{p / 2**20:.1f}" for p in peaks["torch"])
        print(f"  {batch:>5} {ours / 2**20:16.1f} {theirs / 2**20:12.1f} {ours / theirs:6.2f}   ({runs})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--backend", choices=["numpy", "cupy"], default="numpy")
    parser.add_argument("--profile", action="store_true", help="forward/backward time per layer")
    parser.add_argument("--memory", action="store_true", help="peak memory at batch 16, 64, 256")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall", help="wall or CPU time")
    parser.add_argument("--memory-child", choices=["ours", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    backend.use(args.backend)
    limit_threads(args.threads)
    if args.memory_child:
        memory_child(args.memory_child, args.batch, args.threads)
    elif args.profile:
        bench_profile(args)
    elif args.memory:
        bench_memory(args)
    else:
        bench_steps(args)


if __name__ == "__main__":
    main()
