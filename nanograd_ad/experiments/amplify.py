"""amplify: intelligent gradient amplification (Basodi, Pusuluri, Xiao & Pan) on a VGG-style CNN,
or on the paper's own networks (VGG-19, ResNet-18/34 and the deep ResNet-50/101).

The default network (digits 8×8×1; CIFAR 32×32×3 with the same blocks), VGG's pattern of two
3×3 convolutions per block and a max-pool, the width doubling per block:

    [Conv(c, w₁, 3, p=1) → ReLU → Conv(w₁, w₁, 3, p=1) → ReLU → MaxPool(2)]   8 → 4
    [Conv(w₁, w₂) → ReLU → Conv(w₂, w₂) → ReLU → MaxPool(2)]                     4 → 2
    [Conv(w₂, w₃) → ReLU → Conv(w₃, w₃) → ReLU → MaxPool(2)]                     2 → 1
    Flatten → Dense(·, hidden) → ReLU → Dense(hidden, classes)

8 layers with weights (He-normal init, no batch norm), SGD with momentum. The phase
list is the paper's params₁ = [(50, η, 0, 1), (100, η, 1, 2), (130, η/10, 1, 2),
(150, η/10, 0, 1)] scaled to ``--epochs`` (ends at ⅓, ⅔, 13/15 and all of the epochs); the
deep models (``--model resnet50|resnet101``) get the paper's params₂ = [(10, 0.1, 0, 1),
(100, 0.1, amp, 2), (145, 0.01, amp, 2), (150, 0.01, 0, 1)] scaled the same way
(:func:`nanograd_ad.amplify.scale_phases`) and its deep-model thresholds 1.0–3.0 step 0.25.

Readings (the paper gives none): batch 32, SGD momentum 0.9, no weight decay, no data
augmentation; each is an option (``--batch-size``, ``--momentum``) or, for the last two,
simply absent.

Variants: original (the same phases without amplification), random (the baseline [16],
``--ratio`` of the layers), and G / G′ with case 1 (Ĝ > t) or case 2 (|Ĝ| > t) for each
threshold t of ``--thresholds START STOP STEP``. For one seed every variant starts from
the same weights and sees the same batches; the first phase has no amplification in any
variant, so it is trained once per seed and every variant continues from a copy of that
state (network, momentum, batch-order generator and history) — the result equals a run
from scratch (tested), at a third less time.

A declaration over the runner (:mod:`nanograd_ad.experiments.runner`): the grid is a list of
points (seed; variant; the threshold of a G/G′ variant; the original's timing repeat), one
unit each, keyed ``seed=0,threshold=1.5,variant=Gp-case1`` (G′ spelled Gp). A unit needs its
seed's first-phase snapshot: each process trains it once and keeps it (:func:`shared_prefix`),
the same snapshot everywhere, since it is a function of the settings and the seed alone.
Every unit runs with ``--blas-threads`` BLAS threads (default 1: the count moves the last
bits of float32 sums). The runs are grouped by variant.

Reported: the best test accuracy of each run over its epochs (the paper's measure, which
selects on the test set, as the paper did). The paper's Tables 3–4 give "the best results of
amplified models" beside the mean of the original models, so the table gives both of ours:
per variant the best single run (its threshold) beside the paper's best, and the mean ± std
over seeds (for G/G′ at the threshold with the best mean) beside the paper's mean original.
Each variant's median whole-run wall time is shown but not turned into an overhead (two
identical original runs per seed show how far whole runs drift on a shared machine — one
run once read 412 % over, its rerun 3.9 %). The overhead is measured per step instead, after
the sweep (`after`: a local cluster is closed by then, so the steps are not timed while
workers compete for the cores): a plain step, a step amplifying every weight layer and a
step accumulating the statistics, timed in interleaved rounds on fixed batches; the table
gives the median per-step cost with its interquartile range, the paired overhead (median
and IQR of mode / plain − 1 per round), and says when that spread exceeds the effect. The
paper reports whole-run times on a V100: "1–3 minutes … less than 2 %" more (its Tables
1–2, over 10 runs: 0.05–4.8 % over all models).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import math
import statistics
import time
from collections.abc import Callable

import numpy as np

from ..datasets import Dataset
from .common import (
    ExperimentConfig,
    blas_threads,
    classifier_trainer,
    mean_std,
    pyplot,
    save_figure,
    seeded,
)
from .runner import Column, Declaration, Outcome, declare, plural, wrap_table

NAME = "amplify"
MEASURE_VARIANTS = {"G-case1": ("G", 1), "G-case2": ("G", 2), "G'-case1": ("G'", 1), "G'-case2": ("G'", 2)}
VARIANTS = ["original", "random", *MEASURE_VARIANTS]

#: Basodi et al.'s Tables 3 (CIFAR-10) and 4 (CIFAR-100): test accuracy %, the mean of the
#: original models and the best amplified (and randomly amplified) model; and Tables 1–2: the
#: running-time increase % of the amplified models over the original (mean of 10 runs, V100).
PAPER_TABLES = """
model      data      original  random   G 1    G 2    G' 1   G' 2  |  G 1   G 2   G' 1  G' 2
vgg19      cifar10   91.08     93.35    93.30  92.92  93.29  93.34 |  1.5   1.89  1.66  1.5
resnet18   cifar10   92.39     94.57    93.90  93.76  94.49  94.1  |  1.53  1.38  1.92  1.45
resnet34   cifar10   92.71     94.39    94.05  93.89  94.56  94.14 |  2.09  1.94  2.18  2.01
resnet50   cifar10   91.80     92.68    94.24  94.43  94.34  94.02 |  0.05  0.31  0.71  1.01
resnet101  cifar10   91.95     93.04    94.57  94.54  94.35  94.7  |  0.56  0.96  1.35  1.58
vgg19      cifar100  65.27     66.52    69.38  68.5   69.83  69.25 |  2.92  0.92  1.7   0.64
resnet18   cifar100  71.94     72.7     75.33  75.41  76.14  75.35 |  1.78  0.39  3.23  0.26
resnet34   cifar100  72.18     73.02    74.86  75.59  75.95  75.9  |  0.54  0.53  4.8   0.36
resnet50   cifar100  72.32     73.05    77.21  77.43  76.89  76.97 |  0.95  0.64  0.97  1.06
resnet101  cifar100  73.00     73.72    77.63  77.51  77.53  77.63 |  1.10  1.07  0.54  1.00
"""


def _paper_rows(table: str) -> dict[tuple[str, str], dict]:
    """``PAPER_TABLES`` as {(model, data): {"model": "ResNet-50, CIFAR-10", "acc": {variant: %},
    "overhead": {variant: %}}}."""
    rows = {}
    for line in table.strip().splitlines()[1:]:
        model, data, *acc, _, g1, g2, gp1, gp2 = line.split()
        rows[(model, data)] = {
            "model": f"{MODEL_NAMES[model]}, {DATA_NAMES[data]}",
            "acc": dict(zip(["original", "random", *MEASURE_VARIANTS], map(float, acc))),
            "overhead": dict(zip(MEASURE_VARIANTS, map(float, (g1, g2, gp1, gp2)))),
        }
    return rows


DATA_NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
#: the paper's names of the networks
MODEL_NAMES = {"small-vgg": "small VGG-style CNN", "vgg19": "VGG-19", "resnet18": "ResNet-18",
               "resnet34": "ResNet-34", "resnet50": "ResNet-50", "resnet101": "ResNet-101"}  # fmt: skip
PAPER_ROWS = _paper_rows(PAPER_TABLES)
#: the VGG-19 rows by data set (the rows the small VGG-style CNN is shown beside)
PAPER = {data: PAPER_ROWS[("vgg19", data)] for data in DATA_NAMES}
#: the ResNet rows, for --model resnet18 / resnet34 / resnet50 / resnet101
PAPER_RESNETS = {key: row for key, row in PAPER_ROWS.items() if key[0] != "vgg19"}


def paper_row(model: str, data: str) -> dict:
    """The paper's row for ``model`` on ``data`` (its own model's CIFAR-10 row on other data, the
    VGG-19 row for the small VGG-style CNN: for scale, not a like-for-like comparison)."""
    key = data if data in PAPER else "cifar10"
    return PAPER_ROWS.get((model, key)) or PAPER[key]


def threshold_range(start: float, stop: float, step: float) -> list[float]:
    """start, start + step, …, up to stop inclusive (rounded to 6 decimals: 0.7, 0.8, … 2.5)."""
    for name, value in (("start", start), ("stop", stop), ("step", step)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"--thresholds: {name} must be a finite number, got {value!r}")
    if step <= 0:
        raise ValueError(f"--thresholds: step must be > 0, got {step}")
    if stop < start:
        raise ValueError(f"--thresholds: stop ({stop}) must be >= start ({start})")
    count = math.floor((stop - start) / step + 1e-9) + 1
    return [round(start + i * step, 6) for i in range(count)]


def paper_phases(epochs: int, lr: float, lr_drop: float = 0.1, factor: float = 2.0) -> list[tuple]:
    """The paper's params₁ (50/100/130/150 of 150 epochs) scaled to ``epochs``.

    ``[(⅓E, η, 0, 1), (⅔E, η, 1, amp), (13/15 E, η·drop, 1, amp), (E, η·drop, 0, 1)]``,
    the ends rounded; needs at least 6 epochs so that every phase has one.
    """
    if epochs < 6:
        raise ValueError(f"{NAME}: needs at least 6 epochs for the four phases, got {epochs}")
    ends = [round(epochs / 3), round(2 * epochs / 3), round(13 * epochs / 15), epochs]
    low = lr * lr_drop
    return [(ends[0], lr, 0, 1), (ends[1], lr, 1, factor), (ends[2], low, 1, factor), (ends[3], low, 0, 1)]


#: readings: what the paper does not give (Basodi et al. state no batch size, momentum,
#: weight decay or augmentation); printed in the header of every run
READINGS = "batch {batch_size}, SGD momentum {momentum:g}, no weight decay, no augmentation"


def add_arguments(parser) -> None:
    """Options of the amplify experiment (each help names its default; readings are marked)."""
    from ..argtypes import positive_float, positive_int

    group = parser.add_argument_group(
        "amplify options", "readings, the paper gives none: batch 32, momentum 0.9, no weight decay, "
        "no augmentation (the last two are not options)"
    )  # fmt: skip
    group.add_argument("--thresholds", type=float, nargs=3, metavar=("START", "STOP", "STEP"), default=None,
                       help="threshold sweep on Ĝ (default 0.7 2.5 0.3; resnet50/101: the paper's 1.0 3.0 "
                       "0.25; quick: 1.0 1.5 0.5; the paper's shallow models: 0.7 2.5 0.1)")  # fmt: skip
    group.add_argument("--variants", nargs="+", choices=VARIANTS, default=None, help="default: all")
    add_network_arguments(group)
    group.add_argument("--lr", type=positive_float, default=None,
                       help="learning rate of the first phases (default 0.02; the paper's models 0.1)",
                       )  # fmt: skip
    group.add_argument("--lr-drop", type=positive_float, default=0.1,
                       help="lr factor of the last two phases (default 0.1)")  # fmt: skip
    group.add_argument("--factor", type=positive_float, default=2.0, help="amplification factor (default 2)")
    group.add_argument("--ratio", type=positive_float, default=0.25,
                       help="random baseline: ratio of layers (default 0.25)")  # fmt: skip
    group.add_argument("--scope", choices=["weights", "backward"], default="weights", help="default weights")
    group.add_argument("--reselect-every", type=positive_int, default=None,
                       help="reselect every k epochs (default: once per phase)")  # fmt: skip
    group.add_argument("--momentum", type=float, default=0.9,
                       help="SGD momentum (default 0.9, a reading: the paper gives none)")  # fmt: skip
    group.add_argument("--batch-size", type=positive_int, default=32,
                       help="default 32 (a reading: the paper gives none)")  # fmt: skip
    group.add_argument("--blas-threads", type=positive_int, default=1,
                       help="BLAS threads per training (default 1: small matrices, and a fixed count keeps "
                       "in-process and --workers results identical)")  # fmt: skip


def add_network_arguments(group) -> None:
    """--model, --base-width, --widths, --hidden: which network."""
    from ..argtypes import positive_int

    group.add_argument("--model", choices=MODELS, default="small-vgg",
                       help="network: the small VGG-style CNN (default) or the paper's vgg19 (with batch "
                       "norm), resnet18, resnet34 (CIFAR variants; then params₁: 150 epochs, lr 0.1 → "
                       "0.01), resnet50, resnet101 (bottleneck blocks; then params₂ and thresholds 1.0-3.0 "
                       "step 0.25)")  # fmt: skip
    group.add_argument("--base-width", type=positive_int, default=64,
                       help="vgg19/resnet: the first stage's width (default 64, the paper's networks)",
                       )  # fmt: skip
    group.add_argument("--widths", type=positive_int, nargs=3, default=None,
                       help="channels of the 3 blocks (default 8 16 32; CIFAR 32 64 128)")  # fmt: skip
    group.add_argument("--hidden", type=positive_int, default=64,
                       help="width of the hidden dense layer (default 64)")  # fmt: skip


#: ``--model`` choices: the small VGG-style CNN, or the paper's own networks (batch norm, CIFAR variants)
MODELS = ("small-vgg", "vgg19", "resnet18", "resnet34", "resnet50", "resnet101")
PAPER_MODELS = MODELS[1:]
#: the paper's deep models: params₂ and the deep-model thresholds
DEEP_MODELS = ("resnet50", "resnet101")


def build_net(
    input_shape: tuple,
    num_classes: int,
    widths=(8, 16, 32),
    hidden: int = 64,
    model: str = "small-vgg",
    base_width: int = 64,
):
    """The network for per-sample inputs (C, H, W): :func:`nanograd_ad.models.small_vgg` (widths,
    hidden), or the paper's ``vgg19`` (:func:`~nanograd_ad.models.vgg19_bn`, widths scaled by
    base_width / 64), ``resnet18`` / ``resnet34`` / ``resnet50`` / ``resnet101`` (base width
    ``base_width``)."""
    from .. import models

    shape = tuple(input_shape)
    resnets = {"resnet18": models.resnet18, "resnet34": models.resnet34, "resnet50": models.resnet50,
               "resnet101": models.resnet101}  # fmt: skip
    try:
        if model == "small-vgg":
            return models.small_vgg(num_classes, input_shape=shape, widths=widths, hidden=hidden)
        if model == "vgg19":
            return models.vgg19_bn(num_classes, input_shape=shape, width_scale=base_width / 64)
        if model in resnets:
            return resnets[model](num_classes, input_shape=shape, width=base_width)
    except ValueError as error:
        raise ValueError(f"{NAME}: {error}") from None
    raise ValueError(f"{NAME}: --model must be one of {MODELS}, got {model!r}")


@dataclasses.dataclass
class Setup:
    """What every run of one experiment shares."""

    data: Dataset
    phases: list
    widths: tuple
    hidden: int
    momentum: float
    batch_size: int
    factor: float
    ratio: float
    scope: str
    reselect_every: int | None
    progress: bool
    model: str = "small-vgg"
    base_width: int = 64


def _make(setup: Setup, seed: int):
    """(net, optimizer, rng) for a seed: the network's weights come from ``seeded(seed)``."""
    from ..optim import SGD

    rng = seeded(seed)
    data = setup.data
    if data.num_classes is None:
        raise ValueError(f"{NAME}: needs a classification dataset, {data.name!r} has no classes")
    net = build_net(
        data.x_train.shape[1:], data.num_classes, setup.widths, setup.hidden, setup.model, setup.base_width
    )
    optimizer = SGD(net.parameters(), lr=setup.phases[0][1], momentum=setup.momentum)
    return net, optimizer, rng


