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
    input      two readings (``--input-reading``, both factors reported either way):
               **derived** (default): pixels as loaded (in [0, 1]); α = 1 for sigmoid and
               ReLU, for the regularized ReLU α = suggest_input_scale (logits of RMS 1 at
               initialization). **paper** (Wang §4.1): every channel binarized to {0, 100}
               (``ics.paper_input``; the threshold 0.5 is a reading) for all three models,
               and the regularized ReLU's input ×10⁴ (``ics.input_factor("paper")``),
               i.e. ×10⁶ per unit of input.
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

from ..ics import INPUT_READINGS, PAPER_INPUT_FACTOR, PAPER_INPUT_MAX
from .common import ExperimentConfig, blas_threads, format_table, pyplot, save_figure, seeded
from .runner import (
    Column,
    Declaration,
    Measure,
    Outcome,
    add_options,
    blas_threads_option,
    declare,
    seed_grid,
    subset_option,
)

NAME = "ics"
MODELS = {"sigmoid": "sigmoid", "relu": "ReLU", "regularized-relu": "regularized ReLU"}
PAPER = {"sigmoid": 77.74, "relu": 76.93, "regularized-relu": 82.98}
CHANNELS = (8, 8, 16, 16, 32, 32)
TRAIN_FIRST, TEST_FIRST = 800, 1000
PROBE = 256
MARKERS = ("o", "s", "^", "v", "D")


