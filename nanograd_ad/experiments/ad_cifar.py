"""ad-cifar: the AD paper's CIFAR-100 arms (Hu, Zhang & Ge 2021, §III.C, Table 5, Figs. 7–9).

Three comparisons, each a pair of arms differing only in the derivative backward
multiplies by (same seed → same initial weights, same batch order):

    AlexNet, ReLU vs AD ReLU            (Fig. 7)   models.alexnet, 2,495,396 parameters
    AlexNet, sigmoid vs AD sigmoid      (Fig. 8)   models.alexnet with sigmoids
    extended AlexNet, ReLU vs AD ReLU   (Fig. 9)   models.extended_alexnet, 7,488,292

Table 5's settings: 300 epochs, mini-batch 200, cross-entropy; ReLUs: He initialization
and SGD; sigmoids: Xavier initialization and Adam; 5 independent trainings per arm
(the paper's curves are their average). The AD ReLU's derivative is sigmoid(k·z) with
k = 3.5, the slope the paper's experiments state (eq. 8 writes k = 1; ``--k``; the header
says which k ran). **Readings: Table 5 gives no learning rates —
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
seed × arm (:func:`train_arm`, in that order), each process loading the data once. A unit's
``wall_s`` is its own training time, wherever it ran. Every unit sets its BLAS thread
count (``--blas-threads``, default 1): the count changes how float32 sums are split, hence
their last bits, so a fixed count is what makes the in-process run and any number of
workers give identical numbers.
"""

from __future__ import annotations

import time
from typing import TypedDict

import numpy as np

from . import common
from .common import ExperimentConfig, blas_threads, plot_distinct, pyplot, save_figure, seeded
from .runner import Column, Declaration, Measure, Outcome, declare, plural, seed_grid

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
K = 3.5  # the AD ReLU's slope in the paper's experiments (Hu, Zhang & Ge 2021, §III; eq. 8 has k = 1)


def add_arguments(parser) -> None:
    """Options of ad-cifar."""
    from ..argtypes import positive_float, positive_int

    group = parser.add_argument_group("ad-cifar options")
    group.add_argument("--arms", nargs="+", choices=list(ARMS), default=None, help="default: all six")
    group.add_argument(
        "--k",
        type=positive_float,
        default=K,
        help="slope of the AD ReLU's derivative sigmoid(k·z) (default 3.5, the paper's experimental "
        "slope; its eq. 8 writes k = 1)",
    )
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


def build(arm: str, num_classes: int, input_shape: tuple, k: float = K):
    """The network of an arm, with its recipe's initialization; an AD ReLU arm's derivative
    is sigmoid(k·z)."""
    from functools import partial

    from .. import models
    from ..activations import ReLU

    model, name, recipe = ARMS[arm]
    activation = partial(ReLU, derivative="ad", k=k) if name == "ad-relu" else name
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


def train_arm(settings: dict, data, seed: int, arm: str) -> dict:
    """One training of one arm (one unit): its history and numbers."""
    from ..augment import Augment
    from ..train import make_optimizer

    recipe = RECIPES[ARMS[arm][2]]
    lr = settings["sgd_lr"] if recipe["optimizer"] == "sgd" else settings["adam_lr"]
    with blas_threads(settings["blas_threads"]):
        rng = seeded(seed)
        net = build(arm, data.num_classes, tuple(data.x_train.shape[1:]), settings["k"])
        augment = [Augment(settings["padding"], seed=seed + 20_000)] if settings["augment"] else []
        trainer = common.classifier_trainer(
            net,
            make_optimizer(recipe["optimizer"], net.parameters(), lr=lr),
            data,
            batch_size=settings["batch_size"],
            callbacks=augment,
            progress=settings["progress"],
            rng=rng,
            on_nonfinite="stop",
        )
        started = time.perf_counter()
        history = trainer.fit(settings["epochs"])
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


def settings(config: ExperimentConfig) -> dict:
    """Every setting ad-cifar uses, as given or chosen (quick: 1 seed × 2 epochs, 200 / 100 images)."""
    return {
        **common.base_settings(config, runs=(1, 5), epochs=(2, 300), data="cifar100"),
        "arms": list(config.setting("arms", list(ARMS))),
        "train_limit": config.choose("train_limit", QUICK_TRAIN, None),  # None: every image
        "test_limit": config.choose("test_limit", QUICK_TEST, None),
        **{name: config.setting(name, default) for name, default in DEFAULTS.items()},
    }


#: ad-cifar's options with a fixed default (their CLI defaults).
DEFAULTS = {
    "k": K,
    "sgd_lr": 0.01,
    "adam_lr": 1e-3,
    "batch_size": 200,
    "augment": False,
    "padding": 4,
    "blas_threads": 1,
}


