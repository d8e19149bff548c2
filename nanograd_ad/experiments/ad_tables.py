"""ad-relu and ad-sigmoid: Tables 2 and 4 of the AD paper (Hu, Zhang & Ge 2021, §III).

Two declarations over the experiments' runner (`runner.Declaration`). Their grid is

    set (A, B) × layers (the set's own depths) × activation (the table's columns) × seed

and the seed is the runner's ``inner`` axis: one unit trains every seed of a cell at once,
side by side as one seed ensemble (`nanograd_ad.ensemble`), and returns one run per seed.
Model i is the network built after ``init.seed(seed + i)`` and shuffled by its own
generator, so each is the single run of that seed. Every variant of a cell uses the same
seeds (the same initial weights and batches), so the variants differ only in the
activation and its derivative. The runner groups the runs by set, layers and activation
(a table cell) and prints one row per cell beside the paper's number.

ad-relu (Table 2) — approximate y = |x|, x ~ U(−√3, √3), 3000 train / 1000 test points:

    Dense(1, 2) → act → [Dense(2, 2) → act] × (n − 2) → Dense(2, 1)    n Dense layers, n − 1 acts
    4 + 4(n − 2) weights, 3 + 2(n − 2) biases;  act = ReLU | Leaky ReLU (0.01) | AD ReLU

ad-sigmoid (Table 4) — y = 1 if v1 < v2 else 0, (v1, v2) ~ U(−√3, √3)², 3000 / 500 pairs:

    Dense(2, 2) → act → [Dense(2, 2) → act] × (n − 2) → Dense(2, 1) → act      n acts
    6 + 4(n − 2) weights, 3 + 2(n − 2) biases;  act = sigmoid | Isigmoid (a=0.01, α=1) | AD sigmoid

AD ReLU uses d = sigmoid(k·z), k = 3.5, with the switching rule (AD ↔ true derivative
when the epoch's training loss exceeds A = 1.035 × the best so far, per model, starting
in AD); AD sigmoid uses d = min(y, 1 − y) (eq. 11) throughout. Loss MSE, 300 epochs. A
run's result is its lowest test loss over the epochs (the paper's measure: it selects on
the test set, as the paper did).

    set A: batch 50,  PyTorch default init (W and b ~ U(±1/√fan_in)), Adam lr 1e-3
    set B: batch 100, He normal (ReLU) / Xavier normal (sigmoid) weights, SGD lr 0.01, b = 0

**Readings** (the paper does not say; each is a reading, printed in the run's header, and
where it is an option the default is today's reading):

- *batch order* — a reading: the batches are reshuffled every epoch, each run by its own
  generator (``--shuffle on``, the default). The paper does not say; PyTorch's
  ``DataLoader`` keeps the file order unless given ``shuffle=True``: ``--shuffle off``
  trains every epoch in the data's order.
- *how often the test loss is taken* — a reading: once per epoch, after the epoch's last
  update; a run's result is the lowest of these. The paper says "the lowest test loss"
  of each run, not how often it was tested.
- *Isigmoid's output* — a reading: in the sigmoid nets every activation, the output's
  included, is the variant, so the Isigmoid nets end in Isigmoid. The paper's nets are
  n sigmoid layers and its Isigmoid column replaces "the activation" without saying
  whether the output's too; its Isigmoid losses above 0.25 need an unbounded output.
- *"3000 float numbers"* — a reading for the comparison task: 3000 training pairs
  (v1, v2), i.e. 6000 numbers, and 500 test pairs. The paper says "3000 float numbers
  randomly chosen", which for |x| are 3000 inputs and for the comparison could also be
  1500 pairs.
- the MSE averaged over the batch (``--reduction mean | sum``; a sum has B times the
  mean's gradient: for Adam the mean with ε/B, for SGD the mean with B × lr), Adam's
  ε = 1e-8 (``--adam-eps``), set A's Adam lr 1e-3 and set B's SGD lr 0.01 (``--lr-a``,
  ``--lr-b``), set A's biases PyTorch's default and set B's zero (``--bias-init-a``,
  ``--bias-init-b``): the paper gives the optimizer and "MSE", not these.
- one data draw (``--data-seed``, default 0) shared by all runs, the runs differing in
  weights and batch order (``--seed`` is the first model's seed; ``--data-draw per-run``
  gives run i its own draw, data seed + i): the paper says the runs were "performed 100
  times independently"; float32 (``--dtype``): the paper's "32 bits float".
- the switching rule is given for AD ReLU (Hu, Zhang & Ge 2021, §III.A) and not for AD
  sigmoid, so by default only AD ReLU switches; ``--switching on`` / ``off`` makes every
  AD variant switch / never switch.

docs/ad_tables.md compares the readings with the paper's numbers.

results.json (`common.write_results`) holds, besides config / wall_time_s / version:

    runs      one dict per training: table, set, layers, activation, seed, data_seed,
              lowest_test_loss, best_epoch (0-based), final_test_loss,
              lowest_train_loss (the lowest epoch-mean training loss), switches
    summary   {"intervals": interval labels, "edges": their edges, "cells": [one dict per
              cell: set, layers, activation, runs, mean_lowest_test_loss, std,
              mean_lowest_train_loss, median, paper_mean_test_loss, counts (per
              interval), nonfinite, switches_mean, weights, wall_time_s (its unit's)]}
    paper     the paper's rows of this table (from ``ad_tables.csv``)

Figures (like the paper's Figs. 3–6): ``<name>_set_<S>.png``, the number of runs whose
lowest test loss falls in each interval, one panel per depth.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import itertools
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import backend
from .common import ExperimentConfig, blas_threads, pyplot, save_figure
from .runner import Column, Declaration, Measure, Outcome, ad_options, add_options, declare

if TYPE_CHECKING:
    from ..train import Trainer

PAPER_CSV = Path(__file__).with_name("ad_tables.csv")
MSE_REDUCTIONS = ("mean", "sum")
BIAS_INITS = ("zeros", "torch")
DTYPES = ("float32", "float64")
PER_MODEL_KEYS = ("lowest_test_loss", "best_epoch", "final_test_loss", "lowest_train_loss", "switches")
EDGES = (0.0, 1e-3, 1e-2, 0.05, 0.1, 0.2, 0.3, math.inf)
"""Interval edges of the histograms (the paper's own are in its figures, lost in the text).
0.2–0.3 holds the nets stuck at a constant output: MSE 0.25 for both tasks."""


@dataclass(frozen=True)
class HyperSet:
    """One hyper-parameter set of the paper's Tables 1 and 3."""

    name: str
    depths: tuple
    batch_size: int
    optimizer: str
    lr: float
    weight_init: str
    bias_init: str


@dataclass(frozen=True)
class Task:
    """One table: its data, its variants (paper column names) and its two sets."""

    table: int
    key: str  # the ``task`` column of ad_tables.csv
    variants: tuple  # AD first
    sets: dict
    output_activation: bool  # sigmoid nets end in the activation, ReLU nets are linear
    switching: bool  # does the AD variant use the switching rule by default


def set_a(depths: tuple) -> HyperSet:
    """Set A of Tables 1 and 3: batch 50, PyTorch's default initialisation, Adam."""
    return HyperSet("A", depths, 50, "adam", 1e-3, "torch", "torch")


def set_b(depths: tuple, weight_init: str) -> HyperSet:
    """Set B of Tables 1 and 3: batch 100, He (ReLU) or Xavier (sigmoid) normal weights, SGD."""
    return HyperSet("B", depths, 100, "sgd", 0.01, weight_init, "zeros")


# fmt: off
TASKS = {
    "ad-relu": Task(
        2, "relu_abs", ("AD ReLU", "ReLU", "Leaky ReLU"),
        {"A": set_a((2, 4, 6, 8)), "B": set_b((2, 4, 6, 8), "he_normal")},
        output_activation=False, switching=True,
    ),
    "ad-sigmoid": Task(
        4, "sigmoid_compare", ("AD sigmoid", "sigmoid", "Isigmoid"),
        {"A": set_a((12, 13, 14, 15)), "B": set_b((4, 5, 6, 7), "xavier_normal")},
        output_activation=True, switching=False,
    ),
}
# fmt: on


def make_activation(variant: str, k: float = 3.5):
    """The activation layer of a variant (a paper column name)."""
    from ..fast.activations import ISigmoid, LeakyReLU, ReLU, Sigmoid

    makers = {
        "AD ReLU": lambda: ReLU(derivative="ad", k=k),
        "ReLU": ReLU,
        "Leaky ReLU": lambda: LeakyReLU(0.01),
        "AD sigmoid": lambda: Sigmoid(derivative="ad"),
        "sigmoid": Sigmoid,
        "Isigmoid": lambda: ISigmoid(a=0.01, alpha=1.0),
    }
    if variant not in makers:
        raise ValueError(f"unknown variant {variant!r}; known: {list(makers)}")
    return makers[variant]()


def build_net(name: str, variant: str, depth: int, hyper: HyperSet, k: float = 3.5):
    """The single n-layer width-2 network of a cell (n = ``depth`` Dense layers)."""
    from ..fast.layers import Dense
    from ..network import Sequential

    task = TASKS[name]
    if depth < 2:
        raise ValueError(f"{name}: depth must be >= 2 (n Dense layers), got {depth}")
    widths = [1 if task.key == "relu_abs" else 2] + [2] * (depth - 1) + [1]
    layers = []
    for i in range(depth):
        layers.append(
            Dense(widths[i], widths[i + 1], weight_init=hyper.weight_init, bias_init=hyper.bias_init)
        )
        if i < depth - 1 or task.output_activation:
            layers.append(make_activation(variant, k))
    return Sequential(*layers)


def load_data(name: str, seed: int):
    """The task's data set (one draw, shared by every run)."""
    from ..datasets import abs_task, compare_task

    return abs_task(3000, 1000, seed=seed) if name == "ad-relu" else compare_task(3000, 500, seed=seed)


def paper_rows(table: int) -> list[dict]:
    """The paper's rows of Table ``table`` from the package's ``ad_tables.csv``."""
    if not PAPER_CSV.exists():
        raise FileNotFoundError(f"the paper's numbers are missing: {PAPER_CSV} (package data)")
    with PAPER_CSV.open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if int(row["table"]) == table]
    return [
        {
            "set": r["set"],
            "layers": int(r["layers"]),
            "activation": r["activation"],
            "mean_test_loss": float(r["mean_test_loss"]),
        }
        for r in rows
    ]


