"""benchmarks/bench_floor.py: the products' time of a table, from the counted calls of its cells."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from nanograd_ad import backend

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_floor.py"


def test_the_floor_counts_every_product_of_a_cell_and_scales_it_to_the_table(tmp_path, capsys):
    """Depth n = 2, set B: 4n − 1 = 7 products per step (x W and xᵀδ and 1ᵀδ per layer, δWᵀ
    above the first); 300 epochs × 30 steps × 3 variants of them, as the script prints."""
    spec = importlib.util.spec_from_file_location("bench_floor", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    previous = backend.default_dtype()
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"summary": {"cells": [{"wall_time_s": 2.0}, {"wall_time_s": 3.0}]}}))
    argv = ["--experiment", "ad-relu", "--sets", "B", "--depths", "2", "--models", "3", "--epochs", "1"]
    try:
        spec.loader.exec_module(module)
        outcome = module.main([*argv, "--results", str(results)])
    finally:
        sys.modules.pop("profile_step", None)
    assert backend.default_dtype() == previous
    (cell,) = outcome["cells"]
    assert cell["step_calls"] == 7 and cell["steps_per_epoch"] == 30  # 3000 rows, batch 100
    assert cell["step"] > 0 and cell["evaluate"] > 0  # µs per step, per test pass
    assert cell["seconds"] == 300 * (30 * cell["step"] + cell["evaluate"]) / 1e6
    assert outcome["products_s"] == 3 * cell["seconds"]  # three variants, the same products
    assert outcome["products_wall_s"] == outcome["products_s"] / 2 and outcome["cell_time_s"] == 5.0
    lines = capsys.readouterr().out.splitlines()
    row = next(line.split() for line in lines if line.split()[:2] == ["B", "2"])
    assert row[2] == "7"
