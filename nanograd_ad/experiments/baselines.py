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


def step_costs(depth: int, variants: list[str], data, config: ExperimentConfig, rounds: int = 5) -> dict:
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

    steps = config.extra.get("cost_steps") or (20 if config.quick else 50)
    width = config.extra.get("width", 32)
    x, y = asarray(data.x_train[:BATCH]), xp.asarray(data.y_train[:BATCH])
    trainers = {}
    for variant in variants:
        seeded(config.seed)
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


def one_run(variant: str, depth: int, seed: int, data, config: ExperimentConfig, epochs: int) -> dict:
    """Probe at initialization, time a step, train, evaluate; the numbers of one network."""
    from ..inspect import GradientFlow
    from ..losses import SoftmaxCrossEntropy
    from ..train import Trainer, make_optimizer
    from .pn import probe

    extra = config.extra
    rng = seeded(seed)
    net = build(variant, depth, extra.get("width", 32), data.x_train.shape[1], data.num_classes)
    at_init = probe(
        copy.deepcopy(net), data
    )  # a copy: the probe's forwards would move BN's running statistics
    optimizer = make_optimizer("sgd", net.parameters(), lr=extra.get("lr", 0.01), clip_value=0.5)
    flow = GradientFlow(every=5)
    net.add_feedback(flow)
    trainer = Trainer(
        net,
        SoftmaxCrossEntropy(),
        optimizer,
        (data.x_train, data.y_train),
        (data.x_test, data.y_test),  # evaluated in eval mode: batch norm's running statistics
        batch_size=BATCH,
        progress=config.progress,
        rng=rng,
        on_nonfinite="stop",
    )
    history = trainer.fit(epochs)
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


def run_unit(config: dict, variant: str, depth: int, seed: int, epochs: int, progress: bool = True) -> dict:
    """One unit of the sweep (one network: variant, depth, seed), from its settings alone."""
    from .pn import load_data

    settings = ExperimentConfig.from_unit_params(config, progress=progress)
    with blas_threads(settings.extra.get("blas_threads", 1)):
        return one_run(variant, depth, seed, load_data(settings, flat=True), settings, epochs)


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
    from ..cli import positive_float, positive_int

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