def add_arguments(parser) -> None:
    """Options of ics."""
    from ..argtypes import positive_float, positive_int

    add_options(
        parser.add_argument_group("ics options"),
        {
            "--models": subset_option(MODELS, "which models (default: all three)"),
            "--patience": dict(
                type=positive_int, help="peak-accuracy patience in epochs (default 15; --quick 3)"
            ),
            "--batch-size": dict(type=positive_int, default=32, help="default 32 (the paper gives none)"),
            "--channels": dict(
                type=positive_int,
                nargs=6,
                default=list(CHANNELS),
                metavar="C",
                help="the six conv widths (default 8 8 16 16 32 32)",
            ),
            "--bias-init": dict(
                choices=["zeros", "uniform"],
                default="zeros",
                help="biases 0 (default) or U(-1, 1) like the weights",
            ),
            "--input-reading": dict(
                choices=list(INPUT_READINGS),
                default="derived",
                help="derived (default): pixels in [0, 1], the regularized ReLU's input factor chosen for "
                "logits of RMS 1 at init; paper (Wang §4.1, a reading): every channel binarized to {0, 100} "
                "for all models, the regularized ReLU's input x1e4. Both factors are reported either way",
            ),
            "--input-scale": dict(
                type=positive_float,
                help="input factor of the regularized ReLU model (default: as --input-reading says)",
            ),
            **blas_threads_option("BLAS threads for NumPy (default 1: the matrices are small)"),
        },
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
    return data, data_note(data, name)


def data_note(data, name: str) -> str:
    """Which images of classes 0 and 1 are used (all, when there are fewer than the paper's)."""
    if data.n_train < TRAIN_FIRST or data.n_test < TEST_FIRST:
        return (
            f"{name} has only {data.n_train} train / {data.n_test} test images of classes 0 and 1 "
            f"(fewer than the paper's {TRAIN_FIRST} / {TEST_FIRST}): all of them are used"
        )
    return f"first {TRAIN_FIRST} train / {TEST_FIRST} test images of classes 0 and 1"


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


def train_seed(settings: dict, data, seed: int) -> list[dict]:
    """The models from one weight draw (seed), trained on the same batch order: one run each."""
    with blas_threads(settings["blas_threads"]):  # small matrices: one BLAS thread is faster
        seeded(seed)
        channels, bias_init = tuple(settings["channels"]), settings["bias_init"]
        first = build_net(settings["models"][0], data.input_shape, channels, data.num_classes, bias_init)
        initial = first.state_dict()
        results = []
        for model in settings["models"]:
            net = (
                first
                if model == settings["models"][0]
                else build_net(model, data.input_shape, channels, data.num_classes, bias_init)
            )
            net.load_state_dict({k: v.copy() for k, v in initial.items()})  # a copy: arrays are adopted
            start = net.state_dict()
            results.append(
                {
                    "model": model,
                    "seed": seed,
                    "same_initial_weights": all(np.array_equal(initial[k], start[k]) for k in initial),
                    "initial_weights_checksum": float(
                        sum(np.abs(v.astype(np.float64)).sum() for v in start.values())
                    ),
                    **train_model(net, model, settings, data, seed),
                }
            )
    return results


def derived_factor(net, probe, needed: bool) -> float | None:
    """The derived reading's input factor (`ics.suggest_input_scale`) on the inputs as this
    run feeds them; None where it cannot be found and the run does not use it."""
    from ..ics import suggest_input_scale

    try:
        return suggest_input_scale(net, probe)
    except ValueError:
        if needed:
            raise
        return None


def train_model(net, model: str, settings: dict, data, seed: int) -> dict:
    """Train one model with the peak-accuracy protocol; its numbers and scale profiles."""
    from ..ics import PeakAccuracy
    from ..losses import SoftmaxCrossEntropy
    from ..optim import Adam
    from ..train import Trainer

    probe = data.x_train[:PROBE]
    factors = {}
    if model == "regularized-relu":
        given = settings["input_scale"] if isinstance(settings["input_scale"], float) else None
        reading = settings["input_reading"]
        derived = derived_factor(net, probe, needed=given is None and reading == "derived")
        # both readings' factors, on the inputs this run feeds (binarized under "paper"), reported either way
        factors = {"input_factor_derived": derived, "input_factor_paper": PAPER_INPUT_FACTOR}
        if given is not None:
            factor, why = given, "given by --input-scale"
        elif reading == "paper" or derived is None:
            factor, why = PAPER_INPUT_FACTOR, "the paper's x1e4 on inputs binarized to {0, 100}"
        else:
            factor, why = derived, "suggest_input_scale: logits RMS 1 at init"
        net.layers[0].factor, net.layers[0].why = factor, f"({why})"
    init_profile, init_rms = scale_profile(net, probe), logits_rms(net, probe)
    loss = SoftmaxCrossEntropy()
    train_eval = TrainSetAccuracy(data.x_train, data.y_train, loss)
    peak = PeakAccuracy(patience=settings["patience"], monitor="train_eval_acc")
    trainer = Trainer(
        net,
        loss,
        Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8),
        (data.x_train, data.y_train),
        (data.x_test, data.y_test),
        batch_size=settings["batch_size"],
        callbacks=[train_eval, peak],
        progress=settings["progress"],
        rng=np.random.default_rng(seed),
        on_nonfinite="stop",
    )
    started = time.perf_counter()
    history = trainer.fit(settings["epochs"])
    end_profile = scale_profile(net, probe)
    return {
        "input_scale": net.layers[0].factor,
        **factors,
        "describe": net.describe(),
        "best_test_acc": peak.best_test_acc,
        "best_epoch": peak.best_epoch,
        "epochs_run": len(history),
        "stopped_by_protocol": bool(history.events_of("stop")),
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


def describe(run: dict) -> str:
    """A run's line: its peak test accuracy and epoch (1-based), how it stopped."""
    best = "—" if run["best_test_acc"] is None else f"{100 * run['best_test_acc']:.2f} %"
    epoch = "—" if run["best_epoch"] is None else run["best_epoch"] + 1
    return (
        f"seed {run['seed']} {run['model']:<17} peak test acc {best} (epoch {epoch}), "
        f"{run['epochs_run']} epochs{' (protocol stop)' if run['stopped_by_protocol'] else ' (epoch cap)'}"
        f"{', DIVERGED' if run['diverged'] else ''}, input ×{run['input_scale']:.4g}, "
        f"logits RMS at init {run['logits_rms_init']:.3g}"
    )


# ------------------------------------------------------------------------------ report


def scale_verdict(runs: list[dict], model: str | None = None) -> dict:
    """Does mean |a| grow from one hidden layer to the next (ratios over layers 2..L, all seeds)?
    ``runs`` of one model, or of all with ``model`` naming it."""
    verdict = {}
    for when in ("init", "end"):
        ratios = [g for r in runs if model in (None, r["model"]) for g in r[f"growth_{when}"][1:]]
        largest = max(ratios) if ratios else float("nan")
        verdict[when] = {
            "max_ratio": largest,
            "grows": bool(largest > 1),
            "min_ratio": min(ratios) if ratios else float("nan"),
        }
    return verdict


def plot_accuracy(o: Outcome) -> None:
    """Training-set and test accuracy per epoch (first seed), the peak test epoch marked."""
    runs, settings, out = o.runs, o.settings, o.out
    plt = pyplot()
    if plt is None:
        return
    fig, (ax_train, ax_test) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True, layout="constrained")
    seed = runs[0]["seed"]
    for model, marker in zip(settings["models"], MARKERS):  # own markers: close curves stay apart
        run = next(r for r in runs if r["model"] == model and r["seed"] == seed)
        epochs = np.arange(1, len(run["train_eval_acc"]) + 1)
        train = 100 * np.array(run["train_eval_acc"], dtype=float)
        (line,) = ax_train.plot(epochs, train, "-" + marker, ms=4, mfc="none", label=MODELS[model])
        test = 100 * np.array(run["history"]["test_acc"], dtype=float)
        ax_test.plot(epochs, test, "-" + marker, ms=4, mfc="none", color=line.get_color())
        if run["best_epoch"] is not None:  # best_epoch is 0-based; the axis counts from 1
            ax_test.plot(
                run["best_epoch"] + 1, 100 * run["best_test_acc"], "*", ms=12, color=line.get_color()
            )
    ax_train.set(xlabel="epoch", ylabel="accuracy (%)", title="training set (after each epoch)")
    ax_test.set(xlabel="epoch", ylabel="accuracy (%)", title="test set (star: peak accuracy)")
    for ax in (ax_train, ax_test):
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.legend(loc="outside lower center", ncol=len(settings["models"]))
    fig.suptitle(f"ics: classes 0/1 of {settings['data']}, seed {seed}")
    save_figure(fig, out / "ics_accuracy.png")


