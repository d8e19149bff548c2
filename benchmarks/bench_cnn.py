"""One training step (forward, backward, SGD step) of the reference CNN: nanograd_ad vs PyTorch CPU.

    input (64, 3, 32, 32); Conv 3→32 3×3 p1, ReLU, MaxPool 2; Conv 32→64 3×3 p1, ReLU,
    MaxPool 2; Flatten; Dense 4096→10; softmax cross-entropy; SGD(lr=0.01)

Both run on the same threads (torch.set_num_threads = --threads; NumPy's BLAS is limited
with threadpoolctl when installed). Prints the median step time of each and the ratio.

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
        ng.Conv2D(3, 32, 3, padding=1), ng.ReLU(), ng.MaxPool2D(2),
        ng.Conv2D(32, 64, 3, padding=1), ng.ReLU(), ng.MaxPool2D(2),
        ng.Flatten(), ng.Dense(4096, 10))


def time_ours(x, y, steps: int) -> list[float]:
    net, loss = build_ours(), ng.SoftmaxCrossEntropy()
    opt = ng.SGD(net.parameters(), lr=0.01)
    x, y = backend.asarray(x), backend.asarray(y)
    times = []
    for _ in range(steps + 2):
        start = time.perf_counter()
        opt.zero_grad()
        loss.forward(net(x), y)
        net.backward(loss.backward())
        opt.step()
        if backend.name() == "cupy":
            backend.xp.cuda.Stream.null.synchronize()
        times.append(time.perf_counter() - start)
    return times[2:]


def time_torch(x, y, steps: int, threads: int) -> list[float] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(4096, 10))
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    times = []
    for _ in range(steps + 2):
        start = time.perf_counter()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xt), yt).backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return times[2:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    ours = statistics.median(time_ours(x, y, args.steps))
    theirs = time_torch(x, y, args.steps, args.threads)
    print(f"reference CNN, batch 64, {args.threads} threads, median of {args.steps} steps")
    print(f"  nanograd_ad ({args.backend}): {ours * 1e3:8.1f} ms/step")
    if theirs is None:
        print("  PyTorch not installed: no ratio")
        return
    theirs = statistics.median(theirs)
    print(f"  PyTorch CPU          : {theirs * 1e3:8.1f} ms/step")
    print(f"  ratio nanograd_ad / PyTorch = {ours / theirs:.2f}x")


if __name__ == "__main__":
    main()
