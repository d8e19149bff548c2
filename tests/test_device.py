"""The CuPy path, on the strict CPU stand-in (``tests/strict_cupy.py``).

The stand-in computes with NumPy, so every result under it must equal the NumPy run bit for
bit; what it adds are CuPy's rules (no implicit host conversion, no mixing with NumPy
arrays) and counters of every host↔device crossing. Each test runs a path of the library
on both backends and compares, with the arrays on the device checked to be device arrays.
"""

import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import pytest
import strict_cupy
from conftest import write_fake_cifar10

import nanograd_ad as ng
from nanograd_ad import backend
from nanograd_ad.amplify import AmplificationStrategy
from nanograd_ad.ensemble import flat_parameter, from_seeds
from nanograd_ad.ics import RegularizedReLU, activation_scales, suggest_input_scale
from nanograd_ad.inspect import GradientFlow, contribution_map
from nanograd_ad.train import EarlyStopping, PeakAccuracy, SwitchingRule, Trainer

ROOT = Path(__file__).resolve().parent.parent


def on_both(run):
    """``run()`` under NumPy, then under the stand-in: (host result, device result)."""
    backend.use("numpy")
    on_host = run()
    backend.use("cupy", module=strict_cupy)
    try:
        on_device = run()
    finally:
        backend.use("numpy")
    return on_host, on_device


def assert_same(host, device, path="result"):
    """Equal structures; arrays bit-identical (device ones brought back first)."""
    if isinstance(host, dict):
        assert host.keys() == device.keys(), path
        for k in host:
            assert_same(host[k], device[k], f"{path}[{k!r}]")
    elif isinstance(host, (list, tuple)):
        assert len(host) == len(device), path
        for i, (h, d) in enumerate(zip(host, device)):
            assert_same(h, d, f"{path}[{i}]")
    elif isinstance(host, np.ndarray) or isinstance(device, strict_cupy.ndarray):
        h, d = backend.to_numpy(host), backend.to_numpy(device)
        assert h.dtype == d.dtype and h.shape == d.shape, path
        np.testing.assert_array_equal(h, d, err_msg=path)
    elif isinstance(host, float) and math.isnan(host):
        assert math.isnan(device), path
    else:
        assert host == device, path


def params_of(net):
    return {name: backend.to_numpy(p.data) for name, p in net.named_parameters()}


def grads_of(net):
    return {name: backend.to_numpy(p.grad) for name, p in net.named_parameters()}


def classes(n=24, features=6, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, features)).astype(np.float32), rng.integers(0, k, n)


def mlp(features=6, hidden=5, k=3, derivative="true"):
    ng.seed(1)
    return ng.Sequential(
        ng.Dense(features, hidden), ng.ReLU(derivative=derivative, k=3.5), ng.Dense(hidden, k)
    )


# ---------------------------------------------------------------------- the stand-in


def test_stand_in_refuses_what_cupy_refuses_and_counts_each_crossing(strict_device):
    xp = backend.xp
    host = np.ones((2, 3), dtype=np.float32)
    device = backend.asarray(host)
    assert strict_device.snapshot() == (0, 0, 1)  # one host→device copy
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
        np.asarray(device)
    for mix in (lambda: device + host, lambda: host * device, lambda: device @ host.T):
        with pytest.raises(TypeError, match="cannot be mixed with a NumPy array"):
            mix()
    with pytest.raises(TypeError, match="cannot be mixed"):
        device[0] = host[0]
    with pytest.raises(TypeError, match="cannot be mixed"):
        xp.maximum(device, host)
    with pytest.raises(TypeError, match=r"numpy\.sum called on a device array"):
        np.sum(device)
    with pytest.raises(TypeError, match="takes a device array"):
        xp.broadcast_to(2.0, (2, 3))
    with pytest.raises(TypeError, match="NumPy array used as an index"):
        device[np.array([0, 1])]
    total = (device * 2 + np.float32(1)).sum()  # scalars mix freely; a reduction stays on the device
    assert isinstance(total, strict_cupy.ndarray) and total.shape == ()
    assert strict_device.syncs == 0
    assert float(total) == 18.0 and bool(total > 0)
    assert backend.to_numpy(device).dtype == np.float32
    assert strict_device.snapshot() == (2, 1, 1)  # two scalar reads, one device→host copy


