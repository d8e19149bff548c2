"""Sequential: the modular backward equals the explicit recursion (true and AD derivatives)."""

import numpy as np
import pytest

import nanograd_ad as ng


def mlp(derivative="true", act=ng.ReLU, **kw):
    ng.seed(7)
    return ng.Sequential(
        ng.Dense(4, 5, weight_init="he_normal"),
        act(derivative=derivative, **kw),
        ng.Dense(5, 5, weight_init="he_normal"),
        act(derivative=derivative, **kw),
        ng.Dense(5, 3, weight_init="he_normal"),
    ).astype(np.float64)


@pytest.mark.parametrize(
    "net",
    [
        lambda: mlp(),
        lambda: mlp("ad", k=3.5),
        lambda: mlp("ad", act=ng.Sigmoid),
        lambda: mlp(act=ng.Tanh),
    ],
)
def test_modular_backward_equals_explicit_recursion(net):
    net = net()
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 4)), np.array([0, 1, 2, 0, 1, 2])
    loss = ng.SoftmaxCrossEntropy()
    loss.forward(net(x), y)
    delta_top = loss.backward()
    net.zero_grad()
    dx = net.backward(delta_top)
    expected = ng.explicit_backward(net, x, delta_top)
    for name, p in net.named_parameters():
        np.testing.assert_allclose(p.grad, expected[name], rtol=1e-12, atol=1e-15, err_msg=name)
    np.testing.assert_allclose(dx, expected["input"], rtol=1e-12, atol=1e-15)


def test_gradcheck_passes_with_true_and_fails_with_artificial_derivative():
    x = np.random.default_rng(1).standard_normal((6, 4)) * 2
    y = np.array([0, 1, 2, 0, 1, 2])
    assert ng.gradcheck(mlp(), ng.SoftmaxCrossEntropy(), x, y).passed
    report = ng.gradcheck(mlp("ad", k=3.5), ng.SoftmaxCrossEntropy(), x, y)
    assert not report.passed and report.max_rel_error > 1e-2
    with pytest.raises(
        ng.GradcheckError, match=r"0.weight: max rel error .* at index \(\d+, \d+\): analytic"
    ):
        ng.gradcheck(mlp("ad", k=3.5), ng.SoftmaxCrossEntropy(), x, y, raise_on_fail=True)


def test_backward_accumulates_until_zero_grad():
    net = mlp()
    x = np.random.default_rng(0).standard_normal((3, 4))
    net(x)
    net.backward(np.ones((3, 3)))
    once = net.layers[0].weight.grad.copy()
    net(x)
    net.backward(np.ones((3, 3)))
    np.testing.assert_allclose(net.layers[0].weight.grad, 2 * once)
    net.zero_grad()
    assert not net.layers[0].weight.grad.any()


def test_state_dict_round_trip_and_architecture_mismatch():
    a, b = mlp(), mlp()
    for p in b.parameters():
        p.data += 1
    b.load_state_dict(a.state_dict())
    assert all(np.array_equal(a.state_dict()[k], v) for k, v in b.state_dict().items())
    wrong = ng.Sequential(ng.Dense(4, 6), ng.ReLU(), ng.Dense(6, 5), ng.ReLU(), ng.Dense(5, 3))
    with pytest.raises(ValueError, match=r"parameter 0.weight expects shape \(4, 6\), found \(4, 5\)"):
        wrong.load_state_dict(a.state_dict())
    with pytest.raises(ValueError, match=r"missing \['4.bias', '4.weight'\]"):
        mlp().load_state_dict(ng.Sequential(ng.Dense(4, 5), ng.ReLU(), ng.Dense(5, 5)).state_dict())


def test_load_state_dict_copies_so_networks_never_share_weights():
    state = mlp().state_dict()
    a, b = mlp(), mlp()
    a.load_state_dict(state)
    b.load_state_dict(state)
    a.layers[0].weight.data += 1.0
    np.testing.assert_array_equal(b.layers[0].weight.data, state["0.weight"])
    assert not np.shares_memory(a.layers[0].weight.data, state["0.weight"])


def test_shape_errors_name_the_layer():
    net = ng.Sequential(ng.Conv2D(1, 2, 3), ng.ReLU(), ng.Flatten(), ng.Dense(10, 3))
    with pytest.raises(
        ValueError, match=r"Sequential layer 3: Dense\(10, 3\) expects input of shape \(N, 10\), got \(2, 8\)"
    ):
        net(np.zeros((2, 1, 4, 4), np.float32))
    with pytest.raises(
        ValueError, match=r"Sequential layer 3: Dense\(10, 3\) expects per-sample input \(10,\), got \(8,\)"
    ):
        net.build((1, 4, 4))
    with pytest.raises(TypeError, match="argument 1 is a str"):
        ng.Sequential(ng.ReLU(), "relu")


def test_non_finite_values_name_layer_and_pass():
    net = ng.Sequential(ng.Dense(2, 2), ng.ReLU(), ng.Dense(2, 1))
    net.check_finite = True
    net.layers[2].weight.data[0, 0] = np.inf
    with (
        pytest.raises(ng.NonFiniteError, match=r"forward pass: output of layer 2 \(Dense\(2, 1\)\)") as err,
        np.errstate(invalid="ignore"),
    ):  # the Inf is planted on purpose
        net(np.ones((3, 2), np.float32))
    assert err.value.layer_index == 2 and err.value.pass_name == "forward"
    net.layers[2].weight.data[0, 0] = 1.0
    net(np.ones((3, 2), np.float32))
    with pytest.raises(ng.NonFiniteError, match="backward pass"):
        net.backward(np.full((3, 1), np.nan, np.float32))


