"""How much of a whole AD table is its matrix products: the floor under the tables' time.

Every product of a seed ensemble is NumPy's stacked matmul, which calls the BLAS once per
model — (50 × 2)·(2 × 2) and the like, about a tenth of a microsecond each. Those calls fix
the numbers: OpenBLAS's kernels sum with fused multiply-adds, one after another, and NumPy's
other ways (broadcast multiply-adds, einsum, its own loops) round each product first — they
agreed with it on 76 % of the entries of a (100, 50, 2)·(100, 2, 2) float32 product. A
300-epoch float32 training carries such a difference far: with einsum for the forward
products, one of the 100 runs of Table 2's depth-8 ReLU cell (set A) ended with a lowest
test loss 90 % away (93 runs unchanged). So while the tables stay bit-identical, no change
to the other passes can bring a table below the time of its products. This script
measures that time.

For each (set, depth) of a table it trains the cell's ensemble for ``--epochs`` epochs with
its arrays counted (``profile_step.counted_run``: every NumPy call timed on its own), takes
the products' time per training step and per epoch's test pass (median µs per call × calls),
and scales them to the table: 300 epochs × steps per epoch × the three variants (their
products are the same). It prints, per table, the products' seconds of cell time and the
wall time they alone take on ``--workers`` workers, beside the table's own cell time when a
``results.json`` of a full run is given.

    python benchmarks/bench_floor.py [--experiment ad-relu|ad-sigmoid] [--epochs 3]
        [--models 100] [--workers 2] [--results DIR/results.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
from pathlib import Path

from nanograd_ad import backend
from nanograd_ad.experiments.ad_tables import TASKS

PAPER_EPOCHS = 300


def profile_step():
    """benchmarks/profile_step.py, imported by path (benchmarks/ is not a package)."""
    path = Path(__file__).with_name("profile_step.py")
    spec = importlib.util.spec_from_file_location("profile_step", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["profile_step"] = module
    spec.loader.exec_module(module)
    return module


def products_of(tool, experiment: str, set_name: str, depth: int, models: int, epochs: int) -> dict:
    """µs of matmul per training step and per epoch's test pass of one cell (its plain
    variant: the same products): for each shape of product, its median µs per call × its
    calls (a median per shape, as a (50 × 2)·(2 × 2) and a row of ones times δ differ
    threefold; robust to a call the machine delayed)."""
    variant = TASKS[experiment].variants[1]  # the plain activation: no switching, the same products
    cell = tool.Cell(experiment, set_name, depth, variant, models, None)
    counter, clock, _ = tool.counted_run(cell, epochs, by_shape=True)
    steps = sum(clock.steps)
    found = {f"{phase}{suffix}": 0.0 for phase in ("step", "evaluate") for suffix in ("", "_calls")}
    for (phase, name), durations in counter.calls.items():
        if phase in ("step", "evaluate") and name.startswith("matmul "):
            per = steps if phase == "step" else epochs
            found[phase] += len(durations) / per * statistics.median(durations) / 1e3
            found[f"{phase}_calls"] += len(durations) / per
    found["steps_per_epoch"] = steps / epochs
    return found


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", choices=list(TASKS), default="ad-sigmoid")
    parser.add_argument("--epochs", type=int, default=3, help="epochs counted per cell (default 3)")
    parser.add_argument("--models", type=int, default=100, help="models per cell (default 100)")
    parser.add_argument("--workers", type=int, default=2, help="workers the wall time is for (default 2)")
    parser.add_argument("--sets", nargs="+", default=None, help="sets (default: both)")
    parser.add_argument("--depths", type=int, nargs="+", default=None, help="depths (default: the set's)")
    parser.add_argument("--results", type=Path, default=None, help="a full run's results.json, to compare")
    args = parser.parse_args(argv)
    previous = backend.default_dtype()
    backend.set_default_dtype("float32")  # the tables' dtype
    try:
        return products_of_table(args)
    finally:
        backend.set_default_dtype(previous)


def products_of_table(args: argparse.Namespace) -> dict:
    """The table's products, cell by cell, printed; their total (and the table's cell time)."""
    tool, task = profile_step(), TASKS[args.experiment]
    variants = len(task.variants)
    print(
        f"{args.experiment}: matmul per cell, {args.models} models, {args.epochs} epochs counted, "
        f"load {os.getloadavg()[0]:.2f}"
    )
    print(f"{'set':>3} {'n':>3} {'calls/step':>10} {'µs/step':>8} {'µs/test pass':>12} {'s per cell':>10}")
    total, cells = 0.0, []
    for set_name in args.sets or list(task.sets):
        for depth in args.depths or task.sets[set_name].depths:
            p = products_of(tool, args.experiment, set_name, depth, args.models, args.epochs)
            seconds = PAPER_EPOCHS * (p["steps_per_epoch"] * p["step"] + p["evaluate"]) / 1e6
            total += variants * seconds
            cells.append({"set": set_name, "layers": depth, **p, "seconds": seconds})
            print(
                f"{set_name:>3} {depth:>3} {p['step_calls']:>10.0f} {p['step']:>8.0f} "
                f"{p['evaluate']:>12.0f} {seconds:>10.2f}"
            )
    print(
        f"products of the whole table ({variants} variants): {total:.1f} s of cell time, "
        f"{total / args.workers:.1f} s of wall time on {args.workers} workers at best"
    )
    outcome = {"cells": cells, "products_s": total, "products_wall_s": total / args.workers}
    if args.results is not None:
        cells = json.loads(args.results.read_text())["summary"]["cells"]
        cell_time = sum(c["wall_time_s"] for c in cells)
        print(
            f"the table's own cell time ({args.results}): {cell_time:.1f} s; products {total / cell_time:.0%}"
        )
        outcome["cell_time_s"] = cell_time
    return outcome


if __name__ == "__main__":
    main()
