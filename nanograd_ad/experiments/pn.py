"""pn-depth and pn-cnn: pseudo-normalization of the δ recursion (Bu, Jiang, Lu & Zhang 2026).

Variants (one seed: the same initial weights and the same batches for all three):

    plain   δ^l = (δ^{l+1} W^{l+1 T}) ⊙ d^l
    pn      single path: norm(d^l) = d^l / (RMS(d^l) + ε) at hidden layers L−2, L−4, … (the
            paper's 6-layer example normalizes d^4 and d^2; --start / --period move them)
    pn2     two paths: local error e^l for W^l's own gradient, carried c^l = e^l / RMS(d^l) below

**pn-depth** — deep tanh MLPs (default 10, 20, 30 hidden layers of width 32) on the
flattened digits. Recipe: LeCun normal weights, zero biases, SGD, mini-batch 50,
gradient clipping to ±0.5, standardized inputs, a constant learning rate (each of
``--lrs``), no L2 (``--weight-decay`` and ``--l2`` as pn-cnn's). A PN variant needs
depth ≥ ``--start`` (its first PN layer is hidden layer L − start). Measured: RMS of the
first-layer weight gradient at initialization (4 fixed batches of 50) and averaged over
training, test accuracy, and the δ-vs-depth profile
(:class:`~nanograd_ad.inspect.GradientFlow`) drawn on one log-scale figure per depth.

**pn-cnn** — the paper's recipe on its models (``--model``, :mod:`nanograd_ad.models`):

    1  pn_model1: 8 conv + 2 dense, tanh (CIFAR-10: 80.5 %, 90 epochs; 82.61 % with augmentation)
    2  pn_model2: 4 conv + 6 dense, tanh (CIFAR-10: 84.19 % with augmentation)
    3  pn_model3: 5 conv + 5 dense, tanh (CIFAR-100: 61.23 %, 160 epochs, warm-up, augmentation)

**(reading: the paper's layer tables are lost; the widths are ours, w = 16 on digits,
32 on CIFAR — see each model's docstring; printed in the header)**. LeCun normal, zero
biases, SGD with mini-batch 50, cosine learning rate in periods (restarts; peak 0.1
**(reading: the paper gives no rate; 0.1 was the best of 0.05 / 0.1 / 0.2 in a 15-epoch
digits trial with the per-epoch schedule, judged on the test split — there is no
validation split; the header says so)**. **The cosine is stepped per iteration
(``--lr-schedule step``, `schedules.StepCosineRestarts`) with a period of 1 epoch
(reading: the paper gives neither; its "after 50 periods of the learning rate, the model
almost reaches its best accuracy" in a 90-epoch run, 70 epochs before the final rate,
needs periods of at most 70/50 = 1.4 epochs; --cosine-period, fractions allowed)**;
``--lr-schedule epoch`` is the earlier reading, set once per epoch with a period of a
third of the cosine epochs. Model 3 rises over the first half of each period (the
paper's warm-up), the last 20/90 of the epochs at 1e-4 (**model 3: the same fraction, a
reading**), L2 0.003 (**where it enters is a reading, --l2: ``after_clip`` (default)
adds 0.003·θ to the clipped gradient, ``loss`` adds a loss term 0.003·Σθ², clipped with
the rest**), clipping to ±0.5, standardized inputs. Epochs: the paper's on CIFAR (90 for models 1
and 2 — **model 2's is a reading: "the same classification task"** — 160 for model 3),
30 on digits, 4 with --quick. ``--augment``: the paper's "simple data augmentation"
(random crops of padded images and flips, :mod:`nanograd_ad.augment`; **4-pixel
padding: a reading**). Then the noise test: Gaussian or uniform noise of each level
added to the standardized test set, 10 draws per level, mean accuracy. A contribution
map (gradient × input) of a few test images is drawn for the two-path model. A paper's
number is printed only beside the run of its model, data set and augmentation, with
the paper's epochs and ours in the header.

Sweep units (``--workers`` / ``--scheduler``, :mod:`nanograd_ad.sweep`): pn-depth trains one
unit per depth × learning rate × seed × variant (:func:`depth_cell`), pn-cnn one per seed ×
variant (:func:`cnn_cell`, which also returns what the report draws from its trained
network: the summary and the contribution map).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from .common import (
    ExperimentConfig,
    base_settings,
    blas_threads,
    classifier_trainer,
    format_mean_std,
    format_table,
    mean_std,
    pyplot,
    save_figure,
    seeded,
)
from .runner import Column, Declaration, Measure, Outcome, declare, plural, seed_grid

if TYPE_CHECKING:
    from ..network import Sequential

VARIANTS = {"plain": "plain backprop", "pn": "single-path PN", "pn2": "two-path PN"}
# (model, data set, augmentation) → (the paper's test accuracy %, its recipe); Bu et al. 2026, §4.
PAPER = {
    (1, "cifar10", False): (80.5, "model 1, 90 epochs"),
    (1, "cifar10", True): (82.61, "model 1, 90 epochs, augmentation"),
    (2, "cifar10", True): (84.19, "model 2, 90 epochs (reading), augmentation"),
    (3, "cifar100", True): (61.23, "model 3, 160 epochs, cosine warm-up, augmentation"),
}
PAPER_EPOCHS = {1: 90, 2: 90, 3: 160}
PROBE_BATCHES, BATCH = 4, 50
LR_MAX = 0.1  # pn-cnn's cosine peak (reading: see the module docstring)
#: pn-cnn's schedules: the cosine set before every update (the paper's reading) or once per epoch.
LR_SCHEDULES = {"step": "stepped per iteration", "epoch": "set once per epoch"}
STEP_PERIOD = 1.0  # epochs per cosine period of the per-step schedule (reading: ≤ 1.4, see cnn_intro)
CONTRIBUTION_IMAGES = 4  # pn-cnn draws the contribution map of the first 4 test images


# ------------------------------------------------------------------------ shared


def make_rule(variant: str, period: int = 2, rms: str = "sample", start: int = 2):
    """The feedback rule of a variant (None for plain backprop); PN at L − start, then every period-th."""
    from ..pseudo_normalization import PseudoNormalize

    if variant == "plain":
        return None
    if variant in ("pn", "pn2"):
        return PseudoNormalize(period=period, start=start, two_path=variant == "pn2", rms=rms)
    raise ValueError(f"unknown variant {variant!r}; known: {list(VARIANTS)}")


def load_data(config: ExperimentConfig, flat: bool):
    """The dataset, standardized with training statistics (per channel, or per feature when flat)."""
    from ..datasets import load, standardize

    data = load(config.setting("data", "digits"), config.data_dir)
    if data.num_classes is None:
        raise ValueError(f"PN experiments need a classification dataset, got {data.name!r}")
    x_train, x_test = data.x_train, data.x_test
    if flat:
        x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    elif x_train.ndim != 4:
        raise ValueError(f"pn-cnn needs images (N, C, H, W), got {x_train.shape}")
    x_train, x_test, _, _ = standardize(x_train, x_test)
    return dataclasses.replace(data, x_train=x_train, x_test=x_test)


def probe(net, data, batches: int = PROBE_BATCHES):
    """GradientFlow over the first ``batches`` mini-batches of 50 training images (fewer if
    the set is small), no update."""
    from ..backend import asarray, xp
    from ..inspect import GradientFlow
    from ..losses import SoftmaxCrossEntropy

    flow = GradientFlow()
    net.add_feedback(flow)
    loss = SoftmaxCrossEntropy()
    try:
        for start in range(0, min(batches * BATCH, len(data.x_train)), BATCH):
            rows = slice(start, start + BATCH)
            loss.forward(net(asarray(data.x_train[rows])), xp.asarray(data.y_train[rows]))
            net.zero_grad()
            net.backward(loss.backward())
    finally:
        net.feedback.remove(flow)
        net.zero_grad()
    return flow


def first_layer_rms(flow) -> float:
    """Mean over recorded steps of RMS(∂C/∂W^1)."""
    return float(np.nanmean(flow.series("weight_grad", 1)))


def train(
    net,
    data,
    progress: bool,
    epochs: int,
    rng,
    *,
    lr: float,
    schedule=None,
    weight_decay: float = 0.0,
    l2: str = "after_clip",
    clip: float = 0.5,
    flow_every: int = 5,
    callbacks=(),
):
    """SGD, batch 50, clipping ±clip, L2 weight_decay entering as ``l2`` says (``"after_clip"``:
    g ← clip(g) + λθ; ``"loss"``: g ← clip(g + 2λθ), `optim`); GradientFlow(every) attached while training."""
    from ..inspect import GradientFlow
    from ..train import make_optimizer

    optimizer = make_optimizer(
        "sgd", net.parameters(), lr=lr, clip_value=clip, weight_decay=weight_decay or None, l2=l2
    )
    flow = GradientFlow(every=flow_every)
    net.add_feedback(flow)
    trainer = classifier_trainer(
        net,
        optimizer,
        data,
        batch_size=BATCH,
        schedule=schedule,
        callbacks=callbacks,
        progress=progress,
        rng=rng,
        on_nonfinite="stop",
    )
    history = trainer.fit(epochs)
    net.feedback.remove(flow)
    return history, flow


def _profiles_figure(panels: dict, path, title: str) -> None:
    """One log-scale δ-vs-depth panel per key of ``panels`` ({panel title: {label: (depths, values)}})."""
    plt = pyplot()
    if plt is None:
        return
    from ..inspect import plot_delta_profile

    fig, axes = plt.subplots(
        1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False, layout="constrained"
    )
    from matplotlib.ticker import MaxNLocator

    for ax, (panel, runs) in zip(axes[0], panels.items()):
        plot_delta_profile(runs, ax=ax, title=panel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # layers are whole numbers
        ax.set_xlabel(r"layer $l$ (1 = input side)")
    fig.suptitle(title)
    save_figure(fig, path)


def _mean_profile(runs: list[dict], key: str):
    depths = np.asarray(runs[0][key]["depths"])
    values = np.array([r[key]["values"] for r in runs], dtype=float)  # None (JSON's NaN) → nan
    return depths, np.nanmean(values, axis=0)


def _profile_dict(flow, key: str = "delta") -> dict:
    depths, values = flow.profile(key)
    return {"depths": depths.tolist(), "values": values.tolist()}


# ---------------------------------------------------------------------- pn-depth


L2_HELP = {
    "after_clip": "λθ added to the clipped gradient (a loss term λ/2·Σθ², never clipped)",
    "loss": "a loss term λ·Σθ² (Keras' l2(λ)): 2λθ added before clipping",
}


def add_l2_arguments(group, default_decay: float, why: str) -> None:
    """--weight-decay λ and --l2: where L2 enters (both experiments; the PN paper does not say)."""
    from ..argtypes import nonnegative_float
    from ..optim import L2_READINGS

    group.add_argument(
        "--weight-decay", type=nonnegative_float, default=default_decay, help=f"L2 λ (default {why})"
    )
    group.add_argument(
        "--l2",
        choices=list(L2_READINGS),
        default=None,
        help="where L2 enters, a reading (the paper gives 'regularization 0.003' and clipping to ±0.5 "
        "without saying): after_clip (default) = " + L2_HELP["after_clip"] + "; loss = " + L2_HELP["loss"],
    )


def l2_setting(config: ExperimentConfig, weight_decay: float) -> str:
    """The effective --l2 (default after_clip); refused when given with no L2 to place."""
    given = config.extra.get("l2")
    if given is not None and weight_decay == 0:
        raise ValueError(
            f"--l2 {given}: there is no L2 to place with --weight-decay 0; give --weight-decay > 0"
        )
    return config.setting("l2", "after_clip")


def l2_line(settings: dict) -> str:
    """How the header names the L2 reading."""
    if not settings["weight_decay"]:
        return "no L2"
    return f"L2 {settings['weight_decay']:g} as {settings['l2']} (a reading, --l2: {L2_HELP[settings['l2']]})"


def add_placement_arguments(group) -> None:
    """--period and --start: where PN sits (both experiments)."""
    from ..argtypes import positive_int

    group.add_argument(
        "--period",
        type=positive_int,
        default=2,
        help="PN at every period-th hidden layer below the first (default 2)",
    )
    group.add_argument(
        "--start",
        type=positive_int,
        default=2,
        help="first PN layer L-start, counted down from the output L (default 2: L-2, L-4, ..., the paper's)",
    )
    group.add_argument("--blas-threads", type=positive_int, default=1, help="BLAS threads (default 1)")


def add_depth_arguments(parser) -> None:
    """Options of pn-depth."""
    from ..argtypes import positive_float, positive_int

    group = parser.add_argument_group("pn-depth options")
    group.add_argument(
        "--depths", type=positive_int, nargs="+", default=None, help="hidden layers (default 10 20 30)"
    )
    group.add_argument("--width", type=positive_int, default=32, help="hidden width (default 32)")
    group.add_argument(
        "--lrs",
        type=positive_float,
        nargs="+",
        default=None,
        help="SGD learning rates, one run each (default 0.01 0.05; --quick 0.01)",
    )
    group.add_argument(
        "--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS), help="default: all"
    )
    add_placement_arguments(group)
    group.add_argument(
        "--rms", choices=["sample", "batch"], default="sample", help="RMS per sample (default) or per batch"
    )
    add_l2_arguments(group, 0.0, "0: no L2, the recipe of this experiment")


def deep_mlp(depth: int, width: int, inputs: int, classes: int):
    """Dense(inputs, width) → tanh → … (``depth`` tanh layers) → Dense(width, classes);
    LeCun normal, zero biases."""
    from ..fast.activations import Tanh
    from ..fast.layers import Dense
    from ..network import Sequential

    layers, fan_in = [], inputs
    for _ in range(depth):
        layers += [Dense(fan_in, width, weight_init="lecun_normal", bias_init="zeros"), Tanh()]
        fan_in = width
    layers.append(Dense(fan_in, classes, weight_init="lecun_normal", bias_init="zeros"))
    return Sequential(*layers)


def depth_cell(settings: dict, data, depth: int, lr: float, seed: int, variant: str) -> dict:
    """One deep MLP: probe at initialization, train, return the numbers."""
    with blas_threads(settings["blas_threads"]):  # small matrices: one BLAS thread is faster
        rng = seeded(seed)
        net = deep_mlp(depth, settings["width"], data.x_train.shape[1], data.num_classes)
        rule = make_rule(variant, settings["period"], settings["rms"], settings["start"])
        if rule is not None:
            net.add_feedback(rule)
        at_init = probe(net, data)
        history, during = train(
            net, data, settings["progress"], settings["epochs"], rng, lr=lr,
            weight_decay=settings["weight_decay"], l2=settings["l2"],
        )  # fmt: skip
    best, best_epoch = history.best("test_acc")
    return {
        "variant": variant,
        "depth": depth,
        "lr": lr,
        "seed": seed,
        "grad1_init": first_layer_rms(at_init),
        "grad1_train": first_layer_rms(during),
        "final_test_acc": history.test_acc[-1] if len(history) else None,
        "best_test_acc": best,
        "best_epoch": best_epoch,
        "diverged": bool(history.events_of("diverged")),
        "delta_init": _profile_dict(at_init),
        "delta_train": _profile_dict(during),
        "saturated_train": _profile_dict(during, "saturated"),
        "history": history.to_dict(),
    }


def depth_settings(config: ExperimentConfig) -> dict:
    """Every setting pn-depth uses, as given or chosen (quick: 1 seed × 10 epochs, lr 0.01).

    A PN variant needs a hidden layer L − start ≥ 1 (L = depth + 1 weight layers), i.e.
    depth ≥ start: a shallower ``--depths`` is refused naming both options."""
    settings = {
        **base_settings(config, runs=(1, 3), epochs=(10, 30), data="digits"),
        "depths": list(config.choose("depths", [10, 20, 30], [10, 20, 30])),
        "lrs": list(config.choose("lrs", [0.01], [0.01, 0.05])),
        "variants": list(config.setting("variants", list(VARIANTS))),
        **{name: config.setting(name, default) for name, default in DEPTH_DEFAULTS.items()},
    }
    settings["l2"] = l2_setting(config, settings["weight_decay"])
    start, shallow = settings["start"], min(settings["depths"])
    if shallow < start and set(settings["variants"]) - {"plain"}:
        raise ValueError(
            f"--depths {shallow}: PN needs at least --start = {start} hidden layers (its first PN layer "
            f"is hidden layer L-{start} = depth + 1 - {start}, which must be >= 1); give depths >= {start}"
        )
    return settings


#: pn-depth's options with a fixed default (their CLI defaults).
DEPTH_DEFAULTS = {
    "width": 32, "period": 2, "start": 2, "rms": "sample", "blas_threads": 1, "weight_decay": 0.0,
}  # fmt: skip


def depth_grid(settings: dict) -> dict:
    """Depth, then learning rate, then seed, then variant (one seed: the same batches)."""
    seeds = [settings["seed"] + i for i in range(settings["runs"])]
    return {
        "depth": settings["depths"],
        "lr": settings["lrs"],
        "seed": seeds,
        "variant": settings["variants"],
    }


def load_flat(settings: dict):
    """The settings' dataset, flattened and standardized."""
    return load_data(ExperimentConfig(data=settings["data"], data_dir=settings["data_dir"]), flat=True)