def plot_scales(o: Outcome) -> None:
    """mean |a^l| per layer, at initialization and at the end (two panels), first seed."""
    runs, settings, out = o.runs, o.settings, o.out
    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True, layout="constrained")
    seed = runs[0]["seed"]
    for ax, when, title in zip(axes, ("init", "end"), ("at initialization", "at the end of training")):
        for model in settings["models"]:
            run = next(r for r in runs if r["model"] == model and r["seed"] == seed)
            layers = np.arange(len(run[f"scale_{when}"]))
            ax.plot(layers, run[f"scale_{when}"], "-o", label=MODELS[model])
        ax.set(yscale="log", xlabel=r"layer $l$ (0 = scaled input)", ylabel=r"mean $|a^l|$", title=title)
    axes[1].legend(fontsize="small")
    fig.suptitle(f"ics: activation scale per layer, seed {seed}")
    save_figure(fig, out / "ics_activation_scale.png")


def print_scales(runs: list[dict], models: list[str]) -> None:
    """The activation-scale table of the first seed."""
    print("\nactivation scale mean |a^l| (first seed; l = 0 is the scaled input, l = 1..6 the conv layers)")
    seed, rows = runs[0]["seed"], []
    for model in models:
        run = next(r for r in runs if r["model"] == model and r["seed"] == seed)
        for when in ("init", "end"):
            row = {"model": f"{MODELS[model]}, {when}"}
            row.update({f"a{l}": f"{v:.3g}" for l, v in enumerate(run[f"scale_{when}"])})
            rows.append(row)
    layers = len(runs[0]["scale_init"])
    print(format_table(rows, [("model", "model")] + [(f"a{l}", f"l={l}") for l in range(layers)]))


def after(o: Outcome) -> None:
    """The network, the scale table and the growth verdict; the protocol's numbers."""
    runs, summary, settings, data = o.runs, o.summary, o.settings, o.data
    note = data_note(data, settings["data"])
    summary.update({"data_note": note, "patience": settings["patience"], "max_epochs": settings["epochs"]})
    print(f"{note}; {data.n_train} train (class 1: {int(data.y_train.sum())}) / {data.n_test} test")
    if settings["data"] != "cifar10":
        print(f"(the paper's numbers are on CIFAR-10, not on {settings['data']})")
    print("\n" + runs[-1]["describe"])
    print_scales(runs, settings["models"])
    print("\nlayer-to-layer growth g_l = mean|a^l| / mean|a^(l-1)|, hidden layers l = 2..6, all seeds:")
    for model in settings["models"]:
        verdict = summary[model]["activation_scale"]
        for when in ("init", "end"):
            v = verdict[when]
            span = f"g from {v['min_ratio']:.3g} to {v['max_ratio']:.3g}"
            print(f"  {MODELS[model]:<17} {when:<4}: {span} ({'grows' if v['grows'] else 'does not grow'})")
    if "regularized-relu" in settings["models"]:
        verdict = summary["regularized-relu"]["activation_scale"]
        kept = not verdict["init"]["grows"] and not verdict["end"]["grows"]
        summary["regularized_relu_keeps_scale"] = kept
        print(
            "  => the regularized ReLU "
            + (
                "keeps mean |a| from growing layer by layer"
                if kept
                else "does NOT keep mean |a| from growing"
            )
        )
        print_factors([r for r in runs if r["model"] == "regularized-relu"], settings)


