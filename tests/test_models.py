"""The papers' networks: parameter counts where the paper gives one, layer patterns, shapes."""

import numpy as np
import pytest

import nanograd_ad as ng
from nanograd_ad import models


def kinds(net):
    return [type(layer).__name__ for layer in net.layers]


def test_alexnet_has_the_papers_parameter_count_and_layout():
    net = models.alexnet(num_classes=100)
    assert net.num_parameters() == 2_495_396  # Hu, Zhang & Ge 2021, §III.C
    assert kinds(net).count("Conv2D") == 5 and kinds(net).count("MaxPool2D") == 3
    assert kinds(net).count("Dense") == 1 and kinds(net).count("ReLU") == 5
    assert [layer.out_channels for layer in net.layers if isinstance(layer, ng.Conv2D)] == [
        64,
        192,
        384,
        256,
        256,
    ]
    assert net.shapes[-1] == (100,) and net[-1].in_features == 256


def test_extended_alexnet_has_the_papers_parameter_count_and_table_6_channels():
    net = models.extended_alexnet(num_classes=100)
    assert net.num_parameters() == 7_488_292  # Hu, Zhang & Ge 2021, §III.C
    convs = [layer for layer in net.layers if isinstance(layer, ng.Conv2D)]
    assert [c.out_channels for c in convs] == [48, 64, 96, 128, 160, 224, 288, 352, 416, 352, 288, 224, 224]
    assert kinds(net).count("MaxPool2D") == 3 and net[-1].in_features == 224 and net.shapes[-1] == (100,)


def test_alexnet_activation_and_init_follow_table_5():
    relu = models.alexnet(10, activation="ad-relu")
    acts = [layer for layer in relu.layers if isinstance(layer, ng.Activation)]
    assert all(isinstance(a, ng.ReLU) and a.derivative_name == "ad" for a in acts)
    assert relu.num_parameters() == 2_495_396 - 90 * 257  # only the output layer depends on the classes
    ng.init.seed(0)
    sigmoid = models.alexnet(100, activation="ad-sigmoid")
    assert all(isinstance(a, ng.Sigmoid) for a in sigmoid.layers if isinstance(a, ng.Activation))
    w = sigmoid.layers[-1].weight.data  # Xavier normal: std sqrt(2 / (256 + 100))
    assert abs(float(w.std()) - np.sqrt(2 / 356)) < 0.01
    ng.init.seed(0)
    w = models.alexnet(100).layers[-1].weight.data  # He normal: std sqrt(2 / 256)
    assert abs(float(w.std()) - np.sqrt(2 / 256)) < 0.01
    assert all(np.all(p.data == 0) for name, p in sigmoid.named_parameters() if name.endswith("bias"))


@pytest.mark.parametrize(
    "build, convs, dense",
    [(models.pn_model1, 8, 2), (models.pn_model2, 4, 6), (models.pn_model3, 5, 5)],
)
def test_pn_models_have_the_papers_layer_counts_all_tanh(build, convs, dense):
    for shape in [(3, 32, 32), (1, 8, 8)]:
        net = build(num_classes=7, input_shape=shape, width=4)
        assert kinds(net).count("Conv2D") == convs and kinds(net).count("Dense") == dense
        assert kinds(net).count("Tanh") == convs + dense - 1 and net.shapes[-1] == (7,)
        assert all(np.all(p.data == 0) for name, p in net.named_parameters() if name.endswith("bias"))
        out = net(np.zeros((2, *shape), dtype=np.float32))
        assert out.shape == (2, 7)


def test_regularized_relu_net_and_small_vgg():
    net = models.regularized_relu_net(input_shape=(3, 32, 32))
    assert kinds(net).count("Conv2D") == 6 and kinds(net).count("AvgPool2D") == 2
    assert kinds(net)[0] == "Scale" and net.shapes[-1] == (2,)
    relu = models.regularized_relu_net(activation="relu", input_shape=(1, 8, 8))
    assert kinds(relu).count("ReLU") == 6
    vgg = models.small_vgg(100, input_shape=(3, 32, 32), widths=(4, 8, 16), hidden=16)
    assert kinds(vgg).count("Conv2D") == 6 and kinds(vgg).count("Dense") == 2 and vgg.shapes[-1] == (100,)


def test_bad_arguments_are_rejected_with_the_argument_named():
    with pytest.raises(ValueError, match="num_classes must be an int"):
        models.alexnet(num_classes=0)
    with pytest.raises(ValueError, match=r"input_shape must be \(C, H, W\)"):
        models.pn_model1(input_shape=(32, 32))
    with pytest.raises(ValueError, match="activation: unknown name 'gelu'"):
        models.extended_alexnet(activation="gelu")
    with pytest.raises(ValueError, match="channels must be 6 widths"):
        models.regularized_relu_net(channels=(8, 8))
    with pytest.raises(ValueError, match="too small"):
        models.small_vgg(input_shape=(1, 4, 4))