def depth_label(cell: dict) -> str:
    """A pn-depth cell's name in the summary."""
    return f"depth {cell['depth']}, lr {cell['lr']:g}, {cell['variant']}"


def describe_depth(run: dict) -> str:
    """A pn-depth run's line: first-layer gradient at init and in training, final accuracy."""
    grads = f"grad W1 RMS init {run['grad1_init']:.3e} train {run['grad1_train']:.3e}"
    return (
        f"depth {run['depth']:>3} lr {run['lr']:<6g} seed {run['seed']} {run['variant']:<5} {grads}  "
        f"final test acc {_pct(run['final_test_acc'])}" + ("  DIVERGED" if run["diverged"] else "")
    )


def depth_ratios(o: Outcome) -> None:
    """Each cell's first-layer gradient as a multiple of plain backprop's (same depth and lr)."""
    for label, cell in o.summary.items():
        plain = o.summary.get(label.rsplit(", ", 1)[0] + ", plain")
        if plain is not None:
            cell["grad1_init_ratio"] = cell["grad1_init_mean"] / plain["grad1_init_mean"]
            cell["grad1_train_ratio"] = cell["grad1_train_mean"] / plain["grad1_train_mean"]


def depth_plots(o: Outcome) -> None:
    """δ-vs-depth at initialization (one figure) and over training (one per learning rate)."""
    runs, settings, out = o.runs, o.settings, o.out
    depths, variants, lrs = settings["depths"], settings["variants"], settings["lrs"]
    seeds = f"{settings['runs']} seeds" if settings["runs"] > 1 else "one seed"

    def panels(lr, key):
        return {
            f"{depth} tanh layers": {
                VARIANTS[v]: _mean_profile(
                    [r for r in runs if (r["depth"], r["lr"], r["variant"]) == (depth, lr, v)], key
                )
                for v in variants
            }
            for depth in depths
        }

    # at initialization the weights do not depend on the learning rate: one figure
    title = f"RMS of $\\delta^l$ by depth at initialization (mean over 4 batches, {seeds})"
    _profiles_figure(panels(lrs[0], "delta_init"), out / "pn_depth_delta_init.png", title)
    for lr in lrs:
        title = f"RMS of $\\delta^l$ by depth, mean over training (lr {lr:g}, {seeds})"
        _profiles_figure(panels(lr, "delta_train"), out / f"pn_depth_delta_train_lr{lr:g}.png", title)


