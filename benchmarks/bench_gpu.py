"""nanograd_ad on CuPy against PyTorch CUDA, on the same GPU in the same run.

Two workloads, each printed with both times and the ratio:

    cnn       one SGD step of the reference CNN (that of bench_cnn.py) at batch 256:
              (256, 3, 32, 32); Conv 3→32 3×3 p1, ReLU, MaxPool 2; Conv 32→64 3×3 p1,
              ReLU, MaxPool 2; Flatten; Dense 4096→10; softmax cross-entropy; SGD(0.01).
              Median over alternating blocks of steps; every step ends with a device
              synchronize, so the time is the GPU's, not the launch queue's.
    ensemble  the AD paper's Table 2 cell at its deepest (8-layer width-2 ReLU net, set A,
              Adam 1e-3, batch 50): ``--models`` seeds trained together as one ensemble on
              CuPy, against the first ``--torch-models`` of the same networks trained one
              after another on PyTorch CUDA (as the paper ran them); seconds per training,
              and the largest difference of the lowest test losses (the same models).

    python benchmarks/bench_gpu.py [--steps 20] [--models 100] [--torch-models 2]
        [--epochs 30] [--only cnn|ensemble] [--quick]

Needs CuPy with a GPU (``pip install -e ".[gpu]"``); without it, says why and exits 2.
PyTorch without CUDA: only nanograd_ad's numbers are printed.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import bench_cnn
import bench_ensemble

import nanograd_ad as ng
from nanograd_ad import backend, init

BLOCK = 5


def torch_on(device: str):
    """torch when it can run on ``device``, else None (with the reason printed)."""
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: no comparison (pip install torch with CUDA)")
        return None
    if device == "cuda" and not torch.cuda.is_available():
        print("PyTorch has no CUDA device: no comparison")
        return None
    return torch


def cnn(steps: int, batch: int, torch, device: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, batch)

    net, loss = bench_cnn.build_ours(), ng.SoftmaxCrossEntropy()
    net.to("cupy")
    opt = ng.SGD(net.parameters(), lr=0.01)
    xd, yd = backend.asarray(x), backend.asarray(y)
    sync = backend.xp.cuda.Stream.null.synchronize

    def ours():
        opt.zero_grad()
        loss.forward(net(xd), yd)
        net.backward(loss.backward())
        opt.step()
        sync()

    theirs = None
    if torch is not None:
        nn = torch.nn
        model = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(4096, 10),
        ).to(device)
        topt = torch.optim.SGD(model.parameters(), lr=0.01)
        xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

        def theirs():
            topt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt), yt).backward()
            topt.step()
            if device == "cuda":
                torch.cuda.synchronize()

    for _ in range(3):  # warm-up: kernels compiled, memory pools filled
        ours()
        theirs and theirs()
    ours_times, theirs_times = [], []
    for _ in range(max(1, steps // BLOCK)):
        ours_times += [bench_cnn.timed(ours) for _ in range(BLOCK)]
        if theirs:
            theirs_times += [bench_cnn.timed(theirs) for _ in range(BLOCK)]
    ours_ms = statistics.median(ours_times) * 1e3
    pool = backend.xp.get_default_memory_pool()
    print(f"reference CNN, batch {batch}, median of {len(ours_times)} steps (alternating blocks of {BLOCK})")
    print(f"  nanograd_ad (CuPy): {ours_ms:8.2f} ms/step   (CuPy pool: {pool.total_bytes() / 2**20:.0f} MiB)")
    if theirs:
        theirs_ms = statistics.median(theirs_times) * 1e3
        print(f"  PyTorch {device:<10}: {theirs_ms:8.2f} ms/step")
        print(f"  ratio nanograd_ad / PyTorch = {ours_ms / theirs_ms:.2f}x")


def ensemble(models: int, torch_models: int, epochs: int, torch, device: str) -> None:
    from nanograd_ad.experiments.ad_tables import TASKS, build_net, load_data, train_cell

    hyper, data = TASKS["ad-relu"].sets["A"], load_data("ad-relu", 0)
    seeds = list(range(models))
    print(f"AD Table 2 cell: depth 8 width-2 ReLU, set A, {epochs} epochs")
    started = time.perf_counter()
    ours = train_cell("ad-relu", hyper, 8, "ReLU", seeds, epochs, data, switch_a=None)
    backend.xp.cuda.Stream.null.synchronize()
    ours_each = (time.perf_counter() - started) / models
    print(f"  nanograd_ad (CuPy): {models} models together -> {ours_each:.4f} s per training")
    if torch is None:
        return
    k = min(torch_models, models)
    nets = []
    for seed in seeds[:k]:
        init.seed(seed)
        nets.append(build_net("ad-relu", "ReLU", 8, hyper))
    for net in nets:
        net.to("numpy")  # bench_ensemble copies the weights over from the host
    torch_each, torch_lowest = bench_ensemble.torch_trainings(
        nets, seeds[:k], data, epochs, hyper, "ReLU", threads=1, device=device
    )
    print(f"  PyTorch {device:<10}: {k} models one after another -> {torch_each:.4f} s per training")
    print(f"  ratio: {torch_each / ours_each:.1f}x fewer seconds per training with the ensemble")
    ours_lowest = [float(v) for v in ours["lowest_test_loss"][:k]]
    gap = max(abs(a - b) / max(abs(b), 1e-12) for a, b in zip(ours_lowest, torch_lowest))
    print(f"  same models: largest relative difference of the lowest test losses {gap:.2e}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="CNN steps per library (default 20)")
    parser.add_argument("--batch", type=int, default=256, help="CNN batch (default 256)")
    parser.add_argument("--models", type=int, default=100, help="ensemble size (default 100)")
    parser.add_argument("--torch-models", type=int, default=2, help="PyTorch trainings (default 2)")
    parser.add_argument("--epochs", type=int, default=30, help="ensemble epochs (default 30)")
    parser.add_argument("--only", choices=["cnn", "ensemble"], default=None)
    parser.add_argument(
        "--torch-device", default="cuda", help="PyTorch's device (default cuda; cpu for a CPU reference)"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: 5 steps, 3 epochs")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.epochs = 5, 3
    try:
        backend.use("cupy")
    except backend.BackendError as err:
        print(f"bench_gpu: {err}")
        return 2
    torch = torch_on(args.torch_device)
    if args.only in (None, "cnn"):
        cnn(args.steps, args.batch, torch, args.torch_device)
    if args.only in (None, "ensemble"):
        ensemble(args.models, args.torch_models, args.epochs, torch, args.torch_device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