def train_cell(
    name: str, hyper: HyperSet, depth: int, variant: str, seeds, epochs: int, data, **options: Any
) -> dict:
    """Train one cell: ``len(seeds)`` models at once, the Trainer of `cell_trainer` (its
    options: k, switch_a, reduction, adam_eps, shuffle) fitted for ``epochs`` epochs. Returns
    per-model host arrays (lowest_test_loss, best_epoch, final_test_loss, lowest_train_loss,
    switches) and the wall time. The reported losses are mean squared errors whatever the
    reduction. The lowest training loss is the lowest epoch-mean of the batch losses seen
    while training (no separate pass)."""
    from .. import backend

    started = time.perf_counter()
    seeds = [int(s) for s in seeds]
    trainer = cell_trainer(name, hyper, depth, variant, seeds, data, **options)
    # one BLAS thread: each product is a model's (50 × 2)·(2 × 2), which OpenBLAS never splits,
    # and one thread spares it the threads' bookkeeping on every call (Dask workers have one);
    # a diverging model spoils only its own numbers
    with blas_threads(1), np.errstate(over="ignore", invalid="ignore"):
        history = trainer.fit(epochs)
    switches = np.zeros(len(seeds), dtype=int)
    for event in history.events_of("switch"):
        switches[event["model"]] += 1
    lowest, best_epoch = history.best("test_loss", "min")
    return {
        "lowest_test_loss": lowest,
        "best_epoch": best_epoch,
        "final_test_loss": history.test_loss[-1],
        "lowest_train_loss": lowest_finite(history.train_loss),
        "switches": switches,
        "weights": sum(p.data[0].size for n, p in trainer.net.named_parameters() if n.endswith("weight")),
        "backend": backend.name(),
        "wall_time_s": time.perf_counter() - started,
    }