def test_backend_use_selects_the_stand_in_like_cupy_and_to_numpy_uses_asnumpy(strict_device):
    assert backend.name() == "cupy" and backend.xp is strict_cupy
    x = backend.asarray([1.0, 2.0])
    assert backend.array_backend(x) == "cupy" and backend.array_backend(np.ones(1)) == "numpy"
    back = backend.to_numpy(x)
    assert isinstance(back, np.ndarray) and strict_device.device_to_host == 1
    backend.use("numpy")
    backend.use("cupy")  # the module chosen once is kept, as an imported cupy is
    assert backend.xp is strict_cupy


# ------------------------------------------------------------------- moving networks


def test_same_seed_gives_bit_identical_initial_weights_on_both_backends():
    def build():
        ng.seed(7)
        net = ng.Sequential(ng.Conv2D(1, 2, 3, padding=1), ng.Tanh(), ng.Flatten(), ng.Dense(32, 3))
        assert all(backend.array_backend(p.data) == backend.name() for p in net.parameters())
        return params_of(net)

    host, device = on_both(build)
    assert_same(host, device)


def test_net_to_moves_parameters_gradients_cache_and_optimizer_state():
    x, y = classes()
    net, loss = mlp(), ng.SoftmaxCrossEntropy()
    opt = ng.Adam(net.parameters(), lr=0.01)
    loss.forward(net(x), y)
    net.backward(loss.backward())
    opt.step()
    reference = [params_of(net), grads_of(net)]

    backend.use("cupy", module=strict_cupy)
    assert net.to("cupy") is net and opt.to("cupy") is opt
    arrays = [p.data for p in net.parameters()] + [p.grad for p in net.parameters()] + opt.m + opt.v
    arrays += [net[0].x, net[1].z, net[1].a, net[1].derivative_value]
    assert all(isinstance(a, strict_cupy.ndarray) for a in arrays)
    assert_same(reference, [params_of(net), grads_of(net)])
    xd, yd = backend.asarray(x), backend.asarray(y)
    for _ in range(2):  # training continues on the device
        opt.zero_grad()
        loss.forward(net(xd), yd)
        net.backward(loss.backward())
        opt.step()
    on_device = params_of(net)

    backend.use("numpy")
    net.to("numpy")
    opt.to("numpy")
    assert all(isinstance(a, np.ndarray) for a in [p.data for p in net.parameters()] + opt.m + opt.v)
    assert isinstance(net[1].z, np.ndarray)
    # the same two steps on the host from the same state: the same weights
    net2, opt2 = mlp(), None
    opt2 = ng.Adam(net2.parameters(), lr=0.01)
    for _ in range(3):
        opt2.zero_grad()
        loss.forward(net2(x), y)
        net2.backward(loss.backward())
        opt2.step()
    assert_same(params_of(net2), on_device)


def test_a_network_handed_the_other_backends_array_names_the_fix(strict_device):
    x, _ = classes()
    on_gpu = mlp()
    with pytest.raises(
        backend.DeviceMismatchError, match=r"on the GPU \(cupy\) but the input is on the host"
    ) as err:
        on_gpu(x)
    assert "backend.asarray(x)" in str(err.value) and "net.to('numpy')" in str(err.value)
    on_gpu.to("numpy")
    with pytest.raises(backend.DeviceMismatchError, match=r"net\.to\('cupy'\)"):
        on_gpu(backend.asarray(x))
    with pytest.raises(backend.DeviceMismatchError, match=r"backend in use is 'cupy'"):
        on_gpu(x)  # both on the host, but the compute module is CuPy's
    on_gpu.to("cupy")
    assert isinstance(on_gpu(backend.asarray(x)), strict_cupy.ndarray)


