"""digits-ad: a small CNN on the 8×8 digits with the true ReLU derivative, the AD ReLU
(d = sigmoid(3.5·z), AD paper eq. 8), AD with the switching rule, and Leaky ReLU.

The network (for digits; CIFAR takes 3 channels and a larger Dense input):

    Conv2D(1, 8, 3, padding=1) → act → MaxPool2D(2)        (8, 8, 8) → (8, 4, 4)
    Conv2D(8, 16, 3, padding=1) → act → MaxPool2D(2)       (16, 4, 4) → (16, 2, 2)
    Flatten → Dense(64, 10)                                 softmax + cross-entropy

For one seed every variant starts from the same weights and sees the same batches, so
the variants differ only in the derivative backward multiplies by. The AD paper has
no digits experiment, so there are no paper numbers to compare with; the point is the
end-to-end path: derivative swap → training → table → results.json → plot.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from . import common
from .common import ExperimentConfig, blas_threads, plot_distinct, pyplot, save_figure, seeded
from .runner import (
    Declaration,
    Measure,
    Outcome,
    ad_options,
    add_options,
    blas_threads_option,
    declare,
    seed_grid,
    subset_option,
)

NAME = "digits-ad"
VARIANTS = {
    "relu": "ReLU, true derivative",
    "ad-relu": r"ReLU, AD derivative $\sigma(kz)$",
    "ad-relu-switch": "AD ReLU + switching rule",
    "leaky-relu": r"Leaky ReLU ($\alpha = 0.01$)",
}


def add_arguments(parser) -> None:
    """Options of digits-ad."""
    from ..argtypes import positive_float, positive_int

    add_options(
        parser.add_argument_group("digits-ad options"),
        {
            "--variants": subset_option(VARIANTS, "which activations to compare (default: all)"),
            "--optimizer": dict(choices=["adam", "sgd"], default="adam", help="default adam"),
            "--lr": dict(type=positive_float, help="learning rate (default: 3e-3 Adam, 0.05 SGD)"),
            "--batch-size": dict(type=positive_int, default=32, help="default 32"),
            **ad_options(),
            **blas_threads_option(),
        },
    )


def make_activation(variant: str, k: float = 3.5):
    """The activation layer of a variant."""
    from ..fast.activations import LeakyReLU, ReLU

    if variant == "relu":
        return ReLU()
    if variant in ("ad-relu", "ad-relu-switch"):
        return ReLU(derivative="ad", k=k)
    if variant == "leaky-relu":
        return LeakyReLU(0.01)
    raise ValueError(f"unknown variant {variant!r}; known: {list(VARIANTS)}")


def build_net(variant: str, input_shape: tuple, num_classes: int, k: float = 3.5):
    """The CNN for per-sample inputs (C, H, W); the Dense input is read from the shapes."""
    from ..fast.layers import Conv2D, Dense, Flatten, MaxPool2D
    from ..network import Sequential

    channels = input_shape[0]
    features = [
        Conv2D(channels, 8, 3, padding=1),
        make_activation(variant, k),
        MaxPool2D(2),
        Conv2D(8, 16, 3, padding=1),
        make_activation(variant, k),
        MaxPool2D(2),
        Flatten(),
    ]
    flat = Sequential(*features).build(tuple(input_shape))
    net = Sequential(*features, Dense(flat[0], num_classes))
    net.build(tuple(input_shape))
    return net


def _as_images(x: np.ndarray) -> np.ndarray:
    """(N, 64) digits → (N, 1, 8, 8); images pass through."""
    if x.ndim == 2:
        side = round(math.sqrt(x.shape[1]))
        if side * side == x.shape[1]:
            return x.reshape(len(x), 1, side, side)
        raise ValueError(f"{NAME} needs image inputs (N, C, H, W), got {x.shape}")
    return x


def settings(config: ExperimentConfig) -> dict:
    """Every setting digits-ad uses, as given or chosen (quick: 2 seeds × 15 epochs)."""
    optimizer = config.setting("optimizer", "adam")
    return {
        **common.base_settings(config, runs=(2, 5), epochs=(15, 30), data="digits"),
        "variants": list(config.setting("variants", list(VARIANTS))),
        "optimizer": optimizer,
        "lr": config.setting("lr", 3e-3 if optimizer == "adam" else 0.05),
        **{name: config.setting(name, default) for name, default in DEFAULTS.items()},
    }


#: digits-ad's options with a fixed default (their CLI defaults).
DEFAULTS = {"batch_size": 32, "k": 3.5, "switch_a": 1.035, "blas_threads": 1}


def train_cell(settings: dict, data, seed: int, variant: str) -> dict:
    """One run: build the net from ``seed``, train it, return its numbers and history.

    ``best_epoch`` is 0-based (History's index); what is printed adds 1."""
    from ..train import SwitchingRule, make_optimizer

    with blas_threads(settings["blas_threads"]):  # tiny matrices: one BLAS thread is faster
        rng = seeded(seed)
        net = build_net(variant, data.x_train.shape[1:], data.num_classes, settings["k"])
        sgd = settings["optimizer"] == "sgd"
        optimizer = make_optimizer(
            settings["optimizer"], net.parameters(), lr=settings["lr"], momentum=0.9 if sgd else None
        )
        switching = SwitchingRule(net, A=settings["switch_a"]) if variant == "ad-relu-switch" else None
        trainer = common.classifier_trainer(
            net,
            optimizer,
            data,
            batch_size=settings["batch_size"],
            callbacks=[] if switching is None else [switching],
            progress=settings["progress"],
            rng=rng,
        )
        history = trainer.fit(settings["epochs"])
    best_acc, best_epoch = history.best("test_acc", "max")
    return {
        "variant": variant,
        "seed": seed,
        "best_test_acc": best_acc,
        "best_epoch": best_epoch,
        "final_test_acc": history.test_acc[-1],
        "final_test_loss": history.test_loss[-1],
        "final_train_loss": history.train_loss[-1],
        "switches": [] if switching is None else [list(s) for s in switching.switches],
        "history": history.to_dict(),
    }


def load_images(settings: dict):
    """The dataset the settings name (digits by default), inputs as (N, C, H, W) images."""
    from ..datasets import load

    data = load(settings["data"], settings["data_dir"])
    if data.num_classes is None:
        raise ValueError(f"{NAME} needs a classification dataset, got {data.name!r}")
    return dataclasses.replace(data, x_train=_as_images(data.x_train), x_test=_as_images(data.x_test))


def describe(run: dict) -> str:
    """A run's line: its final-epoch numbers (and the switching epochs, 1-based)."""
    line = (
        f"seed {run['seed']} {run['variant']:<15} final test acc {100 * run['final_test_acc']:.2f} %, "
        f"final test loss {run['final_test_loss']:.4f}"
    )
    if run["variant"] == "ad-relu-switch":
        line += f", switches {len(run['switches'])}"
    return line


def plot_curves(o: Outcome) -> None:
    """Test accuracy (%) and test loss per epoch (1-based), mean over seeds (band: ± std)."""
    runs, settings, out = o.runs, o.settings, o.out
    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), layout="constrained")
    for ax, key, scale in ((axes[0], "test_acc", 100), (axes[1], "test_loss", 1)):
        means = {}
        for variant in settings["variants"]:
            histories = [r["history"] for r in runs if r["variant"] == variant]
            length = min(len(h["epoch"]) for h in histories)
            values = scale * np.array([h[key][:length] for h in histories], dtype=float)
            means[VARIANTS[variant]] = values.mean(axis=0)
            epochs = np.arange(1, length + 1)
            ax.fill_between(
                epochs,
                means[VARIANTS[variant]] - values.std(axis=0),
                means[VARIANTS[variant]] + values.std(axis=0),
                alpha=0.15,
            )
        plot_distinct(ax, np.arange(1, len(next(iter(means.values()))) + 1), means)
    seeds = f"mean of {settings['runs']} seeds ± std" if settings["runs"] > 1 else "one seed"
    axes[0].set(xlabel="epoch", ylabel="test accuracy (%)", title=f"test accuracy ({seeds})")
    axes[1].set(
        xlabel="epoch", ylabel="test loss (cross-entropy)", title=f"test loss ({seeds})", yscale="log"
    )
    axes[0].legend(loc="lower right", fontsize="small")
    fig.suptitle(
        f"{settings['data']}: small CNN, k = {settings['k']:g}, switching A = {settings['switch_a']:g}"
    )
    save_figure(fig, out / "digits_ad_curves.png")


DIGITS_AD = declare(
    Declaration(
        name=NAME,
        description="small CNN on 8x8 digits: true ReLU derivative vs AD ReLU (k=3.5, "
        "with/without switching) vs Leaky ReLU",
        paper="Hu, Zhang, Ge - Artificial Derivative (IEEE Access 2021), method only",
        options=add_arguments,
        settings=settings,
        grid=seed_grid("variant", "variants"),  # for one seed every variant starts alike
        load=load_images,
        cell=train_cell,
        report=[
            Measure("final_test_acc", "final test acc", percent=True),
            Measure("final_test_loss", "final test loss"),
            Measure("best_test_acc"),
            Measure("best_epoch", std=False),
            Measure("switches", of=lambda run: len(run["switches"]), std=False),
        ],
        plots=[plot_curves],
        describe=describe,
        protocol="the AD paper has no digits experiment; full run: 5 seeds × 30 epochs",
        notes=[
            "accuracy and loss at the final epoch (no selection on the test set)",
            "(the AD paper has no digits experiment: no paper numbers)",
        ],
    )
)
