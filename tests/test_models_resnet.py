"""ResNet-18/34 and VGG-19-BN (the amplification paper's networks) at small widths: shapes,
training and evaluation passes, the blocks seen by describe() and by gradient amplification."""

import numpy as np
import pytest

import nanograd_ad as ng
from nanograd_ad import models
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