def _strategy(setup: Setup, variant: str, threshold: float | None, seed: int):
    from ..amplify import AmplificationStrategy, without_amplification

    strategy = functools.partial(
        AmplificationStrategy, scope=setup.scope, reselect_every=setup.reselect_every, seed=seed
    )
    if variant == "original":
        return strategy(without_amplification(setup.phases))
    if variant == "random":
        return strategy(setup.phases, measure="random", ratio=setup.ratio)
    measure, case = MEASURE_VARIANTS[variant]
    if threshold is None:
        raise ValueError(f"{NAME}: variant {variant!r} needs a threshold, got None")
    return strategy(setup.phases, measure=measure, case=case, threshold=threshold)


def _train(setup: Setup, net, optimizer, rng, strategy, epochs: int, history=None):
    """Train ``epochs`` epochs; returns (history, wall seconds, CPU seconds)."""

    data = setup.data
    trainer = classifier_trainer(
        net,
        optimizer,
        data,
        batch_size=setup.batch_size,
        callbacks=[strategy],
        progress=setup.progress,
        rng=rng,
        history=history,
    )
    wall, cpu = time.perf_counter(), time.process_time()
    history = trainer.fit(epochs)
    return history, time.perf_counter() - wall, time.process_time() - cpu


def train_prefix(setup: Setup, seed: int) -> dict:
    """Train the first (never amplified) phase once; a snapshot every variant continues from."""
    net, optimizer, rng = _make(setup, seed)
    history, wall, cpu = _train(
        setup, net, optimizer, rng, _strategy(setup, "original", None, seed), setup.phases[0][0]
    )
    return {
        "net": net.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": rng.bit_generator.state,
        "history": history.to_dict(),
        "wall_s": wall,
        "cpu_s": cpu,
    }


