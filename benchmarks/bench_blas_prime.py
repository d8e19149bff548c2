"""The reference CNN's second-convolution products in a fresh process, with and without
``nanograd_ad.fast.blas.prime_blas`` (which ``import nanograd_ad`` runs).

    z₂ = cols W₂ᵀ        (16384×288)·(288×64)
    ∂C/∂W₂ = δ₂ᵀ cols    (64×16384)·(16384×288)
    δ₂ W₂                (16384×64)·(64×288)

Each variant runs in its own subprocess (the state it measures lives for the life of a
process): "cold" imports NumPy only, "primed" first loads ``nanograd_ad/fast/blas.py``
and runs its ``prime_blas`` once. Prints the median ms of each product and the time that
load took (NumPy is imported already: it is ``prime_blas``'s time).

    python benchmarks/bench_blas_prime.py [--threads 1] [--reps 9]
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys

CHILD = """
import statistics, sys, time
import numpy as np
threads, reps, primed = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "primed"
try:
    from threadpoolctl import threadpool_limits
    threadpool_limits(threads)
except ImportError:
    pass
cost = 0.0
if primed:
    import importlib.util  # fast/blas.py alone (it imports only NumPy), not the package
    spec = importlib.util.spec_from_file_location("blas", sys.argv[4] + "/nanograd_ad/fast/blas.py")
    start = time.perf_counter()
    blas = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(blas)
    blas.prime_blas()
    cost = time.perf_counter() - start
rng = np.random.default_rng(0)
cols = rng.random((16384, 288), dtype=np.float32)
delta2 = rng.random((16384, 64), dtype=np.float32)
w2 = rng.random((64, 288), dtype=np.float32)
products = {"cols W2^T": lambda: cols @ w2.T, "d2^T cols": lambda: delta2.T @ cols,
            "d2 W2": lambda: delta2 @ w2}
out = []
for name, product in products.items():
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        product()
        times.append(time.perf_counter() - start)
    out.append(f"{statistics.median(times) * 1e3:.1f}")
print(" ".join(out), f"{cost * 1e3:.1f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reps", type=int, default=9)
    args = parser.parse_args()
    root = str(pathlib.Path(__file__).resolve().parent.parent)
    print(f"second-convolution products, float32, {args.threads} threads, median of {args.reps} (ms)")
    print(f"  {'':8} {'cols W2^T':>10} {'d2^T cols':>10} {'d2 W2':>8} {'prime_blas':>11}")
    for variant in ("cold", "primed"):
        command = [sys.executable, "-c", CHILD, str(args.threads), str(args.reps), variant, root]
        fields = subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()
        prime = fields[3] if variant == "primed" else "—"
        print(f"  {variant:8} {fields[0]:>10} {fields[1]:>10} {fields[2]:>8} {prime:>11}")


if __name__ == "__main__":
    main()