def test_a_derivative_returning_a_host_array_is_refused_naming_the_backend(strict_device):
    act = ng.Tanh(derivative=lambda z, a: np.ones(z.shape, dtype=np.float32))
    act.forward(backend.asarray(np.ones((2, 2), dtype=np.float32)))
    with pytest.raises(backend.DeviceMismatchError, match="returned a numpy array under the 'cupy' backend"):
        act.backward(backend.xp.ones((2, 2), dtype=np.float32))


# ---------------------------------------------------------------- training under it


def test_training_sgd_adam_clipping_weight_decay_and_callbacks(tmp_path):
    x, y = classes(n=40)
    test = classes(n=16, seed=1)

    def run():
        results = []
        for name, options in [
            ("sgd", dict(lr=0.1, momentum=0.9, weight_decay=1e-3, clip_value=0.5)),
            ("adam", dict(lr=0.01, weight_decay=1e-3, clip_norm=1.0)),
        ]:
            net = mlp(derivative="ad")
            callbacks = [
                SwitchingRule(net, A=1.0),
                EarlyStopping(monitor="test_loss", patience=3, restore_best=True),
                PeakAccuracy(patience=5),
                ng.Checkpointing(tmp_path / f"{backend.name()}-{name}.npz"),
            ]
            history = ng.fit(
                net,
                ng.SoftmaxCrossEntropy(),
                name,
                (x, y),
                epochs=4,
                batch_size=8,
                test=test,
                callbacks=callbacks,
                progress=False,
                **options,
            )
            row = history.to_dict()
            row.pop("time_s")
            results.append([row, params_of(net)])
        return results

    host, device = on_both(run)
    assert_same(host, device)
    assert host[0][0]["events"], "the switching rule should have switched at least once"


@pytest.mark.parametrize("wing", [ng, ng.fast], ids=["reference", "fast"])
def test_cnn_forward_and_backward(wing):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 6, 6)).astype(np.float32)
    y = np.array([0, 2, 1])

    def run():
        ng.seed(0)
        net = ng.Sequential(
            wing.Conv2D(2, 3, 3, padding=1),
            wing.ReLU(),
            wing.MaxPool2D(2),
            wing.Conv2D(3, 4, 2, stride=1),
            wing.Tanh(),
            wing.AvgPool2D(2),
            wing.Flatten(),
            wing.Dense(4, 3),
        )
        loss = ng.SoftmaxCrossEntropy()
        out = net(backend.asarray(x))
        value = loss.forward(out, backend.asarray(y))
        dx = net.backward(loss.backward())
        return [backend.to_numpy(out), float(value), backend.to_numpy(dx), grads_of(net)]

    host, device = on_both(run)
    assert_same(host, device)


@pytest.mark.parametrize("two_path", [False, True], ids=["single-path", "two-path"])
def test_pseudo_normalization_and_gradient_flow(two_path):
    x, y = classes(n=12)

    def run():
        ng.seed(2)
        net = ng.Sequential(
            ng.Dense(6, 5),
            ng.Tanh(),
            ng.Dense(5, 5),
            ng.Tanh(derivative=lambda z, a: 0.5),
            ng.Dense(5, 3),
        )
        net.add_feedback(ng.PseudoNormalize(two_path=two_path))
        flow = GradientFlow()
        net.add_feedback(flow)
        opt = ng.SGD(net.parameters(), lr=0.1)
        loss = ng.SoftmaxCrossEntropy()
        xd, yd = backend.asarray(x), backend.asarray(y)
        for _ in range(3):
            opt.zero_grad()
            loss.forward(net(xd), yd)
            net.backward(loss.backward())
            opt.step()
        before = strict_cupy.counts.syncs
        summary = flow.summary()
        profile = flow.profile("delta")
        series = flow.series("d", 2)
        if backend.name() == "cupy":  # all of it came back in one copy
            assert strict_cupy.counts.syncs - before == 1
        return [summary, profile, series, params_of(net)]

    host, device = on_both(run)
    assert_same(host, device)
    assert host[2].tolist() == [0.5, 0.5, 0.5]  # the scalar derivative, broadcast on the device


