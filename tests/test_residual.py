"""Residual blocks: finite differences, the two-path backward, names and shapes, and the
feedback rules (GradientFlow, gradient amplification, PN) seeing the layers inside a block."""

import numpy as np
import pytest

import nanograd_ad as ng
from nanograd_ad import backend
from nanograd_ad.amplify import GradientStatistics, weight_layers
from nanograd_ad.feedback import FeedbackRule


def tanh_block(width=4):
    return ng.Residual(ng.Sequential(ng.Dense(width, width), ng.Tanh(), ng.Dense(width, width)))


def projection_block(c_in=2, c_out=3):
    """A ResNet basic block that halves H, W: conv-BN-ReLU-conv-BN + a strided 1×1 conv-BN shortcut."""
    branch = ng.Sequential(
        ng.Conv2D(c_in, c_out, 3, stride=2, padding=1, bias=False),
        ng.BatchNorm2D(c_out),
        ng.Tanh(),
        ng.Conv2D(c_out, c_out, 3, padding=1, bias=False),
        ng.BatchNorm2D(c_out),
    )
    shortcut = ng.Sequential(ng.Conv2D(c_in, c_out, 1, stride=2, bias=False), ng.BatchNorm2D(c_out))
    return ng.Residual(branch, shortcut)


def test_finite_differences_identity_shortcut():
    backend.set_default_dtype("float64")
    rng = np.random.default_rng(0)
    net = ng.Sequential(ng.Dense(3, 4), ng.Tanh(), tanh_block(), tanh_block(), ng.Tanh(), ng.Dense(4, 2))
    report = ng.gradcheck(
        net, ng.SoftmaxCrossEntropy(), rng.standard_normal((5, 3)), np.array([0, 1, 1, 0, 1])
    )
    assert report.passed, str(report)


def test_finite_differences_projection_shortcut_with_batch_norm_in_training():
    backend.set_default_dtype("float64")
    rng = np.random.default_rng(1)
    net = ng.Sequential(projection_block(), ng.ReLU(), ng.Flatten(), ng.Dense(3 * 2 * 2, 3))
    for _, layer in net.walk():
        if isinstance(layer, ng.BatchNorm2D):
            layer.weight.data[...] = rng.uniform(0.5, 2, layer.weight.shape)
            layer.bias.data[...] = rng.standard_normal(layer.bias.shape) + 0.3
    report = ng.gradcheck(net, None, rng.standard_normal((3, 2, 4, 4)))
    assert report.passed, str(report)


def test_backward_is_the_sum_of_the_two_paths():
    backend.set_default_dtype("float64")
    rng = np.random.default_rng(2)
    block = projection_block()
    x = rng.standard_normal((3, 2, 4, 4))
    y = block(x)
    np.testing.assert_allclose(y, block.branch(x) + block.shortcut(x))
    delta = rng.standard_normal(y.shape)
    dx = block.backward(delta)
    np.testing.assert_allclose(dx, block.branch.backward(delta) + block.shortcut.backward(delta))
    np.testing.assert_allclose(dx, block.branch_error + block.shortcut_error)
    identity = tanh_block()
    identity(rng.standard_normal((2, 4)))
    delta = rng.standard_normal((2, 4))
    np.testing.assert_allclose(identity.backward(delta), identity.branch.backward(delta) + delta)
    assert identity.shortcut_error is delta


def test_names_parameters_and_describe_see_inside():
    net = ng.Sequential(ng.Conv2D(2, 2, 3, padding=1), projection_block(), ng.Flatten(), ng.Dense(12, 2))
    assert net.build((2, 4, 4)) == (2,)
    names = [name for name, _ in net.walk()]
    assert names[:4] == ["0", "1", "1.branch.0", "1.branch.1"]
    assert "1.shortcut.0" in names and names[-1] == "3"
    params = dict(net.named_parameters())
    assert "1.branch.0.weight" in params and "1.shortcut.1.bias" in params and "1.branch.0.bias" not in params
    assert len(net.parameters()) == len(params)
    assert "1.shortcut.1.running_var" in net.state_dict()
    text = net.describe()
    assert "1.branch.3" in text and "Residual(branch: 5 layers, shortcut: 2 layers)" in text
    assert f"total parameters: {net.num_parameters()}" in text


def test_shape_mismatch_and_bad_arguments_are_refused():
    with pytest.raises(ValueError, match=r"branch gives per-sample shape \(3,\) but the input \(identity"):
        ng.Sequential(ng.Residual(ng.Sequential(ng.Dense(4, 3)))).build((4,))
    with pytest.raises(ValueError, match=r"branch gives shape \(2, 3\) but the input"):
        ng.Residual(ng.Dense(4, 3))(np.ones((2, 4), dtype=np.float32))
    with pytest.raises(TypeError, match="branch must be a Sequential or a Layer, got list"):
        ng.Residual([ng.Dense(2, 2)])
    shared = ng.Sequential(ng.Dense(2, 2))
    with pytest.raises(ValueError, match="two different networks"):
        ng.Residual(shared, shared)


class Recorder(FeedbackRule):
    def __init__(self):
        self.seen = []

    def before_layer(self, index, layer, delta):
        self.seen.append(index)
        return delta


