"""Batch normalization: finite differences in training and evaluation, hand-computed running
statistics, the three-term backward's zero sums, train/eval switching, state and checkpoints."""

import numpy as np
import pytest

import nanograd_ad as ng
from nanograd_ad import backend


def _bn(layer, rng):
    """Non-trivial γ, β (the defaults 1, 0 would hide a wrong γ in the backward)."""
    layer.weight.data[...] = rng.uniform(0.5, 2.0, layer.weight.shape)
    layer.bias.data[...] = rng.standard_normal(layer.bias.shape)
    return layer


@pytest.mark.parametrize(
    "layer, shape", [(lambda: ng.BatchNorm1D(4), (6, 4)), (lambda: ng.BatchNorm2D(3), (4, 3, 3, 2))]
)
def test_finite_differences_in_training_mode(layer, shape):
    backend.set_default_dtype("float64")
    rng = np.random.default_rng(0)
    bn = _bn(layer(), rng)
    report = ng.check_layer(bn, rng.standard_normal(shape) * 2 + 0.5)
    assert report.passed, str(report)


@pytest.mark.parametrize(
    "layer, shape", [(lambda: ng.BatchNorm1D(4), (6, 4)), (lambda: ng.BatchNorm2D(3), (4, 3, 3, 2))]
)
def test_finite_differences_in_evaluation_mode(layer, shape):
    backend.set_default_dtype("float64")
    rng = np.random.default_rng(1)
    bn = _bn(layer(), rng)
    bn.running_mean = rng.standard_normal(bn.num_features)
    bn.running_var = rng.uniform(0.5, 2.0, bn.num_features)
    net = ng.Sequential(bn).eval()
    report = ng.gradcheck(net, None, rng.standard_normal(shape))
    assert report.passed, str(report)


def test_finite_differences_inside_a_network_with_a_loss():
    backend.set_default_dtype("float64")
    rng = np.random.default_rng(2)
    net = ng.Sequential(
        ng.Conv2D(2, 3, 3, padding=1, bias=False),
        _bn(ng.BatchNorm2D(3), rng),
        ng.Tanh(),
        ng.Flatten(),
        ng.Dense(3 * 4 * 4, 5),
        _bn(ng.BatchNorm1D(5), rng),
        ng.Tanh(),
        ng.Dense(5, 3),
    )
    x, y = rng.standard_normal((4, 2, 4, 4)), np.array([0, 1, 2, 1])
    report = ng.gradcheck(net, ng.SoftmaxCrossEntropy(), x, y)
    assert report.passed, str(report)


def test_a_wrong_backward_is_caught():
    """Drop the σ² term of the three-term form: finite differences must fail."""
    backend.set_default_dtype("float64")
    rng = np.random.default_rng(3)

    class TwoTerms(ng.BatchNorm1D):
        def backward(self, delta):
            super().backward(delta)
            scale = self.weight.data * self.inv_std
            return scale * (delta - delta.mean(axis=0, keepdims=True))

    report = ng.check_layer(_bn(TwoTerms(3), rng), rng.standard_normal((5, 3)))
    assert not report.passed


def test_hand_computed_forward_and_running_statistics():
    backend.set_default_dtype("float64")
    bn = ng.BatchNorm1D(1, eps=0.0 + 1e-12)
    y = bn(np.array([[1.0], [3.0]]))  # μ = 2, σ² = 1 (biased), unbiased 2
    np.testing.assert_allclose(y[:, 0], [-1.0, 1.0], atol=1e-9)
    np.testing.assert_allclose(bn.running_mean, [0.9 * 0 + 0.1 * 2])
    np.testing.assert_allclose(bn.running_var, [0.9 * 1 + 0.1 * 2])
    bn(np.array([[0.0], [4.0], [8.0]]))  # μ = 4, unbiased σ² = 16
    np.testing.assert_allclose(bn.running_mean, [0.9 * 0.2 + 0.1 * 4])
    np.testing.assert_allclose(bn.running_var, [0.9 * 1.1 + 0.1 * 16])
    bn.training = False
    np.testing.assert_allclose(bn(np.array([[0.58]]))[0, 0], 0.0, atol=1e-9)  # (x − 0.58) / …


