"""Seconds per training: E seed models trained together (nanograd_ad) vs PyTorch CPU, batched and one by one.

Default: the AD paper's Table 2 workload at its deepest — an 8-layer width-2 ReLU network
on y = |x| (3000 train / 1000 test points), set A (batch 50, PyTorch default init, Adam
lr 1e-3, MSE), the test loss after every epoch, the lowest kept.

    ours     ``--models`` networks (seeds 0..E−1) as one ensemble in `train.Trainer`
    PyTorch, batched   the same E networks as one batched PyTorch ensemble (stacked weights,
             ``baddbmm``, each model on its own batch order, one Adam): the peer a PyTorch
             user would write; printed as ms/epoch beside ours and our time as a multiple of it
    PyTorch, one by one  the first ``--torch-models`` of the same networks (same initial
             weights, same batch order), each trained alone in the usual loop — as the paper ran them

Both use the same threads (torch.set_num_threads = --threads; NumPy's BLAS is limited with
threadpoolctl when installed). Prints seconds per training of each, the ratio, and the
largest difference between the two libraries' lowest test losses of the shared models —
a check that both train the same models. ``--experiment ad-sigmoid --variant "AD sigmoid"``
(etc.) runs the same comparison on a Table 4 network; AD variants run without the
switching rule here (PyTorch gets the AD derivative from a custom autograd.Function).

    python benchmarks/bench_ensemble.py [--models 100] [--torch-models 2] [--epochs 300]
        [--experiment ad-relu|ad-sigmoid] [--variant ReLU] [--set A|B] [--depth 8]
        [--threads 1] [--backend numpy|cupy]
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np

from nanograd_ad import backend, init
from nanograd_ad.ensemble import from_seeds
from nanograd_ad.experiments.ad_tables import TASKS, build_net, load_data, train_cell


def torch_activation(variant: str, k: float = 3.5):
    """The PyTorch module of a variant; AD derivatives through custom autograd Functions."""
    import torch

    class ADReLU(torch.autograd.Function):
        @staticmethod
        def forward(ctx, z):
            ctx.save_for_backward(z)
            return z.clamp(min=0)

        @staticmethod
        def backward(ctx, grad):
            (z,) = ctx.saved_tensors
            return grad * torch.sigmoid(k * z)  # d = sigmoid(k·z)

    class ADSigmoid(torch.autograd.Function):
        @staticmethod
        def forward(ctx, z):
            y = torch.sigmoid(z)
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad):
            (y,) = ctx.saved_tensors
            return grad * torch.minimum(y, 1 - y)  # d = min(y, 1 − y)

    class Apply(torch.nn.Module):
        def __init__(self, function):
            super().__init__()
            self.function = function

        def forward(self, z):
            return self.function.apply(z)

    modules = {
        "ReLU": torch.nn.ReLU,
        "Leaky ReLU": lambda: torch.nn.LeakyReLU(0.01),
        "sigmoid": torch.nn.Sigmoid,
        "AD ReLU": lambda: Apply(ADReLU),
        "AD sigmoid": lambda: Apply(ADSigmoid),
    }
    if variant not in modules:
        raise SystemExit(
            f"--variant {variant!r} has no PyTorch counterpart here; choose from {list(modules)}"
        )
    return modules[variant]()


def torch_trainings(nets, seeds, data, epochs: int, hyper, variant: str, threads: int, device: str = "cpu"):
    """Train each single network alone in PyTorch (on ``device``: "cpu" or "cuda"); returns
    (seconds per training, lowest test losses)."""
    import torch

    torch.set_num_threads(threads)
    x, y = torch.from_numpy(data.x_train).to(device), torch.from_numpy(data.y_train).to(device)
    x_test, y_test = torch.from_numpy(data.x_test).to(device), torch.from_numpy(data.y_test).to(device)
    lowest, seconds = [], []
    for net, seed in zip(nets, seeds):
        started = time.perf_counter()
        layers = []
        for layer in net.layers:
            if hasattr(layer, "weight"):
                linear = torch.nn.Linear(layer.in_features, layer.out_features)
                with torch.no_grad():
                    linear.weight.copy_(torch.from_numpy(backend.to_numpy(layer.weight.data).T.copy()))
                    linear.bias.copy_(torch.from_numpy(backend.to_numpy(layer.bias.data).copy()))
                layers.append(linear)
            else:
                layers.append(torch_activation(variant))
        model = torch.nn.Sequential(*layers).to(device)
        if hyper.optimizer == "adam":
            optimizer = torch.optim.Adam(model.parameters(), lr=hyper.lr)
        else:
            optimizer = torch.optim.SGD(model.parameters(), lr=hyper.lr)
        rng = np.random.default_rng(seed)  # the batch order of the seed
        best = float("inf")
        for _ in range(epochs):
            order = torch.from_numpy(rng.permutation(len(x))).to(device)
            for start in range(0, len(x), hyper.batch_size):
                idx = order[start : start + hyper.batch_size]
                loss = torch.nn.functional.mse_loss(model(x[idx]), y[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            with torch.no_grad():
                best = min(best, float(torch.nn.functional.mse_loss(model(x_test), y_test)))
        lowest.append(best)
        seconds.append(time.perf_counter() - started)
    return float(np.mean(seconds)), lowest


def torch_batched_ensemble(
    ensemble, seeds, data, epochs: int, hyper, variant: str, threads: int, device="cpu"
):
    """The same E models as one batched PyTorch ensemble — what a PyTorch user would write:
    stacked weights W (E, D_in, D_out) and b (E, 1, D_out), z = ``torch.baddbmm(b, x, W)``,
    each model on its own batch order (x (E, B, D) gathered per epoch), the loss the sum of
    the models' own means (so each gets its own gradient), one Adam (or SGD) over the
    stacked tensors, the test loss of every model after every epoch. Starts from
    ``ensemble``'s weights (a `from_seeds` network, untrained). Returns (seconds for the
    whole training, lowest test loss per model)."""
    import torch

    torch.set_num_threads(threads)
    started = time.perf_counter()
    weights, biases, activations = [], [], []
    for layer in ensemble.layers:
        if hasattr(layer, "weight"):
            weights.append(
                torch.tensor(backend.to_numpy(layer.weight.data), device=device, requires_grad=True)
            )
            biases.append(torch.tensor(backend.to_numpy(layer.bias.data), device=device, requires_grad=True))
            activations.append(None)
        else:
            activations[-1] = torch_activation(variant)
    params = weights + biases
    if hyper.optimizer == "adam":
        optimizer: torch.optim.Optimizer = torch.optim.Adam(params, lr=hyper.lr)
    else:
        optimizer = torch.optim.SGD(params, lr=hyper.lr)
    models = len(seeds)
    x, y = torch.from_numpy(data.x_train).to(device), torch.from_numpy(data.y_train).to(device)
    x_test = torch.from_numpy(data.x_test).to(device).expand(models, *data.x_test.shape)
    y_test = torch.from_numpy(data.y_test).to(device)

    def forward(a):
        for w, b, act in zip(weights, biases, activations):
            a = torch.baddbmm(b, a, w)  # z = b + x W, per model
            a = a if act is None else act(a)
        return a

    rngs = [np.random.default_rng(seed) for seed in seeds]  # model e's batch order, as ours
    lowest = torch.full((models,), float("inf"), dtype=torch.float64)
    for _ in range(epochs):
        order = torch.from_numpy(np.stack([rng.permutation(len(x)) for rng in rngs])).to(device)
        x_epoch, y_epoch = x[order], y[order]  # (E, N, D)
        for start in range(0, len(x), hyper.batch_size):
            xb, yb = (
                x_epoch[:, start : start + hyper.batch_size],
                y_epoch[:, start : start + hyper.batch_size],
            )
            loss = ((forward(xb) - yb) ** 2).mean(dim=(1, 2)).sum()  # Σ_e (model e's mean)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            test = ((forward(x_test) - y_test) ** 2).mean(dim=(1, 2)).double().cpu()
            lowest = torch.fmin(lowest, test)
    return time.perf_counter() - started, lowest.numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=100, help="E, models trained together (default 100)")
    parser.add_argument(
        "--torch-models", type=int, default=2, help="models trained one by one in PyTorch (default 2)"
    )
    parser.add_argument("--epochs", type=int, default=300, help="epochs per training (default 300)")
    parser.add_argument("--experiment", choices=list(TASKS), default="ad-relu", help="default ad-relu")
    parser.add_argument("--variant", default=None, help="activation (default: ReLU / sigmoid)")
    parser.add_argument("--set", choices=["A", "B"], default="A", help="hyper-parameter set (default A)")
    parser.add_argument("--depth", type=int, default=8, help="layers n (default 8)")
    parser.add_argument("--threads", type=int, default=1, help="threads for both libraries (default 1)")
    parser.add_argument("--backend", choices=["numpy", "cupy"], default="numpy")
    args = parser.parse_args()
    backend.use(args.backend)
    variant = args.variant or ("ReLU" if args.experiment == "ad-relu" else "sigmoid")
    if variant not in TASKS[args.experiment].variants:
        raise SystemExit(f"--variant must be one of {TASKS[args.experiment].variants}")

    limit = contextlib.nullcontext()
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(args.threads)
    hyper, data = TASKS[args.experiment].sets[args.set], load_data(args.experiment, 0)
    seeds = list(range(args.models))
    print(
        f"{args.experiment}: depth {args.depth} width-2 {variant}, set {args.set}, {args.epochs} epochs, "
        f"{args.threads} thread(s), backend {args.backend}"
    )

    with limit:
        started = time.perf_counter()
        ours = train_cell(
            args.experiment, hyper, args.depth, variant, seeds, args.epochs, data, switch_a=None
        )
        ours_total = time.perf_counter() - started
        ours_each = ours_total / args.models
        print(
            f"nanograd_ad: {args.models} models together in {ours_total:.1f} s "
            f"-> {ours_each:.3f} s per training"
        )

        try:
            import torch  # noqa: F401
        except ImportError:
            print("PyTorch is not installed: no comparison (pip install torch)")
            return
        ensemble = from_seeds(lambda: build_net(args.experiment, variant, args.depth, hyper), seeds)
        torch_batched_ensemble(
            ensemble, seeds, data, 1, hyper, variant, args.threads
        )  # PyTorch's first-call set-up
        batched_total, batched_lowest = torch_batched_ensemble(
            ensemble, seeds, data, args.epochs, hyper, variant, args.threads
        )
        print(
            f"PyTorch CPU, batched ensemble (baddbmm, one Adam): {args.models} models together in "
            f"{batched_total:.1f} s -> {1e3 * batched_total / args.epochs:.1f} ms/epoch "
            f"(ours {1e3 * ours_total / args.epochs:.1f} ms/epoch: "
            f"{ours_total / batched_total:.2f}x its time)"
        )
        gaps = np.abs(ours["lowest_test_loss"] - batched_lowest) / np.abs(batched_lowest)
        print(
            f"  same models: lowest test losses within 1e-4 relative in {np.sum(gaps <= 1e-4)} of "
            f"{args.models} (median difference {np.median(gaps):.1e}, largest {np.max(gaps):.1e}: "
            "float32 trajectories part where the order of a sum differs)"
        )
        k = min(args.torch_models, args.models)
        if k == 0:
            return  # --torch-models 0: no one-by-one comparison
        nets = []
        for seed in seeds[:k]:
            init.seed(seed)
            nets.append(build_net(args.experiment, variant, args.depth, hyper))
        torch_each, torch_lowest = torch_trainings(
            nets, seeds[:k], data, args.epochs, hyper, variant, args.threads
        )
    print(f"PyTorch CPU: {k} models one after another -> {torch_each:.3f} s per training")
    print(f"ratio: {torch_each / ours_each:.1f}x fewer seconds per training with the ensemble")
    gap = max(abs(a - b) / max(abs(b), 1e-12) for a, b in zip(ours["lowest_test_loss"][:k], torch_lowest))
    print(
        f"same models: largest relative difference of the lowest test losses {gap:.2e} "
        f"(ours {[f'{v:.5f}' for v in ours['lowest_test_loss'][:k]]}, "
        f"PyTorch {[f'{v:.5f}' for v in torch_lowest]})"
    )


if __name__ == "__main__":
    main()
