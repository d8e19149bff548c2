"""Gradient-flow telemetry matches hand-computed values; contribution maps follow
normalize → keep ≥ 0.3 → channel mean → binarize; plots are written; bad input is refused."""

import numpy as np
import pytest

import nanograd_ad as ng
from nanograd_ad.inspect import (
    KEYS,
    ContributionMap,
    GradientFlow,
    contribution_map,
    plot_contribution_maps,
    plot_delta_profile,
    saturated_fraction,
)
from nanograd_ad.pseudo_normalization import PseudoNormalize


def three_layer_net():
    """Dense(4,5) → tanh → Dense(5,5) → tanh → Dense(5,3); W^1 scaled up so some units saturate."""
    ng.seed(11)
    net = ng.Sequential(ng.Dense(4, 5), ng.Tanh(), ng.Dense(5, 5), ng.Tanh(), ng.Dense(5, 3)).astype(
        np.float64
    )
    net.layers[0].weight.data *= 8
    return net


def rms(v):
    return float(np.sqrt(np.mean(np.asarray(v) ** 2)))


def hand_values(net, x, y, two_path=False):
    """Forward and backward written out; returns {key: {depth: value}} like GradientFlow's."""
    W = [net.layers[i].weight.data for i in (0, 2, 4)]
    b = [net.layers[i].bias.data for i in (0, 2, 4)]
    a0 = x
    a1 = np.tanh(a0 @ W[0] + b[0])
    a2 = np.tanh(a1 @ W[1] + b[1])
    z3 = a2 @ W[2] + b[2]
    p = np.exp(z3 - z3.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    delta3 = (p - np.eye(3)[y]) / len(x)  # δ^3 = (p − y)/N
    d2, d1 = 1 - a2**2, 1 - a1**2
    scale2 = np.sqrt(np.mean(d2**2, axis=1, keepdims=True)) + 1e-8
    scale1 = np.sqrt(np.mean(d1**2, axis=1, keepdims=True)) + 1e-8
    delta2 = (delta3 @ W[2].T) * d2  # e^2 (local) = δ^2 without PN
    carried2 = delta2 / scale2 if two_path else delta2  # PN at layer 2 (period 2: 2, then 0)
    delta1 = (carried2 @ W[1].T) * d1
    values = {
        "delta": {1: rms(delta1), 2: rms(delta2), 3: rms(delta3)},
        "carried": {1: rms(delta1), 2: rms(carried2), 3: rms(delta3)},
        "d": {1: rms(d1), 2: rms(d2), 3: None},
        "weight_grad": {1: rms(a0.T @ delta1), 2: rms(a1.T @ delta2), 3: rms(a2.T @ delta3)},
        "bias_grad": {1: rms(delta1.sum(0)), 2: rms(delta2.sum(0)), 3: rms(delta3.sum(0))},
        "saturated": {1: float(np.mean(np.abs(a1) > 0.99)), 2: float(np.mean(np.abs(a2) > 0.99)), 3: None},
    }
    return values, scale1


def step(net, x, y):
    loss = ng.SoftmaxCrossEntropy()
    loss.forward(net(x), y)
    net.zero_grad()
    return net.backward(loss.backward())


@pytest.mark.parametrize("two_path", [False, True])
def test_telemetry_on_a_three_layer_net_matches_hand_computed_values(two_path):
    net = three_layer_net()
    if two_path:
        net.add_feedback(PseudoNormalize(period=2, start=1, two_path=True))  # PN at L−1 = 2
    flow = GradientFlow()
    net.add_feedback(flow)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 4)), np.array([0, 1, 2, 2, 1, 0])
    step(net, x, y)
    expected, _ = hand_values(net, x, y, two_path)
    assert 0 < expected["saturated"][1] < 1  # the test sees some saturated units
    assert flow.steps == 1 and flow.recorded_steps == [0]
    for key in KEYS:
        for depth, value in expected[key].items():
            got = flow.series(key, depth)
            assert got.shape == (1,)
            if value is None:
                assert np.isnan(got[0]), (key, depth)
            else:
                np.testing.assert_allclose(got[0], value, rtol=1e-12, err_msg=f"{key} at layer {depth}")
    if two_path:
        assert flow.series("carried", 2)[0] > flow.series("delta", 2)[0]
    else:
        np.testing.assert_array_equal(flow.series("carried", 2), flow.series("delta", 2))
    rows = flow.summary()
    assert [r["depth"] for r in rows] == [1, 2, 3]
    assert rows[0]["layer"] == "Dense(4, 5) → Tanh()" and rows[2]["layer"] == "Dense(5, 3)"
    np.testing.assert_allclose(rows[1]["weight_grad"], expected["weight_grad"][2], rtol=1e-12)