def train_variant(
    setup: Setup, seed: int, variant: str, threshold: float | None, prefix: dict | None = None
) -> dict:
    """One run of a variant: from the prefix snapshot (or from scratch when None) to the end."""
    from ..train import History

    net, optimizer, rng = _make(setup, seed)
    total = setup.phases[-1][0]
    history, epochs, prefix_wall, prefix_cpu = None, total, 0.0, 0.0
    if prefix is not None:
        prefix = copy.deepcopy(prefix)  # load_state_dict may keep the arrays it is given: train on copies
        net.load_state_dict(prefix["net"])
        optimizer.load_state_dict(prefix["optimizer"])
        rng.bit_generator.state = prefix["rng"]
        history = History.from_dict(prefix["history"])
        epochs = total - len(history)
        prefix_wall, prefix_cpu = prefix["wall_s"], prefix["cpu_s"]
    strategy = _strategy(setup, variant, threshold, seed)
    history, wall, cpu = _train(setup, net, optimizer, rng, strategy, epochs, history)
    best_acc, best_epoch = history.best("test_acc", "max")
    selections = history.events_of("amplify_select")
    return {
        "variant": variant,
        "threshold": threshold,
        "seed": seed,
        "best_test_acc": best_acc,
        "best_epoch": best_epoch,
        "final_test_acc": history.test_acc[-1],
        "selected": [e["layers"] for e in selections],
        "amplified_layer_epochs": sum(len(e["amplified"]) for e in strategy.epoch_log),
        "wall_s": prefix_wall + wall,
        "cpu_s": prefix_cpu + cpu,
        "segment_wall_s": wall,
        "history": history.to_dict(),
    }