def cell_trainer(
    name: str,
    hyper: HyperSet,
    depth: int,
    variant: str,
    seeds: list[int],
    data,
    *,
    k: float = 3.5,
    switch_a: float | None = 1.035,
    reduction: str = "mean",
    adam_eps: float = 1e-8,
    shuffle: bool = True,
) -> Trainer:
    """The ready `train.Trainer` of one cell, before its first epoch (what `train_cell`
    fits): the ensemble of ``seeds`` (`ensemble.from_seeds`) with one flat parameter, Adam
    (set A) or SGD (set B) over it, MSE, and for an AD variant the switching rule with
    threshold factor ``switch_a`` (None: no switching); ``k`` is AD ReLU's slope.

    ``reduction``: the MSE objective averaged ("mean") or summed ("sum") over the batch —
    a summed loss has B times the mean's gradient, which for Adam is the mean with ε/B and
    for SGD the mean with B × lr. ``adam_eps``: Adam's ε (set A). ``shuffle``: reshuffle
    the batches every epoch (each model by its own generator), or keep the data's order
    every epoch (a reading: the paper does not say)."""
    from ..artificial_derivative import SwitchingRule
    from ..ensemble import flat_parameter, from_seeds
    from ..losses import MSE
    from ..optim import SGD, Adam
    from ..train import Trainer

    net = from_seeds(lambda: build_net(name, variant, depth, hyper, k), seeds)
    params = [flat_parameter(net)]
    optimizer: Adam | SGD
    if hyper.optimizer == "adam":
        optimizer = Adam(params, lr=hyper.lr, eps=adam_eps)
    else:
        optimizer = SGD(params, lr=hyper.lr)
    switching = [SwitchingRule(net, A=switch_a)] if variant.startswith("AD") and switch_a is not None else []
    return Trainer(
        net,
        MSE(reduction),
        optimizer,
        (data.x_train, data.y_train),
        (data.x_test, data.y_test),
        batch_size=hyper.batch_size,
        rng=seeds,
        callbacks=switching,
        progress=False,
        shuffle=shuffle,
    )