def test_contribution_maps_with_host_labels():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.1, 1, (2, 1, 4, 4)).astype(np.float32)

    def run():
        ng.seed(0)
        net = ng.Sequential(ng.Conv2D(1, 2, 3, padding=1), ng.ReLU(), ng.Flatten(), ng.Dense(32, 2))
        maps = contribution_map(net, ng.SoftmaxCrossEntropy(), x, np.array([0, 1]))
        return [backend.to_numpy(v) for v in vars(maps).values()]

    host, device = on_both(run)
    assert_same(host, device)


def test_gradient_amplification_strategy():
    x, y = classes(n=24)

    def run():
        ng.seed(4)
        net = ng.Sequential(ng.Dense(6, 5), ng.ReLU(), ng.Dense(5, 5), ng.ReLU(), ng.Dense(5, 3))
        strategy = AmplificationStrategy(
            [(1, 0.1, 0, 1), (3, 0.1, 1, 2)], measure="G", case=2, threshold=-1.0
        )
        trainer = Trainer(
            net,
            ng.SoftmaxCrossEntropy(),
            ng.SGD(net.parameters(), lr=0.1),
            (x, y),
            (x, y),
            batch_size=8,
            callbacks=[strategy],
            progress=False,
        )
        history = trainer.fit(strategy.total_epochs)
        return [history.train_loss, history.events, strategy.epoch_log, params_of(net)]

    host, device = on_both(run)
    assert_same(host, device)


def test_ensemble_with_per_model_switching():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1.7, 1.7, (40, 1)).astype(np.float32)
    test_x = rng.uniform(-1.7, 1.7, (20, 1)).astype(np.float32)

    def run():
        def build():
            return ng.Sequential(ng.Dense(1, 2), ng.ReLU(derivative="ad", k=3.5), ng.Dense(2, 1))

        net = from_seeds(build, [3, 7, 11])
        trainer = Trainer(
            net,
            ng.MSE(),
            ng.Adam([flat_parameter(net)], lr=0.02),
            (x, np.abs(x)),
            (test_x, np.abs(test_x)),
            batch_size=8,
            rng=[3, 7, 11],
            callbacks=[SwitchingRule(net, A=0.995)],
            progress=False,
        )
        history = trainer.fit(4)
        row = history.to_dict()
        row.pop("time_s")
        return [row, params_of(net)]

    host, device = on_both(run)
    assert_same(host, device)


def test_regularized_relu_network_and_its_scale_tools():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (4, 1, 6, 6)).astype(np.float32)
    y = np.array([0, 1, 1, 0])

    def run():
        ng.seed(0)
        net = ng.Sequential(
            ng.Conv2D(1, 2, 3, padding=1),
            RegularizedReLU(),
            ng.AvgPool2D(2),
            ng.Flatten(),
            ng.Dense(18, 4),
            RegularizedReLU(derivative="ad"),
            ng.Dense(4, 2),
        )
        loss = ng.SoftmaxCrossEntropy()
        loss.forward(net(backend.asarray(x)), backend.asarray(y))
        net.backward(loss.backward())
        scale = suggest_input_scale(net, x, target=0.5)
        return [grads_of(net), scale, activation_scales(net, x)]

    host, device = on_both(run)
    assert_same(host, device)


