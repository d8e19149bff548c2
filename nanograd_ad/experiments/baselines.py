"""baselines: what the papers argue against — batch normalization and residual blocks —
beside plain backprop and pseudo-normalization, on a deep tanh MLP over the digits.

Four networks of ``depth`` tanh layers of width 32 (default depths 10, 20, 30), one seed
giving every variant the same batches:

    plain      Dense → tanh, repeated; δ^l = (W^{l+1 T} δ^{l+1}) ⊙ d^l
    pn         the same network with two-path pseudo-normalization (Bu, Jiang, Lu & Zhang 2026)
               at every 2nd hidden layer from the top
    bn         Dense → BatchNorm1D → tanh, repeated (Ioffe & Szegedy 2015)
    residual   Dense → tanh, then (depth − 1) blocks x + tanh(W x + b) (He et al. 2016)

Recipe (pn-depth's): LeCun-normal weights, zero biases, SGD with learning rate
``--lr`` (0.01), mini-batches of 50, clipping ±0.5, standardized inputs. Test accuracy is
measured after every epoch by the trainer, in evaluation mode (batch norm then uses its
running statistics). Recorded: RMS of δ^l by depth at initialization (4 fixed batches) and over training
(:class:`~nanograd_ad.inspect.GradientFlow`; for the residual network also what the branch
and the shortcut pass down to each block), and each variant's **cost per step** — the
CPU time of forward, loss, backward and SGD update on one fixed batch of 50, with one
BLAS thread, the minimum over 5 rounds that time the variants in turn (:func:`step_costs`)
— and its ratio to plain backprop. The papers' claim is that batch
normalization is the expensive one; here it is measured, including against PN.

Sweep units (``--workers`` / ``--scheduler``, :mod:`nanograd_ad.sweep`): one training per
depth × seed × variant (:func:`run_unit`, in that order). The per-step cost is a timing,
not a training: it stays in the driver, measured in this process after every unit has
finished (a local cluster is closed by then, an existing one idle), so the variants are not timed while
worker processes compete for the same cores — and are timed against each other on one
machine, in one process.
"""

from __future__ import annotations

import copy
import time

import numpy as np

from . import common
from .common import ExperimentConfig, blas_threads, pyplot, save_figure, seeded
from .runner import Column, Declaration, Measure, Outcome, declare

NAME = "baselines"
VARIANTS = {
    "plain": "plain backprop",
    "pn": "two-path PN",
    "bn": "batch norm",
    "residual": "residual blocks",
}
BATCH = 50


def build(variant: str, depth: int, width: int, inputs: int, classes: int):
    """The network of a variant: ``depth`` tanh layers of ``width``, one Dense output layer."""
    from ..fast.activations import Tanh
    from ..fast.layers import Dense
    from ..layers import Layer
    from ..network import Sequential
    from ..normalization import BatchNorm1D
    from ..pseudo_normalization import PseudoNormalize
    from ..residual import Residual

    if variant not in VARIANTS:
        raise ValueError(f"{NAME}: unknown variant {variant!r}; known: {list(VARIANTS)}")

    def dense(fan_in):
        return Dense(fan_in, width, weight_init="lecun_normal", bias_init="zeros")

    layers: list[Layer] = []
    fan_in = inputs
    for l in range(depth):
        if variant == "residual" and l > 0:
            layers.append(Residual(Sequential(dense(width), Tanh())))  # x + tanh(W x + b)
        elif variant == "bn":
            layers += [dense(fan_in), BatchNorm1D(width), Tanh()]
        else:
            layers += [dense(fan_in), Tanh()]
        fan_in = width
    layers.append(Dense(fan_in, classes, weight_init="lecun_normal", bias_init="zeros"))
    net = Sequential(*layers)
    if variant == "pn":
        net.add_feedback(PseudoNormalize(period=2, two_path=True))
    return net