def test_feedback_seam_sees_every_layer_in_order():
    seen = []

    class Recorder(ng.FeedbackRule):
        def before_layer(self, index, layer, delta):
            seen.append(("in", index))
            return delta

        def after_layer(self, index, layer, delta):
            seen.append(("out", index))
            return 2 * delta if index == 2 else delta

    net = mlp()
    x = np.random.default_rng(0).standard_normal((3, 4))
    net(x)
    plain = net.backward(np.ones((3, 3))).copy()
    net.add_feedback(Recorder())
    net(x)
    np.testing.assert_allclose(net.backward(np.ones((3, 3))), 2 * plain)
    assert seen == [(side, i) for i in range(4, -1, -1) for side in ("in", "out")]


def test_describe_lists_shapes_and_parameters():
    net = ng.Sequential(
        ng.Conv2D(1, 2, 3, padding=1), ng.ReLU(), ng.MaxPool2D(2), ng.Flatten(), ng.Dense(32, 3)
    )
    assert net.build((1, 8, 8)) == (3,)
    text = net.describe()
    assert "(2, 4, 4)" in text and "total parameters: 119" in text


def test_gradcheck_resolution_floor_keeps_tiny_correct_gradients_and_catches_small_errors():
    """Entries of ~1e-6 sit near the difference quotient's resolution ε·C/h; a correct
    backward must pass there, and a derivative wrong by 0.1% must still fail."""
    ng.seed(0)
    net = ng.Sequential(
        ng.Conv2D(1, 4, 3, padding=1),
        ng.Tanh(),
        ng.MaxPool2D(2),
        ng.Conv2D(4, 3, 3, stride=2, padding=1),
        ng.Sigmoid(),
        ng.AvgPool2D(2),
        ng.Flatten(),
        ng.Dense(3, 5),
        ng.LeakyReLU(),
        ng.Dense(5, 3),
    )
    x, y = np.random.default_rng(1).standard_normal((4, 1, 8, 8)), np.array([0, 1, 2, 1])
    report = ng.gradcheck(net, ng.SoftmaxCrossEntropy(), x, y)
    assert report.passed, str(report)
    assert min(abs(p.analytic) for p in report.params) < 1e-5  # tiny entries were checked
    assert 1e-10 < report.atol < 1e-9 and "floored at" in str(report)
    net.layers[1].set_derivative(lambda z, a: 1.001 * (1 - a * a))
    wrong = ng.gradcheck(net, ng.SoftmaxCrossEntropy(), x, y)
    assert not wrong.passed and wrong.max_rel_error > 5e-4


def small_cnn():
    ng.seed(5)
    return ng.Sequential(
        ng.Conv2D(2, 3, 3, padding=1),
        ng.ReLU(derivative="ad", k=3.5),
        ng.MaxPool2D(2),
        ng.Flatten(),
        ng.Dense(12, 3),
    ).astype(np.float64)


@pytest.mark.parametrize(
    "build, rules",
    [
        (small_cnn, list),
        (mlp, list),
        (mlp, lambda: [ng.PseudoNormalize(period=1, two_path=True)]),
        (mlp, lambda: [ng.PseudoNormalize(period=1)]),
        (mlp, lambda: [ng.Amplify(4.0, selected=[0, 2])]),
        (small_cnn, lambda: [ng.Amplify(4.0, scope="backward", selected=[0]), ng.GradientFlow()]),
    ],
)
def test_backward_without_input_grad_keeps_every_gradient_and_returns_none(build, rules):
    """input_grad=False: backward returns None; every param.grad equals the default path's,
    feedback rules included (PN's carried scale at the bottom, amplification, recorders)."""
    rng = np.random.default_rng(1)
    net = build()
    x = rng.standard_normal((4,) + ((2, 4, 4) if isinstance(net[0], ng.Conv2D) else (4,)))
    upstream = rng.standard_normal((4, 3))
    grads = []
    for input_grad in (True, False):
        for rule in list(net.feedback):
            net.feedback.remove(rule)
        for rule in rules():
            net.add_feedback(rule)
        net.check_finite = not input_grad  # the finite check also runs on the None error
        net.zero_grad()
        net(x)
        result = net.backward(upstream, input_grad=input_grad)
        assert (result is None) == (not input_grad)
        if input_grad:
            assert result.shape == x.shape
        grads.append([p.grad.copy() for p in net.parameters()])
    for with_dx, without_dx in zip(*grads):
        np.testing.assert_array_equal(with_dx, without_dx)


def test_weight_layers_skip_the_input_error_on_request():
    rng = np.random.default_rng(2)
    for layer, shape in [(ng.Conv2D(2, 3, 3, padding=1), (2, 2, 5, 5)), (ng.Dense(4, 3), (5, 4))]:
        assert layer.skips_input_grad
        x = rng.standard_normal(shape).astype(np.float32)
        delta = rng.standard_normal(layer.forward(x).shape).astype(np.float32)
        assert layer.backward(delta).shape == x.shape
        full = [p.grad.copy() for p in layer.parameters()]
        for p in layer.parameters():
            p.zero_grad()
        assert layer.backward(delta, input_grad=False) is None
        for before, p in zip(full, layer.parameters()):
            np.testing.assert_array_equal(before, p.grad)
    assert not ng.ReLU().skips_input_grad and not ng.MaxPool2D(2).skips_input_grad