def lowest_finite(losses) -> np.ndarray:
    """Per column of (epochs, E) losses: the lowest finite value (NaN if none)."""
    losses = np.asarray(losses, dtype=float).reshape(-1, np.shape(losses)[-1])
    lowest = np.where(np.isfinite(losses), losses, np.inf).min(axis=0, initial=np.inf)
    return np.where(np.isinf(lowest), np.nan, lowest)


def train_cell_fresh_data(
    name, hyper, depth, variant, seeds, epochs, data_seeds, dtype: str = "float32", **options
) -> dict:
    """`train_cell` with a fresh data draw per run: model ``seeds[i]`` trains alone on
    ``load_data(name, data_seeds[i])`` (one after another, so about E times slower)."""
    started = time.perf_counter()
    parts = []
    for seed, data_seed in zip(seeds, data_seeds):
        data = with_dtype(load_data(name, data_seed), dtype)
        parts.append(train_cell(name, hyper, depth, variant, [seed], epochs, data, **options))
    merged: dict[str, Any] = {key: np.concatenate([part[key] for part in parts]) for key in PER_MODEL_KEYS}
    merged.update({key: parts[0][key] for key in ("weights", "backend")})
    merged["wall_time_s"] = time.perf_counter() - started
    return merged


def with_dtype(data, dtype: str):
    """The data set with its arrays cast to ``dtype`` (float32 | float64)."""
    arrays = {key: getattr(data, key).astype(dtype) for key in ("x_train", "y_train", "x_test", "y_test")}
    return dataclasses.replace(data, **arrays)


def interval_labels(edges=EDGES) -> list[str]:
    """ "< 0.001", "0.001–0.01", …, "≥ 0.3"."""
    labels = []
    for low, high in itertools.pairwise(edges):
        labels.append(
            f"< {high:g}" if low == 0 else f"≥ {low:g}" if math.isinf(high) else f"{low:g}–{high:g}"
        )
    return labels


def interval_counts(losses, edges=EDGES) -> list[int]:
    """How many finite losses fall in each interval [edge_i, edge_{i+1})."""
    finite = np.asarray(losses, dtype=float)
    finite = finite[np.isfinite(finite)]
    return [int(((finite >= low) & (finite < high)).sum()) for low, high in itertools.pairwise(edges)]


