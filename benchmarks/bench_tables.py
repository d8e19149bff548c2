"""Wall time of a whole AD table (Table 2 or 4 in full: 24 cells × 100 runs × 300 epochs),
in one process and with ``--workers 2``.

Each way runs ``nanograd-ad reproduce NAME`` in a fresh process (the command a reader types)
into a temporary folder and reports:

    wall        seconds from start to exit, measured here (imports, Dask start-up included)
    cell sum    the cells' own seconds (``wall_time_s`` of each cell in results.json):
                the work, whatever the number of workers
    longest     the longest cell: with N workers the wall time is at least this

and checks that both ways give the same per-run numbers (a sweep's result does not depend
on where its units ran). ``--runs``/``--epochs``/``--quick`` shorten the table for a try.

    python benchmarks/bench_tables.py [--experiment ad-relu|ad-sigmoid] [--ways serial workers]
        [--workers 2] [--runs 100] [--epochs 300] [--quick] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PER_RUN_KEYS = ("lowest_test_loss", "best_epoch", "final_test_loss", "lowest_train_loss", "switches")


def run_table(experiment: str, out: Path, extra: list[str]) -> tuple[float, dict]:
    """Run the table once (a fresh process); returns (wall seconds, results.json)."""
    command = [
        sys.executable,
        "-m",
        "nanograd_ad",
        "reproduce",
        experiment,
        "--no-progress",
        "--out",
        str(out),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.perf_counter()
    done = subprocess.run(command + extra, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command + extra)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return wall, json.loads((out / "results.json").read_text())


def per_run(results: dict) -> list[tuple]:
    """Every run's numbers, in a fixed order (to compare two runs of the table)."""
    rows = [
        (r["set"], r["layers"], r["activation"], r["seed"], *(r[k] for k in PER_RUN_KEYS))
        for r in results["runs"]
    ]
    return sorted(rows, key=lambda row: tuple(str(v) for v in row[:4]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", choices=["ad-relu", "ad-sigmoid"], default="ad-relu")
    parser.add_argument("--ways", nargs="+", choices=["serial", "workers"], default=["serial", "workers"])
    parser.add_argument("--workers", type=int, default=2, help="Dask workers of the second way (default 2)")
    parser.add_argument("--runs", type=int, default=None, help="runs per cell (default: the paper's 100)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default: the paper's 300)")
    parser.add_argument("--quick", action="store_true", help="the experiment's --quick table")
    parser.add_argument("--keep", type=Path, default=None, help="keep the outputs in DIR/<way>")
    args = parser.parse_args()
    extra = ["--quick"] if args.quick else []
    extra += ["--runs", str(args.runs)] if args.runs is not None else []
    extra += ["--epochs", str(args.epochs)] if args.epochs is not None else []
    print(f"{args.experiment} {' '.join(extra) or '(full table)'}; load {os.getloadavg()[0]:.2f} at start")
    outcomes = {}
    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or Path(scratch)
        for way in args.ways:
            flags = ["--workers", str(args.workers)] if way == "workers" else []
            wall, results = run_table(args.experiment, root / way, extra + flags)
            cells = results["summary"]["cells"]
            seconds = [c["wall_time_s"] for c in cells]
            name = f"--workers {args.workers}" if way == "workers" else "one process"
            print(
                f"  {name:<12} wall {wall:6.1f} s  (results.json {results['wall_time_s']:.1f} s); "
                f"{len(cells)} cells, cell sum {sum(seconds):6.1f} s, longest {max(seconds):5.1f} s; "
                f"load {os.getloadavg()[0]:.2f} at the end"
            )
            outcomes[way] = per_run(results)
    if len(outcomes) == 2:
        same = outcomes["serial"] == outcomes["workers"]
        print(f"  per-run numbers of both ways {'identical' if same else 'DIFFER'}")


if __name__ == "__main__":
    main()