STEP_MODES = {
    "plain": "plain step",
    "amplify_all": "amplify all layers",
    "statistics": "accumulate Σg, Σ|g|",
}


def step_overhead(setup: Setup, seed: int, steps: int = 20, repeats: int = 7) -> dict:
    """Per-step cost on fixed batches, ``repeats`` interleaved rounds of ``steps`` steps.

    Each round times, one after the other, a plain step, a step with every weight layer
    amplified and a step while accumulating the statistics (forward + loss + backward +
    SGD update + zero_grad, as in the Trainer). Returns the per-step seconds of every
    round, ``{clock}_{mode}_s: [round 1, …]`` for the wall and CPU clocks — the paired
    overhead of a round is ``mode / plain − 1`` (see :func:`overhead_summary`).
    """
    from .. import backend
    from ..amplify import Amplify, GradientStatistics, weight_layers
    from ..losses import SoftmaxCrossEntropy

    net, optimizer, rng = _make(setup, seed)
    loss, data = SoftmaxCrossEntropy(), setup.data
    index = rng.choice(len(data.x_train), size=setup.batch_size, replace=False)
    x, y = backend.asarray(data.x_train[index]), backend.xp.asarray(data.y_train[index])
    amplify = Amplify(setup.factor, setup.scope, selected=weight_layers(net))
    stats = GradientStatistics()
    net.add_feedback(amplify)
    net.add_feedback(stats)
    stats.start()
    modes = {"plain": (False, False), "amplify_all": (True, False), "statistics": (False, True)}
    times: dict[str, list[float]] = {f"{clock}_{mode}_s": [] for clock in ("wall", "cpu") for mode in modes}
    for _ in range(repeats):
        for mode, (amplifying, recording) in modes.items():
            amplify.enabled, stats.recording = amplifying, recording
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(steps):
                loss.forward(net(x), y)
                net.backward(loss.backward())
                optimizer.step()
                optimizer.zero_grad()
            times[f"wall_{mode}_s"].append((time.perf_counter() - wall) / steps)
            times[f"cpu_{mode}_s"].append((time.process_time() - cpu) / steps)
    return times


def _quartiles(values) -> tuple[float, float, float]:
    """(25th percentile, median, 75th percentile)."""
    q25, q50, q75 = (float(v) for v in np.percentile(list(values), [25, 50, 75]))
    return q25, q50, q75


def overhead_summary(rounds: list[dict]) -> dict:
    """Median per-step cost over all rounds (every seed's) with its interquartile range,
    and the paired overhead of each round, 100 · (mode / plain − 1) %, as median and IQR.

    ``noisy`` is True when the overhead's IQR is at least as wide as its median's size:
    the spread between identical rounds is not smaller than the effect, so neither its
    size nor its sign can be trusted.
    """
    out: dict = {"rounds": sum(len(r["wall_plain_s"]) for r in rounds)}
    for clock in ("wall", "cpu"):
        for mode in STEP_MODES:
            per_step = [t for r in rounds for t in r[f"{clock}_{mode}_s"]]
            q25, q50, q75 = _quartiles(per_step)
            entry = {"median_ms": 1e3 * q50, "iqr_ms": [1e3 * q25, 1e3 * q75]}
            if mode != "plain":
                paired = [
                    100 * (t / p - 1)
                    for r in rounds
                    for t, p in zip(r[f"{clock}_{mode}_s"], r[f"{clock}_plain_s"])
                    if p > 0
                ]
                low, mid, high = _quartiles(paired)
                entry.update(overhead_pct=mid, overhead_iqr_pct=[low, high], noisy=(high - low) >= abs(mid))
            out[f"{clock}_{mode}"] = entry
    return out


# ----------------------------------------------------------------------------- summary


def summarize(runs: list[dict], variants: list[str], thresholds: list[float]) -> dict:
    """Per variant: best test accuracy (mean, std over seeds; for G/G′ at the best threshold
    and averaged over thresholds), its best single run (the paper's Tables 3–4 give the best
    amplified model), and the overhead over the original run: the median wall (and CPU) time
    of the variant's runs over the median of the original's, minus 1."""
    original = [r for r in runs if r["variant"] == "original"]
    base = {clock: statistics.median(r[f"{clock}_s"] for r in original) for clock in ("wall", "cpu")}
    summary = {}
    for variant in variants:
        mine = [r for r in runs if r["variant"] == variant]
        trained = [r for r in mine if not r.get("timing_repeat")]  # the repeat is for timing only
        entry: dict[str, object] = {"runs": len(mine)}
        if variant in MEASURE_VARIANTS:
            entry.update(threshold_summary(mine, thresholds))
        else:
            m, s = mean_std(r["best_test_acc"] for r in trained)
            entry.update(best_test_acc_mean=m, best_test_acc_std=s)
        best = max(trained, key=lambda r: r["best_test_acc"])  # the first of equal runs
        entry.update(
            best_run_test_acc=best["best_test_acc"],
            best_run_threshold=best["threshold"],
            best_run_seed=best["seed"],
        )
        summary[variant] = {**entry, **run_times(mine, base)}
    return summary