def plot_histograms(
    name: str, hyper_name: str, cells: list[dict], variants, path, epochs: int | None = None
) -> None:
    """One panel per depth: runs per loss interval, one bar per variant (like Figs. 3–6);
    one legend under the panels (inside one it could cover a tall bar)."""
    plt = pyplot()
    if plt is None:
        return
    depths = sorted({c["layers"] for c in cells})
    labels = interval_labels()
    fig, axes = plt.subplots(
        1, len(depths), figsize=(3.2 * len(depths), 3.3), sharey=True, squeeze=False, layout="constrained"
    )
    width = 0.8 / len(variants)
    for ax, depth in zip(axes[0], depths):
        for j, variant in enumerate(variants):
            cell = next((c for c in cells if c["layers"] == depth and c["activation"] == variant), None)
            if cell is not None:
                ax.bar(
                    np.arange(len(labels)) + (j - (len(variants) - 1) / 2) * width,
                    cell["counts"],
                    width,
                    label=variant,
                )
        ax.set_xticks(np.arange(len(labels)), labels, rotation=45, ha="right", fontsize=7)
        ax.set_title(f"{depth} layers", fontsize=9)
        ax.set_xlabel("lowest test loss (MSE)", fontsize=8)
    axes[0][0].set_ylabel("runs")
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="outside lower center", ncols=len(variants))
    runs = sum(cells[0]["counts"]) + cells[0]["nonfinite"] if cells else 0
    over = f" over {epochs} epochs" if epochs is not None else ""
    fig.suptitle(f"{name}, set {hyper_name}: lowest test loss{over} of each of {runs} runs", fontsize=10)
    save_figure(fig, path)


def cell_unit(
    name: str,
    hyper: dict,
    depth: int,
    variant: str,
    seeds: list[int],
    data_seeds: list[int],
    epochs: int,
    dtype: str,
    options: dict,
    data=None,
) -> dict:
    """One table cell (an ensemble of ``len(seeds)`` models) from its settings alone: the
    data drawn from ``data_seeds`` (one draw, or one per run), or ``data`` when given (the
    one draw, already in ``dtype``); ``options`` go to `train_cell` (k, switch_a, …)."""
    previous_dtype = backend.default_dtype()
    backend.set_default_dtype(dtype)
    try:
        hyper_set = HyperSet(**{**hyper, "depths": tuple(hyper["depths"])})
        if len(data_seeds) > 1:
            return train_cell_fresh_data(
                name, hyper_set, depth, variant, seeds, epochs, data_seeds, dtype, **options
            )
        if data is None:
            data = with_dtype(load_data(name, data_seeds[0]), dtype)
        return train_cell(name, hyper_set, depth, variant, seeds, epochs, data, **options)
    finally:
        backend.set_default_dtype(previous_dtype)


def run_records(table: int, cell: dict, result: dict, seeds: list, data_seeds: list) -> list[dict]:
    """One record per model of a cell's unit (a run of the runner's inner ``seed`` axis)."""
    return [
        {
            "table": table,
            "set": cell["set"],
            "layers": cell["layers"],
            "activation": cell["activation"],
            "seed": seed,
            "lowest_test_loss": result["lowest_test_loss"][i],
            "best_epoch": result["best_epoch"][i],
            "final_test_loss": result["final_test_loss"][i],
            "lowest_train_loss": result["lowest_train_loss"][i],
            "data_seed": data_seeds[i] if len(data_seeds) > 1 else data_seeds[0],
            "switches": result["switches"][i],
        }
        for i, seed in enumerate(seeds)
    ]


# ------------------------------------------------------------------- the declaration


def table_settings(name: str, config: ExperimentConfig) -> dict:
    """Every setting of one table's run, as given or chosen (quick: 10 runs × 15 epochs)."""
    task = TASKS[name]
    if config.data is not None:
        raise ValueError(f"{name} trains on its own synthetic task; --data does not apply")
    variants = list(config.setting("variants", list(task.variants)))
    for variant in variants:
        if variant not in task.variants:
            raise ValueError(f"--variants: {name} compares {list(task.variants)}, got {variant!r}")
    sets = list(config.setting("sets", list(task.sets)))
    hypers = {set_name: chosen_set(task.sets[set_name], config) for set_name in task.sets}
    depths = config.setting("depths", {set_name: list(task.sets[set_name].depths) for set_name in sets})
    runs = config.choose("runs", 10, 100)
    switching = config.setting("switching", "on" if task.switching else "off") == "on"
    return {
        "task": name,
        "runs": runs,
        "epochs": config.choose("epochs", 15, 300),
        "variants": variants,
        "sets": sets,
        "depths": {s: list(depths) if isinstance(depths, list) else depths[s] for s in sets},
        "hypers": {set_name: dataclasses.asdict(hypers[set_name]) for set_name in sets},
        "seeds": [config.seed + i for i in range(runs)],
        "k": config.setting("k", 3.5),
        "switch_a": config.setting("switch_a", 1.035) if switching else None,
        **{key: config.setting(key, default) for key, default in UNSTATED.items()},
    }


