"""benchmarks/bench_ensemble.py: ours beside the batched PyTorch ensemble and PyTorch one by one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_ensemble.py"


@pytest.mark.parametrize("one_by_one", [0, 1])
def test_the_benchmark_trains_the_same_models_as_pytorch(one_by_one):
    """3 models, 2 epochs: the batched peer's lowest test losses agree with ours for all 3
    (no time for float32 trajectories to part); --torch-models 0 skips the one-by-one loop."""
    command = [
        sys.executable,
        str(SCRIPT),
        "--models",
        "3",
        "--epochs",
        "2",
        "--torch-models",
        str(one_by_one),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "within 1e-4 relative in 3 of 3" in done.stdout, done.stdout
    assert ("models one after another" in done.stdout) == bool(one_by_one), done.stdout
