"""ResNet-18/34 and VGG-19-BN (the amplification paper's networks) at small widths: shapes,
training and evaluation passes, the blocks seen by describe() and by gradient amplification."""

import numpy as np
import pytest

import nanograd_ad as ng
from nanograd_ad import backend, models
from nanograd_ad.amplify import weight_layers


def test_resnet18_small_trains_one_step_and_evaluates():
    rng = np.random.default_rng(0)
    net = models.resnet18(3, input_shape=(1, 8, 8), width=4)
    assert net.shapes[-1] == (3,)
    text = net.describe()
    assert text.count("Residual(branch: 5 layers, shortcut: identity)") == 5
    assert text.count("Residual(branch: 5 layers, shortcut: 2 layers)") == 3
    # stem + 16 branch convs + 3 projection convs + the Dense layer
    assert len(weight_layers(net)) == 21
    x, y = rng.standard_normal((4, 1, 8, 8)).astype(np.float32), np.array([0, 1, 2, 0])
    loss = ng.SoftmaxCrossEntropy()
    optimizer = ng.SGD(net.parameters(), lr=0.05)
    before = loss.forward(net(x), y)
    for _ in range(5):
        loss.forward(net(x), y)
        net.zero_grad()
        net.backward(loss.backward())
        optimizer.step()
    assert float(loss.forward(net(x), y)) < float(before)
    net.eval()
    np.testing.assert_allclose(net(x)[:1], net(x[:1]), rtol=1e-5, atol=1e-6)


def test_resnet34_has_sixteen_blocks_and_vgg19_bn_sixteen_convolutions():
    assert sum(isinstance(layer, ng.Residual) for layer in models.resnet34(10, width=2).layers) == 16
    vgg = models.vgg19_bn(10, width_scale=1 / 16)
    assert sum(isinstance(layer, ng.Conv2D) for layer in vgg.layers) == 16
    assert all(layer.bias is None for layer in vgg.layers if isinstance(layer, ng.Conv2D))
    assert vgg.shapes[-1] == (10,)


def test_bad_model_arguments_are_refused():
    with pytest.raises(ValueError, match="resnet18: num_classes must be an int ≥ 1, got 0"):
        models.resnet18(0)
    with pytest.raises(ValueError, match="resnet34: width must be a positive int, got 0"):
        models.resnet34(10, width=0)
    with pytest.raises(ValueError, match=r"vgg19_bn: input \(1, 8, 8\) is too small"):
        models.vgg19_bn(10, input_shape=(1, 8, 8))
    with pytest.raises(ValueError, match="needs square images"):
        models.resnet18(10, input_shape=(3, 8, 16), width=2)


@pytest.mark.parametrize(
    "build, blocks, weight_count", [(models.resnet50, 16, 54), (models.resnet101, 33, 105)]
)
def test_bottleneck_resnets_forward_and_backward_shapes(build, blocks, weight_count):
    """(3, 4, 6, 3) / (3, 4, 23, 3) bottlenecks; stem + 3 convs a block + 4 projections + Dense."""
    rng = np.random.default_rng(0)
    net = build(5, input_shape=(3, 8, 8), width=2)
    residuals = [layer for layer in net.layers if isinstance(layer, ng.Residual)]
    assert len(residuals) == blocks
    assert sum(block.shortcut is not None for block in residuals) == 4  # the first block of each stage
    assert len(weight_layers(net)) == weight_count
    assert net.shapes[-1] == (5,) and net.shapes[2] == (2, 8, 8)
    assert [block.branch.shapes[-1] for block in residuals[:4]] == [(8, 8, 8)] * 3 + [(16, 4, 4)]
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    out = net(x)
    assert out.shape == (2, 5)
    net.zero_grad()
    dx = net.backward(rng.standard_normal(out.shape).astype(np.float32))
    assert dx.shape == x.shape
    assert all(p.grad.shape == p.shape and np.isfinite(p.grad).all() for p in net.parameters())


def test_bottleneck_block_passes_gradcheck_in_training_mode():
    backend.set_default_dtype("float64")
    rng = np.random.default_rng(3)
    net = ng.Sequential(
        models.bottleneck_block(3, 2, stride=2), ng.ReLU(), ng.Flatten(), ng.Dense(8 * 2 * 2, 3)
    )
    for _, layer in net.walk():
        if isinstance(layer, ng.BatchNorm2D):
            layer.weight.data[...] = rng.uniform(0.5, 2, layer.weight.shape)
            layer.bias.data[...] = rng.standard_normal(layer.bias.shape) + 0.3
    report = ng.gradcheck(net, None, rng.standard_normal((3, 3, 4, 4)))
    assert report.passed, str(report)


def test_resnet50_at_width_one_passes_gradcheck():
    """Every parameter tensor of a width-1 ResNet-50 (two entries each) and the input. Batch
    norm's β = 1 ± 0.1 and γ ∈ [0.3, 0.5] keep the ReLUs' inputs away from the kink at 0."""
    backend.set_default_dtype("float64")
    rng = np.random.default_rng(4)
    net = models.resnet50(3, input_shape=(2, 8, 8), width=1)
    for _, layer in net.walk():
        if isinstance(layer, ng.BatchNorm2D):
            layer.weight.data[...] = rng.uniform(0.3, 0.5, layer.weight.shape)
            layer.bias.data[...] = 1 + 0.1 * rng.standard_normal(layer.bias.shape)
    x, y = rng.standard_normal((4, 2, 8, 8)), np.array([0, 1, 2, 1])
    report = ng.gradcheck(net, ng.SoftmaxCrossEntropy(), x, y, max_entries=2)
    assert report.passed, str(report)
