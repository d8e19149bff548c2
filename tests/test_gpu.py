"""The key paths on real CuPy and a GPU (marker ``gpu``; ``pytest -m gpu`` runs only these).

Skipped, with the reason, where CuPy is not installed or finds no GPU. Results are compared
with the NumPy run of the same seed: float64 to tight tolerances (a GPU sums in another
order, so not bit for bit), and the moves and errors exactly as on the strict stand-in.
"""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

import nanograd_ad as ng
from nanograd_ad import backend

ROOT = Path(__file__).resolve().parent.parent


def _why_not() -> str | None:
    if importlib.util.find_spec("cupy") is None:
        return "CuPy is not installed (pip install -e '.[gpu]')"
    try:
        import cupy

        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # driver missing or broken
        return f"CuPy finds no usable GPU ({type(err).__name__}: {err})"
    return None if count > 0 else "CuPy finds no GPU"


REASON = _why_not()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(REASON is not None, reason=str(REASON))]


@pytest.fixture
def gpu():
    backend.use("cupy")
    yield backend.xp
    backend.use("numpy")


def on_both(run):
    """``run()`` under NumPy, then under CuPy: (host result, GPU result), both on the host."""
    backend.use("numpy")
    on_host = run()
    backend.use("cupy")
    try:
        on_gpu = run()
    finally:
        backend.use("numpy")
    return on_host, on_gpu


def assert_close(host, device, rtol=1e-10, path="result"):
    if isinstance(host, dict):
        for k in host:
            assert_close(host[k], device[k], rtol, f"{path}[{k!r}]")
    elif isinstance(host, (list, tuple)):
        assert len(host) == len(device), path
        for i, (h, d) in enumerate(zip(host, device)):
            assert_close(h, d, rtol, f"{path}[{i}]")
    else:
        np.testing.assert_allclose(
            backend.to_numpy(device), backend.to_numpy(host), rtol=rtol, atol=1e-12, err_msg=path
        )


def test_same_seed_gives_bit_identical_initial_weights(gpu):
    def build():
        ng.seed(7)
        net = ng.Sequential(ng.Conv2D(1, 2, 3, padding=1), ng.Tanh(), ng.Flatten(), ng.Dense(32, 3))
        return {name: backend.to_numpy(p.data) for name, p in net.named_parameters()}

    host, device = on_both(build)
    for name in host:
        np.testing.assert_array_equal(host[name], device[name], err_msg=name)


def test_cnn_forward_backward_matches_numpy_in_float64():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 2, 8, 8))
    y = np.array([0, 2, 1, 1])

    def run():
        backend.set_default_dtype("float64")
        ng.seed(0)
        net = ng.Sequential(
            ng.Conv2D(2, 3, 3, padding=1),
            ng.ReLU(),
            ng.MaxPool2D(2),
            ng.Conv2D(3, 4, 3, stride=2),
            ng.Tanh(),
            ng.Flatten(),
            ng.Dense(4, 3),
        )
        loss = ng.SoftmaxCrossEntropy()
        value = loss.forward(net(backend.asarray(x)), backend.asarray(y))
        dx = net.backward(loss.backward())
        grads = {name: backend.to_numpy(p.grad) for name, p in net.named_parameters()}
        return [float(value), backend.to_numpy(dx), grads]

    host, device = on_both(run)
    assert_close(host, device)


def test_training_two_path_pn_and_gradient_flow_match_numpy():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 6)), rng.integers(0, 3, 32)

    def run():
        backend.set_default_dtype("float64")
        ng.seed(2)
        net = ng.Sequential(ng.Dense(6, 8), ng.Tanh(), ng.Dense(8, 8), ng.Tanh(), ng.Dense(8, 3))
        net.add_feedback(ng.PseudoNormalize(two_path=True))
        flow = ng.GradientFlow()
        net.add_feedback(flow)
        history = ng.fit(
            net,
            ng.SoftmaxCrossEntropy(),
            "adam",
            (x, y),
            epochs=3,
            batch_size=8,
            progress=False,
            lr=0.01,
            clip_norm=1.0,
            weight_decay=1e-3,
        )
        return [history.train_loss, flow.profile("delta")[1]]

    host, device = on_both(run)
    assert_close(host, device, rtol=1e-8)


def test_gradcheck_on_the_gpu_with_host_labels(gpu):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4, 5)), rng.integers(0, 3, 4)
    ng.seed(1)
    net = ng.Sequential(ng.Dense(5, 4), ng.Tanh(), ng.Dense(4, 3))
    assert ng.gradcheck(net, ng.SoftmaxCrossEntropy(), x, y).passed


def test_net_to_round_trip_and_the_mismatch_error(gpu):
    x = np.ones((2, 3), dtype=np.float32)
    backend.use("numpy")
    ng.seed(0)
    net = ng.Sequential(ng.Dense(3, 2))
    opt = ng.Adam(net.parameters(), lr=0.1)
    before = backend.to_numpy(net[0].weight.data).copy()
    backend.use("cupy")
    net.to("cupy")
    opt.to("cupy")
    assert all(isinstance(a, gpu.ndarray) for a in [net[0].weight.data, net[0].weight.grad, *opt.m, *opt.v])
    with pytest.raises(backend.DeviceMismatchError, match=r"backend\.asarray\(x\)"):
        net(x)
    assert isinstance(net(backend.asarray(x)), gpu.ndarray)
    net.to("numpy")
    np.testing.assert_array_equal(net[0].weight.data, before)


def test_ensemble_matches_numpy():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1.7, 1.7, (40, 1))
    test_x = rng.uniform(-1.7, 1.7, (20, 1))

    def run():
        from nanograd_ad.ensemble import flat_parameter, from_seeds

        backend.set_default_dtype("float64")
        net = from_seeds(
            lambda: ng.Sequential(ng.Dense(1, 2), ng.ReLU(derivative="ad", k=3.5), ng.Dense(2, 1)), [3, 7]
        )
        trainer = ng.Trainer(
            net,
            ng.MSE(),
            ng.Adam([flat_parameter(net)], lr=0.02),
            (x, np.abs(x)),
            (test_x, np.abs(test_x)),
            batch_size=8,
            rng=[3, 7],
            callbacks=[ng.SwitchingRule(net, A=0.995)],
            progress=False,
        )
        history = trainer.fit(3)
        return [history.column("train_loss"), history.column("test_loss")]

    host, device = on_both(run)
    assert_close(host, device, rtol=1e-8)


def test_readme_gpu_example(gpu, capsys):
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme[readme.index("### GPU") :], re.S).group(1)
    exec(compile(code, "README-gpu", "exec"), {})
    assert "accuracy" in capsys.readouterr().out