def step_costs(depth: int, variants: list[str], data, settings: dict, rounds: int = 5) -> dict:
    """{variant: (CPU, wall) seconds per training step}: forward, loss, backward and SGD update on
    one fixed batch of 50, for freshly built networks of every variant.

    The variants are timed in interleaved rounds (round r times each variant once, ``steps``
    steps each) and each keeps its minimum over the rounds — the least disturbed measurement:
    on a shared machine other processes only ever add time. The CPU time of this process is
    the cost reported; the wall time also counts the other processes' turns.
    """
    from ..backend import asarray, xp
    from ..losses import SoftmaxCrossEntropy
    from ..optim import SGD

    steps, width = settings["cost_steps"], settings["width"]
    x, y = asarray(data.x_train[:BATCH]), xp.asarray(data.y_train[:BATCH])
    trainers = {}
    for variant in variants:
        seeded(settings["seed"])
        net = build(variant, depth, width, data.x_train.shape[1], data.num_classes)
        trainers[variant] = (net, SGD(net.parameters(), lr=1e-6, clip_value=0.5), SoftmaxCrossEntropy())

    def step(variant):
        net, optimizer, loss = trainers[variant]
        loss.forward(net(x), y)
        net.zero_grad()
        net.backward(loss.backward())
        optimizer.step()

    cpu = {v: float("inf") for v in variants}
    wall = dict(cpu)
    for variant in variants:
        step(variant)  # warm-up
    for _ in range(rounds):
        for variant in variants:
            start_cpu, start_wall = time.process_time(), time.perf_counter()
            for _ in range(steps):
                step(variant)
            cpu[variant] = min(cpu[variant], (time.process_time() - start_cpu) / steps)
            wall[variant] = min(wall[variant], (time.perf_counter() - start_wall) / steps)
    return {v: (cpu[v], wall[v]) for v in variants}


def train_cell(settings: dict, data, depth: int, seed: int, variant: str) -> dict:
    """Probe at initialization, train, evaluate: the numbers of one network."""
    from ..inspect import GradientFlow
    from ..train import make_optimizer
    from .pn import probe

    with blas_threads(settings["blas_threads"]):  # small matrices: one BLAS thread is faster
        rng = seeded(seed)
        net = build(variant, depth, settings["width"], data.x_train.shape[1], data.num_classes)
        at_init = probe(copy.deepcopy(net), data)  # a copy: the probe's forwards would move BN's statistics
        optimizer = make_optimizer("sgd", net.parameters(), lr=settings["lr"], clip_value=0.5)
        flow = GradientFlow(every=5)
        net.add_feedback(flow)
        trainer = common.classifier_trainer(  # evaluated in eval mode: batch norm's running statistics
            net,
            optimizer,
            data,
            batch_size=BATCH,
            progress=settings["progress"],
            rng=rng,
            on_nonfinite="stop",
        )
        history = trainer.fit(settings["epochs"])
    net.feedback.remove(flow)
    return {
        "variant": variant,
        "depth": depth,
        "seed": seed,
        "final_test_acc": history.test_acc[-1] if len(history) else None,
        "best_test_acc": max(history.test_acc) if len(history) else None,
        "test_acc": list(history.test_acc),
        "train_loss": list(history.train_loss),
        "diverged": bool(history.events_of("diverged")),
        "delta_init": _profile(at_init),
        "delta_train": _profile(flow),
    }


def _profile(flow) -> dict:
    depths, values = flow.profile("delta")
    result = {"depths": depths.tolist(), "values": values.tolist()}
    for path in ("branch", "shortcut"):
        block_depths, path_values = flow.paths(path)
        if len(block_depths):
            result[path] = {"depths": block_depths.tolist(), "values": path_values.tolist()}
    return result