def test_telemetry_is_an_observer_records_every_kth_step_and_resets():
    net, plain = three_layer_net(), three_layer_net()
    flow = GradientFlow(every=2)
    net.add_feedback(flow)
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((5, 4)) for _ in range(5)]
    y = np.array([0, 1, 2, 0, 1])
    for x in xs:
        dx = step(net, x, y)
        np.testing.assert_array_equal(dx, step(plain, x, y))  # nothing changed by watching
    assert flow.steps == 5 and flow.recorded_steps == [0, 2, 4]
    expected = [hand_values(net, xs[i], y)[0]["delta"][1] for i in (0, 2, 4)]
    np.testing.assert_allclose(flow.series("delta", 1), expected, rtol=1e-12)
    depths, values = flow.profile("delta")
    np.testing.assert_array_equal(depths, [1, 2, 3])
    np.testing.assert_allclose(values[0], np.mean(expected), rtol=1e-12)
    np.testing.assert_allclose(flow.profile("delta", step=-1)[1][0], expected[-1], rtol=1e-12)
    flow.reset()
    assert flow.steps == 0 and flow.series("delta", 1).size == 0


def test_saturated_and_dead_fractions():
    z = np.array([[-3.0, -0.5, 0.5, 3.0]])
    for act, expected in [(ng.Tanh(), 0.5), (ng.Sigmoid(), 0.0), (ng.ReLU(), 0.5), (ng.LeakyReLU(), 0.5)]:
        act.forward(z)
        assert float(saturated_fraction(act)) == expected, act
    sig = ng.Sigmoid()
    sig.forward(np.array([[-6.0, 6.0, 0.0]]))  # σ(±6) is within 0.0025 of 0 / 1
    assert float(saturated_fraction(sig)) == pytest.approx(2 / 3)
    assert saturated_fraction(ng.Identity()) is None


def test_conv_network_telemetry_finds_activation_above_a_pool():
    ng.seed(0)
    net = ng.Sequential(
        ng.Conv2D(1, 2, 3, padding=1), ng.MaxPool2D(2), ng.ReLU(), ng.Flatten(), ng.Dense(8, 2)
    )
    flow = GradientFlow()
    net.add_feedback(flow)
    assert flow.activation_above == {0: 2} and flow.depth == {0: 1, 4: 2}
    x = np.random.default_rng(0).standard_normal((3, 1, 4, 4)).astype(np.float32)
    step(net, x, np.array([0, 1, 0]))
    np.testing.assert_allclose(flow.series("saturated", 1)[0], np.mean(net.layers[2].z < 0))
    assert flow.series("weight_grad", 1)[0] > 0


def test_gradient_flow_refuses_bad_settings_and_networks():
    for every in (0, -1, 1.5):
        with pytest.raises(ValueError, match="every must be an int ≥ 1"):
            GradientFlow(every=every)
    with pytest.raises(ValueError, match="saturation must lie in"):
        GradientFlow(saturation=1.0)
    with pytest.raises(ValueError, match="no Dense or Conv2D layer to watch"):
        ng.Sequential(ng.Tanh(), feedback=[GradientFlow()])
    flow = GradientFlow()
    three_layer_net().add_feedback(flow)
    with pytest.raises(ValueError, match="nothing recorded yet"):
        flow.profile()
    with pytest.raises(ValueError, match="key must be one of"):
        flow.series("grad", 1)
    with pytest.raises(ValueError, match=r"depth must be one of \[1, 2, 3\]"):
        flow.series("delta", 4)


# ------------------------------------------------------------------ contribution maps


