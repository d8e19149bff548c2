"""ad-relu and ad-sigmoid: Tables 2 and 4 of the AD paper (Hu, Zhang & Ge 2021, §III).

Every cell of the tables is 100 independent trainings; here the 100 run side by side as
one seed ensemble (`nanograd_ad.ensemble`): model i is the network built after
``init.seed(seed + i)`` and shuffled by its own generator, so each is the single run of
that seed. Every variant of a cell uses the same seeds (the same initial weights and
batches), so the variants differ only in the activation and its derivative.

ad-relu (Table 2) — approximate y = |x|, x ~ U(−√3, √3), 3000 train / 1000 test points:

    Dense(1, 2) → act → [Dense(2, 2) → act] × (n − 2) → Dense(2, 1)    n Dense layers, n − 1 acts
    4 + 4(n − 2) weights, 3 + 2(n − 2) biases;  act = ReLU | Leaky ReLU (0.01) | AD ReLU

ad-sigmoid (Table 4) — y = 1 if v1 < v2 else 0, (v1, v2) ~ U(−√3, √3)², 3000 / 500 pairs:

    Dense(2, 2) → act → [Dense(2, 2) → act] × (n − 2) → Dense(2, 1) → act      n acts
    6 + 4(n − 2) weights, 3 + 2(n − 2) biases;  act = sigmoid | Isigmoid (a=0.01, α=1) | AD sigmoid

AD ReLU uses d = sigmoid(k·z), k = 3.5, with the switching rule (AD ↔ true derivative
when the epoch's training loss exceeds A = 1.035 × the best so far, per model, starting
in AD); AD sigmoid uses d = min(y, 1 − y) (eq. 11) throughout. Loss MSE, 300 epochs. A
run's result is its lowest test loss over the epochs (tested after every epoch).

    set A: batch 50,  PyTorch default init (W and b ~ U(±1/√fan_in)), Adam lr 1e-3
    set B: batch 100, He normal (ReLU) / Xavier normal (sigmoid) weights, SGD lr 0.01, b = 0

**Readings** (the paper does not say; each is an option, the defaults are today's
reading): the MSE averaged over the batch (``--reduction mean | sum``; a sum has B times
the mean's gradient: for Adam the mean with ε/B, for SGD the mean with B × lr), Adam's
ε = 1e-8 (``--adam-eps``), set A's Adam lr 1e-3 and set B's SGD lr 0.01 (``--lr-a``,
``--lr-b``), set A's biases PyTorch's default and set B's zero (``--bias-init-a``,
``--bias-init-b``); one data draw (``--data-seed``, default 0) shared by all runs, the
runs differing in weights and batch order (``--seed`` is the first model's seed;
``--data-draw per-run`` gives run i its own draw, data seed + i); float32 (``--dtype``);
in the sigmoid nets every activation, the output's included, is the variant (the
paper's Isigmoid losses above 0.25 need an unbounded output). The switching rule is
given for AD ReLU (Hu, Zhang & Ge 2021, §III.A) and not for AD sigmoid, so by default
only AD ReLU switches; ``--switching on`` / ``off`` makes every AD variant switch /
never switch. docs/ad_tables.md compares the readings with the paper's numbers.

results.json (`common.write_results`) holds, besides config / wall_time_s / version:

    runs      one dict per training: table, set, layers, activation, seed, data_seed,
              lowest_test_loss, best_epoch (0-based), final_test_loss,
              lowest_train_loss (the lowest epoch-mean training loss), switches
    summary   {"intervals": interval labels, "edges": their edges, "cells": [one dict per
              cell: set, layers, activation, runs, mean_lowest_test_loss, std,
              mean_lowest_train_loss, median,
              paper_mean_test_loss, counts (per interval), nonfinite, switches_mean,
              wall_time_s]}
    paper     the paper's rows of this table (from ``ad_tables.csv``)

Figures (like the paper's Figs. 3–6): ``<name>_set_<S>.png``, the number of runs whose
lowest test loss falls in each interval, one panel per depth.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import backend
from . import register
from .common import (
    ExperimentConfig,
    format_table,
    pyplot,
    run_units,
    save_figure,
    to_jsonable,
    write_results,
)

PAPER_CSV = Path(__file__).with_name("ad_tables.csv")
MSE_REDUCTIONS = ("mean", "sum")
BIAS_INITS = ("zeros", "torch")
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


TASKS = {
    "ad-relu": Task(
        2,
        "relu_abs",
        ("AD ReLU", "ReLU", "Leaky ReLU"),
        {
            "A": HyperSet("A", (2, 4, 6, 8), 50, "adam", 1e-3, "torch", "torch"),
            "B": HyperSet("B", (2, 4, 6, 8), 100, "sgd", 0.01, "he_normal", "zeros"),
        },
        output_activation=False,
        switching=True,
    ),
    "ad-sigmoid": Task(
        4,
        "sigmoid_compare",
        ("AD sigmoid", "sigmoid", "Isigmoid"),
        {
            "A": HyperSet("A", (12, 13, 14, 15), 50, "adam", 1e-3, "torch", "torch"),
            "B": HyperSet("B", (4, 5, 6, 7), 100, "sgd", 0.01, "xavier_normal", "zeros"),
        },
        output_activation=True,
        switching=False,
    ),
}


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
    name: str,
    hyper: HyperSet,
    depth: int,
    variant: str,
    seeds,
    epochs: int,
    data,
    *,
    k: float = 3.5,
    switch_a: float | None = 1.035,
    reduction: str = "mean",
    adam_eps: float = 1e-8,
) -> dict:
    """Train one cell: ``len(seeds)`` models at once. Returns per-model host arrays
    (lowest_test_loss, best_epoch, final_test_loss, lowest_train_loss, switches) and the
    wall time.

    ``reduction``: the MSE objective averaged ("mean") or summed ("sum") over the batch —
    a summed loss has B times the mean's gradient, which for Adam is the mean with ε/B and
    for SGD the mean with B × lr. ``adam_eps``: Adam's ε (set A). The reported losses are
    mean squared errors either way. The lowest training loss is the lowest epoch-mean of
    the batch losses seen while training (no separate pass)."""
    from .. import backend
    from ..artificial_derivative import SwitchingRule
    from ..ensemble import flat_parameter, from_seeds
    from ..losses import MSE
    from ..optim import SGD, Adam
    from ..train import Trainer

    started = time.perf_counter()
    seeds = [int(s) for s in seeds]
    net = from_seeds(lambda: build_net(name, variant, depth, hyper, k), seeds)
    params = [flat_parameter(net)]
    optimizer: Adam | SGD
    if hyper.optimizer == "adam":
        optimizer = Adam(params, lr=hyper.lr, eps=adam_eps)
    else:
        optimizer = SGD(params, lr=hyper.lr)
    switching = [SwitchingRule(net, A=switch_a)] if variant.startswith("AD") and switch_a is not None else []
    trainer = Trainer(
        net,
        MSE(reduction),
        optimizer,
        (data.x_train, data.y_train),
        (data.x_test, data.y_test),
        batch_size=hyper.batch_size,
        rng=seeds,
        callbacks=switching,
        progress=False,
    )
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging model spoils only its own numbers
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
        "weights": sum(p.data[0].size for n, p in net.named_parameters() if n.endswith("weight")),
        "backend": backend.name(),
        "wall_time_s": time.perf_counter() - started,
    }


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


def plot_histograms(name: str, hyper_name: str, cells: list[dict], variants, path) -> None:
    """One panel per depth: runs per loss interval, one bar per variant (like Figs. 3–6)."""
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
    axes[0][-1].legend(fontsize=7)
    runs = sum(cells[0]["counts"]) + cells[0]["nonfinite"] if cells else 0
    fig.suptitle(f"{name}, set {hyper_name}: lowest test loss of each of {runs} runs", fontsize=10)
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
) -> dict:
    """One unit of the sweep: one table cell (an ensemble of ``len(seeds)`` models), from its
    settings alone — the data drawn from ``data_seeds`` (one draw, or one per run)."""
    previous_dtype = backend.default_dtype()
    backend.set_default_dtype(dtype)
    try:
        hyper_set = HyperSet(**{**hyper, "depths": tuple(hyper["depths"])})
        if len(data_seeds) > 1:
            return train_cell_fresh_data(
                name, hyper_set, depth, variant, seeds, epochs, data_seeds, dtype, **options
            )
        data = with_dtype(load_data(name, data_seeds[0]), dtype)
        return train_cell(name, hyper_set, depth, variant, seeds, epochs, data, **options)
    finally:
        backend.set_default_dtype(previous_dtype)


def cell_record(set_name: str, depth: int, variant: str, result: dict, runs_count: int, paper: dict) -> dict:
    """A table cell from its unit's per-model arrays: the mean lowest test loss (finite
    runs), its spread, the histogram counts, the paper's number."""
    losses = np.array(result["lowest_test_loss"], dtype=float)  # None (JSON's NaN) → nan
    lowest_train = np.array(result["lowest_train_loss"], dtype=float)
    finite = losses[np.isfinite(losses)]
    return {
        "set": set_name,
        "layers": depth,
        "activation": variant,
        "runs": runs_count,
        "mean_lowest_test_loss": float(finite.mean()) if finite.size else None,
        "std": float(finite.std()) if finite.size else None,
        "mean_lowest_train_loss": float(np.nanmean(lowest_train))
        if np.isfinite(lowest_train).any()
        else None,
        "median": float(np.median(finite)) if finite.size else None,
        "paper_mean_test_loss": paper.get((set_name, depth, variant)),
        "counts": interval_counts(losses),
        "nonfinite": int(runs_count - finite.size),
        "switches_mean": float(np.array(result["switches"], dtype=float).mean()),
        "weights": result["weights"],
        "wall_time_s": result["wall_time_s"],
    }


