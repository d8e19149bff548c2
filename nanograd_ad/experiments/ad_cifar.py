"""ad-cifar: the AD paper's CIFAR-100 arms (Hu, Zhang & Ge 2021, §III.C, Table 5, Figs. 7–9).

Three comparisons, each a pair of arms differing only in the derivative backward
multiplies by (same seed → same initial weights, same batch order):

    AlexNet, ReLU vs AD ReLU            (Fig. 7)   models.alexnet, 2,495,396 parameters
    AlexNet, sigmoid vs AD sigmoid      (Fig. 8)   models.alexnet with sigmoids
    extended AlexNet, ReLU vs AD ReLU   (Fig. 9)   models.extended_alexnet, 7,488,292

Table 5's settings: 300 epochs, mini-batch 200, cross-entropy; ReLUs: He initialization
and SGD; sigmoids: Xavier initialization and Adam; 5 independent trainings per arm
(the paper's curves are their average). **Readings: Table 5 gives no learning rates —
SGD 0.01 (plain, no momentum) and Adam 1e-3 (its usual default), ``--sgd-lr`` /
``--adam-lr``; biases start at zero; inputs standardized per channel with training
statistics.** The paper mentions no augmentation; ``--augment`` adds the PN paper's
random crops of 4-pixel-padded images and flips (:mod:`nanograd_ad.augment`).

The paper gives these results as curves only, so there is no paper number to print;
its statements are printed beside the pair they describe (AlexNet: AD gives "few
promotions"; extended AlexNet: "original ReLU failed all the trainings", AD ReLU
trains). The full protocol (6 arms × 5 runs × 300 epochs of CIFAR-100) is GPU work:
run it with ``--backend cupy`` on your own CIFAR copy. ``--quick``: 2 epochs, one seed,
the first 200 training and 100 test images.

Sweep units (``--workers`` / ``--scheduler``, :mod:`nanograd_ad.sweep`): one training per
seed × arm (:func:`train_unit`, in that order), each loading the data itself. A unit's
``wall_s`` is its own training time, wherever it ran. Every unit sets its BLAS thread
count (``--blas-threads``, default 1): the count changes how float32 sums are split, hence
their last bits, so a fixed count is what makes the in-process run and any number of
workers give identical numbers.
"""

from __future__ import annotations

import time
from typing import TypedDict

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

NAME = "ad-cifar"
# arm → (model, activation, recipe)
ARMS = {
    "alexnet-relu": ("alexnet", "relu", "relu"),
    "alexnet-ad-relu": ("alexnet", "ad-relu", "relu"),
    "alexnet-sigmoid": ("alexnet", "sigmoid", "sigmoid"),
    "alexnet-ad-sigmoid": ("alexnet", "ad-sigmoid", "sigmoid"),
    "extended-relu": ("extended_alexnet", "relu", "relu"),
    "extended-ad-relu": ("extended_alexnet", "ad-relu", "relu"),
}
LABELS = {
    "alexnet-relu": "AlexNet, ReLU",
    "alexnet-ad-relu": "AlexNet, AD ReLU",
    "alexnet-sigmoid": "AlexNet, sigmoid",
    "alexnet-ad-sigmoid": "AlexNet, AD sigmoid",
    "extended-relu": "extended AlexNet, ReLU",
    "extended-ad-relu": "extended AlexNet, AD ReLU",
}


class Recipe(TypedDict):
    """One activation's training recipe (Hu, Zhang & Ge 2021, Table 5)."""

    optimizer: str
    init: str
    batch: int
    epochs: int


# Table 5 (Hu, Zhang & Ge 2021); the learning rates are readings (see the module docstring).
RECIPES: dict[str, Recipe] = {
    "relu": {"optimizer": "sgd", "init": "he_normal", "batch": 200, "epochs": 300},
    "sigmoid": {"optimizer": "adam", "init": "xavier_normal", "batch": 200, "epochs": 300},
}
PAIRS = {
    "Fig. 7": ("alexnet-relu", "alexnet-ad-relu"),
    "Fig. 8": ("alexnet-sigmoid", "alexnet-ad-sigmoid"),
    "Fig. 9": ("extended-relu", "extended-ad-relu"),
}
PAPER_SAYS = {
    "Fig. 7": "AD ReLU gives 'few promotions' over ReLU on AlexNet (curves only)",
    "Fig. 8": "AD sigmoid vs sigmoid on AlexNet (curves only; ReLU beats sigmoid on AlexNet)",
    "Fig. 9": "'original ReLU failed all the trainings', AD ReLU 'is still able to train' (curves only)",
}
QUICK_TRAIN, QUICK_TEST = 200, 100