def run_times(runs: list[dict], base: dict) -> dict:
    """Median and mean whole-run wall and CPU seconds of ``runs``, and the median's overhead over
    ``base`` (the original's medians), in % — medians: a burst of load from another process
    moves a mean."""
    times: dict[str, float | None] = {}
    for clock in ("wall", "cpu"):
        median = statistics.median(r[f"{clock}_s"] for r in runs)
        times[f"{clock}_s_median"] = median
        times[f"{clock}_s_mean"] = mean_std(r[f"{clock}_s"] for r in runs)[0]
        times[f"{clock}_overhead_pct"] = 100 * (median / base[clock] - 1) if base[clock] else None
    return times


def threshold_summary(runs: list[dict], thresholds: list[float]) -> dict:
    """A G/G′ variant's runs per threshold: mean ± std over seeds, the threshold with the best
    mean (ties: the lower), the mean over all thresholds, the mean count of layers selected."""
    at = {t: [r for r in runs if r["threshold"] == t] for t in thresholds}
    per_threshold = {t: mean_std(r["best_test_acc"] for r in at[t]) for t in thresholds}
    best_t = max(thresholds, key=lambda t: (per_threshold[t][0], -t))
    return {
        "best_threshold": best_t,
        "best_test_acc_mean": per_threshold[best_t][0],
        "best_test_acc_std": per_threshold[best_t][1],
        "mean_over_thresholds": mean_std(r["best_test_acc"] for r in runs)[0],
        "per_threshold": {str(t): {"mean": m, "std": s} for t, (m, s) in per_threshold.items()},
        "layers_selected_mean": {
            str(t): mean_std(sum(map(len, r["selected"])) / max(1, len(r["selected"])) for r in at[t])[0]
            for t in thresholds
        },
    }


#: the normalized measures' names in mathtext
HATS = {"G": r"$\hat{G}$", "G'": r"$\hat{G}'$"}


def plot_thresholds(o: Outcome) -> None:
    """Best test accuracy vs threshold (the paper's Figures 3–6, 9–10): one panel per measure,
    case 1 and case 2 in red (each seed a dot, the mean a line, drawn over the references), the
    original's mean in blue and the random baseline's in gray; one legend under the panels."""
    s = o.settings
    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), sharey=True, layout="constrained")
    for ax, measure in zip(axes, ("G", "G'")):
        for variant, color in (("original", "tab:blue"), ("random", "gray")):
            if variant in o.summary:
                mean = 100 * o.summary[variant]["best_test_acc_mean"]
                style = ":" if variant == "random" else "-"
                ax.axhline(mean, color=color, ls=style, label=f"{variant} (mean)")
        same = plot_cases(ax, measure, o.runs, o.summary, s["threshold_values"])
        note = f"\n({', '.join(same)} = original at every threshold)" if same else ""
        ax.set(xlabel=f"threshold on {HATS[measure]}", ylabel="best test accuracy (%)")
        ax.set_title(f"measure ${measure}${note}")
        ax.set_xticks(s["threshold_values"])
    legend = {label: handle for ax in axes for handle, label in zip(*ax.get_legend_handles_labels())}
    fig.legend(legend.values(), legend.keys(), loc="outside lower center", ncol=len(legend), fontsize="small")
    fig.suptitle(
        f"{s['data']}, {network(s)}: best test accuracy vs threshold "
        f"({plural(s['runs'], 'seed')}, {plural(s['epochs'], 'epoch')})"
    )
    save_figure(fig, o.out / "amplify_thresholds.png")


def plot_cases(ax, measure: str, runs: list[dict], summary: dict, thresholds: list[float]) -> list[str]:
    """A measure's case 1 and case 2 on ``ax`` (the mean a line, each seed a dot); returns the
    cases that equal the original at every threshold (drawn over its line: the title says so)."""
    same = []
    for variant, (m, case) in MEASURE_VARIANTS.items():
        if m != measure or variant not in summary:
            continue
        means = [summary[variant]["per_threshold"][str(t)]["mean"] * 100 for t in thresholds]
        style, color = ("-o", "tab:red") if case == 1 else ("--s", "darkred")
        ax.plot(thresholds, means, style, color=color, label=f"case {case} (mean)", zorder=3)
        seeds = [(r["threshold"], 100 * r["best_test_acc"]) for r in runs if r["variant"] == variant]
        ax.scatter(*zip(*seeds), s=10, color="tab:red", alpha=0.3, zorder=3)
        if all(mean == 100 * summary["original"]["best_test_acc_mean"] for mean in means):
            same.append(f"case {case}")
    if not any(m == measure and v in summary for v, (m, _) in MEASURE_VARIANTS.items()):
        ax.text(0.5, 0.5, f"no {measure} variant in this run", transform=ax.transAxes, ha="center")
    return same