def run_records(task: Task, cell: dict, result: dict, seeds: list, data_seeds: list) -> list[dict]:
    """One record per model of a cell's unit."""
    return [
        {
            "table": task.table,
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


def train_table(
    name, task, hypers, variants, extra, seeds, data_seeds, epochs, dtype, paper, options, config
):
    """Train every cell (set × depth × variant) as one unit each (`cell_unit`, in-process or
    on Dask as ``config`` says); returns the per-run records and the cells."""
    from ..sweep import Unit

    runs, cells = [], []
    runs_count = len(seeds)
    keys = [
        (set_name, depth, variant)
        for set_name, hyper in hypers.items()
        for depth in extra.get("depths") or hyper.depths
        for variant in variants
    ]
    units = [
        Unit(
            f"{set_name}-n{depth}-{variant.replace(' ', '_')}",
            cell_unit,
            {
                "name": name,
                "hyper": to_jsonable(dataclasses.asdict(hypers[set_name])),
                "depth": depth,
                "variant": variant,
                "seeds": seeds,
                "data_seeds": data_seeds,
                "epochs": epochs,
                "dtype": dtype,
                "options": options,
            },
        )
        for set_name, depth, variant in keys
    ]
    for (set_name, depth, variant), result in zip(keys, run_units(config, units, name)):
        cell = cell_record(set_name, depth, variant, result, runs_count, paper)
        cells.append(cell)
        runs += run_records(task, cell, result, seeds, data_seeds)
        mean = "—" if cell["mean_lowest_test_loss"] is None else f"{cell['mean_lowest_test_loss']:.4f}"
        print(
            f"  set {set_name}, {depth:>2} layers, {variant:<10}: mean lowest test loss {mean} "
            f"(paper {cell['paper_mean_test_loss']}), {result['wall_time_s']:.1f} s",
            flush=True,
        )
    return runs, cells


def table_settings(name: str, config: ExperimentConfig) -> dict:
    """Every setting of one table's run, as given or chosen (quick: 10 runs × 15 epochs)."""
    task, extra = TASKS[name], config.extra
    if config.data is not None:
        raise ValueError(f"{name} trains on its own synthetic task; --data does not apply")
    variants = tuple(config.setting("variants", list(task.variants)))
    for variant in variants:
        if variant not in task.variants:
            raise ValueError(f"--variants: {name} compares {list(task.variants)}, got {variant!r}")
    set_names = list(config.setting("sets", list(task.sets)))
    switching = config.setting("switching", "on" if task.switching else "off") == "on"
    hypers = {
        set_name: dataclasses.replace(
            task.sets[set_name],
            lr=config.setting(f"lr_{set_name.lower()}", task.sets[set_name].lr),
            bias_init=config.setting(f"bias_init_{set_name.lower()}", task.sets[set_name].bias_init),
        )
        for set_name in set_names
    }
    for set_name in set(task.sets) - set(set_names):  # a set not run: its defaults recorded
        config.setting(f"lr_{set_name.lower()}", task.sets[set_name].lr)
        config.setting(f"bias_init_{set_name.lower()}", task.sets[set_name].bias_init)
    config.setting("depths", {set_name: list(hypers[set_name].depths) for set_name in set_names})
    runs_count, data_seed = config.choose("runs", 10, 100), extra.get("data_seed") or 0
    fresh_data = extra.get("data_draw") == "per-run"
    return {
        "runs": runs_count,
        "epochs": config.choose("epochs", 15, 300),
        "variants": variants,
        "hypers": hypers,
        "options": {
            "k": extra.get("k") or 3.5,
            "switch_a": (extra.get("switch_a") or 1.035) if switching else None,
            "reduction": extra.get("reduction") or "mean",
            "adam_eps": extra.get("adam_eps") or 1e-8,
        },
        "data_seed": data_seed,
        "fresh_data": fresh_data,
        "dtype": extra.get("dtype") or "float32",
        "seeds": [config.seed + i for i in range(runs_count)],
        "data_seeds": [data_seed + i for i in range(runs_count)] if fresh_data else [data_seed],
    }


def print_recipe(name: str, s: dict, data, quick: bool) -> None:
    """The header: the task, the protocol (a quick run's beside the paper's), the recipe."""
    task, options, seeds = TASKS[name], s["options"], s["seeds"]
    print(f"{name} (Table {task.table} of the AD paper): {data.description}")
    print(
        f"{s['runs']} runs per cell (seeds {seeds[0]}..{seeds[-1]}"
        f"{'' if s['fresh_data'] else ', trained together'}) × {s['epochs']} epochs, {s['dtype']}"
    )
    if quick:
        print(
            f"quick run: {s['runs']} runs × {s['epochs']} epochs; the paper's protocol: 100 runs × 300 epochs"
        )
    if s["fresh_data"]:
        print(f"  a fresh data draw per run: run i uses data seed {s['data_seed']} + i (trained one by one)")
    switch_a = options["switch_a"]
    print(f"{task.variants[0]}: " + (f"switching rule, A = {switch_a}" if switch_a else "no switching"))
    print(f"MSE {options['reduction']} over the batch")
    for h in s["hypers"].values():
        eps = f" eps {options['adam_eps']:g}" if h.optimizer == "adam" else ""
        print(
            f"  set {h.name}: {h.optimizer} lr {h.lr:g}{eps}, weights {h.weight_init}, biases {h.bias_init}"
        )


def print_tables(name: str, s: dict, cells: list[dict], out: Path) -> None:
    """One table per set, ours beside the paper's, and its histograms."""
    task = TASKS[name]
    for set_name in s["hypers"]:
        rows = []
        mine = [c for c in cells if c["set"] == set_name]
        for depth in sorted({c["layers"] for c in mine}):
            row = {"layers": depth}
            for c in (c for c in mine if c["layers"] == depth):
                row[c["activation"]] = c["mean_lowest_test_loss"]
                row[c["activation"] + " paper"] = c["paper_mean_test_loss"]
            rows.append(row)
        columns: list[tuple] = [("layers", "layers", 0)]
        for variant in s["variants"]:
            columns += [(variant, f"{variant} (ours)"), (variant + " paper", "paper")]
        print(
            f"\nTable {task.table}, set {set_name}: mean lowest test loss over {s['runs']} runs, "
            f"{s['epochs']} epochs"
        )
        print(format_table(rows, columns))
        plot_histograms(name, set_name, mine, s["variants"], out / f"{name}_set_{set_name}.png")
    print(f"(the lowest test loss over the epochs is the protocol of the paper's Table {task.table},")
    print(" Hu, Zhang & Ge 2021: it selects on the test set, as the paper did)")


def run_table(name: str, config: ExperimentConfig) -> dict:
    """Train every cell of the table, print it beside the paper's, write results and plots."""
    started = time.perf_counter()
    task = TASKS[name]
    s = table_settings(name, config)
    data = with_dtype(load_data(name, s["data_seed"]), s["dtype"])
    paper = {(r["set"], r["layers"], r["activation"]): r["mean_test_loss"] for r in paper_rows(task.table)}
    print_recipe(name, s, data, config.quick)
    runs, cells = train_table(
        name, task, s["hypers"], s["variants"], config.extra, s["seeds"], s["data_seeds"], s["epochs"],
        s["dtype"], paper, s["options"], config,
    )  # fmt: skip
    print_tables(name, s, cells, config.out)
    summary = {
        "intervals": interval_labels(),
        "edges": [e if math.isfinite(e) else None for e in EDGES],
        "cells": cells,
    }
    return write_results(
        config,
        name,
        runs,
        summary,
        started=started,
        paper={"table": task.table, "rows": paper_rows(task.table)},
    )


def add_arguments(parser) -> None:
    """Options of ad-relu and ad-sigmoid."""
    from ..argtypes import positive_float, positive_int

    group = parser.add_argument_group("AD table options")
    group.add_argument(
        "--depths",
        type=positive_int,
        nargs="+",
        default=None,
        help="numbers of layers n (default: the paper's for each set)",
    )
    group.add_argument(
        "--sets", nargs="+", choices=["A", "B"], default=None, help="hyper-parameter sets (default: A B)"
    )
    group.add_argument(
        "--variants",
        nargs="+",
        default=None,
        help="columns to train (default all: 'AD ReLU' ReLU 'Leaky ReLU' / 'AD sigmoid' sigmoid Isigmoid)",
    )
    group.add_argument(
        "--k", type=positive_float, default=3.5, help="AD ReLU steepness k in sigmoid(k·z) (default 3.5)"
    )
    group.add_argument(
        "--switch-a", type=positive_float, default=1.035, help="switching threshold A (default 1.035)"
    )
    group.add_argument(
        "--switching",
        choices=["on", "off"],
        default=None,
        help="the AD variant uses the switching rule (default: on for ad-relu, off for ad-sigmoid)",
    )
    add_unstated_arguments(parser)


def add_unstated_arguments(parser) -> None:
    """Options for what the paper does not state (defaults: the readings of docs/ad_tables.md)."""
    from ..argtypes import nonnegative_int, positive_float

    unstated = parser.add_argument_group(
        "settings the paper does not state (defaults: the readings of docs/ad_tables.md)"
    )
    unstated.add_argument(
        "--reduction",
        choices=MSE_REDUCTIONS,
        default="mean",
        help="MSE averaged or summed over the batch (default mean; the reported losses are means either way)",
    )
    unstated.add_argument(
        "--adam-eps", type=positive_float, default=1e-8, help="Adam's ε, set A (default 1e-8)"
    )
    for set_name, optimizer in (("A", "Adam"), ("B", "SGD")):
        unstated.add_argument(
            f"--lr-{set_name.lower()}",
            type=positive_float,
            default=None,
            help=f"set {set_name}'s {optimizer} learning rate (default: "
            + ("1e-3, PyTorch's default)" if set_name == "A" else "0.01)"),
        )
        unstated.add_argument(
            f"--bias-init-{set_name.lower()}",
            choices=BIAS_INITS,
            default=None,
            help=f"set {set_name}'s bias initialisation (default: "
            + ("torch, U(±1/√fan_in))" if set_name == "A" else "zeros)"),
        )
    unstated.add_argument(
        "--data-seed",
        type=nonnegative_int,
        default=0,
        help="seed of the data draw (default 0); --seed is the first model's seed",
    )
    unstated.add_argument(
        "--data-draw",
        choices=["shared", "per-run"],
        default="shared",
        help="one data draw for all runs (default), or a fresh one per run: run i draws with "
        "data seed + i (the runs then train one by one, about 100x slower)",
    )
    unstated.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default="float32",
        help="data and parameters (default float32)",
    )


@register(
    "ad-relu",
    "Table 2 of the AD paper: |x| with width-2 ReLU nets, ReLU vs Leaky ReLU vs AD ReLU "
    "(100 seeds per cell trained at once)",
    paper="Hu, Zhang, Ge - Artificial Derivative (IEEE Access 2021), Table 2",
    add_arguments=add_arguments,
)
def run_relu(config: ExperimentConfig) -> dict:
    """Table 2 (sets A and B, depths 2/4/6/8)."""
    return run_table("ad-relu", config)


@register(
    "ad-sigmoid",
    "Table 4 of the AD paper: v1 < v2 with width-2 sigmoid nets, sigmoid vs Isigmoid vs "
    "AD sigmoid (100 seeds per cell trained at once)",
    paper="Hu, Zhang, Ge - Artificial Derivative (IEEE Access 2021), Table 4",
    add_arguments=add_arguments,
)
def run_sigmoid(config: ExperimentConfig) -> dict:
    """Table 4 (set A depths 12–15, set B depths 4–7)."""
    return run_table("ad-sigmoid", config)