def test_checkpoint_save_and_load_on_the_device(tmp_path):
    x, y = classes()
    net, opt = mlp(), None
    backend.use("cupy", module=strict_cupy)
    net.to("cupy")
    opt = ng.SGD(net.parameters(), lr=0.1, momentum=0.9)
    history = ng.fit(net, ng.SoftmaxCrossEntropy(), opt, (x, y), epochs=2, batch_size=8, progress=False)
    path = ng.save_checkpoint(tmp_path / "c.npz", net, opt, history)
    fresh = mlp()
    fresh.to("cupy")
    fresh_opt = ng.SGD(fresh.parameters(), lr=0.1, momentum=0.9)
    ng.load_checkpoint(path, fresh, fresh_opt)
    assert all(isinstance(p.data, strict_cupy.ndarray) for p in fresh.parameters())
    assert all(isinstance(v, strict_cupy.ndarray) for v in fresh_opt.velocity)
    assert_same(params_of(net), params_of(fresh))
    assert_same(
        [backend.to_numpy(v) for v in opt.velocity], [backend.to_numpy(v) for v in fresh_opt.velocity]
    )


def test_gradcheck_with_host_integer_labels_and_the_explicit_recursion(strict_device):
    x, y = classes(n=4)
    net = mlp()
    report = ng.gradcheck(net, ng.SoftmaxCrossEntropy(), x, y, max_entries=6)
    assert report.passed, str(report)
    assert not ng.gradcheck(mlp(derivative="ad"), ng.SoftmaxCrossEntropy(), x, y, max_entries=6).passed
    assert ng.check_layer(ng.Dense(3, 2), np.ones((2, 3)), max_entries=4).passed
    grads = ng.explicit_backward(net, backend.asarray(x), backend.xp.ones((4, 3), dtype=np.float32))
    assert all(isinstance(g, strict_cupy.ndarray) for g in grads.values())


# -------------------------------------------------------------------------- README


def test_readme_gpu_example_runs_on_the_stand_in(strict_device, capsys):
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### GPU") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert 'backend.use("cupy")' in code and 'net.to("cupy")' in code
    exec(compile(code, "README-gpu", "exec"), {})
    out = capsys.readouterr().out
    assert "loss" in out


# ----------------------------------------------------------------------- sync budget


def test_loss_stays_on_the_device_and_labels_are_read_once_when_checked(strict_device):
    logits = backend.asarray(np.zeros((4, 3), dtype=np.float32))
    labels = backend.asarray(np.array([0, 1, 2, 1]))
    value = ng.SoftmaxCrossEntropy(check_labels=False).forward(logits, labels)
    assert isinstance(value, strict_cupy.ndarray) and value.shape == ()
    assert strict_device.syncs == 0
    ng.SoftmaxCrossEntropy().forward(logits, labels)  # checked: one read of (min, max)
    assert strict_device.syncs == 1
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\), got values in \[0, 5\]"):
        ng.SoftmaxCrossEntropy().forward(logits, backend.asarray(np.array([0, 5, 2, 1])))
    ng.MSE().forward(logits, logits)
    assert strict_device.syncs == 2
    assert float(value) == pytest.approx(math.log(3))


def test_clip_by_global_norm_reads_nothing_back(strict_device):
    p = ng.Parameter(backend.xp.zeros((2,), dtype=np.float32), "p")
    q = ng.Parameter(backend.xp.zeros((1,), dtype=np.float32), "q")
    p.grad[...] = backend.asarray(np.array([3.0, 0.0], dtype=np.float32))
    q.grad[...] = backend.asarray(np.array([4.0], dtype=np.float32))
    strict_device.reset()
    norm = ng.clip_by_global_norm([p, q], 1.0)
    assert strict_device.syncs == 0
    assert float(norm) == 5.0
    np.testing.assert_allclose(backend.to_numpy(p.grad), [0.6, 0.0], rtol=1e-6)
    norm = ng.clip_by_global_norm([p, q], 2.0)  # under the limit: factor exactly 1
    np.testing.assert_array_equal(backend.to_numpy(q.grad), np.float32([0.8]))


# ----------------------------------------------------------- every experiment's --quick


