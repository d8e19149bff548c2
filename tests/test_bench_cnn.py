"""benchmarks/bench_cnn.py: the step beside PyTorch's, with the BLAS and its kernels named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_cnn.py"


def test_the_benchmark_names_the_blas_kernels_and_prints_the_ratio():
    command = [sys.executable, str(SCRIPT), "--steps", "1", "--batch", "2", "--threads", "1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any("kernels" in line for line in lines[:4]), done.stdout  # "openblas 0.3.31, Haswell kernels"
    assert any("fast wing) / PyTorch" in line for line in lines), done.stdout