@register(
    NAME,
    "deep tanh MLPs (10/20/30 layers) on digits: plain vs PN vs batch norm vs residual blocks; "
    "accuracy, δ by depth, cost per step",
    paper="the baselines of all five papers: Ioffe & Szegedy 2015 (batch norm), He et al. 2016 (residual)",
    add_arguments=add_arguments,
)
def run(config: ExperimentConfig) -> dict:
    """Every depth × seed × variant; a table, results.json and δ-by-depth plots."""
    from .pn import load_data

    started = time.perf_counter()
    runs_count = config.choose("runs", 1, 3)
    epochs = config.choose("epochs", 5, 30)
    depths = config.choose("depths", [10, 20, 30], [10, 20, 30])
    variants = list(config.extra.get("variants") or VARIANTS)
    data = load_data(config, flat=True)
    print(f"{NAME}: {data.description}; inputs flattened and standardized")
    print(
        f"depths {depths}, width {config.extra.get('width', 32)}, lr {config.extra.get('lr', 0.01)}, "
        f"{len(variants)} variants x {runs_count} seeds x {epochs} epochs; SGD batch {BATCH}, clip ±0.5"
    )
    from ..sweep import Unit

    settings = {"config": config.unit_params(), "epochs": epochs}
    units = [
        Unit(
            f"depth{depth}-seed{config.seed + i}-{variant}",
            run_unit,
            {**settings, "variant": variant, "depth": depth, "seed": config.seed + i},
            {"progress": config.progress},
        )
        for depth in depths
        for i in range(runs_count)
        for variant in variants
    ]
    runs = run_units(config, units, NAME)
    costs = {}
    with blas_threads(config.extra.get("blas_threads", 1)):
        for depth in depths:
            for r in runs:
                if r["depth"] != depth:
                    continue
                acc = "—" if r["final_test_acc"] is None else f"{100 * r['final_test_acc']:.2f}%"
                print(
                    f"  depth {depth:>3} seed {r['seed']} {r['variant']:<8} test acc {acc}"
                    + ("  DIVERGED" if r["diverged"] else "")
                )
            costs[depth] = step_costs(depth, variants, data, config)  # in the driver: see the docstring
            print(
                f"  depth {depth:>3} CPU ms per step: "
                + ", ".join(f"{v} {1000 * cpu:.3f}" for v, (cpu, _) in costs[depth].items())
            )

    summary, rows = {}, []
    for depth in depths:
        plain_ms = 1000 * costs[depth]["plain"][0] if "plain" in variants else float("nan")
        for variant in variants:
            mine = [r for r in runs if (r["depth"], r["variant"]) == (depth, variant)]
            init = _mean_values(mine, "delta_init")
            train = _mean_values(mine, "delta_train")
            step_ms = 1000 * costs[depth][variant][0]
            cell = {
                "final_test_acc_mean": mean_std(r["final_test_acc"] for r in mine)[0],
                "best_test_acc_mean": mean_std(r["best_test_acc"] for r in mine)[0],
                "delta1_init": float(init[1][0]),
                "deltaL_init": float(init[1][-1]),
                "delta1_train": float(train[1][0]),
                "deltaL_train": float(train[1][-1]),
                "step_ms": step_ms,
                "step_wall_ms": 1000 * costs[depth][variant][1],
                "step_vs_plain": step_ms / plain_ms if plain_ms == plain_ms else None,
                "diverged": sum(r["diverged"] for r in mine),
                "runs": len(mine),
            }
            summary[f"depth {depth}, {variant}"] = cell
            rows.append(
                {
                    "depth": depth,
                    "variant": VARIANTS[variant],
                    "acc": format_mean_std([r["final_test_acc"] for r in mine], scale=100, digits=2),
                    "d1": f"{cell['delta1_init']:.2e}",
                    "dL": f"{cell['deltaL_init']:.2e}",
                    "ratio": f"{cell['delta1_init'] / cell['deltaL_init']:.2e}",
                    "d1t": f"{cell['delta1_train']:.2e}",
                    "ms": step_ms,
                    "x": cell["step_vs_plain"],
                }
            )
    if "bn" in variants and "pn" in variants:
        ratios = [summary[f"depth {d}, bn"]["step_ms"] / summary[f"depth {d}, pn"]["step_ms"] for d in depths]
        summary["bn_vs_pn_step_cost"] = dict(zip([str(d) for d in depths], ratios))
    print()
    print(
        format_table(
            rows,
            [
                ("depth", "depth"),
                ("variant", "variant"),
                ("acc", "test acc % (eval mode)"),
                ("d1", "RMS δ^1 init"),
                ("dL", "RMS δ^L init"),
                ("ratio", "δ^1/δ^L init"),
                ("d1t", "RMS δ^1 train"),
                ("ms", "CPU ms/step", 3),
                ("x", "x plain", 2),
            ],
        )
    )
    if "bn_vs_pn_step_cost" in summary:
        text = ", ".join(f"depth {d}: {v:.2f}x" for d, v in summary["bn_vs_pn_step_cost"].items())
        print(f"cost per step, batch norm / two-path PN: {text}")
    print(
        "(δ^1: RMS of the error entering the first Dense layer, δ^L the output layer's; "
        "one seed per cell unless --runs)"
    )
    _plots(runs, depths, variants, config)
    return write_results(config, NAME, runs, summary, started=started, paper=None)


def _plots(runs, depths, variants, config) -> None:
    plt = pyplot()
    if plt is None:
        return
    from ..inspect import plot_delta_profile

    for key, title in (
        ("delta_init", "RMS of δ^l by depth at initialization (4 batches)"),
        ("delta_train", "RMS of δ^l by depth, mean over training"),
    ):
        fig, axes = plt.subplots(1, len(depths), figsize=(5 * len(depths), 4), squeeze=False)
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
        fig.suptitle(title)
        save_figure(fig, config.out / f"baselines_{key}.png")
