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

NAME = "digits-ad"
VARIANTS = {
    "relu": "ReLU, true derivative",
    "ad-relu": "ReLU, AD derivative sigmoid(k·z)",
    "ad-relu-switch": "AD ReLU + switching rule (A = 1.035)",
    "leaky-relu": "Leaky ReLU (α = 0.01)",
}


def add_arguments(parser) -> None:
    """Options of digits-ad."""
    from ..cli import positive_float, positive_int

    group = parser.add_argument_group("digits-ad options")
    group.add_argument(
        "--variants",
        nargs="+",
        choices=list(VARIANTS),
        default=list(VARIANTS),
        help="which activations to compare (default: all)",
    )
    group.add_argument("--optimizer", choices=["adam", "sgd"], default="adam", help="default adam")
    group.add_argument(
        "--lr", type=positive_float, default=None, help="learning rate (default: 3e-3 Adam, 0.05 SGD)"
    )
    group.add_argument("--batch-size", type=positive_int, default=32, help="default 32")
    group.add_argument(
        "--k", type=positive_float, default=3.5, help="AD steepness k in sigmoid(k·z) (default 3.5)"
    )
    group.add_argument(
        "--switch-a", type=positive_float, default=1.035, help="switching threshold A (default 1.035)"
    )
    group.add_argument(
        "--blas-threads",
        type=positive_int,
        default=1,
        help="BLAS threads for NumPy (default 1: the matrices are tiny)",
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


def train_one(variant: str, seed: int, data, config: ExperimentConfig, epochs: int) -> dict:
    """One run: build the net from ``seed``, train it, return its numbers and history."""
    from ..losses import SoftmaxCrossEntropy
    from ..train import SwitchingRule, Trainer, make_optimizer

    extra = config.extra
    rng = seeded(seed)
    net = build_net(variant, data.x_train.shape[1:], data.num_classes, extra.get("k", 3.5))
    optimizer_name = extra.get("optimizer", "adam")
    lr = config.setting("lr", 3e-3 if optimizer_name == "adam" else 0.05)
    optimizer = make_optimizer(
        optimizer_name, net.parameters(), lr=lr, momentum=0.9 if optimizer_name == "sgd" else None
    )
    callbacks = []
    switching = None
    if variant == "ad-relu-switch":
        switching = SwitchingRule(net, A=extra.get("switch_a", 1.035))
        callbacks.append(switching)
    trainer = Trainer(
        net,
        SoftmaxCrossEntropy(),
        optimizer,
        (data.x_train, data.y_train),
        (data.x_test, data.y_test),
        batch_size=extra.get("batch_size", 32),
        callbacks=callbacks,
        progress=config.progress,
        rng=rng,
    )
    history = trainer.fit(epochs)
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


def load_images(config: ExperimentConfig):
    """The dataset the config names (digits by default), inputs as (N, C, H, W) images."""
    from ..datasets import load

    data = load(config.setting("data", "digits"), config.data_dir)
    if data.num_classes is None:
        raise ValueError(f"{NAME} needs a classification dataset, got {data.name!r}")
    return dataclasses.replace(data, x_train=_as_images(data.x_train), x_test=_as_images(data.x_test))


def train_unit(config: dict, variant: str, seed: int, epochs: int, progress: bool = True) -> dict:
    """One unit of the sweep (one variant, one seed), from its settings alone."""
    settings = ExperimentConfig.from_unit_params(config, progress=progress)
    with blas_threads(settings.extra.get("blas_threads", 1)):
        return train_one(variant, seed, load_images(settings), settings, epochs)


def plot_curves(runs: list[dict], variants: list[str], path) -> None:
    """Test accuracy and test loss per epoch, mean over seeds (band: ± one std)."""
    plt = pyplot()
    if plt is None:
        return
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(10, 4))
    for variant in variants:
        histories = [r["history"] for r in runs if r["variant"] == variant]
        length = min(len(h["epoch"]) for h in histories)
        epochs = np.arange(1, length + 1)
        for ax, key in ((ax_acc, "test_acc"), (ax_loss, "test_loss")):
            values = np.array([h[key][:length] for h in histories], dtype=float)
            mean, std = values.mean(axis=0), values.std(axis=0)
            ax.plot(epochs, mean, label=VARIANTS[variant])
            ax.fill_between(epochs, mean - std, mean + std, alpha=0.2)
    ax_acc.set(xlabel="epoch", ylabel="test accuracy", title="digits: test accuracy (mean over seeds)")
    ax_loss.set(xlabel="epoch", ylabel="test loss", title="digits: test loss (mean over seeds)", yscale="log")
    ax_acc.legend(loc="lower right")
    save_figure(fig, path)