def add_arguments(parser) -> None:
    """Options of the baselines experiment."""
    from ..argtypes import positive_float, positive_int

    group = parser.add_argument_group("baselines options")
    group.add_argument(
        "--depths", type=positive_int, nargs="+", default=None, help="tanh layers (default 10 20 30)"
    )
    group.add_argument("--width", type=positive_int, default=32, help="hidden width (default 32)")
    group.add_argument("--lr", type=positive_float, default=0.01, help="SGD learning rate (default 0.01)")
    group.add_argument(
        "--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS), help="default: all four"
    )
    group.add_argument(
        "--cost-steps", type=positive_int, default=None, help="steps per timing repeat (default 50; quick 20)"
    )
    group.add_argument(
        "--blas-threads", type=positive_int, default=1, help="BLAS threads (default 1: small matrices)"
    )


def _mean_values(runs: list[dict], key: str, part: str | None = None):
    entries = [r[key] if part is None else r[key].get(part) for r in runs]
    entries = [e for e in entries if e]
    if not entries:
        return None
    return np.asarray(entries[0]["depths"]), np.nanmean([e["values"] for e in entries], axis=0)


def settings(config: ExperimentConfig) -> dict:
    """Every setting baselines uses, as given or chosen (quick: 1 seed × 5 epochs)."""
    return {
        **common.base_settings(config, runs=(1, 3), epochs=(5, 30), data="digits"),
        "depths": list(config.choose("depths", [10, 20, 30], [10, 20, 30])),
        "variants": list(config.setting("variants", list(VARIANTS))),
        "cost_steps": config.choose("cost_steps", 20, 50),
        **{name: config.setting(name, default) for name, default in DEFAULTS.items()},
    }


#: baselines' options with a fixed default (their CLI defaults).
DEFAULTS = {"width": 32, "lr": 0.01, "blas_threads": 1}


def grid(settings: dict) -> dict:
    """Depth outermost, then seeds, then the variants (one seed: the same batches)."""
    seeds = [settings["seed"] + i for i in range(settings["runs"])]
    return {"depth": settings["depths"], "seed": seeds, "variant": settings["variants"]}


def load_flat(settings: dict):
    """The dataset, flattened and standardized (pn-depth's inputs)."""
    from .pn import load_data

    return load_data(ExperimentConfig(data=settings["data"], data_dir=settings["data_dir"]), flat=True)


def describe(run: dict) -> str:
    """A run's line: its final test accuracy."""
    acc = "—" if run["final_test_acc"] is None else f"{100 * run['final_test_acc']:.2f} %"
    return f"depth {run['depth']:>3} seed {run['seed']} {run['variant']:<8} final test acc {acc}" + (
        "  DIVERGED" if run["diverged"] else ""
    )


def after(o: Outcome) -> None:
    """Each variant's cost per step, measured here in the driver after every unit has
    finished (see the module docstring), and its ratio to plain backprop."""
    summary, settings, data = o.summary, o.settings, o.data
    depths, variants = settings["depths"], settings["variants"]
    with blas_threads(settings["blas_threads"]):
        for depth in depths:
            costs = step_costs(depth, variants, data, settings)
            print(
                f"  depth {depth:>3} CPU ms per step: "
                + ", ".join(f"{v} {1000 * c:.3f}" for v, (c, _) in costs.items())
            )
            plain_ms = 1000 * costs["plain"][0] if "plain" in variants else float("nan")
            for variant in variants:
                cell = summary[f"depth {depth}, {variant}"]
                cell["step_ms"], cell["step_wall_ms"] = 1000 * costs[variant][0], 1000 * costs[variant][1]
                cell["step_vs_plain"] = cell["step_ms"] / plain_ms if plain_ms == plain_ms else None
    if "bn" in variants and "pn" in variants:
        ratios = [summary[f"depth {d}, bn"]["step_ms"] / summary[f"depth {d}, pn"]["step_ms"] for d in depths]
        summary["bn_vs_pn_step_cost"] = dict(zip([str(d) for d in depths], ratios))
        text = ", ".join(f"depth {d}: {v:.2f}x" for d, v in summary["bn_vs_pn_step_cost"].items())
        print(f"cost per step, batch norm / two-path PN: {text}")


