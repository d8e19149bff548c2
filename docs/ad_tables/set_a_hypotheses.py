"""Two readings of Table 2 set A, run through the experiment's own cell training, paired.

Both hypotheses of docs/ad_tables.md ("Table 2 set A: hypotheses tested") that the
command line cannot express yet. Each cell is trained by `ad_tables.cell_unit` — the
same seeds (initial weights), data draw and settings as `nanograd-ad reproduce ad-relu
--sets A` — with the Trainer it builds swapped for a variant:

    fixed-order   the paper's batches possibly in one fixed order (PyTorch's ``DataLoader``
                  without ``shuffle=True``): ``Trainer(shuffle=False)``, every epoch in file
                  order. Each cell is trained twice, reshuffled (today's) and fixed.
    per-batch     the lowest test loss possibly taken over evaluations after every update,
                  not once an epoch: a callback evaluates the test set after every batch.
                  Writes both minima of each run (the per-epoch one is today's).

    python docs/ad_tables/set_a_hypotheses.py fixed-order|per-batch OUT.json [depth ...]

OUT.json maps "depth/variant/..." to the 100 runs' lowest test losses; a cell already in
OUT.json is skipped, so an interrupted run resumes. Default depths: 2 4 6 8.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from nanograd_ad import backend, train
from nanograd_ad.callbacks import Callback
from nanograd_ad.evaluation import evaluate
from nanograd_ad.experiments import ad_tables

SEEDS = list(range(100))
EPOCHS = 300


class LowestAfterEveryBatch(Callback):
    """The lowest test loss of each model over evaluations after every update."""

    def __init__(self):
        self.lowest = None

    def on_batch_end(self, trainer, batch, loss):
        x_test, y_test = trainer.test
        value, _ = evaluate(trainer.net, trainer.loss, x_test, y_test, trainer.eval_batch_size)
        value = np.asarray(backend.to_numpy(value), dtype=float)
        value = np.where(np.isfinite(value), value, np.inf)
        self.lowest = value if self.lowest is None else np.minimum(self.lowest, value)


def train_cell(depth: int, variant: str, shuffle: bool = True, callback=None) -> list[float]:
    """One set-A cell of Table 2 (100 seeds) as the experiment trains it, with the Trainer
    given ``shuffle`` and one more callback; the runs' lowest (per-epoch) test losses."""
    hyper = ad_tables.TASKS["ad-relu"].sets["A"]

    class Variant(train.Trainer):
        def __init__(self, *args, **kwargs):
            kwargs["shuffle"] = shuffle
            kwargs["callbacks"] = [*kwargs.get("callbacks", ()), *([callback] if callback else [])]
            super().__init__(*args, **kwargs)

    today = train.Trainer
    train.Trainer = Variant  # cell_trainer imports it from nanograd_ad.train when it is called
    try:
        result = ad_tables.cell_unit(
            "ad-relu", dataclasses.asdict(hyper), depth, variant, SEEDS, [0], EPOCHS, "float32", {}
        )
    finally:
        train.Trainer = today
    return [float(v) for v in np.asarray(result["lowest_test_loss"], dtype=float)]


def cell_results(hypothesis: str, depth: int, variant: str) -> dict[str, list[float]]:
    if hypothesis == "fixed-order":
        return {"reshuffled": train_cell(depth, variant), "fixed": train_cell(depth, variant, shuffle=False)}
    spy = LowestAfterEveryBatch()
    return {
        "per_epoch": train_cell(depth, variant, callback=spy),
        "per_batch": [float(v) for v in spy.lowest],
    }


def main() -> None:
    hypothesis, out = sys.argv[1], Path(sys.argv[2])
    if hypothesis not in ("fixed-order", "per-batch"):
        raise SystemExit(f"hypothesis must be fixed-order or per-batch, got {hypothesis!r}")
    depths = [int(d) for d in sys.argv[3:]] or [2, 4, 6, 8]
    results = json.loads(out.read_text()) if out.exists() else {}
    for depth in depths:
        for variant in ad_tables.TASKS["ad-relu"].variants:
            key = f"{depth}/{variant}"
            if key in results:
                continue
            started = time.perf_counter()
            results[key] = cell_results(hypothesis, depth, variant)
            means = ", ".join(f"{k} {np.mean(v):.4f}" for k, v in results[key].items())
            print(f"{key}: {means} ({time.perf_counter() - started:.0f} s)", flush=True)
            out.write_text(json.dumps(results))


if __name__ == "__main__":
    main()