def test_the_input_gradient_sums_to_zero_over_the_batch():
    """Σ_i ∂C/∂x_i = 0 and Σ_i x̂_i ∂C/∂x_i = 0, per feature (the three-term form's two sums)."""
    backend.set_default_dtype("float64")
    rng = np.random.default_rng(4)
    bn = _bn(ng.BatchNorm2D(3), rng)
    bn(rng.standard_normal((5, 3, 2, 2)) * 3 + 1)
    dx = bn.backward(rng.standard_normal((5, 3, 2, 2)))
    np.testing.assert_allclose(dx.sum(axis=(0, 2, 3)), 0, atol=1e-12)
    # the second holds up to ε (mean x̂² = σ² / (σ² + ε)): exact with a negligible ε
    tight = _bn(ng.BatchNorm2D(3, eps=1e-14), rng)
    tight(rng.standard_normal((5, 3, 2, 2)) * 3 + 1)
    dx = tight.backward(rng.standard_normal((5, 3, 2, 2)))
    np.testing.assert_allclose((dx * tight.x_hat).sum(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(dx.sum(axis=(0, 2, 3)), 0, atol=1e-12)
    bn.training = False  # in evaluation μ and σ² are constants: no such constraint
    bn(rng.standard_normal((5, 3, 2, 2)))
    assert np.abs(bn.backward(rng.standard_normal((5, 3, 2, 2))).sum(axis=(0, 2, 3))).max() > 1e-3


def test_batch_of_one_is_refused_in_training_and_accepted_in_evaluation():
    bn = ng.BatchNorm1D(3)
    with pytest.raises(ValueError, match=r"more than one value per feature.*\(1, 3\)"):
        bn(np.ones((1, 3), dtype=np.float32))
    net = ng.Sequential(ng.Dense(2, 3), bn).eval()
    assert net(np.ones((1, 2), dtype=np.float32)).shape == (1, 3)
    # BatchNorm2D: one image still gives H·W values per channel (as in PyTorch)
    assert ng.BatchNorm2D(2)(np.random.default_rng(0).standard_normal((1, 2, 2, 2))).shape == (1, 2, 2, 2)
    with pytest.raises(ValueError, match="more than one value"):
        ng.BatchNorm2D(2)(np.ones((1, 2, 1, 1)))


def test_bad_arguments_and_inputs_are_refused_by_name():
    with pytest.raises(ValueError, match="num_features must be a positive int, got 0"):
        ng.BatchNorm1D(0)
    with pytest.raises(ValueError, match="momentum must be a number in"):
        ng.BatchNorm2D(3, momentum=1.5)
    with pytest.raises(ValueError, match="eps must be a number > 0"):
        ng.BatchNorm1D(3, eps=0)
    with pytest.raises(ValueError, match=r"BatchNorm1D\(3\) expects input of shape \(N, 3\), got \(4, 2\)"):
        ng.BatchNorm1D(3)(np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\), got \(4, 3\)"):
        ng.BatchNorm2D(3)(np.ones((4, 3)))
    with pytest.raises(TypeError, match="floating-point input, got dtype int64"):
        ng.BatchNorm1D(3)(np.ones((4, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="Sequential layer 1"):
        ng.Sequential(ng.Dense(2, 4), ng.BatchNorm1D(3)).build((2,))


def test_train_and_eval_switch_every_layer_including_inside_blocks():
    inner = ng.BatchNorm1D(4)
    net = ng.Sequential(
        ng.Dense(3, 4), ng.BatchNorm1D(4), ng.Residual(ng.Sequential(ng.Dense(4, 4), inner)), ng.Dense(4, 2)
    )
    assert net.training and inner.training
    assert net.eval() is net
    assert not net.training and not inner.training and not net.layers[2].branch.training
    assert all(not layer.training for _, layer in net.walk())
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    before = inner.running_mean.copy()
    net(x)
    np.testing.assert_array_equal(inner.running_mean, before)  # evaluation leaves them alone
    net.train()
    assert all(layer.training for _, layer in net.walk())
    net(x)
    assert not np.array_equal(inner.running_mean, before)
    with pytest.raises(TypeError, match="mode must be True or False"):
        net.train("yes")


def test_evaluation_output_of_a_sample_does_not_depend_on_its_batch():
    rng = np.random.default_rng(5)
    net = ng.Sequential(ng.Dense(3, 4), ng.BatchNorm1D(4), ng.Tanh(), ng.Dense(4, 2))
    for _ in range(3):
        net(rng.standard_normal((8, 3)).astype(np.float32))
    x = rng.standard_normal((6, 3)).astype(np.float32)
    net.train()
    assert not np.allclose(net(x)[:2], net(x[:2]))  # training: batch statistics
    net.eval()
    np.testing.assert_allclose(net(x)[:2], net(x[:2]), rtol=1e-6)


def test_state_dict_holds_the_running_statistics_and_loads_them_back():
    rng = np.random.default_rng(6)
    net = ng.Sequential(ng.Dense(3, 4), ng.BatchNorm1D(4), ng.Dense(4, 2))
    net(rng.standard_normal((8, 3)).astype(np.float32))
    state = net.state_dict()
    assert {"1.running_mean", "1.running_var", "1.weight", "1.bias"} <= set(state)
    other = ng.Sequential(ng.Dense(3, 4), ng.BatchNorm1D(4), ng.Dense(4, 2))
    other.load_state_dict(state)
    np.testing.assert_array_equal(other.layers[1].running_var, net.layers[1].running_var)
    state["1.running_var"][0] = 7.0  # a copy: the network does not share the array
    assert other.layers[1].running_var[0] != 7.0
    bad = dict(state, **{"1.running_var": np.ones(5)})
    with pytest.raises(ValueError, match=r"buffer 1.running_var expects shape \(4,\), found \(5,\)"):
        other.load_state_dict(bad)
    with pytest.raises(ValueError, match=r"missing \['1.running_mean'\]"):
        other.load_state_dict({k: v for k, v in state.items() if k != "1.running_mean"})


def test_checkpoint_round_trip_keeps_the_running_statistics(tmp_path):
    rng = np.random.default_rng(7)

    def make():
        return ng.Sequential(
            ng.Conv2D(1, 2, 3, padding=1, bias=False),
            ng.BatchNorm2D(2),
            ng.ReLU(),
            ng.Flatten(),
            ng.Dense(32, 3),
        )

    net = make()
    optimizer = ng.SGD(net.parameters(), lr=0.1, momentum=0.9)
    loss = ng.SoftmaxCrossEntropy()
    x, y = rng.standard_normal((6, 1, 4, 4)).astype(np.float32), np.array([0, 1, 2, 0, 1, 2])
    for _ in range(3):
        loss.forward(net(x), y)
        net.zero_grad()
        net.backward(loss.backward())
        optimizer.step()
    ng.save_checkpoint(tmp_path / "bn.npz", net, optimizer)
    restored = make()
    ng.load_checkpoint(tmp_path / "bn.npz", restored, ng.SGD(restored.parameters(), lr=0.1, momentum=0.9))
    for key in ("running_mean", "running_var"):
        np.testing.assert_array_equal(getattr(restored.layers[1], key), getattr(net.layers[1], key))
    assert not np.array_equal(restored.layers[1].running_var, np.ones(2))
    net.eval(), restored.eval()
    np.testing.assert_array_equal(restored(x), net(x))
    with pytest.raises(ng.CheckpointMismatchError, match="running_mean"):
        ng.load_checkpoint(tmp_path / "bn.npz", ng.Sequential(ng.Conv2D(1, 2, 3, padding=1, bias=False)))


def test_astype_casts_the_running_statistics():
    bn = ng.BatchNorm2D(3).astype(np.float64)
    assert bn.running_mean.dtype == bn.running_var.dtype == bn.weight.data.dtype == np.float64


def test_conv_without_bias():
    backend.set_default_dtype("float64")
    rng = np.random.default_rng(8)
    conv = ng.Conv2D(2, 3, 3, stride=2, padding=1, bias=False)
    assert conv.bias is None and [p.name for p in conv.parameters()] == ["weight"]
    assert repr(conv) == "Conv2D(2, 3, 3, stride=2, padding=1, bias=False)"
    report = ng.check_layer(conv, rng.standard_normal((2, 2, 5, 5)))
    assert report.passed, str(report)
    with_bias = ng.Conv2D(2, 3, 3, stride=2, padding=1)
    with_bias.weight.data[...] = conv.weight.data
    with_bias.bias.data[...] = 0
    x = rng.standard_normal((2, 2, 5, 5))
    np.testing.assert_allclose(conv(x), with_bias(x))
    with pytest.raises(ValueError, match="bias must be True or False"):
        ng.Conv2D(2, 3, 3, bias="no")


def test_the_trainer_evaluates_in_eval_mode_and_trains_in_training_mode():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((40, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    x_test = rng.standard_normal((7, 3)).astype(np.float32) * 3 + 2  # far from the training statistics
    y_test = (x_test[:, 0] > 2).astype(np.int64)
    net = ng.Sequential(ng.Dense(3, 4), ng.BatchNorm1D(4), ng.Tanh(), ng.Dense(4, 2))
    seen_modes = []

    class Watch(ng.callbacks.Callback):
        def on_batch_end(self, trainer, batch, loss):
            seen_modes.append(trainer.net.layers[1].training)

    history = ng.fit(
        net, ng.SoftmaxCrossEntropy(), "sgd", (x, y), epochs=2, batch_size=10, lr=0.1,
        test=(x_test, y_test), callbacks=[Watch()], progress=False,
    )  # fmt: skip
    assert all(seen_modes) and net.training and net.layers[1].training
    running = net.layers[1].running_mean.copy()
    loss, _ = ng.evaluate(net, ng.SoftmaxCrossEntropy(), x_test, y_test)
    np.testing.assert_array_equal(net.layers[1].running_mean, running)  # evaluation leaves them alone
    assert net.training  # and puts the network back in training mode
    np.testing.assert_allclose(history.test_loss[-1], loss, rtol=1e-6)
    net.eval()
    expected = ng.SoftmaxCrossEntropy().forward(net(x_test), y_test)
    np.testing.assert_allclose(loss, float(expected), rtol=1e-5)  # the running statistics were used
    net.train()
    batch_statistics = float(ng.SoftmaxCrossEntropy().forward(net(x_test), y_test))
    assert abs(batch_statistics - loss) > 1e-3
