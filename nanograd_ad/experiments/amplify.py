"""amplify: intelligent gradient amplification (Basodi, Pusuluri, Xiao & Pan) on a VGG-style CNN.

The network (digits 8×8×1; CIFAR 32×32×3 with the same blocks), VGG's pattern of two
3×3 convolutions per block and a max-pool, the width doubling per block:

    [Conv(c, w₁, 3, p=1) → ReLU → Conv(w₁, w₁, 3, p=1) → ReLU → MaxPool(2)]   8 → 4
    [Conv(w₁, w₂) → ReLU → Conv(w₂, w₂) → ReLU → MaxPool(2)]                     4 → 2
    [Conv(w₂, w₃) → ReLU → Conv(w₃, w₃) → ReLU → MaxPool(2)]                     2 → 1
    Flatten → Dense(·, hidden) → ReLU → Dense(hidden, classes)

8 layers with weights (He-normal init, no batch norm), SGD with momentum. The phase
list is the paper's params₁ = [(50, η, 0, 1), (100, η, 1, 2), (130, η/10, 1, 2),
(150, η/10, 0, 1)] scaled to ``--epochs`` (ends at ⅓, ⅔, 13/15 and all of the epochs).

Variants: original (the same phases without amplification), random (the baseline [16],
``--ratio`` of the layers), and G / G′ with case 1 (Ĝ > t) or case 2 (|Ĝ| > t) for each
threshold t of ``--thresholds START STOP STEP``. For one seed every variant starts from
the same weights and sees the same batches; the first phase has no amplification in any
variant, so it is trained once per seed and every variant continues from a copy of that
state (network, momentum, batch-order generator and history) — the result equals a run
from scratch (tested), at a third less time.

Reported: the best test accuracy of each run (the paper's measure); per measure and case
the threshold with the best mean over seeds (as the paper's Tables 3–4 pick the best
models) and the mean over all thresholds; each variant's median whole-run wall time
(not turned into an overhead: two identical original runs per seed show how far whole
runs drift on a shared machine — one run once read 412 % over, its rerun 3.9 %). The
overhead is measured per step instead: a plain step, a step amplifying every weight
layer and a step accumulating the statistics, timed in interleaved rounds on fixed
batches; the table gives the median per-step cost over all rounds with its
interquartile range, the paired overhead (median and IQR of mode / plain − 1 per round),
and says when that spread exceeds the effect. The paper reports whole-run times on a
V100: "1–3 minutes … less than 2 %" more (its Tables 1–2: 0.05–4.8 % over all models).

Sweep units (``--workers`` / ``--scheduler``, :mod:`nanograd_ad.sweep`): one per seed ×
(variant, threshold), in the order above (:func:`variant_unit`). A unit needs its seed's
first-phase snapshot: each process trains it once and keeps it (:func:`shared_prefix`), so
in-process the prefix is trained once per seed as before, and on N workers at most once per
worker and seed — the same snapshot everywhere, since it is a function of the settings and
the seed alone. Every unit runs with ``--blas-threads`` BLAS threads (default 1: the count
moves the last bits of float32 sums). The per-step overhead is a timing: it stays in the
driver, measured after the sweep (a local cluster is closed by then), so the steps are not
timed while worker processes compete for the cores. A unit's ``wall_s`` is timed where it
ran, and includes its prefix's time as recorded when that prefix was trained.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import statistics
import time

import numpy as np

from ..datasets import Dataset
from . import register
from .common import (
    ExperimentConfig,
    blas_threads,
    classifier_trainer,
    format_table,
    mean_std,
    pyplot,
    run_units,
    save_figure,
    seeded,
    write_results,
)
from .runner import plural, wrap_table

NAME = "amplify"
MEASURE_VARIANTS = {"G-case1": ("G", 1), "G-case2": ("G", 2), "G'-case1": ("G'", 1), "G'-case2": ("G'", 2)}
VARIANTS = ["original", "random", *MEASURE_VARIANTS]

# Table 3 (CIFAR-10) and Table 4 (CIFAR-100), VGG-19, best test accuracy %;
# Table 1 / Table 2, VGG-19, running-time increase over the original %.
PAPER = {
    "cifar10": {
        "model": "VGG-19, CIFAR-10",
        "acc": {
            "original": 91.08,
            "random": 93.35,
            "G-case1": 93.30,
            "G-case2": 92.92,
            "G'-case1": 93.29,
            "G'-case2": 93.34,
        },
        "overhead": {"G-case1": 1.5, "G-case2": 1.89, "G'-case1": 1.66, "G'-case2": 1.5},
    },
    "cifar100": {
        "model": "VGG-19, CIFAR-100",
        "acc": {
            "original": 65.27,
            "random": 66.52,
            "G-case1": 69.38,
            "G-case2": 68.5,
            "G'-case1": 69.83,
            "G'-case2": 69.25,
        },
        "overhead": {"G-case1": 2.92, "G-case2": 0.92, "G'-case1": 1.7, "G'-case2": 0.64},
    },
}


def _paper_row(model: str, acc: list[float], overhead: list[float]) -> dict:
    """A row of Tables 3/4 (original, random, G case 1, G case 2, G′ case 1, G′ case 2) and of
    Tables 1/2 (running-time increase %, G case 1 … G′ case 2)."""
    return {
        "model": model,
        "acc": dict(zip(["original", "random", *MEASURE_VARIANTS], acc)),
        "overhead": dict(zip(MEASURE_VARIANTS, overhead)),
    }


# the same tables' ResNet rows, for --model resnet18 / resnet34
PAPER_RESNETS = {
    ("resnet18", "cifar10"): _paper_row(
        "ResNet-18, CIFAR-10", [92.39, 94.57, 93.90, 93.76, 94.49, 94.1], [1.53, 1.38, 1.92, 1.45]
    ),
    ("resnet34", "cifar10"): _paper_row(
        "ResNet-34, CIFAR-10", [92.71, 94.39, 94.05, 93.89, 94.56, 94.14], [2.09, 1.94, 2.18, 2.01]
    ),
    ("resnet18", "cifar100"): _paper_row(
        "ResNet-18, CIFAR-100", [71.94, 72.7, 75.33, 75.41, 76.14, 75.35], [1.78, 0.39, 3.23, 0.26]
    ),
    ("resnet34", "cifar100"): _paper_row(
        "ResNet-34, CIFAR-100", [72.18, 73.02, 74.86, 75.59, 75.95, 75.9], [0.54, 0.53, 4.8, 0.36]
    ),
}


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


def add_arguments(parser) -> None:
    """Options of the amplify experiment."""
    from ..argtypes import positive_float, positive_int

    group = parser.add_argument_group("amplify options")
    group.add_argument(
        "--thresholds",
        type=float,
        nargs=3,
        metavar=("START", "STOP", "STEP"),
        default=None,
        help="threshold sweep on Ĝ (default: 0.7 2.5 0.3; quick: 1.0 1.5 0.5; the paper: 0.7 2.5 0.1)",
    )
    group.add_argument("--variants", nargs="+", choices=VARIANTS, default=None, help="default: all")
    add_network_arguments(group)
    group.add_argument(
        "--lr",
        type=positive_float,
        default=None,
        help="learning rate of the first two thirds (default 0.02; the paper's models 0.1)",
    )
    group.add_argument(
        "--lr-drop", type=positive_float, default=0.1, help="lr factor of the second half (default 0.1)"
    )
    group.add_argument("--factor", type=positive_float, default=2.0, help="amplification factor (default 2)")
    group.add_argument(
        "--ratio", type=positive_float, default=0.25, help="random baseline: ratio of layers (default 0.25)"
    )
    group.add_argument("--scope", choices=["weights", "backward"], default="weights", help="default weights")
    group.add_argument(
        "--reselect-every",
        type=positive_int,
        default=None,
        help="reselect every k epochs (default: once per phase)",
    )
    group.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    group.add_argument("--batch-size", type=positive_int, default=32, help="default 32")
    group.add_argument(
        "--blas-threads",
        type=positive_int,
        default=1,
        help="BLAS threads per training (default 1: small matrices, and a fixed count keeps in-process "
        "and --workers results identical)",
    )


def add_network_arguments(group) -> None:
    """--model, --base-width, --widths, --hidden: which network."""
    from ..argtypes import positive_int

    group.add_argument(
        "--model",
        choices=MODELS,
        default="small-vgg",
        help="network: the small VGG-style CNN (default) or the paper's vgg19 (with batch norm), resnet18, "
        "resnet34 (CIFAR variants; then the paper's phases: 150 epochs, lr 0.1 → 0.01)",
    )
    group.add_argument(
        "--base-width",
        type=positive_int,
        default=64,
        help="vgg19/resnet: the first stage's width (default 64, the paper's networks)",
    )
    group.add_argument(
        "--widths",
        type=positive_int,
        nargs=3,
        default=None,
        help="channels of the 3 blocks (default 8 16 32; CIFAR 32 64 128)",
    )
    group.add_argument(
        "--hidden", type=positive_int, default=64, help="width of the hidden dense layer (default 64)"
    )


#: ``--model`` choices: the small VGG-style CNN, or the paper's own networks (batch norm, CIFAR variants)
MODELS = ("small-vgg", "vgg19", "resnet18", "resnet34")
PAPER_MODELS = MODELS[1:]


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
    base_width / 64), ``resnet18`` / ``resnet34`` (base width ``base_width``)."""
    from .. import models

    shape = tuple(input_shape)
    try:
        if model == "small-vgg":
            return models.small_vgg(num_classes, input_shape=shape, widths=widths, hidden=hidden)
        if model == "vgg19":
            return models.vgg19_bn(num_classes, input_shape=shape, width_scale=base_width / 64)
        if model == "resnet18":
            return models.resnet18(num_classes, input_shape=shape, width=base_width)
        if model == "resnet34":
            return models.resnet34(num_classes, input_shape=shape, width=base_width)
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
    "amplify_all": "amplify every weight layer",
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
    and averaged over thresholds) and the overhead over the original run: the median wall
    (and CPU) time of the variant's runs over the median of the original's, minus 1."""

    def accs(variant, threshold=None):
        return [
            r["best_test_acc"]
            for r in runs
            if r["variant"] == variant and r["threshold"] == threshold and not r.get("timing_repeat")
        ]

    original = [r for r in runs if r["variant"] == "original"]
    base = {clock: statistics.median(r[f"{clock}_s"] for r in original) for clock in ("wall", "cpu")}
    summary = {}
    for variant in variants:
        mine = [r for r in runs if r["variant"] == variant]
        entry: dict[str, object] = {"runs": len(mine)}
        if variant in MEASURE_VARIANTS:
            per_threshold = {t: mean_std(accs(variant, t)) for t in thresholds}
            best_t = max(thresholds, key=lambda t: (per_threshold[t][0], -t))
            entry.update(
                best_threshold=best_t,
                best_test_acc_mean=per_threshold[best_t][0],
                best_test_acc_std=per_threshold[best_t][1],
                mean_over_thresholds=mean_std(r["best_test_acc"] for r in mine)[0],
                per_threshold={str(t): {"mean": m, "std": s} for t, (m, s) in per_threshold.items()},
                layers_selected_mean={
                    str(t): mean_std(
                        sum(len(s) for s in r["selected"]) / max(1, len(r["selected"]))
                        for r in mine
                        if r["threshold"] == t
                    )[0]
                    for t in thresholds
                },
            )
        else:
            m, s = mean_std(accs(variant))
            entry.update(best_test_acc_mean=m, best_test_acc_std=s)
        for clock in ("wall", "cpu"):  # medians: a burst of load from another process moves a mean
            median = statistics.median(r[f"{clock}_s"] for r in mine)
            entry[f"{clock}_s_median"] = median
            entry[f"{clock}_s_mean"] = mean_std(r[f"{clock}_s"] for r in mine)[0]
            entry[f"{clock}_overhead_pct"] = 100 * (median / base[clock] - 1) if base[clock] else None
        summary[variant] = entry
    return summary


def plot_thresholds(runs: list[dict], summary: dict, thresholds: list[float], path, title: str) -> None:
    """Best test accuracy vs threshold (the paper's Figures 3–4): one panel per measure, case 1
    and case 2 in red (each seed a dot, the mean a line, drawn over the references), the
    original's mean in blue and the random baseline's in gray; one legend under the panels."""
    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), sharey=True, layout="constrained")
    for ax, measure in zip(axes, ("G", "G'")):
        for variant, color in (("original", "tab:blue"), ("random", "gray")):
            if variant in summary:
                mean = 100 * summary[variant]["best_test_acc_mean"]
                ax.axhline(
                    mean, color=color, ls=":" if variant == "random" else "-", label=f"{variant} (mean)"
                )
        for variant, (m, case) in MEASURE_VARIANTS.items():
            if m != measure or variant not in summary:
                continue
            means = [summary[variant]["per_threshold"][str(t)]["mean"] * 100 for t in thresholds]
            color = "tab:red" if case == 1 else "darkred"
            ax.plot(
                thresholds,
                means,
                "-o" if case == 1 else "--s",
                color=color,
                label=f"case {case} (mean)",
                zorder=3,
            )
            seeds = [(r["threshold"], 100 * r["best_test_acc"]) for r in runs if r["variant"] == variant]
            ax.scatter(*zip(*seeds), s=10, color="tab:red", alpha=0.3, zorder=3)
        hat = r"$\hat{G}$" if measure == "G" else r"$\hat{G}'$"
        ax.set(xlabel=f"threshold on {hat}", ylabel="best test accuracy (%)", title=f"measure {measure}")
        ax.set_xticks(thresholds)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize="small")
    fig.suptitle(title)
    save_figure(fig, path)


def plot_measures(run: dict, path, data_name: str = "") -> None:
    """G, G′ and Ĝ per layer at each analysis epoch of one run (the numbers selection uses)."""
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
        ax.set(
            xlabel="layer index",
            ylabel=f"normalized {event['measure']}",
            title=f"analysis after epoch {event['epoch'] + 1} (red: amplified)",
        )
    fig.suptitle(
        f"{data_name}: {run['variant']}, threshold {run['threshold']:g} (dotted), seed {run['seed']}"
    )
    save_figure(fig, path)


# ---------------------------------------------------------------------------------- run


@register(
    NAME,
    "VGG-style CNN: original vs random vs G/G′ gradient amplification (cases 1, 2) over a threshold sweep",
    paper="Basodi, Pusuluri, Xiao, Pan - Intelligent gradient amplification",
    add_arguments=add_arguments,
)
def run(config: ExperimentConfig) -> dict:
    """Every variant and threshold for each seed; table, results.json and plots."""
    # small matrices: one BLAS thread is faster, and a fixed count keeps the last bits of the
    # sums the same in-process and on Dask workers; CuPy is unaffected
    with blas_threads(config.extra.get("blas_threads", 1)):
        return _run(config)


@dataclasses.dataclass
class Plan:
    """What `make_setup` reads from a config: the shared `Setup` and the sweep's axes."""

    setup: Setup
    data_name: str
    runs_count: int
    model: str
    epochs: int
    thresholds: list
    variants: list


def make_setup(config: ExperimentConfig) -> Plan:
    """The data, phases and recipe of a config, checked: bad phases, factors or ratios are
    refused here, before any training (the driver and every unit build it the same way)."""
    from ..datasets import load

    extra = config.extra
    data_name = config.setting("data", "digits")
    data = load(data_name, config.data_dir)
    if data.num_classes is None or data.x_train.ndim != 4:
        raise ValueError(f"{NAME} needs image classification data (N, C, H, W), got {data.name!r}")
    runs_count = config.choose("runs", 1, 3)
    model = extra.get("model") or "small-vgg"
    paper_model = model in PAPER_MODELS
    # the paper's networks get its params₁: 150 epochs, (50, 0.1, 0, 1), (100, 0.1, 1, 2), …
    epochs = config.choose("epochs", 9, 150 if paper_model else 24)
    lr = extra.get("lr") or (0.1 if paper_model else 0.02)
    threshold_span = extra.get("thresholds") or ((1.0, 1.5, 0.5) if config.quick else (0.7, 2.5, 0.3))
    thresholds = threshold_range(*threshold_span)
    variants = list(extra.get("variants") or VARIANTS)
    if "original" not in variants:
        variants.insert(0, "original")  # the reference of every comparison
    default_widths = (8, 16, 32) if data_name == "digits" else (32, 64, 128)
    setup = Setup(
        data=data,
        phases=paper_phases(epochs, lr, extra.get("lr_drop", 0.1), extra.get("factor", 2.0)),
        widths=tuple(extra.get("widths") or default_widths),
        hidden=extra.get("hidden", 64),
        momentum=extra.get("momentum", 0.9),
        batch_size=extra.get("batch_size", 32),
        factor=extra.get("factor", 2.0),
        ratio=extra.get("ratio", 0.25),
        scope=extra.get("scope", "weights"),
        reselect_every=extra.get("reselect_every"),
        progress=config.progress,
        model=model,
        base_width=extra.get("base_width", 64),
    )
    build_net(data.x_train.shape[1:], data.num_classes, setup.widths, setup.hidden, model, setup.base_width)
    for name, value in {"lr": lr, "variants": variants, "widths": list(setup.widths)}.items():
        config.report(name, value)
    config.report("thresholds", list(threshold_span))
    config.report("reselect_every", setup.reselect_every or "once per phase")
    for variant in variants:
        _strategy(setup, variant, thresholds[0], config.seed)
    return Plan(setup, data_name, runs_count, model, epochs, thresholds, variants)


#: Prefix snapshots this process has trained, by (unit settings, seed); see `variant_unit`.
_PREFIXES: dict[str, dict] = {}
_PREFIXES_KEPT = 2


def shared_prefix(setup: Setup, config: dict, seed: int) -> dict:
    """The first-phase snapshot of ``seed`` (`train_prefix`), trained once per process.

    A pure function of the settings and the seed — the same snapshot wherever it is made —
    so keeping it saves the retraining without making a unit depend on which units ran
    before it in this process (`train_variant` trains on a copy). The newest
    ``_PREFIXES_KEPT`` are kept: the units of a sweep come seed by seed."""
    import json

    key = json.dumps({"config": config, "seed": seed}, sort_keys=True)
    if key not in _PREFIXES:
        while len(_PREFIXES) >= _PREFIXES_KEPT:
            del _PREFIXES[next(iter(_PREFIXES))]
        _PREFIXES[key] = train_prefix(setup, seed)
    return _PREFIXES[key]


def variant_unit(
    config: dict,
    seed: int,
    variant: str,
    threshold: float | None,
    timing_repeat: bool = False,
    progress: bool = True,
) -> dict:
    """One unit of the sweep (one variant at one threshold, one seed), from its settings alone:
    the shared prefix of its seed (trained here unless this process already has it), then
    the rest of the run (`train_variant`)."""
    settings = ExperimentConfig.from_unit_params(config, progress=progress)
    with blas_threads(settings.extra.get("blas_threads", 1)):
        setup = make_setup(settings).setup
        result = train_variant(setup, seed, variant, threshold, shared_prefix(setup, config, seed))
    result["timing_repeat"] = timing_repeat
    return result


def _unit_key(seed: int, variant: str, threshold: float | None, repeat: bool) -> str:
    """``seed0-G-case1-t1.5``; G′ is spelled ``Gp`` (a file name)."""
    key = f"seed{seed}-{variant.replace(chr(39), 'p')}"
    if threshold is not None:
        key += f"-t{threshold:g}"
    return key + ("-repeat" if repeat else "")


def print_plan(plan: Plan, quick: bool) -> None:
    """The header: data and model, phases, variants × thresholds × seeds, the paper's protocol."""
    setup, runs_count, thresholds, variants = plan.setup, plan.runs_count, plan.thresholds, plan.variants
    measured = [v for v in variants if v in MEASURE_VARIANTS]
    print(f"{NAME}: {setup.data.description}; model {plan.model}")
    print(
        f"phases (end_epoch, lr, amplify, factor): {setup.phases}; scope {setup.scope}, "
        f"reselect {f'every {setup.reselect_every} epochs' if setup.reselect_every else 'once per phase'}"
    )
    per_seed = 1 + len(variants) - len(measured) + len(measured) * len(thresholds)
    print(
        f"{plural(len(variants), 'variant')}, thresholds {thresholds}, {plural(runs_count, 'seed')}, "
        f"{per_seed} runs{' per seed' if runs_count > 1 else ''} (original twice: the repeat times the noise)"
    )
    if quick:
        print(
            "quick run: shorter than the paper's protocol (VGG-19, 150 epochs, thresholds 0.7-2.5, 10 runs)"
        )


def _run(config: ExperimentConfig) -> dict:
    from ..sweep import Unit

    started = time.perf_counter()
    plan = make_setup(config)
    setup, data_name, runs_count = plan.setup, plan.data_name, plan.runs_count
    model, epochs, thresholds, variants = plan.model, plan.epochs, plan.thresholds, plan.variants
    measured = [v for v in variants if v in MEASURE_VARIANTS]
    print_plan(plan, config.quick)
    measured_jobs: list[tuple[str, float | None]] = [(v, t) for t in thresholds for v in measured]
    jobs: list[tuple[str, float | None]] = [(v, None) for v in variants if v not in MEASURE_VARIANTS]
    jobs += measured_jobs
    jobs.append(("original", None))  # original twice: timing noise
    settings = config.unit_params()
    units = [
        Unit(
            _unit_key(config.seed + i, variant, threshold, n == len(jobs) - 1),
            variant_unit,
            {
                "config": settings,
                "seed": config.seed + i,
                "variant": variant,
                "threshold": threshold,
                "timing_repeat": n == len(jobs) - 1,
            },
            {"progress": config.progress},
        )
        for i in range(runs_count)
        for n, (variant, threshold) in enumerate(jobs)
    ]
    try:
        runs = run_units(config, units, NAME)
    finally:
        _PREFIXES.clear()  # in-process: the snapshots are not needed past the sweep
    for result in runs:
        label = result["variant"] + (f" t={result['threshold']}" if result["threshold"] is not None else "")
        label += " (repeat)" if result.get("timing_repeat") else ""
        print(
            f"  seed {result['seed']} {label:<18} best test acc {100 * result['best_test_acc']:.2f} % "
            f"(epoch {result['best_epoch'] + 1} of {epochs}), layers {result['selected']}, "
            f"{result['wall_s']:.1f} s"
        )
    # a timing, not a training: in the driver, after the sweep (a local cluster is closed by
    # then), so the three kinds of step are not timed while workers compete for the cores
    overheads = [step_overhead(setup, config.seed + i) for i in range(runs_count)]

    summary = summarize(runs, variants, thresholds)
    summary["step_overhead"] = {**overhead_summary(overheads), "per_seed": overheads}
    originals = [r["wall_s"] for r in runs if r["variant"] == "original"]
    summary["original_wall_spread_pct"] = 100 * (max(originals) - min(originals)) / min(originals)
    paper = PAPER_RESNETS.get((model, data_name)) or PAPER.get(data_name, PAPER["cifar10"])
    mode = "quick" if config.quick else "full"
    network = "small VGG-style CNN" if model == "small-vgg" else f"{model} (base width {setup.base_width})"
    protocol = (
        f"{mode} mode, {network}, {epochs} epochs, {plural(runs_count, 'seed')}, thresholds {thresholds}"
    )
    print_tables(summary, variants, thresholds, paper, data_name, protocol, runs_count)

    config.out.mkdir(parents=True, exist_ok=True)
    title = f"{data_name}: best test accuracy vs threshold ({plural(runs_count, 'seed')}, {epochs} epochs)"
    plot_thresholds(runs, summary, thresholds, config.out / "amplify_thresholds.png", title)
    example = next((r for r in runs if r["variant"] == "G-case1"), None)
    if example is not None:
        plot_measures(example, config.out / "amplify_measures.png", data_name)
    return write_results(config, NAME, runs, summary, started=started, paper=paper)


def verdict(low: float, high: float) -> str:
    """What the overhead's interquartile range (over rounds, %) says: a cost when all of it
    lies above 0, a saving when all of it lies below, else no difference the rounds can tell."""
    if low > 0:
        return "IQR above 0: a cost"
    if high < 0:
        return "IQR below 0: faster"
    return "IQR spans 0: noise"


def print_overhead(step: dict, paper: dict) -> None:
    """The per-step cost table: median and IQR over rounds, paired overhead, the noise verdict."""
    rows = []
    for mode, label in STEP_MODES.items():
        for clock in ("wall", "cpu"):
            entry = step[f"{clock}_{mode}"]
            row = {
                "step": label if clock == "wall" else "",
                "clock": clock,
                "median": entry["median_ms"],
                "iqr": "{:.2f}–{:.2f}".format(*entry["iqr_ms"]),
            }
            if mode != "plain":
                low, high = entry["overhead_iqr_pct"]
                row["over"] = f"{entry['overhead_pct']:+.1f}"
                row["over_iqr"] = f"{low:+.1f} to {high:+.1f}"
                row["verdict"] = verdict(low, high)
            rows.append(row)
    print(f"\nper-step cost on fixed batches, {step['rounds']} interleaved rounds (all seeds):")
    print(
        format_table(
            rows,
            [
                ("step", "step"),
                ("clock", "clock"),
                ("median", "median ms", 3),
                ("iqr", "IQR ms"),
                ("over", "overhead % (median)"),
                ("over_iqr", "overhead IQR %"),
                ("verdict", "verdict"),
            ],
        )
    )
    costs = ", ".join(f"{v} +{pct:g}%" for v, pct in paper["overhead"].items())
    print(f"the paper ({paper['model']}, whole runs on a V100), running time:")
    print(f"  {costs};")
    print('its text: "1-3 minutes ... less than 2 %" (its Tables 1-2, all models: 0.05-4.8 %)')


def print_tables(
    summary: dict,
    variants: list[str],
    thresholds: list[float],
    paper: dict,
    data_name: str,
    protocol: str = "",
    seeds: int = 2,
) -> None:
    """The main table (beside the paper's VGG-19 numbers) and accuracy per threshold."""
    rows = []
    for variant in variants:
        entry = summary[variant]
        acc = f"{100 * entry['best_test_acc_mean']:.2f}"
        acc += f" ± {100 * entry['best_test_acc_std']:.2f}" if seeds > 1 else ""
        rows.append(
            {
                "variant": variant,
                "t": entry.get("best_threshold"),
                "acc": acc,
                "mean_t": None
                if "mean_over_thresholds" not in entry
                else 100 * entry["mean_over_thresholds"],
                "wall": entry["wall_s_median"],
                "paper": paper["acc"].get(variant),
            }
        )
    print()
    print(
        format_table(
            rows,
            [
                ("variant", "variant"),
                ("t", "best t", 2),
                ("acc", "best test acc %" + (" (mean ± std)" if seeds > 1 else "")),
                ("mean_t", "mean over t %", 2),
                ("wall", "run wall s (median)", 1),
                ("paper", f"paper % ({paper['model']})", 2),
            ],
        )
    )
    print(f"(ours: {protocol};")
    print(" the paper: VGG-19, 150 epochs, thresholds 0.7-2.5 step 0.1, 10 runs)")
    print("(best test accuracy over the epochs, and the best threshold: the paper's measure, Tables 3-4;")
    print(" both select on the test set, as the paper did)")
    if data_name == "digits":
        print("(paper column: the paper's VGG-19 on CIFAR — for scale, not a like-for-like comparison)")
    spread = summary["original_wall_spread_pct"]
    print("whole-run wall times are not compared: the two identical original runs of a seed")
    print(f"differ by up to {spread:.1f} % here")
    print_overhead(summary["step_overhead"], paper)
    print_threshold_table(summary, variants, thresholds)


def print_threshold_table(summary: dict, variants: list[str], thresholds: list[float]) -> None:
    """Accuracy and layers selected per threshold, for each measure and case."""
    measured = [v for v in variants if v in MEASURE_VARIANTS]
    if measured:
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