def _first(key: str, at: int):
    """A run's RMS δ at the input side (``at=0``) or the output side (``at=-1``)."""
    return lambda run: run[key]["values"][at] if run[key] else None


def plots(o: Outcome) -> None:
    """RMS δ^l by depth at initialization and over training, one panel per depth."""
    runs, settings, out = o.runs, o.settings, o.out
    plt = pyplot()
    if plt is None:
        return
    from ..inspect import plot_delta_profile

    depths, variants = settings["depths"], settings["variants"]
    seeds = f"mean of {settings['runs']} seeds" if settings["runs"] > 1 else "one seed"
    for key, title in (
        ("delta_init", r"RMS of $\delta^l$ by depth at initialization (4 batches)"),
        ("delta_train", r"RMS of $\delta^l$ by depth, mean over training"),
    ):
        fig, axes = plt.subplots(
            1, len(depths), figsize=(5 * len(depths), 4.6), squeeze=False, layout="constrained"
        )
        for ax, depth in zip(axes[0], depths):
            panel = {}
            for variant in variants:
                mine = [r for r in runs if (r["depth"], r["variant"]) == (depth, variant)]
                entry = {"delta": _mean_values(mine, key)}
                for path in ("branch", "shortcut"):
                    values = _mean_values(mine, key, path)
                    if values is not None:
                        entry[path] = values
                panel[VARIANTS[variant]] = entry
            plot_delta_profile(panel, ax=ax, title=f"{depth} tanh layers")
            ax.set_xlabel(r"layer $l$ (1 = input side)")
            ax.xaxis.get_major_locator().set_params(integer=True)
            ax.get_legend().remove()
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize="small")
        fig.suptitle(f"{title}; {seeds}, width {settings['width']}, lr {settings['lr']:g}")
        save_figure(fig, out / f"baselines_{key}.png")


BASELINES = declare(
    Declaration(
        name=NAME,
        description="deep tanh MLPs (10/20/30 layers) on digits: plain vs PN vs batch norm vs residual "
        "blocks; accuracy, δ by depth, cost per step",
        paper="the baselines of all five papers: Ioffe & Szegedy 2015 (batch norm), "
        "He et al. 2016 (residual)",
        options=add_arguments,
        settings=settings,
        grid=grid,
        load=load_flat,
        cell=train_cell,
        report=[
            Measure("final_test_acc", "final test acc (eval)", std=False, percent=True),
            Measure("best_test_acc", std=False),
            Measure("delta1_init", "δ¹ init", of=_first("delta_init", 0), std=False, suffix="", fmt=".2e"),
            Measure("deltaL_init", "δᴸ init", of=_first("delta_init", -1), std=False, suffix="", fmt=".2e"),
            Column(
                "ratio",
                "δ¹/δᴸ init",
                of=lambda cell, *_: cell["delta1_init"] / cell["deltaL_init"],
                fmt=".2e",
            ),
            Measure("delta1_train", "δ¹ train", of=_first("delta_train", 0), std=False, suffix="", fmt=".2e"),
            Measure("deltaL_train", of=_first("delta_train", -1), std=False, suffix=""),
            Measure("diverged", std=False, suffix="", reduce=sum),
            Column("step_ms", "CPU ms/step", fmt=".3f"),
            Column("step_vs_plain", "× plain", fmt=".2f"),
        ],
        label=lambda cell: f"depth {cell['depth']}, {cell['variant']}",
        names={"variant": VARIANTS},
        plots=[plots],
        describe=describe,
        after=after,
        protocol="the papers' baselines have no shared protocol; full run: 3 seeds × 30 epochs",
        notes=[
            "accuracy at the final epoch, in eval mode (no selection on the test set);",
            "δ¹: RMS of the error entering the first Dense layer, δᴸ the output layer's (mean over seeds)",
        ],
    )
)
run = BASELINES.run