def _tiny(load):
    """datasets.load cut to 40 training and 20 test samples: the same code path, in seconds."""

    def tiny_load(*args, **kwargs):
        data = load(*args, **kwargs)
        return dataclasses.replace(
            data,
            x_train=data.x_train[:40],
            y_train=data.y_train[:40],
            x_test=data.x_test[:20],
            y_test=data.y_test[:20],
        )

    return tiny_load


QUICK_OPTIONS = {
    "ad-cifar": "--data cifar10 --epochs 1 --batch-size 10 --arms alexnet-ad-relu"
    " --train-limit 10 --test-limit 10",
    "ad-relu": "--epochs 2 --runs 3 --depths 3 --sets A",
    "ad-sigmoid": "--epochs 2 --runs 3 --depths 3 --sets A",
    "amplify": "--epochs 6 --variants original G-case2 --thresholds 1.0 1.0 0.5 --widths 2 2 4 --hidden 8"
    " --batch-size 20",
    "baselines": "--epochs 1 --depths 4 --width 4 --variants pn bn residual --cost-steps 1",
    "digits-ad": "--epochs 1 --runs 1",
    "ics": "--epochs 2",
    "pn-cnn": "--epochs 1 --variants pn2 --noise-levels 0.2 --width 4",
    "pn-depth": "--epochs 1 --depths 4 --variants pn2",
}