def test_contribution_map_steps_by_hand():
    ng.seed(4)
    net = ng.Sequential(ng.Flatten(), ng.Dense(2 * 3 * 3, 4), ng.Tanh(), ng.Dense(4, 3)).astype(np.float64)
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((2, 2, 3, 3)), np.array([2, 0])
    for p in net.parameters():
        p.grad[...] = 7.0  # some training state to keep
    maps = contribution_map(net, ng.SoftmaxCrossEntropy(), x, y)
    assert all(np.all(p.grad == 7.0) for p in net.parameters())

    W1, b1, W2, b2 = (p.data for p in net.parameters())
    flat = x.reshape(2, -1)
    a1 = np.tanh(flat @ W1 + b1)
    z2 = a1 @ W2 + b2
    prob = np.exp(z2 - z2.max(1, keepdims=True))
    prob /= prob.sum(1, keepdims=True)
    g = ((((prob - np.eye(3)[y]) / 2) @ W2.T) * (1 - a1**2)) @ W1.T
    g = g.reshape(x.shape)  # ∂C/∂x
    np.testing.assert_allclose(maps.gradient, g, rtol=1e-12)
    r = np.abs(g * x)
    for n in range(2):
        m = (r[n] - r[n].min()) / (r[n].max() - r[n].min())
        kept = np.where(m >= 0.3, m, 0.0)
        np.testing.assert_allclose(maps.importance[n], m, rtol=1e-12)
        assert maps.importance[n].min() == 0 and maps.importance[n].max() == 1
        np.testing.assert_allclose(maps.kept[n], kept, rtol=1e-12)
        np.testing.assert_allclose(maps.gray[n], kept.mean(axis=0), rtol=1e-12)
        np.testing.assert_array_equal(maps.binary[n], kept.mean(axis=0) > 0)
    assert maps.gray.shape == (2, 3, 3) and maps.binary.dtype == bool
    strict = contribution_map(net, ng.SoftmaxCrossEntropy(), x, y, keep=0.9)
    assert strict.binary.sum() < maps.binary.sum()


def test_contribution_map_of_flat_inputs_and_bad_keep():
    ng.seed(1)
    net = ng.Sequential(ng.Dense(16, 4), ng.Tanh(), ng.Dense(4, 2)).astype(np.float64)
    x = np.random.default_rng(0).standard_normal((3, 16))
    maps = contribution_map(net, ng.SoftmaxCrossEntropy(), x, np.array([0, 1, 1]), image_shape=(1, 4, 4))
    assert maps.importance.shape == (3, 1, 4, 4) and maps.gray.shape == (3, 4, 4)
    np.testing.assert_allclose(maps.gray, maps.kept[:, 0])
    with pytest.raises(ValueError, match="keep must lie in"):
        contribution_map(net, ng.SoftmaxCrossEntropy(), x, np.array([0, 1, 1]), keep=1.5)
    flat = contribution_map(net, ng.SoftmaxCrossEntropy(), x, np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="not images"):
        plot_contribution_maps(x, flat)


# --------------------------------------------------------------------------- plots


def test_plots_are_written(tmp_path):
    nets = {"plain": three_layer_net(), "PN": three_layer_net()}
    nets["PN"].add_feedback(PseudoNormalize(period=1, two_path=True))
    flows = {}
    x, y = np.random.default_rng(0).standard_normal((6, 4)), np.array([0, 1, 2, 2, 1, 0])
    for label, net in nets.items():
        flows[label] = GradientFlow()
        net.add_feedback(flows[label])
        step(net, x, y)
    fig = plot_delta_profile(
        {**flows, "given": (np.array([1, 2, 3]), np.array([1e-3, 1e-2, 1e-1]))},
        path=tmp_path / "delta.png",
        title="test",
    )
    assert (tmp_path / "delta.png").stat().st_size > 0
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and len(ax.get_lines()) == 3
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), flows["plain"].profile("delta")[1])

    rgb = np.random.default_rng(1).standard_normal((3, 3, 4, 4))
    maps = ContributionMap(rgb, np.abs(rgb) / np.abs(rgb).max(), rgb, rgb.mean(1), rgb.mean(1) > 0)
    fig = plot_contribution_maps(rgb, maps, path=tmp_path / "maps.png", count=2, titles=["a", "b"])
    assert (tmp_path / "maps.png").stat().st_size > 0
    assert (
        len(fig.axes) == 6 and fig.axes[0].get_title() == "input" and fig.axes[2].get_title() == "binarized"
    )
    assert fig.axes[1].get_images()[0].get_array().shape == (4, 4, 3)  # RGB map
