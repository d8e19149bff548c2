"""One training step (forward, backward, SGD step) of the reference CNN: nanograd_ad vs PyTorch CPU.

    input (64, 3, 32, 32); Conv 3→32 3×3 p1, ReLU, MaxPool 2; Conv 32→64 3×3 p1, ReLU,
    MaxPool 2; Flatten; Dense 4096→10; softmax cross-entropy; SGD(lr=0.01)

Both run on the same threads (torch.set_num_threads = --threads; NumPy's BLAS is limited
with threadpoolctl when installed), in alternating blocks of steps so both see the same
machine load. Prints the median step time of each and the ratio.

    python benchmarks/bench_cnn.py [--steps 20] [--threads 2] [--backend numpy|cupy]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import nanograd_ad as ng
from nanograd_ad import backend


def build_ours():
    ng.seed(0)
    return ng.Sequential(
        ng.Conv2D(3, 32, 3, padding=1),
        ng.ReLU(),
        ng.MaxPool2D(2),
        ng.Conv2D(32, 64, 3, padding=1),
        ng.ReLU(),
        ng.MaxPool2D(2),
        ng.Flatten(),
        ng.Dense(4096, 10),
    )


def ours_step(x, y):
    """A closure running one nanograd_ad training step."""
    net, loss = build_ours(), ng.SoftmaxCrossEntropy()
    opt = ng.SGD(net.parameters(), lr=0.01)
    x, y = backend.asarray(x), backend.asarray(y)

    def step():
        opt.zero_grad()
        loss.forward(net(x), y)
        net.backward(loss.backward())
        opt.step()
        if backend.name() == "cupy":
            backend.xp.cuda.Stream.null.synchronize()

    return step


def torch_step(x, y, threads: int):
    """A closure running the same step in PyTorch CPU, or None when torch is absent."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    nn = torch.nn
    net = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4096, 10),
    )
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xt), yt).backward()
        opt.step()

    return step


BLOCK = 5


def timed(step) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--backend", choices=["numpy", "cupy"], default="numpy")
    args = parser.parse_args()
    backend.use(args.backend)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    except ImportError:
        pass
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    ours, theirs = ours_step(x, y), torch_step(x, y, args.threads)
    for _ in range(2):  # warm-up
        ours()
        theirs and theirs()
    ours_times, theirs_times = [], []
    # alternate blocks, so both see the same machine load; the first step of a block is
    # dropped (thread pools spin-wait for a moment after the other library's last call)
    for _ in range(max(1, args.steps // BLOCK)):
        ours_times += [timed(ours) for _ in range(BLOCK + 1)][1:]
        if theirs:
            theirs_times += [timed(theirs) for _ in range(BLOCK + 1)][1:]
    ours_ms = statistics.median(ours_times) * 1e3
    print(
        f"reference CNN, batch 64, {args.threads} threads, median of {len(ours_times)} steps "
        f"(alternating blocks of {BLOCK})"
    )
    print(f"  nanograd_ad ({args.backend}): {ours_ms:8.1f} ms/step")
    if not theirs:
        print("  PyTorch not installed: no ratio")
        return
    theirs_ms = statistics.median(theirs_times) * 1e3
    print(f"  PyTorch CPU          : {theirs_ms:8.1f} ms/step")
    print(f"  ratio nanograd_ad / PyTorch = {ours_ms / theirs_ms:.2f}x")


if __name__ == "__main__":
    main()