@pytest.mark.parametrize("name", sorted(QUICK_OPTIONS))
def test_every_experiments_quick_run_on_the_device(name, strict_device, tmp_path, monkeypatch, capsys):
    from nanograd_ad import datasets
    from nanograd_ad.cli import main
    from nanograd_ad.experiments import ad_tables, experiments
    from nanograd_ad.experiments import amplify as amplify_experiment

    assert sorted(experiments()) == sorted(QUICK_OPTIONS), "a new experiment needs its --quick run here"
    monkeypatch.setattr(datasets, "load", _tiny(datasets.load))
    monkeypatch.setattr(
        ad_tables,
        "load_data",
        lambda task, seed: (datasets.abs_task if task == "ad-relu" else datasets.compare_task)(
            40, 20, seed=seed
        ),
    )
    timing = amplify_experiment.step_overhead  # its per-step timing: one round of one step here
    monkeypatch.setattr(amplify_experiment, "step_overhead", lambda *a, **k: timing(*a, steps=1, repeats=1))
    options = QUICK_OPTIONS[name].split()
    if name == "ad-cifar":
        write_fake_cifar10(tmp_path / "data" / "cifar-10-batches-py")
        options += ["--data-dir", str(tmp_path / "data")]
    code = main(
        [
            "reproduce",
            name,
            "--quick",
            "--backend",
            "cupy",
            "--out",
            str(tmp_path / "out"),
            "--no-progress",
            *options,
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert backend.name() == "cupy" and backend.xp is strict_cupy  # it ran under the stand-in
    assert (tmp_path / "out" / "results.json").exists()


def _syncs_per_epoch(counts, train, wing=ng, **options):
    """(syncs of the first epoch, of each later epoch) of ``fit`` on a 5-layer MLP built from ``wing``."""

    def run(epochs):
        ng.seed(0)
        net = ng.Sequential(wing.Dense(6, 5), wing.ReLU(), wing.Dense(5, 5), wing.Tanh(), wing.Dense(5, 3))
        flow = GradientFlow()
        net.add_feedback(flow)
        counts.reset()
        ng.fit(
            net, ng.SoftmaxCrossEntropy(), train=train, epochs=epochs, batch_size=8, progress=False, **options
        )
        return counts.syncs, flow

    one, _ = run(1)
    three, flow = run(3)
    counts.reset()
    flow.summary()  # GradientFlow accumulated on the device: reading it all is one copy
    assert counts.syncs == 1
    return one, (three - one) / 2


@pytest.mark.parametrize(
    "options",
    [
        dict(optimizer="sgd", lr=0.1),
        dict(optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=1e-3, clip_value=0.5),
        dict(optimizer="adam", lr=0.01, clip_norm=1.0),
        dict(optimizer="sgd", lr=0.1, check_gradients=False),
    ],
    ids=["sgd", "sgd-momentum-l2-clip-value", "adam-clip-norm", "no-gradient-check"],
)
@pytest.mark.parametrize("wing", [ng, ng.fast], ids=["reference", "fast"])
def test_sync_budget_one_read_per_training_step(strict_device, options, wing):
    """A step reads once (the loss and the gradient check in one copy); an epoch adds its
    loss and accuracy (2); labels are checked on the host, once; clip_norm reads nothing."""
    x, y = classes(n=64)
    steps = 64 // 8
    first, later = _syncs_per_epoch(strict_device, (x, y), wing, **options)
    assert later == steps + 2, f"{later} syncs per epoch of {steps} steps"
    assert first == steps + 2


def test_sync_budget_with_device_data_and_a_test_set(strict_device):
    """Data already on the device: labels are checked once per dataset (one read each), the
    inputs' finiteness once for both sets (one read); batches are gathered there; each epoch's
    evaluation reads its loss and accuracy (2)."""
    x, y = classes(n=64)
    test = classes(n=16, seed=1)
    train = (backend.asarray(x), backend.asarray(y))
    first, later = _syncs_per_epoch(
        strict_device,
        train,
        optimizer="sgd",
        lr=0.1,
        test=(backend.asarray(test[0]), backend.asarray(test[1])),
    )
    assert later == 8 + 2 + 2
    assert first == later + 3  # the two label checks and the data's finiteness check, once


@pytest.mark.parametrize(
    "wing, activation",
    [("reference", "ReLU"), ("fast", "ReLU"), ("fast", "ISigmoid"), ("fast", "Sigmoid")],
)
def test_sync_budget_of_an_ensemble_step_is_zero(strict_device, wing, activation):
    """No read per step, in either wing (the fast ISigmoid's band, the kinds checked once)."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-1.7, 1.7, (64, 1)).astype(np.float32)
    layers = ng if wing == "reference" else ng.fast

    def build():
        return ng.Sequential(layers.Dense(1, 2), getattr(layers, activation)(), layers.Dense(2, 1))

    def run(epochs):
        net = from_seeds(build, [3, 7, 11])
        strict_device.reset()
        Trainer(
            net,
            ng.MSE(),
            ng.Adam([flat_parameter(net)], lr=0.02),
            (x, np.abs(x)),
            batch_size=8,
            rng=[3, 7, 11],
            progress=False,
        ).fit(epochs)
        return strict_device.syncs

    assert (run(3) - run(1)) / 2 == 1  # per epoch: the (E,) losses, read once; 8 steps read nothing


def test_a_bad_label_is_found_by_the_dataset_check(strict_device):
    x, y = classes(n=16)
    y[5] = 7
    with pytest.raises(
        ValueError,
        match=r"SoftmaxCrossEntropy \(train set\): labels must lie in \[0, 3\), got values in \[0, 7\]",
    ):
        ng.fit(mlp(), ng.SoftmaxCrossEntropy(), "sgd", (x, y), epochs=1, lr=0.1, progress=False)
    loss = ng.SoftmaxCrossEntropy()
    ng.fit(mlp(), loss, "sgd", classes(n=16), epochs=1, lr=0.1, progress=False)
    assert loss.check_labels  # the per-batch check is back on after fit


# ------------------------------------------------- batch norm and residual blocks


def resnet_block_net():
    """A conv stem, a projection residual block (conv-BN-ReLU-conv-BN + 1×1 conv-BN), a dense head."""
    ng.seed(3)
    branch = ng.Sequential(
        ng.Conv2D(2, 3, 3, stride=2, padding=1, bias=False),
        ng.BatchNorm2D(3),
        ng.ReLU(),
        ng.Conv2D(3, 3, 3, padding=1, bias=False),
        ng.BatchNorm2D(3),
    )
    shortcut = ng.Sequential(ng.Conv2D(2, 3, 1, stride=2, bias=False), ng.BatchNorm2D(3))
    return ng.Sequential(
        ng.Conv2D(1, 2, 3, padding=1, bias=False),
        ng.BatchNorm2D(2),
        ng.Tanh(),
        ng.Residual(branch, shortcut),
        ng.Flatten(),
        ng.Dense(12, 6),
        ng.BatchNorm1D(6),
        ng.Tanh(),
        ng.Dense(6, 3),
    )


def test_batch_norm_and_residual_blocks_train_and_evaluate_on_the_device():
    """Training mode (batch statistics, running statistics updated), evaluation mode (running
    statistics) and the three-term backward, through a residual block with a projection
    shortcut: bit-identical on both backends, with the running statistics on the device."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((5, 1, 4, 4)).astype(np.float32)
    y = np.array([0, 1, 2, 1, 0])

    def run():
        net = resnet_block_net()
        net.to(backend.name())
        loss = ng.SoftmaxCrossEntropy()
        out = net(backend.asarray(x))
        value = float(loss.forward(out, backend.asarray(y)))
        dx = net.backward(loss.backward())
        buffers = dict(net.named_buffers())
        assert len(buffers) == 10  # 5 batch norms × (running_mean, running_var)
        on_device = backend.name() == "cupy"
        for name, buffer in buffers.items():
            assert isinstance(buffer, strict_cupy.ndarray) == on_device, name
        net.eval()
        evaluated = net(backend.asarray(x))
        net.train()
        return [
            backend.to_numpy(out),
            value,
            backend.to_numpy(dx),
            grads_of(net),
            {name: backend.to_numpy(b) for name, b in buffers.items()},
            backend.to_numpy(evaluated),
        ]

    host, device = on_both(run)
    assert_same(host, device)
    assert not np.array_equal(host[4]["1.running_var"], np.ones(2))  # the statistics did move


def test_batch_norm_network_trains_and_round_trips_a_checkpoint_on_the_device(tmp_path):
    """The trainer (training steps in train mode, evaluation in eval mode) and a checkpoint
    saved on the device and loaded into a fresh device network: the running statistics come
    back, on the device, and evaluation gives the same output; both equal the NumPy run."""
    rng = np.random.default_rng(12)
    x = rng.standard_normal((12, 1, 4, 4)).astype(np.float32)
    y = rng.integers(0, 3, 12)

    def run():
        net = resnet_block_net()
        net.to(backend.name())
        opt = ng.SGD(net.parameters(), lr=0.05, momentum=0.9)
        history = ng.fit(
            net,
            ng.SoftmaxCrossEntropy(),
            opt,
            (x, y),
            epochs=2,
            batch_size=4,
            test=(x, y),
            progress=False,
        )
        path = ng.save_checkpoint(tmp_path / f"bn-{backend.name()}.npz", net, opt, history)
        fresh = resnet_block_net()
        fresh.to(backend.name())
        ng.load_checkpoint(path, fresh, ng.SGD(fresh.parameters(), lr=0.05, momentum=0.9))
        on_device = backend.name() == "cupy"
        restored = dict(fresh.named_buffers())
        for name, buffer in restored.items():
            assert isinstance(buffer, strict_cupy.ndarray) == on_device, name
        assert_same(
            {k: backend.to_numpy(v) for k, v in net.named_buffers()},
            {k: backend.to_numpy(v) for k, v in restored.items()},
        )
        net.eval(), fresh.eval()
        out, again = net(backend.asarray(x)), fresh(backend.asarray(x))
        assert_same(backend.to_numpy(out), backend.to_numpy(again))
        return [params_of(net), {k: backend.to_numpy(v) for k, v in restored.items()}, backend.to_numpy(out)]

    host, device = on_both(run)
    assert_same(host, device)