def load_settings(s: dict):
    """The settings' CIFAR data (see `load_data`)."""
    limits = {"train_limit": s["train_limit"], "test_limit": s["test_limit"]}
    return load_data(ExperimentConfig(quick=s["quick"], data=s["data"], data_dir=s["data_dir"], extra=limits))


def intro(s: dict) -> str:
    """The recipe line under the header."""
    augment = f"; augmentation: crops of {s['padding']}-px-padded images + flips" if s["augment"] else ""
    return (
        f"batch {s['batch_size']}; ReLU arms He + SGD lr {s['sgd_lr']:g}, sigmoid arms Xavier + Adam lr "
        f"{s['adam_lr']:g} (rates: readings){augment}\n"
        f"AD ReLU: d = sigmoid(k·z) with k = {s['k']:g} (--k; the paper's experiments: 3.5, its eq. 8: 1); "
        "AD sigmoid: d = min(y, 1 - y) (eq. 11)"
    )


def describe(run: dict) -> str:
    """A run's line."""
    return (
        f"seed {run['seed']} {LABELS[run['arm']]:<27} final test acc {_pct(run['final_test_acc'])}, "
        f"{run['wall_s']:.1f} s" + ("  DIVERGED" if run["diverged"] else "")
    )


def after(o: Outcome) -> None:
    """The protocol beside the paper's and what the paper says of each pair (it has no numbers)."""
    s = o.settings
    o.summary.update({"mode": "quick" if s["quick"] else "full", "epochs": s["epochs"], "runs": s["runs"]})
    ours = f"{plural(s['runs'], 'seed')} × {plural(s['epochs'], 'epoch')}"
    print(f"\nours: {ours}; the paper: 5 trainings × 300 epochs")
    print("the paper (curves only, no numbers to set beside ours):")
    for figure in PAIRS:
        print(f"  {figure}: {PAPER_SAYS[figure]}")


def plot_curves(o: Outcome) -> None:
    """One panel per pair: mean test accuracy % by epoch (epochs counted from 1)."""
    plt = pyplot()
    if plt is None:
        return
    from matplotlib.ticker import MaxNLocator

    arms, runs = o.settings["arms"], o.runs
    pairs = {figure: [a for a in pair if a in arms] for figure, pair in PAIRS.items()}
    pairs = {figure: pair for figure, pair in pairs.items() if pair}
    fig, axes = plt.subplots(
        1, len(pairs), figsize=(4.5 * len(pairs), 4), squeeze=False, layout="constrained"
    )
    for ax, (figure, pair) in zip(axes[0], pairs.items()):
        mine = [r for r in runs if r["arm"] in pair]
        length = min(len(r["history"]["test_acc"]) for r in mine)  # a diverged run stops early
        if length:
            curves = {
                LABELS[arm]: 100
                * np.mean([r["history"]["test_acc"][:length] for r in mine if r["arm"] == arm], axis=0)
                for arm in pair
            }
            plot_distinct(ax, np.arange(1, length + 1), curves)  # coinciding arms stay visible
        ax.set(xlabel="epoch", ylabel="test accuracy (%)", title=f"as the paper's {figure}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize="small")
    seeds = f"mean of {o.settings['runs']} seeds" if o.settings["runs"] > 1 else "one seed"
    fig.suptitle(f"{NAME} on {o.settings['data']}: {seeds}, {o.settings['epochs']} epochs (the paper: 300)")
    save_figure(fig, o.out / "ad_cifar_accuracy.png")


def _pct(value) -> str:
    return "—" if value is None else f"{100 * value:.2f} %"


AD_CIFAR = declare(
    Declaration(
        name=NAME,
        description="AlexNet / extended AlexNet on CIFAR-100: ReLU vs AD ReLU, sigmoid vs AD sigmoid "
        "(Table 5 settings)",
        paper="Hu, Zhang & Ge 2021 - artificial derivative, §III.C, Figs. 7-9",
        options=add_arguments,
        settings=settings,
        grid=seed_grid("arm", "arms"),
        load=load_settings,
        cell=train_arm,
        report=[
            Column(
                "figure",
                "paper fig.",
                of=lambda _, p, __: next(f for f, pair in PAIRS.items() if p["arm"] in pair),
            ),
            Measure("parameters", "parameters", std=False, suffix="", reduce=lambda v: v[0], fmt=","),
            Measure("final_test_acc", "final test acc", percent=True),
            Measure("best_test_acc", std=False),
            Measure("diverged", std=False, suffix="", reduce=sum),
        ],
        names={"arm": LABELS},
        intro=intro,
        describe=describe,
        after=after,
        plots=[plot_curves],
        protocol="5 trainings × 300 epochs on all of CIFAR-100",
        notes=["accuracy at the final epoch (no selection on the test set)"],
        paper_numbers=PAPER_SAYS,
    )
)
run = AD_CIFAR.run