PN_DEPTH = declare(
    Declaration(
        name="pn-depth",
        description="deep tanh MLPs (10-30 layers) on digits: plain vs single- vs two-path PN; "
        "grad at layer 1, δ per depth",
        paper="Bu, Jiang, Lu, Zhang - Pseudo-Normalizing (Entropy 2026), method",
        options=add_depth_arguments, settings=depth_settings, load=load_flat, cell=depth_cell,
        grid=depth_grid,
        report=[
            Measure("grad1_init", "∇W¹ init", std=False, fmt=".3e"),
            Column("grad1_init_ratio", "× plain", fmt=".2f"),
            Measure("grad1_train", "∇W¹ train", std=False, fmt=".3e"),
            Column("grad1_train_ratio", "× plain", fmt=".2f"),
            Measure("final_test_acc", "final test acc", percent=True),
            Measure("best_test_acc", std=False),
            Measure("diverged", std=False, suffix="", reduce=sum),
            Column("diverged_of", "diverged", of=lambda cell, *_: f"{cell['diverged']}/{cell['runs']}"),
        ],
        label=depth_label,
        intro=lambda s: (
            f"tanh MLPs of width {s['width']}; SGD batch {BATCH}, constant lr, clip ±0.5, "
            f"LeCun normal; {l2_line(s)}"
        ),
        plots=[depth_plots],
        describe=describe_depth,
        after=depth_ratios,
        protocol="the PN paper has no deep-MLP experiment; full run: 3 seeds × 30 epochs, lr 0.01 and 0.05",
        notes=[
            "accuracy at the final epoch (no selection on the test set); ∇W¹: RMS of ∂C/∂W¹, mean over seeds",
            "(the PN paper reports no deep-MLP numbers: no paper column)",
            "variants: " + ", ".join(f"{key} = {name}" for key, name in VARIANTS.items()),
        ],
    )
)  # fmt: skip
run_depth = PN_DEPTH.run