#: The settings the paper does not state and their defaults (today's readings).
UNSTATED = {
    "reduction": "mean",
    "adam_eps": 1e-8,
    "shuffle": "on",
    "data_seed": 0,
    "data_draw": "shared",
    "dtype": "float32",
}


def chosen_set(hyper: HyperSet, config: ExperimentConfig) -> HyperSet:
    """A set with its learning rate and bias initialisation as given (``--lr-a``, …)."""
    suffix = hyper.name.lower()
    return dataclasses.replace(
        hyper,
        lr=config.setting(f"lr_{suffix}", hyper.lr),
        bias_init=config.setting(f"bias_init_{suffix}", hyper.bias_init),
    )


def grid(s: dict) -> dict:
    """Set × layers (each set's own depths) × activation × seed (the seeds of a cell are
    trained together: the runner's inner axis)."""
    return {
        "set": s["sets"],
        "layers": lambda point: s["depths"][point["set"]],
        "activation": s["variants"],
        "seed": s["seeds"],
    }


def data_seeds_of(s: dict) -> list[int]:
    """The data seeds: one shared draw, or run i's own (data seed + i)."""
    if s["data_draw"] == "per-run":
        return [s["data_seed"] + i for i in range(s["runs"])]
    return [s["data_seed"]]


def load_shared(s: dict):
    """The one data draw every run shares, in the run's dtype."""
    return with_dtype(load_data(s["task"], s["data_seed"]), s["dtype"])


def train_unit(s: dict, data, **cell) -> dict:
    """One unit: a table cell (set, layers, activation), every seed trained at once; its
    runs (one per seed) and the cell's weight count and wall time."""
    options = {
        "k": s["k"],
        "switch_a": s["switch_a"],
        "reduction": s["reduction"],
        "adam_eps": s["adam_eps"],
        "shuffle": s["shuffle"] == "on",
    }
    data_seeds = data_seeds_of(s)
    shared = data if len(data_seeds) == 1 else None
    result = cell_unit(
        s["task"], s["hypers"][cell["set"]], cell["layers"], cell["activation"], s["seeds"],
        data_seeds, s["epochs"], s["dtype"], options, shared,
    )  # fmt: skip
    runs = run_records(TASKS[s["task"]].table, cell, result, s["seeds"], data_seeds)
    return {"runs": runs, "weights": result["weights"], "wall_time_s": result["wall_time_s"]}


def runs_and_facts(result: dict) -> tuple[list[dict], dict]:
    """A unit's runs (to results.json) and its cell's facts (to the cell's summary)."""
    return result["runs"], {"weights": result["weights"], "wall_time_s": result["wall_time_s"]}


def finite(values) -> np.ndarray:
    """The finite ones of ``values`` (None, JSON's NaN, counts as not finite)."""
    losses = np.array(values, dtype=float)
    return losses[np.isfinite(losses)]


def of_finite(statistic):
    """A reduction: ``statistic`` of the finite values, None when there are none."""

    def reduce(values) -> float | None:
        kept = finite(values)
        return float(statistic(kept)) if kept.size else None

    return reduce


def mean_where_finite(values) -> float | None:
    """The NaN-skipping mean, None when no value is finite (the lowest training losses)."""
    array = np.array(values, dtype=float)
    return float(np.nanmean(array)) if np.isfinite(array).any() else None


def lowest(run: dict):
    """A run's result: its lowest test loss over the epochs."""
    return run["lowest_test_loss"]


def per_cell(key: str, header: str | None, reduce, of=lowest) -> Measure:
    """A number of the cell's summary stored under ``key``: ``reduce`` of its runs' ``of``."""
    return Measure(key, header, of=of, std=False, suffix="", reduce=reduce)


def mean_of(values) -> float:
    """The plain mean (the switches: never NaN)."""
    return float(np.array(values, dtype=float).mean())