def plot_measures(o: Outcome) -> None:
    """Ĝ per layer at each analysis epoch of the first G case-1 run (the numbers selection
    uses), the threshold dotted, the layers it amplified in red."""
    run = next((r for r in o.runs if r["variant"] == "G-case1"), None)
    if run is None:
        return
    plt = pyplot()
    events = [e for e in run["history"]["events"] if e["event"] == "amplify_select" and "values" in e]
    if plt is None or not events:
        return
    fig, axes = plt.subplots(
        1, len(events), figsize=(5 * len(events), 3.8), squeeze=False, layout="constrained"
    )
    for ax, event in zip(axes[0], events):
        layers = [str(i) for i in event["candidates"]]
        ax.bar(
            layers,
            event["normalized"],
            color=["tab:red" if i in event["layers"] else "tab:gray" for i in event["candidates"]],
        )
        ax.axhline(event["threshold"], color="k", ls=":", lw=1)
        every = math.ceil(len(layers) / 12)  # a deep network's indices: every k-th, not overlapping
        ax.set_xticks(range(0, len(layers), every), layers[::every])
        ax.set(
            xlabel="layer index",
            ylabel=HATS[event["measure"]] + f" (normalized {event['measure']})",
            title=f"analysis after epoch {event['epoch'] + 1} (red: amplified)",
        )
    fig.suptitle(
        f"{o.settings['data']}, {network(o.settings)}: {run['variant']}, threshold {run['threshold']:g} "
        f"(dotted), seed {run['seed']}"
    )
    save_figure(fig, o.out / "amplify_measures.png")


# ---------------------------------------------------------------------------- the declaration


#: the deep models' threshold sweep (`nanograd_ad.amplify.THRESHOLDS_DEEP`: 1.0, 1.25, … 3.0)
DEEP_SPAN = (1.0, 3.0, 0.25)
#: the threshold sweep of a full run on the other models (the paper's step is 0.1)
FULL_SPAN = (0.7, 2.5, 0.3)

#: amplify's options with a fixed default (their CLI defaults)
DEFAULTS = {
    "lr_drop": 0.1, "factor": 2.0, "ratio": 0.25, "scope": "weights", "momentum": 0.9, "batch_size": 32,
    "hidden": 64, "base_width": 64, "blas_threads": 1,
}  # fmt: skip


def settings(config: ExperimentConfig) -> dict:
    """Every setting amplify uses, as given or chosen: quick 1 seed × 9 epochs (deep models 15,
    the fewest params₂ scales to), thresholds 1.0 1.5 0.5; full 3 seeds × 24 epochs (the paper's
    networks 150), thresholds 0.7 2.5 0.3 (deep models: the paper's 1.0 3.0 0.25)."""
    model = config.setting("model", "small-vgg")
    deep = model in DEEP_MODELS
    data = config.setting("data", "digits")
    s = {
        "runs": config.choose("runs", 1, 3),
        "epochs": config.choose("epochs", 15 if deep else 9, 150 if model in PAPER_MODELS else 24),
        "data": data, "model": model,
        "lr": config.setting("lr", 0.1 if model in PAPER_MODELS else 0.02),
        "thresholds": list(config.choose("thresholds", (1.0, 1.5, 0.5), DEEP_SPAN if deep else FULL_SPAN)),
        "variants": list(config.setting("variants", VARIANTS)),
        "widths": list(config.setting("widths", (8, 16, 32) if data == "digits" else (32, 64, 128))),
        "reselect_every": config.extra.get("reselect_every"),  # None: once per phase
        **{name: config.setting(name, default) for name, default in DEFAULTS.items()},
    }  # fmt: skip
    if "original" not in s["variants"]:
        s["variants"].insert(0, "original")  # the reference of every comparison
    s["threshold_values"] = threshold_range(*s["thresholds"])
    s["phases"] = [list(p) for p in phases_of(s)]
    config.report("reselect_every", s["reselect_every"] or "once per phase")
    config.report("phases", s["phases"])
    setup = make_setup(s, None)
    for variant in s["variants"]:  # bad ratios, factors or scopes are refused before any training
        _strategy(setup, variant, s["threshold_values"][0], config.seed)
    return s


def phases_of(s: dict) -> list:
    """The phases of the settings: params₁ scaled (`paper_phases`), or for the deep models
    params₂ scaled (``scale_phases(PARAMS_DEEP, epochs)``) with the rates η = ``--lr`` and
    η·``--lr-drop`` and the factor ``--factor`` (their defaults, 0.1, 0.1 and 2, give the
    paper's 0.1, 0.01 and 2)."""
    from ..amplify import PARAMS_DEEP, scale_phases

    if s["model"] not in DEEP_MODELS:
        return paper_phases(s["epochs"], s["lr"], s["lr_drop"], s["factor"])
    try:
        phases = scale_phases(PARAMS_DEEP, s["epochs"])
    except ValueError as error:
        raise ValueError(f"{NAME}: --model {s['model']}: {error}") from None
    low = float(f"{s['lr'] * s['lr_drop']:.12g}")
    return [
        p._replace(lr=s["lr"] if i < 2 else low, factor=s["factor"] if p.amplify else 1.0)
        for i, p in enumerate(phases)
    ]


def make_setup(s: dict, data) -> Setup:
    """The `Setup` every run of these settings shares (``data`` may be None to check them)."""
    return Setup(
        data=data, phases=[tuple(p) for p in s["phases"]], widths=tuple(s["widths"]), hidden=s["hidden"],
        momentum=s["momentum"], batch_size=s["batch_size"], factor=s["factor"], ratio=s["ratio"],
        scope=s["scope"], reselect_every=s["reselect_every"], progress=s.get("progress", False),
        model=s["model"], base_width=s["base_width"],
    )  # fmt: skip


def load_images(s: dict) -> Dataset:
    """The data set (image classification, (N, C, H, W)); the network is built once on its
    shapes, so a model that does not fit the images is refused before any training."""
    from ..datasets import load

    data = load(s["data"], s["data_dir"])
    if data.num_classes is None or data.x_train.ndim != 4:
        raise ValueError(f"{NAME} needs image classification data (N, C, H, W), got {data.name!r}")
    build_net(data.x_train.shape[1:], data.num_classes, tuple(s["widths"]), s["hidden"], s["model"],
              s["base_width"])  # fmt: skip
    return data


def grid(s: dict) -> list[dict]:
    """The points, seed by seed: the variants without a threshold, each threshold's G/G′ variants,
    and the original once more (the repeat: how far two identical whole runs drift)."""
    measured = [v for v in s["variants"] if v in MEASURE_VARIANTS]
    points = [{"variant": v} for v in s["variants"] if v not in MEASURE_VARIANTS]
    points += [{"variant": v, "threshold": t} for t in s["threshold_values"] for v in measured]
    points.append({"variant": "original", "repeat": True})
    return [{"seed": s["seed"] + i, **point} for i in range(s["runs"]) for point in points]