def test_feedback_rules_see_the_layers_inside_blocks_by_their_seam_index():
    net = ng.Sequential(ng.Dense(3, 4), tanh_block(), ng.Dense(4, 2))
    recorder = Recorder()
    net.add_feedback(recorder)
    net(np.ones((2, 3), dtype=np.float32))
    net.backward(np.ones((2, 2), dtype=np.float32))
    walk = net.walk()  # 0 Dense, 1 Residual, 2-4 its branch, 5 Dense
    assert [name for name, _ in walk] == ["0", "1", "1.branch.0", "1.branch.1", "1.branch.2", "2"]
    assert recorder.seen == [5, 1, 4, 3, 2, 0]
    net.feedback.remove(recorder)  # removed from the outer network: gone inside as well
    recorder.seen.clear()
    net.backward(np.ones((2, 2), dtype=np.float32))
    assert recorder.seen == []


def test_gradient_flow_counts_branch_layers_along_the_depth_and_records_both_paths():
    rng = np.random.default_rng(3)
    net = ng.Sequential(ng.Dense(3, 4), ng.Tanh(), tanh_block(), tanh_block(), ng.Dense(4, 2))
    flow = ng.GradientFlow()
    net.add_feedback(flow)
    loss = ng.SoftmaxCrossEntropy()
    x, y = rng.standard_normal((6, 3)).astype(np.float32), np.array([0, 1, 0, 1, 1, 0])
    for _ in range(2):
        loss.forward(net(x), y)
        net.zero_grad()
        net.backward(loss.backward())
    depths, values = flow.profile("delta")
    assert list(depths) == [1, 2, 3, 4, 5, 6] and np.isfinite(values).all()
    assert "2.branch.0 Dense(4, 4) → Tanh()" in flow.names[2]
    block_depths, branch = flow.paths("branch")
    _, shortcut = flow.paths("shortcut")
    assert list(block_depths) == [2, 4]
    # what the identity shortcut passes down is the error entering the block: RMS of δ at the
    # block above's first layer (depth 4) equals the shortcut path of block 2… recomputed here
    block = net.layers[3]
    np.testing.assert_allclose(
        shortcut[1], np.sqrt(np.mean(backend.to_numpy(block.shortcut_error) ** 2)), rtol=1e-5
    )
    np.testing.assert_allclose(
        branch[1], np.sqrt(np.mean(backend.to_numpy(block.branch_error) ** 2)), rtol=1e-5
    )
    fig = ng.inspect.plot_delta_profile({"residual": flow})
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == ["residual", "residual: via branch", "residual: via shortcut"]


def test_gradient_statistics_and_amplification_reach_inside_blocks():
    backend.set_default_dtype("float64")
    rng = np.random.default_rng(4)
    net = ng.Sequential(
        ng.Conv2D(2, 2, 3, padding=1, bias=False),
        ng.BatchNorm2D(2),
        projection_block(),
        ng.Flatten(),
        ng.Dense(12, 2),
    )
    walk = net.walk()
    candidates = weight_layers(net)
    assert [walk[i][0] for i in candidates] == ["0", "2.branch.0", "2.branch.3", "2.shortcut.0", "4"]
    stats = GradientStatistics()
    net.add_feedback(stats)
    stats.start()
    x, y = rng.standard_normal((4, 2, 4, 4)), np.array([0, 1, 1, 0])
    loss = ng.SoftmaxCrossEntropy()
    loss.forward(net(x), y)
    net.zero_grad()
    net.backward(loss.backward())
    stats.stop()
    table = stats.table()
    assert [row["layer"] for row in table] == candidates and all(row["iterations"] == 1 for row in table)
    plain = {name: p.grad.copy() for name, p in net.named_parameters()}
    amplify = ng.Amplify(factor=2.0, selected=[candidates[1]])  # the branch's first conv
    net.add_feedback(amplify)
    loss.forward(net(x), y)
    net.zero_grad()
    net.backward(loss.backward())
    for name, p in net.named_parameters():
        expected = 2 * plain[name] if name == "2.branch.0.weight" else plain[name]
        np.testing.assert_allclose(p.grad, expected, rtol=1e-10, atol=1e-14, err_msg=name)
    with pytest.raises(ValueError, match=r"layer 4 \(BatchNorm2D\(3\)\) has no weight"):
        ng.Amplify(selected=[4]).bind(net)
    with pytest.raises(ValueError, match=r"scope='backward'.*Residual"):
        net.add_feedback(ng.Amplify(scope="backward"))


def test_pseudo_normalization_refuses_blocks_clearly():
    net = ng.Sequential(ng.Dense(3, 4), ng.Tanh(), tanh_block(), ng.Tanh(), ng.Dense(4, 2))
    with pytest.raises(
        ValueError, match=r"layer 2 \(Residual.*\) is a block whose error is the sum of two paths"
    ):
        net.add_feedback(ng.PseudoNormalize())


def test_blocks_train_with_the_trainer():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    net = ng.Sequential(ng.Dense(3, 4), ng.Tanh(), tanh_block(), tanh_block(), ng.Dense(4, 2))
    history = ng.fit(
        net, ng.SoftmaxCrossEntropy(), "sgd", (x, y), epochs=30, lr=0.1, batch_size=10, progress=False
    )
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