def add_arguments(parser) -> None:
    """Options of ad-cifar."""
    from ..argtypes import positive_float, positive_int

    group = parser.add_argument_group("ad-cifar options")
    group.add_argument("--arms", nargs="+", choices=list(ARMS), default=None, help="default: all six")
    group.add_argument(
        "--sgd-lr", type=positive_float, default=0.01, help="ReLU arms' SGD rate (default 0.01; a reading)"
    )
    group.add_argument(
        "--adam-lr",
        type=positive_float,
        default=1e-3,
        help="sigmoid arms' Adam rate (default 1e-3; a reading)",
    )
    group.add_argument(
        "--batch-size", type=positive_int, default=200, help="mini-batch (default 200, Table 5)"
    )
    group.add_argument(
        "--augment",
        action="store_true",
        help="random crops of padded images + horizontal flips (not in the AD paper)",
    )
    group.add_argument(
        "--padding", type=int, default=4, help="--augment: pixels of zero padding (default 4; a reading)"
    )
    group.add_argument(
        "--train-limit",
        type=positive_int,
        default=None,
        help="use the first N training images (default all; --quick 200)",
    )
    group.add_argument(
        "--test-limit",
        type=positive_int,
        default=None,
        help="use the first N test images (default all; --quick 100)",
    )
    group.add_argument(
        "--blas-threads",
        type=positive_int,
        default=1,
        help="BLAS threads per training (default 1, as on Dask workers: the count moves the last bits of "
        "float32 sums, so a fixed one keeps in-process and --workers results identical; more speed up "
        "CPU runs of the big convolutions)",
    )


def build(arm: str, num_classes: int, input_shape: tuple):
    """The network of an arm, with its recipe's initialization."""
    from .. import models

    model, activation, recipe = ARMS[arm]
    return getattr(models, model)(
        num_classes,
        activation=activation,
        input_shape=input_shape,
        weight_init=RECIPES[recipe]["init"],
    )