def _pct(value) -> str:
    return "—" if value is None else f"{100 * value:.2f} %"


# ------------------------------------------------------------------------ pn-cnn


def add_cnn_arguments(parser) -> None:
    """Options of pn-cnn."""
    from ..argtypes import positive_float, positive_int

    group = parser.add_argument_group("pn-cnn options")
    group.add_argument(
        "--model", type=int, choices=[1, 2, 3], default=1, help="the paper's model 1, 2 or 3 (default 1)"
    )
    group.add_argument(
        "--augment", action="store_true", help="random crops of padded images + horizontal flips"
    )
    group.add_argument(
        "--padding", type=int, default=4, help="--augment: pixels of zero padding (default 4; a reading)"
    )
    group.add_argument(
        "--variants",
        nargs="+",
        choices=list(VARIANTS),
        default=None,
        help="default: all three; --quick: plain pn2 (the paper's two-path)",
    )
    group.add_argument(
        "--width", type=positive_int, default=None, help="first conv width w (default 16 digits, 32 CIFAR)"
    )
    group.add_argument(
        "--lr-max",
        type=positive_float,
        default=LR_MAX,
        help="cosine peak learning rate (default 0.1, a reading: the paper gives none; 0.1 was the best of "
        "0.05 / 0.1 / 0.2 in a 15-epoch digits trial with the per-epoch schedule, judged on the TEST split "
        "- there is no validation split)",
    )
    group.add_argument(
        "--lr-schedule",
        choices=list(LR_SCHEDULES),
        default="step",
        help="step (default, the paper's reading): the cosine set before every update, its period in "
        "epochs, fractions allowed; epoch: set once per epoch (the earlier reading, period in whole epochs)",
    )
    group.add_argument(
        "--cosine-period",
        type=positive_float,
        default=None,
        help="epochs per cosine period, a reading: the paper gives none, but its 'after 50 periods' in a "
        "90-epoch run (70 before the final rate) bounds it to <= 1.4 epochs. Default: 1 epoch with "
        "--lr-schedule step; a third of the cosine epochs with epoch",
    )
    add_l2_arguments(group, 0.003, "0.003, the paper's")
    group.add_argument(
        "--clip", type=positive_float, default=0.5, help="clip gradients to ±clip (default 0.5)"
    )
    add_placement_arguments(group)
    group.add_argument(
        "--noise-levels",
        type=positive_float,
        nargs="+",
        default=None,
        help="noise levels on standardized inputs (default 0.1 0.2 0.3 0.5)",
    )
    group.add_argument(
        "--noise-draws", type=positive_int, default=10, help="draws per level (default 10, the paper's)"
    )