REPORT: list[Measure | Column] = [
    per_cell("mean_lowest_test_loss", "mean lowest test loss", of_finite(np.mean)),
    Column("paper_mean_test_loss", "paper"),
    per_cell("std", "std", of_finite(np.std)),
    per_cell("median", "median", of_finite(np.median)),
    per_cell("mean_lowest_train_loss", None, mean_where_finite, of=lambda run: run["lowest_train_loss"]),
    per_cell("counts", None, interval_counts),
    per_cell("nonfinite", "not finite", lambda values: len(values) - finite(values).size),
    Measure("switches", "switches", std=False, reduce=mean_of, fmt=".2f"),
]
"""The table's columns after set, layers and activation; the measures are also each cell's
summary in results.json (mean, std and median over the cell's finite runs)."""


def paper_means(table: int) -> dict:
    """The paper's mean lowest test loss by (set, layers, activation)."""
    return {(r["set"], r["layers"], r["activation"]): r["mean_test_loss"] for r in paper_rows(table)}


def complete_cells(o: Outcome) -> None:
    """Each cell's summary: its axes first, the paper's number, its unit's weights and time."""
    paper = paper_means(TASKS[o.settings["task"]].table)
    for (label, point), facts in zip(o.points.items(), o.extras, strict=True):
        number = paper.get((point["set"], point["layers"], point["activation"]))
        o.summary[label] = {**point, **o.summary[label], "paper_mean_test_loss": number, **facts}


def summary_of(o: Outcome) -> dict:
    """results.json's summary: the histograms' intervals and the cells, as a list."""
    edges = [e if math.isfinite(e) else None for e in EDGES]
    return {"intervals": interval_labels(), "edges": edges, "cells": list(o.summary.values())}


def plot_sets(o: Outcome) -> None:
    """One histogram figure per set (like the paper's Figs. 3–6)."""
    name = o.settings["task"]
    for set_name in o.settings["sets"]:
        cells = [c for c in o.summary.values() if c["set"] == set_name]
        path = o.out / f"{name}_set_{set_name}.png"
        plot_histograms(name, set_name, cells, o.settings["variants"], path, o.settings["epochs"])


def intro(s: dict) -> str:
    """The recipe under the header: seeds, switching, loss, the sets, the readings."""
    task, seeds = TASKS[s["task"]], s["seeds"]
    together = "trained together" if s["data_draw"] == "shared" else "trained one by one"
    lines = [f"Table {task.table} of the AD paper; seeds {seeds[0]}..{seeds[-1]} ({together}), {s['dtype']}"]
    if s["data_draw"] == "per-run":
        lines.append(f"  a fresh data draw per run: run i uses data seed {s['data_seed']} + i")
    switching = f"switching rule, A = {s['switch_a']}" if s["switch_a"] else "no switching"
    lines.append(f"{task.variants[0]}: {switching}")
    lines.append(f"MSE {s['reduction']} over the batch")
    for h in s["hypers"].values():
        eps = f" eps {s['adam_eps']:g}" if h["optimizer"] == "adam" else ""
        lines.append(
            f"  set {h['name']}: {h['optimizer']} lr {h['lr']:g}{eps}, weights {h['weight_init']}, "
            f"biases {h['bias_init']}"
        )
    return "\n".join(lines + readings(s))


def readings(s: dict) -> list[str]:
    """The readings of what the paper does not say, each marked as one (Hu, Zhang & Ge 2021)."""
    order = "reshuffled every epoch" if s["shuffle"] == "on" else "in the data's order every epoch"
    lines = [
        "readings (the paper does not say):",
        f"  batches {order} (--shuffle; the paper gives no order)",
        "  test loss once per epoch, after its last batch (the paper: 'the lowest test loss')",
    ]
    if s["task"] == "ad-sigmoid":
        lines += [
            "  every activation is the variant's, the output's too: Isigmoid nets end in Isigmoid",
            "    (the paper's nets are sigmoid layers; it does not say which output Isigmoid had)",
            "  '3000 float numbers' read as 3000 training pairs (v1, v2), 500 test pairs",
        ]
    return lines