def input_line(settings: dict) -> str:
    """The header's line: which input reading ran."""
    if settings["input_reading"] == "paper":
        return (
            f"input (--input-reading paper, Wang §4.1; a reading): every channel binarized to "
            f"{{0, {PAPER_INPUT_MAX:g}}} (threshold 0.5) for all models; regularized ReLU input "
            f"x{PAPER_INPUT_FACTOR:g}"
        )
    return (
        "input (--input-reading derived): pixels in [0, 1] for all models; regularized ReLU input x the "
        "factor giving logits of RMS 1 at init (the paper: binarized to {0, 100}, x1e4)"
    )


def print_factors(runs: list[dict], settings: dict) -> None:
    """The regularized ReLU's input factor used, beside both readings' factors on these inputs."""
    inputs = "binarized to {0, 100}" if settings["input_reading"] == "paper" else "in [0, 1]"
    used = ", ".join(f"{r['input_scale']:.4g}" for r in runs)
    derived = ", ".join(
        "—" if r["input_factor_derived"] is None else f"{r['input_factor_derived']:.4g}" for r in runs
    )
    print(f"  input factor of the regularized ReLU model (inputs {inputs}): used x{used}")
    print(f"    derived (logits RMS 1 at init) on these inputs: x{derived}")
    print(
        f"    the paper's: x{PAPER_INPUT_FACTOR:g} on inputs binarized to {{0, {PAPER_INPUT_MAX:g}}} "
        f"(= x{PAPER_INPUT_FACTOR * PAPER_INPUT_MAX:g} per unit of input)"
    )


def settings(config: ExperimentConfig) -> dict:
    """Every setting ics uses, as given or chosen (quick: 1 seed, patience 3, ≤ 6 epochs)."""
    data = config.setting("data", "digits")
    given = config.extra.get("input_scale")
    config.report("input_scale", given if given is not None else "suggest_input_scale, per run (runs[*])")
    return {
        "runs": config.choose("runs", 1, 5 if data == "digits" else 1),  # the paper: one run
        "epochs": config.choose("epochs", 6, 300),
        "patience": config.choose("patience", 3, 15),
        "data": data,
        "models": list(config.setting("models", list(MODELS))),
        "channels": list(config.setting("channels", list(CHANNELS))),
        "bias_init": config.setting("bias_init", "zeros"),
        "batch_size": config.setting("batch_size", 32),
        "input_scale": given if given is not None else "suggest",
        "input_reading": config.setting("input_reading", "derived"),
        "blas_threads": config.setting("blas_threads", 1),
    }


def load_settings(settings: dict):
    """Classes 0 and 1 of the settings' data (see `load_two_classes`), binarized to {0, 100}
    under ``--input-reading paper`` (`ics.paper_input`)."""
    from ..ics import paper_input

    data = load_two_classes(ExperimentConfig(data=settings["data"], data_dir=settings["data_dir"]))[0]
    if settings["input_reading"] != "paper":
        return data
    return dataclasses.replace(data, x_train=paper_input(data.x_train), x_test=paper_input(data.x_test))


ICS = declare(
    Declaration(
        name=NAME,
        description="6-conv CNN on classes 0/1: sigmoid vs ReLU vs regularized ReLU r=c/(s·n·m), "
        "peak-accuracy protocol, activation scale per layer",
        paper="Zhifeng Wang - regularized ReLU against internal covariate shift",
        options=add_arguments,
        settings=settings,
        grid=seed_grid("model", "models"),
        inner="model",
        load=load_settings,
        cell=train_seed,
        report=[
            Measure("best_test_acc", "peak test acc", percent=True),
            Measure("best_epoch", std=False),
            Column("best_epoch_1", "peak epoch", of=lambda c, *_: c["best_epoch_mean"] + 1, fmt=".1f"),
            Measure("epochs_run", "epochs run", std=False, digits=1),
            Measure("input_scale", std=False, suffix="", reduce=list),
            Measure("scale_init", std=False, reduce=lambda v: np.mean(v, axis=0).tolist()),
            Measure("scale_end", std=False, reduce=lambda v: np.mean(v, axis=0).tolist()),
            Measure("activation_scale", of=lambda run: run, std=False, suffix="", reduce=scale_verdict),
            Column("paper", "paper (CIFAR-10) %", of=lambda _, point, __: PAPER[point["model"]], fmt=".2f"),
        ],
        names={"model": MODELS},
        plots=[plot_accuracy, plot_scales],
        describe=describe,
        intro=input_line,
        after=after,
        protocol="1 run, peak-accuracy stop with patience 15, ≤ 300 epochs, CIFAR-10 classes 0/1",
        notes=[
            "peak test accuracy is the paper's protocol (Wang §4): the best test accuracy over the",
            "epochs, training stopped when the training-set accuracy stops improving; epochs from 1",
        ],
        paper_numbers={**PAPER, "data": "CIFAR-10 classes 0/1, 800 train / 1000 test"},
    )
)
run = ICS.run