def final_epochs(epochs: int) -> int:
    """The PN recipe's final phase at 1e-4: the last 20/90 of the epochs (at least 1; none
    in runs of 1 or 2 epochs)."""
    return max(1, round(epochs * 20 / 90)) if epochs > 2 else 0


def _recipe(epochs: int, lr_max: float, warmup: float) -> dict:
    """What both PN schedules share: lr_min = 1e-4 (or lr_max, if lower), the warm-up, and the
    last 20/90 of the epochs at lr_min."""
    final, low = final_epochs(epochs), min(1e-4, lr_max)
    return {
        "lr_max": lr_max, "lr_min": low, "warmup_fraction": warmup, "total_epochs": epochs,
        "final_epochs": final, "final_lr": low if final else None,
    }  # fmt: skip


def cosine_schedule(epochs: int, lr_max: float, period: int | None, warmup: float):
    """The PN recipe set once per epoch (``--lr-schedule epoch``): cosine periods of ``period``
    epochs (default a third of the cosine epochs), the last 20/90 of the epochs at 1e-4."""
    from ..schedules import CosineRestarts

    period = period or max(1, (epochs - final_epochs(epochs)) // 3)
    return CosineRestarts(period=period, **_recipe(epochs, lr_max, warmup))


def step_cosine_schedule(epochs: int, lr_max: float, period: float, warmup: float, steps_per_epoch: int):
    """The PN recipe stepped per iteration (``--lr-schedule step``, the paper's reading):
    periods of ``period`` epochs (fractions allowed) = period · steps_per_epoch updates,
    the last 20/90 of the epochs at 1e-4 (`schedules.StepCosineRestarts`)."""
    from ..schedules import StepCosineRestarts

    return StepCosineRestarts(
        steps_per_epoch=steps_per_epoch, period_epochs=period, **_recipe(epochs, lr_max, warmup)
    )


def make_schedule(settings: dict, steps_per_epoch: int):
    """pn-cnn's schedule as the settings say (model 3 rises over the first half of each period:
    the paper's "increase at the first half of a period")."""
    warmup = 0.5 if settings["model"] == 3 else 0.0
    epochs, lr_max, period = settings["epochs"], settings["lr_max"], settings["cosine_period"]
    if settings["lr_schedule"] == "epoch":
        return cosine_schedule(epochs, lr_max, int(period), warmup)
    return step_cosine_schedule(epochs, lr_max, period, warmup, steps_per_epoch)


def noise_table(net, data, levels, draws: int, seed: int) -> dict:
    """{kind: {level: [accuracy per draw]}}: the standardized test set plus noise, ``draws`` each."""
    from ..datasets import add_noise
    from ..losses import SoftmaxCrossEntropy
    from ..train import evaluate

    rng = np.random.default_rng(seed + 10_000)
    table: dict[str, dict[float, list[float]]] = {}
    for kind in ("gaussian", "uniform"):
        table[kind] = {}
        for level in levels:
            table[kind][level] = [
                evaluate(net, SoftmaxCrossEntropy(), add_noise(data.x_test, kind, level, rng), data.y_test)[1]
                for _ in range(draws)
            ]
    return table


def cnn_cell(settings: dict, data, seed: int, variant: str) -> dict:
    """One unit: train one of the paper's models, and what the report draws from it.

    Returns ``{"run": its numbers, "describe": the network's summary, "contribution":
    {"importance", "binary"}}`` — the trained network stays on the worker, so what the
    report draws from it (the contribution map of the first 4 test images) is made here."""
    from ..backend import to_numpy
    from ..inspect import contribution_map
    from ..losses import SoftmaxCrossEntropy

    with blas_threads(settings["blas_threads"]):
        run, net = cnn_run(variant, seed, data, settings)
        count = CONTRIBUTION_IMAGES
        maps = contribution_map(net, SoftmaxCrossEntropy(), data.x_test[:count], data.y_test[:count])
    return {
        "run": run,
        "describe": net.describe(),
        "contribution": {"importance": to_numpy(maps.importance), "binary": to_numpy(maps.binary)},
    }


def cnn_run(variant: str, seed: int, data, settings: dict) -> tuple[dict, Sequential]:
    """Train one of the paper's models (``--model``); its numbers and the trained network."""
    from .. import models
    from ..augment import Augment

    model, epochs = settings["model"], settings["epochs"]
    rng = seeded(seed)
    build = {1: models.pn_model1, 2: models.pn_model2, 3: models.pn_model3}[model]
    net = build(data.num_classes, input_shape=tuple(data.x_train.shape[1:]), width=settings["width"])
    rule = make_rule(variant, settings["period"], start=settings["start"])
    if rule is not None:
        net.add_feedback(rule)
    at_init = probe(net, data)
    schedule = make_schedule(settings, -(-len(data.x_train) // BATCH))
    augment = [Augment(settings["padding"], seed=seed + 20_000)] if settings["augment"] else []
    history, during = train(
        net, data, settings["progress"], epochs, rng, lr=schedule.lr_at(0), schedule=schedule,
        weight_decay=settings["weight_decay"], l2=settings["l2"], clip=settings["clip"], flow_every=10,
        callbacks=augment,
    )  # fmt: skip
    best, best_epoch = history.best("test_acc")
    noise = noise_table(net, data, settings["noise_levels"], settings["noise_draws"], seed)
    return {
        "variant": variant,
        "seed": seed,
        "model": model,
        "width": settings["width"],
        "parameters": net.num_parameters(),
        "schedule": repr(schedule),
        "final_test_acc": history.test_acc[-1] if len(history) else None,
        "best_test_acc": best,
        "best_epoch": best_epoch,
        "diverged": bool(history.events_of("diverged")),
        "grad1_init": first_layer_rms(at_init),
        "grad1_train": first_layer_rms(during),
        "delta_init": _profile_dict(at_init),
        "delta_train": _profile_dict(during),
        "noise": {kind: {str(level): accs for level, accs in by.items()} for kind, by in noise.items()},
        "history": history.to_dict(),
    }, net


def cnn_settings(config: ExperimentConfig) -> dict:
    """Every setting pn-cnn uses, as given or chosen (quick: 1 seed × 4 epochs, plain and pn2)."""
    data = config.setting("data", "digits")
    model = config.setting("model", 1)
    epochs = config.choose("epochs", 4, PAPER_EPOCHS[model] if data in ("cifar10", "cifar100") else 30)
    lr_schedule = config.setting("lr_schedule", "step")
    if lr_schedule == "epoch":
        given = config.extra.get("cosine_period")
        if given is not None and given != int(given):
            raise ValueError(
                f"--cosine-period {given:g}: --lr-schedule epoch sets the rate once per epoch, so its period "
                "is a whole number of epochs (fractions need --lr-schedule step)"
            )
        period: float = config.setting("cosine_period", cosine_schedule(epochs, 1.0, None, 0.0).period)
        period = int(period)
    else:
        period = config.setting("cosine_period", STEP_PERIOD)
    settings = {
        "runs": config.choose("runs", 1, 3),
        "epochs": epochs,
        "data": data,
        "variants": list(config.choose("variants", ["plain", "pn2"], list(VARIANTS))),
        "noise_levels": list(config.choose("noise_levels", [0.2, 0.5], [0.1, 0.2, 0.3, 0.5])),
        "model": model,
        "augment": bool(config.setting("augment", False)),
        "width": config.setting("width", 16 if data == "digits" else 32),  # w = 16 on 8×8 images
        "lr_schedule": lr_schedule,
        "cosine_period": period,
        **{name: config.setting(name, default) for name, default in CNN_DEFAULTS.items()},
    }
    settings["l2"] = l2_setting(config, settings["weight_decay"])
    return settings


#: pn-cnn's options with a fixed default (their CLI defaults).
CNN_DEFAULTS = {
    "lr_max": LR_MAX, "weight_decay": 0.003, "clip": 0.5, "period": 2, "start": 2, "padding": 4,
    "noise_draws": 10, "blas_threads": 1,
}  # fmt: skip


def load_images(settings: dict):
    """The settings' dataset as images, standardized per channel."""
    return load_data(ExperimentConfig(data=settings["data"], data_dir=settings["data_dir"]), flat=False)


def paper_number(settings: dict) -> tuple[float | None, str | None]:
    """The paper's test accuracy % and recipe for this model, data set and augmentation."""
    return PAPER.get((settings["model"], settings["data"], settings["augment"]), (None, None))


def describe_cnn(run: dict) -> str:
    """A pn-cnn run's line."""
    return (
        f"seed {run['seed']} {run['variant']:<5} final test acc {_pct(run['final_test_acc'])}; "
        f"grad W1 RMS init {run['grad1_init']:.3e}" + ("  DIVERGED" if run["diverged"] else "")
    )


def cnn_after(o: Outcome) -> None:
    """The network, the protocol beside the paper's, the noise table."""
    settings, variants, levels = o.settings, o.settings["variants"], o.settings["noise_levels"]
    model, augment, mode = settings["model"], settings["augment"], "quick" if settings["quick"] else "full"
    print(o.extras[0]["describe"])
    for variant in variants:
        mine = [r for r in o.runs if r["variant"] == variant]
        o.summary[variant]["noise"] = {
            kind: {str(lv): mean_std(a for r in mine for a in r["noise"][kind][str(lv)])[0] for lv in levels}
            for kind in ("gaussian", "uniform")
        }
    paper_acc, recipe = paper_number(settings)
    o.summary.update({"paper_setting": recipe, "model": model, "augment": augment, "mode": mode})
    print(
        f"\nours: model {model}, {mode} mode, {settings['epochs']} epochs"
        + (", augmentation" if augment else "")
    )
    if paper_acc is None:
        print(f"(no paper number for model {model} on {settings['data']}{' with' if augment else ' without'} "
              "augmentation; the paper's:")  # fmt: skip
        for (_, name, _), (acc, paper_recipe) in PAPER.items():
            print(f"   {paper_recipe} on {name}: {acc} %")
        print(")")
    elif settings["epochs"] != PAPER_EPOCHS[model]:
        theirs, ours = PAPER_EPOCHS[model], settings["epochs"]
        print(f"(the paper trained {theirs} epochs, ours {ours}: not the same protocol)")
    rows = []
    for kind in ("gaussian", "uniform"):
        for level in levels:
            row = {"noise": kind, "level": f"{level:g}"}
            for variant in variants:
                accs = [a for r in o.runs if r["variant"] == variant for a in r["noise"][kind][str(level)]]
                row[variant] = format_mean_std(accs, scale=100, digits=2)
            rows.append(row)
    print(f"\nnoise test: mean test accuracy % over {settings['noise_draws']} draws per level and all seeds")
    print("(gaussian: + N(0, level²); uniform: + U(-level, level); on standardized inputs)")
    print(format_table(rows, [("noise", "noise"), ("level", "level")] + [(v, VARIANTS[v]) for v in variants]))


def cnn_accuracy_plot(o: Outcome) -> None:
    """Test accuracy (%) by epoch and against the noise level, mean over seeds."""
    plt = pyplot()
    if plt is None:
        return
    from matplotlib.ticker import MaxNLocator

    runs, settings = o.runs, o.settings
    fig, (ax_acc, ax_noise) = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained")
    for variant in settings["variants"]:
        mine = [r for r in runs if r["variant"] == variant]
        length = min(len(r["history"]["epoch"]) for r in mine)
        acc = 100 * np.array([r["history"]["test_acc"][:length] for r in mine], dtype=float).mean(axis=0)
        (line,) = ax_acc.plot(np.arange(1, length + 1), acc, "-o", ms=3, label=VARIANTS[variant])
        for kind, style in (("gaussian", "-"), ("uniform", "--")):
            levels = settings["noise_levels"]
            means = [100 * np.mean([a for r in mine for a in r["noise"][kind][str(lv)]]) for lv in levels]
            ax_noise.plot(
                levels, means, style, marker="o", color=line.get_color(), label=f"{VARIANTS[variant]}, {kind}"
            )
    seeds = f"mean of {settings['runs']} seeds" if settings["runs"] > 1 else "one seed"
    ax_acc.set(xlabel="epoch", ylabel="test accuracy (%)", title=f"test accuracy ({seeds})")
    draws = settings["noise_draws"]
    ax_noise.set(xlabel="noise level (standardized inputs)", ylabel="test accuracy (%)",
                 title=f"noise test (mean over {draws} draws, {seeds})")  # fmt: skip
    ax_acc.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_noise.set_xticks(settings["noise_levels"])
    ax_acc.legend()
    ax_noise.legend(fontsize="small")
    fig.suptitle(f"pn-cnn: model {settings['model']} on {settings['data']}")
    save_figure(fig, o.out / "pn_cnn_accuracy.png")


def cnn_delta_plot(o: Outcome) -> None:
    """RMS δ^l by depth at initialization and over training, mean over seeds."""
    variants = o.settings["variants"]
    panels = {
        when: {VARIANTS[v]: _mean_profile([r for r in o.runs if r["variant"] == v], key) for v in variants}
        for when, key in (("at initialization", "delta_init"), ("mean over training", "delta_train"))
    }
    title = f"pn-cnn model {o.settings['model']}: RMS of $\\delta^l$ by depth (l = 1: first conv)"
    _profiles_figure(panels, o.out / "pn_cnn_delta.png", title)


def cnn_contribution_plot(o: Outcome) -> None:
    """The contribution map (gradient × input) of the first test images, for the two-path
    model's first seed (else the first variant's)."""
    from ..inspect import ContributionMap, plot_contribution_maps

    if pyplot() is None:
        return
    chosen = "pn2" if "pn2" in o.settings["variants"] else o.settings["variants"][0]
    index = next(i for i, r in enumerate(o.runs) if r["variant"] == chosen)
    contribution, count = o.extras[index]["contribution"], CONTRIBUTION_IMAGES
    maps = ContributionMap(
        gradient=None,
        importance=np.asarray(contribution["importance"], dtype=float),  # None (JSON's NaN) → nan
        kept=None,
        gray=None,
        binary=np.asarray(contribution["binary"], dtype=bool),
    )
    data = o.data
    titles = [f"label {int(label)}" for label in data.y_test[:count]]
    fig = plot_contribution_maps(data.x_test[:count], maps, count=count, titles=titles)
    fig.set_layout_engine("constrained")
    import matplotlib.cm as cm

    bar = fig.colorbar(cm.ScalarMappable(cmap="gray"), ax=fig.axes[1::3], shrink=0.6)  # the map column
    bar.set_label(r"$m$: $|g \odot x|$ scaled to [0, 1] per image")
    fig.suptitle(
        f"{VARIANTS[chosen]}, seed {o.runs[index]['seed']}: contribution map\n"
        r"$g = \partial C / \partial x$; binarized: white where $m \geq 0.3$ (the paper's threshold)",
        fontsize="medium",
    )
    save_figure(fig, o.out / "pn_cnn_contribution.png")


def _paper_header(settings: dict) -> str | None:
    """The paper column's header, naming the paper's recipe; None (no column) without one."""
    recipe = paper_number(settings)[1]
    return None if recipe is None else f"paper % ({recipe})"


def hidden_widths(settings: dict) -> tuple[list[int], list[int]]:
    """The model's conv widths and hidden dense widths at the settings' ``width`` (read from
    the built network, on the data set's image size)."""
    from .. import models
    from ..layers import Conv2D, Dense

    build = {1: models.pn_model1, 2: models.pn_model2, 3: models.pn_model3}[settings["model"]]
    shape = (1, 8, 8) if settings["data"] == "digits" else (3, 32, 32)
    net = build(10, input_shape=shape, width=settings["width"])
    convs = [layer.out_channels for layer in net.layers if isinstance(layer, Conv2D)]
    dense = [layer.out_features for layer in net.layers if isinstance(layer, Dense)][:-1]
    return convs, dense


def schedule_line(settings: dict) -> str:
    """Which cosine ran, its period and final phase, each reading marked."""
    epochs, period = settings["epochs"], settings["cosine_period"]
    final = final_epochs(epochs)
    shape = (
        "rising over the first half of each period (the paper's warm-up), then falling"
        if settings["model"] == 3
        else "cosine from the peak down"
    )
    unit = "epoch" if period == 1 else "epochs"
    constant = settings["lr_schedule"] == "epoch" and period == 1 and settings["model"] != 3
    return (
        f"lr: cosine {LR_SCHEDULES[settings['lr_schedule']]} (--lr-schedule {settings['lr_schedule']}"
        + (", the paper's reading" if settings["lr_schedule"] == "step" else ", the earlier reading")
        + f"), {shape}; period {period:g} {unit} (a reading, --cosine-period: the paper gives none; its "
        f"'after 50 periods' in 90 epochs bounds it to <= 1.4 epochs)"
        + (" - set per epoch, a 1-epoch period is a constant peak" if constant else "")
        + (f"; the last {final} of {epochs} epochs at 1e-4 (the paper: 20 of 90)" if final else "")
    )


def cnn_intro(settings: dict) -> str:
    """pn-cnn's recipe under the header: the optimizer, the schedule, the peak rate and the
    widths, each reading marked."""
    model, padding = settings["model"], settings["padding"]
    convs, dense = hidden_widths(settings)
    return "\n".join(
        [
            f"model {model}, {plural(len(settings['variants']), 'variant')}; SGD batch {BATCH}, "
            f"{l2_line(settings)}, clip ±{settings['clip']:g}, LeCun normal"
            + (f"; augmentation: crops of {padding}-px-padded images + flips" if settings["augment"] else ""),
            schedule_line(settings),
            f"lr peak {settings['lr_max']:g}"
            + (
                " (a reading: the paper gives none; 0.1 was the best of 0.05 / 0.1 / 0.2 in a 15-epoch "
                "digits trial with the per-epoch schedule, chosen on the TEST split: no validation split)"
                if settings["lr_max"] == LR_MAX
                else " (--lr-max)"
            ),
            f"widths (a reading: the paper's layer tables are lost): w = {settings['width']}; convs "
            f"{' '.join(map(str, convs))}; hidden dense {' '.join(map(str, dense))}",
        ]
    )


def _paper_column(cell: dict, point: dict, settings: dict):
    return paper_number(settings)[0] if point["variant"] == "pn2" else None


PN_CNN = declare(
    Declaration(
        name="pn-cnn",
        description="PN paper recipe on its models 1-3 (tanh CNNs): plain vs single-path vs two-path PN, "
        "noise table",
        paper="Bu, Jiang, Lu, Zhang - Pseudo-Normalizing (Entropy 2026), §4",
        options=add_cnn_arguments, settings=cnn_settings, load=load_images, cell=cnn_cell,
        grid=seed_grid("variant", "variants"),
        split=lambda result: (result["run"], result),
        report=[
            Measure("final_test_acc", "final test acc", percent=True),
            Measure("best_test_acc", std=False),
            Measure("grad1_init", "∇W¹ init", std=False, fmt=".3e"),
            Column("paper", _paper_header, of=_paper_column, fmt=".2f"),
        ],
        names={"variant": VARIANTS},
        plots=[cnn_accuracy_plot, cnn_delta_plot, cnn_contribution_plot],
        describe=describe_cnn,
        intro=cnn_intro,
        after=cnn_after,
        protocol="model 1/2: 90 epochs on CIFAR-10, model 3: 160 on CIFAR-100, one run each",
        notes=[
            "accuracy at the final epoch (no selection on the test set); ∇W¹: RMS of ∂C/∂W¹ at init",
            "the paper's column: its two-path PN number for this model, data set and augmentation, if any",
        ],
        paper_numbers=[
            {"model": m, "data": name, "augment": aug, "test_acc": acc, "recipe": recipe}
            for (m, name, aug), (acc, recipe) in PAPER.items()
        ],
    )
)  # fmt: skip
run_cnn = PN_CNN.run