def train_cell(
    s: dict, data, seed: int, variant: str, threshold: float | None = None, repeat: bool = False
) -> dict:
    """One run (a point of the grid): its seed's shared prefix (trained here unless this process
    already has it), then the rest of the run (`train_variant`)."""
    with blas_threads(s["blas_threads"]):
        setup = make_setup(s, data)
        result = train_variant(setup, seed, variant, threshold, shared_prefix(setup, s, seed))
    result["timing_repeat"] = repeat
    return result


#: Prefix snapshots this process has trained, by (settings, seed); see `shared_prefix`.
_PREFIXES: dict[str, dict] = {}
_PREFIXES_KEPT = 2


def shared_prefix(setup: Setup, s: dict, seed: int) -> dict:
    """The first-phase snapshot of ``seed`` (`train_prefix`), trained once per process.

    A pure function of the settings and the seed — the same snapshot wherever it is made —
    so keeping it saves the retraining without making a unit depend on which units ran
    before it in this process (`train_variant` trains on a copy). The newest
    ``_PREFIXES_KEPT`` are kept: the units of a sweep come seed by seed."""
    own = {k: v for k, v in s.items() if k != "progress"}
    key = json.dumps({"settings": own, "seed": seed}, sort_keys=True)
    if key not in _PREFIXES:
        while len(_PREFIXES) >= _PREFIXES_KEPT:
            del _PREFIXES[next(iter(_PREFIXES))]
        _PREFIXES[key] = train_prefix(setup, seed)
    return _PREFIXES[key]


def describe(run: dict) -> str:
    """A run's line: best test accuracy and its epoch (1-based), the layers selected, wall time."""
    label = run["variant"] + (f" t={run['threshold']}" if run["threshold"] is not None else "")
    label += " (repeat)" if run.get("timing_repeat") else ""
    epochs = len(run["history"]["epoch"])
    return (
        f"seed {run['seed']} {label:<18} best test acc {100 * run['best_test_acc']:.2f} % "
        f"(epoch {run['best_epoch'] + 1} of {epochs}), layers {run['selected']}, {run['wall_s']:.1f} s"
    )


def network(s: dict) -> str:
    """The network that ran, as a person names it."""
    if s["model"] == "small-vgg":
        return f"{MODEL_NAMES['small-vgg']} (widths {tuple(s['widths'])}, hidden {s['hidden']})"
    return f"{MODEL_NAMES[s['model']]} (base width {s['base_width']})"


def intro(s: dict) -> str:
    """The recipe under the header: network, phases, variants × thresholds, the readings."""
    measured = [v for v in s["variants"] if v in MEASURE_VARIANTS]
    per_seed = 1 + len(s["variants"]) - len(measured) + len(measured) * len(s["threshold_values"])
    reselect = f"every {s['reselect_every']} epochs" if s["reselect_every"] else "once per phase"
    strategy = "params₂ (deep models)" if s["model"] in DEEP_MODELS else "params₁"
    return (
        f"model {network(s)}; {strategy} scaled to {s['epochs']} epochs, phases\n"
        f"  (end_epoch, lr, amplify, factor): {[(e, lr, int(a), f) for e, lr, a, f in s['phases']]}\n"
        f"scope {s['scope']}, reselect {reselect}; {plural(len(s['variants']), 'variant')}, thresholds "
        f"{s['threshold_values']},\n{per_seed} runs{' per seed' if s['runs'] > 1 else ''} (original twice: "
        f"the repeat times the noise)\nreadings (the paper gives none): {READINGS.format(**s)}"
    )


def protocol(s: dict) -> str:
    """The paper's protocol for the model that ran (its sections 4–5)."""
    row = paper_row(s["model"], s["data"])["model"].split(",")[0]
    if s["model"] in DEEP_MODELS:
        return f"{row}, params₂, 150 epochs, thresholds 1.0-3.0 step 0.25"
    return f"{row}, params₁, 150 epochs, thresholds 0.7-2.5 step 0.1"


def ours_and_the_papers(s: dict) -> str:
    """The line under the table: what ran, beside what the paper's Tables 3–4 report."""
    return (
        f"(ours: {'quick' if s['quick'] else 'full'} mode, {network(s)}, {plural(s['epochs'], 'epoch')},\n"
        f" {plural(s['runs'], 'seed')}, thresholds {s['threshold_values']};\n"
        f" the paper: {protocol(s)};\n"
        " its Tables 3-4 give the best amplified (and random) model beside the mean of its original\n"
        " models, the count of runs behind them not stated (its 10 runs time Tables 1-2))"
    )


NOTES: list[str | Callable[[dict], str]] = [
    ours_and_the_papers,
    "(acc / mean ± std: over seeds, for G/G′ at the best t; best run: the best single run;",
    " best test accuracy over the epochs, the best t and the best run: the paper's measure,",
    " Tables 3-4; all select on the test set, as the paper did)",
    lambda s: (
        f"(paper column: {paper_row(s['model'], s['data'])['model']}"
        + (")" if s["data"] in PAPER and s["model"] != "small-vgg" else ": for scale, not like for like)")
    ),
]


# ------------------------------------------------------------------- after the sweep: timings