@register(
    NAME,
    "small CNN on 8x8 digits: true ReLU derivative vs AD ReLU (k=3.5, with/without switching) vs Leaky ReLU",
    paper="Hu, Zhang, Ge - Artificial Derivative (IEEE Access 2021), method only",
    add_arguments=add_arguments,
)
def run(config: ExperimentConfig) -> dict:
    """Train every variant for each seed; print the table, write results.json and the plot."""
    # tiny matrices (8×8 images): one BLAS thread is faster; CuPy is unaffected
    with blas_threads(config.extra.get("blas_threads", 1)):
        return _run(config)


def _run(config: ExperimentConfig) -> dict:
    from ..sweep import Unit

    started = time.perf_counter()
    runs_count = config.choose("runs", 2, 5)
    epochs = config.choose("epochs", 15, 30)
    variants = list(config.extra.get("variants") or VARIANTS)
    optimizer_name = config.setting("optimizer", "adam")
    config.setting("lr", 3e-3 if optimizer_name == "adam" else 0.05)  # recorded in results.json
    data = load_images(config)
    print(f"{NAME}: {data.description}")
    print(f"{len(variants)} variants x {runs_count} seeds x {epochs} epochs")

    settings = config.unit_params()
    units = [
        Unit(
            f"seed{config.seed + i}-{variant}",
            train_unit,
            {"config": settings, "variant": variant, "seed": config.seed + i, "epochs": epochs},
            {"progress": config.progress},
        )
        for i in range(runs_count)
        for variant in variants
    ]
    runs = run_units(config, units, NAME)
    for result in runs:
        variant = result["variant"]
        print(
            f"  seed {result['seed']} {variant:<15} best test acc {result['best_test_acc']:.4f} "
            f"(epoch {result['best_epoch']}), final test loss {result['final_test_loss']:.4f}"
            + (f", switches {len(result['switches'])}" if variant == "ad-relu-switch" else "")
        )

    summary, rows = {}, []
    for variant in variants:
        mine = [r for r in runs if r["variant"] == variant]
        acc_mean, acc_std = mean_std(r["best_test_acc"] for r in mine)
        loss_mean, loss_std = mean_std(r["final_test_loss"] for r in mine)
        summary[variant] = {
            "best_test_acc_mean": acc_mean,
            "best_test_acc_std": acc_std,
            "best_epoch_mean": mean_std(r["best_epoch"] for r in mine)[0],
            "final_test_loss_mean": loss_mean,
            "final_test_loss_std": loss_std,
            "switches_mean": mean_std(len(r["switches"]) for r in mine)[0],
            "runs": len(mine),
        }
        rows.append(
            {
                "variant": variant,
                "acc": format_mean_std([r["best_test_acc"] for r in mine], scale=100, digits=2),
                "loss": format_mean_std([r["final_test_loss"] for r in mine], digits=4),
                "paper": None,
            }
        )
    print()
    print(
        format_table(
            rows,
            [
                ("variant", "variant"),
                ("acc", "best test acc % (mean ± std)"),
                ("loss", "final test loss"),
                ("paper", "paper"),
            ],
        )
    )
    print("(the AD paper has no digits experiment: no paper numbers)")

    plot_curves(runs, variants, config.out / "digits_ad_curves.png")
    return write_results(config, NAME, runs, summary, started=started, paper=None)