def declaration(name: str, description: str) -> Declaration:
    """The declaration of one table (``ad-relu`` or ``ad-sigmoid``)."""
    task = TASKS[name]
    return Declaration(
        name=name,
        description=description,
        paper=f"Hu, Zhang, Ge - Artificial Derivative (IEEE Access 2021), Table {task.table}",
        options=add_arguments,
        settings=functools.partial(table_settings, name),
        grid=grid,
        load=load_shared,
        cell=train_unit,
        report=REPORT,
        plots=[plot_sets],
        protocol="100 runs × 300 epochs",
        notes=[
            f"(the lowest test loss over the epochs is the protocol of the paper's Table {task.table},",
            " Hu, Zhang & Ge 2021: it selects on the test set, as the paper did)",
        ],
        after=complete_cells,
        split=runs_and_facts,
        intro=intro,
        paper_numbers=lambda settings: {"table": task.table, "rows": paper_rows(task.table)},
        summary_of=summary_of,
        inner="seed",
        cost=unit_cost,
    )


def unit_cost(cell: dict) -> float:
    """A cell's relative run time, for ``--workers`` to start the longest first: its depth
    (each epoch passes the same 3000 rows through ``layers`` layers, whatever the batch)."""
    return float(cell["layers"])


def add_arguments(parser) -> None:
    """Options of ad-relu and ad-sigmoid."""
    from ..argtypes import positive_int

    variants = "'AD ReLU' ReLU 'Leaky ReLU' / 'AD sigmoid' sigmoid Isigmoid"
    add_options(
        parser.add_argument_group("AD table options"),
        {
            "--depths": dict(
                type=positive_int, nargs="+", help="numbers of layers n (default: the paper's for each set)"
            ),
            "--sets": dict(nargs="+", choices=["A", "B"], help="hyper-parameter sets (default: A B)"),
            "--variants": dict(nargs="+", help=f"columns to train (default all: {variants})"),
            **ad_options(),
            "--switching": dict(
                choices=["on", "off"],
                help="the AD variant uses the switching rule (default: on for ad-relu, off for ad-sigmoid)",
            ),
        },
    )
    add_unstated_arguments(parser)


def add_unstated_arguments(parser) -> None:
    """Options for what the paper does not state (defaults: the readings of docs/ad_tables.md)."""
    from ..argtypes import nonnegative_int, positive_float

    per_set = {}
    for name, optimizer, lr, bias in (("A", "Adam", "1e-3, PyTorch's default", "torch, U(±1/√fan_in)"),
                                      ("B", "SGD", "0.01", "zeros")):  # fmt: skip
        per_set[f"--lr-{name.lower()}"] = dict(
            type=positive_float, help=f"set {name}'s {optimizer} learning rate (default: {lr})"
        )
        per_set[f"--bias-init-{name.lower()}"] = dict(
            choices=BIAS_INITS, help=f"set {name}'s bias initialisation (default: {bias})"
        )
    reduction = "MSE averaged or summed over the batch (default mean; the reported losses are means anyway)"
    per_run = "the runs then train one by one, about 100x slower"
    readings = "settings the paper does not state (defaults: the readings of docs/ad_tables.md)"
    add_options(
        parser.add_argument_group(readings),
        {
            "--reduction": dict(choices=MSE_REDUCTIONS, default="mean", help=reduction),
            "--adam-eps": dict(type=positive_float, default=1e-8, help="Adam's ε, set A (default 1e-8)"),
            **per_set,
            "--data-seed": dict(
                type=nonnegative_int,
                default=0,
                help="seed of the data draw (default 0); --seed is the first model's seed",
            ),
            "--data-draw": dict(
                choices=["shared", "per-run"],
                default="shared",
                help=f"one data draw for all runs (default), or run i's own: data seed + i ({per_run})",
            ),
            "--dtype": dict(choices=DTYPES, default="float32", help="data and parameters (default float32)"),
            "--shuffle": dict(
                choices=["on", "off"],
                default="on",
                help="reshuffle the batches every epoch (default on), or keep the data's order every epoch "
                "(off; the paper gives no order)",
            ),
        },
    )


AD_RELU = declare(
    declaration(
        "ad-relu",
        "Table 2 of the AD paper: |x| with width-2 ReLU nets, ReLU vs Leaky ReLU vs AD ReLU "
        "(100 seeds per cell trained at once)",
    )
)
AD_SIGMOID = declare(
    declaration(
        "ad-sigmoid",
        "Table 4 of the AD paper: v1 < v2 with width-2 sigmoid nets, sigmoid vs Isigmoid vs "
        "AD sigmoid (100 seeds per cell trained at once)",
    )
)