def load_data(config: ExperimentConfig):
    """CIFAR-100 (or CIFAR-10), standardized per channel, cut to the limits."""
    import dataclasses

    from ..datasets import load, standardize

    name = config.setting("data", "cifar100")
    if name not in ("cifar100", "cifar10"):
        raise ValueError(f"{NAME}: --data must be cifar100 (the paper's) or cifar10, got {name!r}")
    data = load(name, config.data_dir)
    train_limit = config.choose("train_limit", QUICK_TRAIN, None)
    test_limit = config.choose("test_limit", QUICK_TEST, None)
    x_train, y_train = data.x_train[:train_limit], data.y_train[:train_limit]
    x_test, y_test = data.x_test[:test_limit], data.y_test[:test_limit]
    x_train, x_test, _, _ = standardize(x_train, x_test)
    return dataclasses.replace(data, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


def train_arm(arm: str, seed: int, data, config: ExperimentConfig, epochs: int) -> dict:
    """One training of one arm; its history and numbers."""
    from ..augment import Augment
    from ..losses import SoftmaxCrossEntropy
    from ..train import Trainer, make_optimizer

    extra = config.extra
    recipe = RECIPES[ARMS[arm][2]]
    lr = extra.get("sgd_lr", 0.01) if recipe["optimizer"] == "sgd" else extra.get("adam_lr", 1e-3)
    rng = seeded(seed)
    net = build(arm, data.num_classes, tuple(data.x_train.shape[1:]))
    callbacks = [Augment(extra.get("padding", 4), seed=seed + 20_000)] if extra.get("augment") else []
    trainer = Trainer(
        net,
        SoftmaxCrossEntropy(),
        make_optimizer(recipe["optimizer"], net.parameters(), lr=lr),
        (data.x_train, data.y_train),
        (data.x_test, data.y_test),
        batch_size=extra.get("batch_size", 200),
        callbacks=callbacks,
        progress=config.progress,
        rng=rng,
        on_nonfinite="stop",
    )
    started = time.perf_counter()
    history = trainer.fit(epochs)
    best, best_epoch = history.best("test_acc")
    return {
        "arm": arm,
        "seed": seed,
        "lr": lr,
        "optimizer": recipe["optimizer"],
        "parameters": net.num_parameters(),
        "final_test_acc": history.test_acc[-1] if len(history) else None,
        "best_test_acc": best,
        "best_epoch": best_epoch,  # an index of history["epoch"] (0-based); printed and drawn from 1
        "final_test_loss": history.test_loss[-1] if len(history) else None,
        "diverged": bool(history.events_of("diverged")),
        "wall_s": time.perf_counter() - started,
        "history": history.to_dict(),
    }


def train_unit(config: dict, arm: str, seed: int, epochs: int, progress: bool = True) -> dict:
    """One unit of the sweep (one arm, one seed), from its settings alone."""
    settings = ExperimentConfig.from_unit_params(config, progress=progress)
    with blas_threads(settings.extra.get("blas_threads", 1)):
        return train_arm(arm, seed, load_data(settings), settings, epochs)


@register(
    NAME,
    "AlexNet / extended AlexNet on CIFAR-100: ReLU vs AD ReLU, sigmoid vs AD sigmoid (Table 5 settings)",
    paper="Hu, Zhang & Ge 2021 - artificial derivative, §III.C, Figs. 7-9",
    add_arguments=add_arguments,
)
def run(config: ExperimentConfig) -> dict:
    """Every arm × seed; a table per pair with the paper's statement beside it, curves, results.json."""
    started = time.perf_counter()
    runs_count = config.choose("runs", 1, 5)
    epochs = config.choose("epochs", 2, 300)
    arms = list(config.extra.get("arms") or ARMS)
    data = load_data(config)
    extra = config.extra
    mode = "quick" if config.quick else "full"
    print(
        f"{NAME}: {data.description}; using {len(data.x_train)} train / {len(data.x_test)} test, standardized"
    )
    print(
        f"{len(arms)} arms x {runs_count} seeds x {epochs} epochs ({mode}; the paper: 5 x 300), batch "
        f"{extra.get('batch_size', 200)}; ReLU arms He + SGD lr {extra.get('sgd_lr', 0.01):g}, sigmoid arms "
        f"Xavier + Adam lr {extra.get('adam_lr', 1e-3):g} (rates: readings)"
        + (
            f"; augmentation: crops of {extra.get('padding', 4)}-px-padded images + flips"
            if extra.get("augment")
            else ""
        )
    )
    from ..sweep import Unit

    settings = {"config": config.unit_params(), "epochs": epochs}
    units = [
        Unit(
            f"seed{config.seed + i}-{arm}",
            train_unit,
            {**settings, "arm": arm, "seed": config.seed + i},
            {"progress": config.progress},
        )
        for i in range(runs_count)
        for arm in arms
    ]
    runs = run_units(config, units, NAME)
    for r in runs:
        print(
            f"  seed {r['seed']} {LABELS[r['arm']]:<27} test acc final {_pct(r['final_test_acc'])} best "
            f"{_pct(r['best_test_acc'])} (epoch {_epoch(r['best_epoch'])} of {epochs}), "
            f"{r['wall_s']:.1f} s" + ("  DIVERGED" if r["diverged"] else "")
        )

    summary, rows = {"mode": mode, "epochs": epochs, "runs": runs_count}, []
    for figure, pair in PAIRS.items():
        for arm in pair:
            mine = [r for r in runs if r["arm"] == arm]
            if not mine:
                continue
            summary[arm] = {
                "final_test_acc_mean": mean_std(r["final_test_acc"] for r in mine)[0],
                "final_test_acc_std": mean_std(r["final_test_acc"] for r in mine)[1],
                "best_test_acc_mean": mean_std(r["best_test_acc"] for r in mine)[0],
                "diverged": sum(r["diverged"] for r in mine),
                "parameters": mine[0]["parameters"],
                "runs": len(mine),
            }
            rows.append(
                {
                    "figure": figure,
                    "arm": LABELS[arm],
                    "params": f"{mine[0]['parameters']:,}",
                    "final": format_mean_std([r["final_test_acc"] for r in mine], scale=100, digits=2),
                    "best": format_mean_std([r["best_test_acc"] for r in mine], scale=100, digits=2),
                }
            )
    print(f"\nours: {mode} mode, {runs_count} seed(s) x {epochs} epochs; the paper: 5 trainings x 300 epochs")
    print(
        format_table(
            rows,
            [
                ("figure", "paper fig."),
                ("arm", "arm"),
                ("params", "parameters"),
                ("final", "final test acc %"),
                ("best", "best test acc %"),
            ],
        )
    )
    print("the paper (curves only, no numbers to set beside ours):")
    for figure in PAIRS:
        print(f"  {figure}: {PAPER_SAYS[figure]}")
    plot_curves(runs, arms, config.out / "ad_cifar_accuracy.png", mode, epochs)
    return write_results(config, NAME, runs, summary, started=started, paper=PAPER_SAYS)


def _pct(value) -> str:
    return "—" if value is None else f"{100 * value:.2f}%"


def _epoch(index) -> str:
    """A history index as the epoch a reader counts (1 = after the first epoch)."""
    return "—" if index is None else str(index + 1)


def plot_curves(runs: list[dict], arms: list[str], path, mode: str, epochs: int) -> None:
    """One panel per pair: mean test accuracy % by epoch (epochs counted from 1)."""
    plt = pyplot()
    if plt is None:
        return
    pairs = {figure: [a for a in pair if a in arms] for figure, pair in PAIRS.items()}
    pairs = {figure: pair for figure, pair in pairs.items() if pair}
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, len(pairs), figsize=(4.5 * len(pairs), 3.8), squeeze=False)
    for ax, (figure, pair) in zip(axes[0], pairs.items()):
        for arm in pair:
            mine = [r for r in runs if r["arm"] == arm]
            length = min(len(r["history"]["test_acc"]) for r in mine)
            if length == 0:
                continue
            acc = 100 * np.array([r["history"]["test_acc"][:length] for r in mine], dtype=float).mean(axis=0)
            ax.plot(np.arange(1, length + 1), acc, marker="o" if length < 10 else None, label=LABELS[arm])
        ax.set(xlabel="epoch", ylabel="test accuracy %", title=f"as the paper's {figure}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize="small")
    fig.suptitle(f"{NAME}: mean over seeds ({mode} mode, {epochs} epochs; the paper: 300)")
    fig.tight_layout()
    save_figure(fig, path)