def after(o: Outcome) -> None:
    """The per-step overhead (a timing: in the driver, after the sweep), each variant's summary
    (it needs the original's times and the threshold axis), and amplify's own two tables."""
    s = o.settings
    _PREFIXES.clear()  # in-process: the snapshots are not needed past the sweep
    with blas_threads(s["blas_threads"]):
        setup = make_setup(s, o.data)
        overheads = [step_overhead(setup, s["seed"] + i) for i in range(s["runs"])]
    for variant, entry in summarize(o.runs, s["variants"], s["threshold_values"]).items():
        o.summary[variant].update(entry)
    o.summary["step_overhead"] = {**overhead_summary(overheads), "per_seed": overheads}
    originals = [r["wall_s"] for r in o.runs if r["variant"] == "original"]
    o.summary["original_wall_spread_pct"] = 100 * (max(originals) - min(originals)) / min(originals)
    print_overhead(o.summary["step_overhead"], paper_row(s["model"], s["data"]))
    print_threshold_table(o.summary, s["variants"], s["threshold_values"])
    print("\nwhole-run wall times are not compared: the two identical original runs of a seed")
    print(f"differ by up to {o.summary['original_wall_spread_pct']:.1f} % here")


def verdict(low: float, high: float) -> str:
    """What the overhead's interquartile range (over rounds, %) says: a cost when all of it
    lies above 0, a saving when all of it lies below, else no difference the rounds can tell."""
    if low > 0:
        return "IQR above 0: a cost"
    if high < 0:
        return "IQR below 0: faster"
    return "IQR spans 0: noise"


def print_overhead(step: dict, paper: dict) -> None:
    """The per-step cost table (≤ 100 columns): median and IQR over rounds, the paired overhead,
    the noise verdict; then the paper's whole-run increases."""
    rows = []
    for mode, label in STEP_MODES.items():
        for clock in ("wall", "cpu"):
            entry = step[f"{clock}_{mode}"]
            row = {"step": label if clock == "wall" else "", "clock": clock, "median": entry["median_ms"],
                   "iqr": "{:.2f}–{:.2f}".format(*entry["iqr_ms"])}  # fmt: skip
            if mode != "plain":
                low, high = entry["overhead_iqr_pct"]
                row.update(over=f"{entry['overhead_pct']:+.1f}", over_iqr=f"{low:+.1f} to {high:+.1f}",
                           verdict=verdict(low, high))  # fmt: skip
            rows.append(row)
    print(f"\nper-step cost on fixed batches, {step['rounds']} interleaved rounds (all seeds):")
    columns = [("step", "step"), ("clock", "clock"), ("median", "median ms", 3), ("iqr", "IQR ms"),
               ("over", "overhead %"), ("over_iqr", "overhead IQR %"), ("verdict", "verdict")]  # fmt: skip
    print(wrap_table(rows, columns, keep=2))
    print("(overhead: the median over rounds of mode / plain − 1)")
    costs = ", ".join(f"{v} +{pct:g}%" for v, pct in paper["overhead"].items())
    print(f"the paper ({paper['model']}, whole runs on a V100, mean of 10), running time:")
    print(f"  {costs};")
    print('its text: "1-3 minutes ... less than 2 %" (its Tables 1-2, all models: 0.05-4.8 %)')


def print_threshold_table(summary: dict, variants: list[str], thresholds: list[float]) -> None:
    """Accuracy (mean over seeds) and layers selected per threshold, for each measure and case."""
    measured = [v for v in variants if v in MEASURE_VARIANTS]
    if not measured:
        return
    rows = [
        {
            "t": t,
            **{v: 100 * summary[v]["per_threshold"][str(t)]["mean"] for v in measured},
            **{f"{v}_n": summary[v]["layers_selected_mean"][str(t)] for v in measured},
        }
        for t in thresholds
    ]
    columns = (
        [("t", "threshold", 2)]
        + [(v, f"{v} %", 2) for v in measured]
        + [(f"{v}_n", f"{v} layers", 1) for v in measured]
    )
    print()
    print(wrap_table(rows, columns))


# ------------------------------------------------------------------------- the main table


def _mean_std(entry: dict, point: dict, s: dict) -> str:
    """Mean ± std over seeds (%; for G/G′ at the best threshold); one value for one seed."""
    text = f"{100 * entry['best_test_acc_mean']:.2f}"
    return text + (f" ± {100 * entry['best_test_acc_std']:.2f}" if s["runs"] > 1 else "")


def _best_run(entry: dict, point: dict, s: dict) -> str:
    """The best single run (%), with its threshold for G/G′ (and its seed when there are several)."""
    where = [f"t {entry['best_run_threshold']:.2f}"] if entry["best_run_threshold"] is not None else []
    where += [f"seed {entry['best_run_seed']}"] if s["runs"] > 1 else []
    return f"{100 * entry['best_run_test_acc']:.2f}" + (f" ({', '.join(where)})" if where else "")


def _paper(entry: dict, point: dict, s: dict) -> str:
    """The paper's number: the mean of its original models, the best of the others."""
    value = paper_row(s["model"], s["data"])["acc"].get(point["variant"])
    return "—" if value is None else f"{value:.2f} {'mean' if point['variant'] == 'original' else 'best'}"


REPORT = [
    Column("best_threshold", "best t", fmt=".2f"),
    Column("mean_std", lambda s: "mean ± std %" if s["runs"] > 1 else "acc %", of=_mean_std),
    Column(
        "mean_over_t",
        "mean over t %",
        of=lambda e, *_: 100 * e.get("mean_over_thresholds", math.nan),
        fmt=".2f",
    ),
    Column("best_run", "best run %", of=_best_run),
    Column("wall_s_median", "run wall s", fmt=".1f"),
    Column("paper", "paper %", of=_paper),
]


AMPLIFY = declare(Declaration(
    name=NAME, description="VGG-style CNN (or the paper's VGG-19, ResNet-18/34/50/101): original vs random "
    "vs G/G′ gradient amplification (cases 1, 2) over a threshold sweep",
    paper="Basodi, Pusuluri, Xiao, Pan - Intelligent gradient amplification", options=add_arguments,
    settings=settings, grid=grid, load=load_images, cell=train_cell,
    label=lambda point: point["variant"], shown=["variant"],  # the runs grouped by variant
    report=REPORT, plots=[plot_thresholds, plot_measures], describe=describe, intro=intro, protocol=protocol,
    notes=NOTES, after=after, paper_numbers=lambda s: paper_row(s["model"], s["data"]),
))  # fmt: skip
