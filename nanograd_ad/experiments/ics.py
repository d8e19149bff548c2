"""ics: sigmoid vs ReLU vs regularized ReLU on two classes (Wang, §4).

The protocol of the paper, with the readings it forces marked:

    data       classes 0 and 1; the first 800 training and first 1000 test images of
               those classes, in file order **(reading: 800 and 1000 in total, "the first
               800 pictures tagged as class 0 or class 1")**. CIFAR-10 with --data cifar10;
               the default, the 8×8 digits, has only ~270 / ~90 such images: all are used.
    network    Scale(α) → 6 × [Conv2D 3×3, padding 1 → activation] with a 2×2 mean pooling
               after the 2nd and 4th → Flatten → Dense(·, 2) → softmax + cross-entropy.
               **(reading: the paper's Table 1 is lost; widths 8 8 16 16 32 32, --channels)**
    init       weights U(−1, 1) (``init.uniform(-1, 1)``); **biases 0 (reading: the paper
               draws "every initial weight" in [−1, 1] and says nothing of biases; zero biases
               keep the ReLU networks positively homogeneous, so the input factor is an exact
               rescale — --bias-init uniform draws them U(−1, 1) too)**. One draw, copied into
               all three models (same state_dict).
    input      α = 1 for sigmoid and ReLU; for the regularized ReLU α = suggest_input_scale
               (logits of RMS 1 at initialization) — the paper used ×10000 on inputs up to
               100, i.e. ×10⁶ on inputs up to 1.
    training   Adam(lr 1e-3, β 0.9 / 0.999, ε 1e-8), batch 32 **(reading: not given)**,
               same batch order for the three models. Peak-accuracy protocol: after each
               epoch the whole training set is evaluated; stop when that accuracy has not
               improved for 15 epochs (``PeakAccuracy``); the result is the best test
               accuracy over the epochs. --epochs caps the epochs (default 300).
    runs       5 seeds on digits, 1 on CIFAR-10 (the paper reports one run); --quick: one
               seed, patience 3, at most 6 epochs.
    paper      sigmoid 77.74 %, ReLU 76.93 %, regularized ReLU 82.98 % (CIFAR-10).

Also measured: the activation scale mean |a^l| of every hidden layer for the three
models at initialization and at the end, and its layer-to-layer ratio
g_l = mean|a^l| / mean|a^{l−1}| (a^0 = the scaled input): the paper's claim is that the
regularized ReLU keeps it from being amplified layer by layer.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time

import numpy as np

from . import register
from .common import (
    ExperimentConfig,
    blas_threads,
    format_mean_std,
    format_table,
    mean_std,
    pyplot,
    run_units,
    save_figure,
    seeded,
    write_results,
)

NAME = "ics"
MODELS = {"sigmoid": "sigmoid", "relu": "ReLU", "regularized-relu": "regularized ReLU"}
PAPER = {"sigmoid": 77.74, "relu": 76.93, "regularized-relu": 82.98}
CHANNELS = (8, 8, 16, 16, 32, 32)
TRAIN_FIRST, TEST_FIRST = 800, 1000
PROBE = 256


def add_arguments(parser) -> None:
    """Options of ics."""
    from ..argtypes import positive_float, positive_int

    group = parser.add_argument_group("ics options")
    group.add_argument(
        "--models",
        nargs="+",
        choices=list(MODELS),
        default=list(MODELS),
        help="which models (default: all three)",
    )
    group.add_argument(
        "--patience",
        type=positive_int,
        default=None,
        help="peak-accuracy patience in epochs (default 15; --quick 3)",
    )
    group.add_argument(
        "--batch-size", type=positive_int, default=32, help="default 32 (the paper gives none)"
    )
    group.add_argument(
        "--channels",
        type=positive_int,
        nargs=6,
        default=list(CHANNELS),
        metavar="C",
        help="the six conv widths (default 8 8 16 16 32 32)",
    )
    group.add_argument(
        "--bias-init",
        choices=["zeros", "uniform"],
        default="zeros",
        help="biases 0 (default) or U(-1, 1) like the weights",
    )
    group.add_argument(
        "--input-scale",
        type=positive_float,
        default=None,
        help="input factor of the regularized ReLU model (default: suggest_input_scale)",
    )
    group.add_argument(
        "--blas-threads",
        type=positive_int,
        default=1,
        help="BLAS threads for NumPy (default 1: the matrices are small)",
    )


# ------------------------------------------------------------------------------ model


def build_net(
    model: str, input_shape: tuple, channels=CHANNELS, num_classes: int = 2, bias_init: str = "zeros"
):
    """The protocol's network with ``model``'s activation: :func:`nanograd_ad.models.regularized_relu_net`."""
    from ..models import regularized_relu_net

    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; known: {list(MODELS)}")
    return regularized_relu_net(
        num_classes, activation=model, input_shape=tuple(input_shape), channels=channels, bias_init=bias_init
    )


# ------------------------------------------------------------------------------- data


def load_two_classes(config: ExperimentConfig):
    """Classes 0 and 1; the first 800 train / 1000 test of them (all there are for digits)."""
    from ..datasets import load

    name = config.setting("data", "digits")
    if name == "cifar100":
        raise ValueError(
            f"{NAME} uses digits or cifar10 (the paper's CIFAR-10 classes 0 and 1), not cifar100"
        )
    data = load(name, config.data_dir, classes=[0, 1])
    if data.x_train.ndim != 4:
        raise ValueError(f"{NAME} needs image inputs (N, C, H, W), got {data.x_train.shape}")
    data = dataclasses.replace(
        data,
        x_train=data.x_train[:TRAIN_FIRST],
        y_train=data.y_train[:TRAIN_FIRST],
        x_test=data.x_test[:TEST_FIRST],
        y_test=data.y_test[:TEST_FIRST],
    )
    note = f"first {TRAIN_FIRST} train / {TEST_FIRST} test images of classes 0 and 1"
    if data.n_train < TRAIN_FIRST or data.n_test < TEST_FIRST:
        note = (
            f"{name} has only {data.n_train} train / {data.n_test} test images of classes 0 and 1 "
            f"(fewer than the paper's {TRAIN_FIRST} / {TEST_FIRST}): all of them are used"
        )
    return data, note


# --------------------------------------------------------------------------- measures


class TrainSetAccuracy:
    """Callback: after each epoch, the accuracy on the whole training set with the epoch's
    final weights (the paper "checks the training dataset's classification accuracy") —
    put into ``logs["train_eval_acc"]`` for `PeakAccuracy` and kept in ``values``."""

    def __init__(self, x, y, loss):
        self.x, self.y, self.loss, self.values = x, y, loss, []

    def on_epoch_end(self, trainer, epoch, logs):
        from ..train import evaluate

        _, accuracy = evaluate(trainer.net, self.loss, self.x, self.y, batch_size=256)
        logs["train_eval_acc"] = accuracy
        self.values.append(accuracy)


def scale_profile(net, probe) -> list[float]:
    """[mean |a^0|, mean |a^1|, …, mean |a^6|]: the scaled input, then each hidden activation."""
    from .. import backend
    from ..ics import activation_scales

    scaled = backend.to_numpy(net.layers[0](backend.asarray(probe, dtype=backend.default_dtype())))
    return [float(np.abs(scaled.astype(np.float64)).mean())] + [
        s["mean_abs"] for s in activation_scales(net, probe)
    ]


def growth_ratios(profile: list[float]) -> list[float]:
    """g_l = mean|a^l| / mean|a^{l−1}| for l = 1..L (inf when a layer below is all zero)."""
    return [b / a if a > 0 else math.inf for a, b in itertools.pairwise(profile)]


def logits_rms(net, probe) -> float:
    """RMS of the logits on the probe batch."""
    from .. import backend

    out = backend.to_numpy(net(backend.asarray(probe, dtype=backend.default_dtype())))
    return float(np.sqrt(np.mean(out.astype(np.float64) ** 2)))


# ------------------------------------------------------------------------------ a run


def run_seed(
    seed: int, data, config: ExperimentConfig, models: list[str], epochs: int, patience: int
) -> list[dict]:
    """The three models from one weight draw (seed), trained on the same batch order."""
    from ..ics import PeakAccuracy, suggest_input_scale
    from ..losses import SoftmaxCrossEntropy
    from ..optim import Adam
    from ..train import Trainer

    extra = config.extra
    channels = tuple(extra.get("channels") or CHANNELS)
    bias_init = extra.get("bias_init") or "zeros"
    seeded(seed)
    first = build_net(models[0], data.input_shape, channels, data.num_classes, bias_init)
    initial = first.state_dict()
    probe = data.x_train[:PROBE]
    results = []
    for model in models:
        net = (
            first
            if model == models[0]
            else build_net(model, data.input_shape, channels, data.num_classes, bias_init)
        )
        net.load_state_dict(
            {k: v.copy() for k, v in initial.items()}
        )  # a copy each: the arrays are adopted, not copied
        start = net.state_dict()
        same = all(np.array_equal(initial[k], start[k]) for k in initial)
        checksum = float(sum(np.abs(v.astype(np.float64)).sum() for v in start.values()))
        if model == "regularized-relu":
            given = extra.get("input_scale")
            alpha = given if given is not None else suggest_input_scale(net, probe)
            net.layers[0].factor = alpha
            net.layers[0].why = (
                "(given by --input-scale)"
                if given is not None
                else "(suggest_input_scale: logits RMS 1 at init)"
            )
        init_profile, init_rms = scale_profile(net, probe), logits_rms(net, probe)
        loss = SoftmaxCrossEntropy()
        train_eval = TrainSetAccuracy(data.x_train, data.y_train, loss)
        peak = PeakAccuracy(patience=patience, monitor="train_eval_acc")
        trainer = Trainer(
            net,
            loss,
            Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8),
            (data.x_train, data.y_train),
            (data.x_test, data.y_test),
            batch_size=extra.get("batch_size") or 32,
            callbacks=[train_eval, peak],
            progress=config.progress,
            rng=np.random.default_rng(seed),
            on_nonfinite="stop",
        )
        started = time.perf_counter()
        history = trainer.fit(epochs)
        stopped = history.events_of("stop")
        end_profile = scale_profile(net, probe)
        result = {
            "model": model,
            "seed": seed,
            "same_initial_weights": bool(same),
            "initial_weights_checksum": checksum,
            "input_scale": net.layers[0].factor,
            "describe": net.describe(),
            "best_test_acc": peak.best_test_acc,
            "best_epoch": peak.best_epoch,
            "epochs_run": len(history),
            "stopped_by_protocol": bool(stopped),
            "diverged": bool(history.events_of("diverged")),
            "final_train_acc": train_eval.values[-1] if train_eval.values else None,
            "logits_rms_init": init_rms,
            "logits_rms_end": logits_rms(net, probe),
            "scale_init": init_profile,
            "scale_end": end_profile,
            "growth_init": growth_ratios(init_profile),
            "growth_end": growth_ratios(end_profile),
            "train_eval_acc": train_eval.values,
            "train_time_s": time.perf_counter() - started,
            "history": history.to_dict(),
        }
        results.append(result)
        best = "—" if result["best_test_acc"] is None else f"{100 * result['best_test_acc']:.2f}%"
        print(
            f"  seed {seed} {model:<17} best test acc {best} (epoch {result['best_epoch']}), "
            f"{result['epochs_run']} epochs{' (protocol stop)' if stopped else ' (epoch cap)'}"
            f"{', DIVERGED' if result['diverged'] else ''}, input ×{result['input_scale']:.4g}, "
            f"logits RMS at init {init_rms:.3g}"
        )
    return results


def seed_unit(
    config: dict, seed: int, models: list[str], epochs: int, patience: int, progress: bool = True
) -> list[dict]:
    """One unit of the sweep (the models of one seed), from its settings alone."""
    settings = ExperimentConfig.from_unit_params(config, progress=progress)
    with blas_threads(settings.extra.get("blas_threads", 1)):
        data, _ = load_two_classes(settings)
        return run_seed(seed, data, settings, models, epochs, patience)


# ------------------------------------------------------------------------------ report


def scale_verdict(runs: list[dict], model: str) -> dict:
    """Does mean |a| grow from one hidden layer to the next (ratios over layers 2..L, all seeds)?"""
    verdict = {}
    for when in ("init", "end"):
        ratios = [g for r in runs if r["model"] == model for g in r[f"growth_{when}"][1:]]
        largest = max(ratios) if ratios else float("nan")
        verdict[when] = {
            "max_ratio": largest,
            "grows": bool(largest > 1),
            "min_ratio": min(ratios) if ratios else float("nan"),
        }
    return verdict


def plot_accuracy(runs: list[dict], models: list[str], path) -> None:
    """Training-set and test accuracy per epoch (first seed), the best test epoch marked."""
    plt = pyplot()
    if plt is None:
        return
    fig, (ax_train, ax_test) = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    seed = runs[0]["seed"]
    for model in models:
        run = next(r for r in runs if r["model"] == model and r["seed"] == seed)
        epochs = np.arange(1, len(run["train_eval_acc"]) + 1)
        (line,) = ax_train.plot(
            epochs, np.array(run["train_eval_acc"], dtype=float) * 100, label=MODELS[model]
        )
        ax_test.plot(
            epochs,
            np.array(run["history"]["test_acc"], dtype=float) * 100,
            color=line.get_color(),
            label=MODELS[model],
        )
        if run["best_epoch"] is not None:
            ax_test.plot(run["best_epoch"] + 1, run["best_test_acc"] * 100, "o", color=line.get_color())
    ax_train.set(xlabel="epoch", ylabel="accuracy %", title="training set (after each epoch)")
    ax_test.set(xlabel="epoch", title="test set (dot: peak accuracy)")
    ax_test.legend(loc="lower right")
    save_figure(fig, path)


def plot_scales(runs: list[dict], models: list[str], path) -> None:
    """mean |a^l| per layer, at initialization (dashed) and at the end (solid), first seed."""
    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    seed = runs[0]["seed"]
    for model in models:
        run = next(r for r in runs if r["model"] == model and r["seed"] == seed)
        layers = np.arange(len(run["scale_init"]))
        (line,) = ax.plot(layers, run["scale_init"], "--o", label=f"{MODELS[model]}, init")
        ax.plot(layers, run["scale_end"], "-o", color=line.get_color(), label=f"{MODELS[model]}, end")
    ax.set(
        yscale="log",
        xlabel="layer l (0 = scaled input)",
        ylabel="mean |a^l|",
        title="activation scale per layer",
    )
    ax.legend(fontsize=8)
    save_figure(fig, path)


@register(
    NAME,
    "6-conv CNN on classes 0/1: sigmoid vs ReLU vs regularized ReLU r=c/(s·n·m), "
    "peak-accuracy protocol, activation scale per layer",
    paper="Zhifeng Wang - regularized ReLU against internal covariate shift",
    add_arguments=add_arguments,
)
def run(config: ExperimentConfig) -> dict:
    """Train the three models per seed; print the tables, write results.json and the plots."""
    from ..sweep import Unit

    started = time.perf_counter()
    data, note = load_two_classes(config)
    runs_count = config.choose("runs", 1, 5 if data.name == "digits" else 1)  # the paper: one run
    epochs = config.choose("epochs", 6, 300)
    patience = config.choose("patience", 3, 15)
    models = list(config.extra.get("models") or MODELS)
    given = config.extra.get("input_scale")
    config.report("input_scale", given if given is not None else "suggest_input_scale, per run (runs[*])")
    print(f"{NAME}: {data.description}")
    print(
        f"  {note}; {data.n_train} train (class 1: {int(data.y_train.sum())}) / "
        f"{data.n_test} test (class 1: {int(data.y_test.sum())})"
    )
    print(
        f"  {len(models)} models x {runs_count} seeds; peak-accuracy protocol, patience {patience}, "
        f"at most {epochs} epochs"
    )

    settings = {"config": config.unit_params(), "models": models, "epochs": epochs, "patience": patience}
    units = [
        Unit(
            f"seed{config.seed + i}",
            seed_unit,
            {**settings, "seed": config.seed + i},
            {"progress": config.progress},
        )
        for i in range(runs_count)
    ]
    runs = [run for seed_runs in run_units(config, units, NAME) for run in seed_runs]
    print()
    print(runs[-1]["describe"])

    summary, rows = {"data_note": note, "patience": patience, "max_epochs": epochs}, []
    for model in models:
        mine = [r for r in runs if r["model"] == model]
        acc_mean, acc_std = mean_std(r["best_test_acc"] for r in mine)
        summary[model] = {
            "best_test_acc_mean": acc_mean,
            "best_test_acc_std": acc_std,
            "best_epoch_mean": mean_std(r["best_epoch"] for r in mine)[0],
            "epochs_run_mean": mean_std(r["epochs_run"] for r in mine)[0],
            "input_scale": [r["input_scale"] for r in mine],
            "scale_init_mean": np.mean([r["scale_init"] for r in mine], axis=0).tolist(),
            "scale_end_mean": np.mean([r["scale_end"] for r in mine], axis=0).tolist(),
            "activation_scale": scale_verdict(runs, model),
            "runs": len(mine),
        }
        rows.append(
            {
                "model": MODELS[model],
                "acc": format_mean_std([r["best_test_acc"] for r in mine], scale=100, digits=2),
                "epoch": format_mean_std([r["best_epoch"] for r in mine], digits=1),
                "epochs": format_mean_std([r["epochs_run"] for r in mine], digits=1),
                "paper": PAPER[model],
            }
        )
    paper_label = "paper % (CIFAR-10)" if data.name == "cifar10" else "paper % (CIFAR-10, not this data)"
    print()
    print(
        format_table(
            rows,
            [
                ("model", "model"),
                ("acc", "peak test acc % (mean ± std)"),
                ("epoch", "best epoch (from 0)"),
                ("epochs", "epochs run"),
                ("paper", paper_label, 2),
            ],
        )
    )

    print("\nactivation scale mean |a^l| (first seed; l = 0 is the scaled input, l = 1..6 the conv layers)")
    seed = runs[0]["seed"]
    scale_rows = []
    for model in models:
        run_ = next(r for r in runs if r["model"] == model and r["seed"] == seed)
        for when in ("init", "end"):
            row = {"model": f"{MODELS[model]}, {when}"}
            row.update({f"a{l}": f"{v:.3g}" for l, v in enumerate(run_[f"scale_{when}"])})
            scale_rows.append(row)
    layers = len(runs[0]["scale_init"])
    print(format_table(scale_rows, [("model", "model")] + [(f"a{l}", f"l={l}") for l in range(layers)]))

    print(
        "\nlayer-to-layer growth g_l = mean|a^l| / mean|a^(l-1)| between hidden layers (l = 2..6, all seeds):"
    )
    for model in models:
        verdict = summary[model]["activation_scale"]
        parts = [
            f"{when}: max g = {verdict[when]['max_ratio']:.3g}, min g = {verdict[when]['min_ratio']:.3g} "
            f"({'grows' if verdict[when]['grows'] else 'does not grow'})"
            for when in ("init", "end")
        ]
        print(f"  {MODELS[model]:<17} " + "; ".join(parts))
    if "regularized-relu" in models:
        verdict = summary["regularized-relu"]["activation_scale"]
        kept = not verdict["init"]["grows"] and not verdict["end"]["grows"]
        low = min(verdict["init"]["min_ratio"], verdict["end"]["min_ratio"])
        high = max(verdict["init"]["max_ratio"], verdict["end"]["max_ratio"])
        statement = (
            "the regularized ReLU keeps mean |a| from growing layer by layer (no ratio above 1, at "
            f"initialization or at the end); it shrinks it instead, by g between {low:.3g} and {high:.3g} "
            "per layer, which the input factor makes up for"
            if kept
            else "the regularized ReLU does NOT keep mean |a| from growing layer by layer: "
            f"some ratio exceeds 1 (at init max {verdict['init']['max_ratio']:.3g}, "
            f"at the end max {verdict['end']['max_ratio']:.3g})"
        )
        summary["regularized_relu_keeps_scale"] = kept
        print(f"  => {statement}")
        alphas = summary["regularized-relu"]["input_scale"]
        print(
            f"  input factor of the regularized ReLU model: {', '.join(f'{a:.4g}' for a in alphas)} "
            "(the paper: ×10000 on inputs up to 100, i.e. ×1e6 on inputs up to 1)"
        )

    plot_accuracy(runs, models, config.out / "ics_accuracy.png")
    plot_scales(runs, models, config.out / "ics_activation_scale.png")
    return write_results(
        config,
        NAME,
        runs,
        summary,
        started=started,
        paper={**PAPER, "data": "CIFAR-10 classes 0/1, 800 train / 1000 test"},
    )
