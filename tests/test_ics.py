"""The regularized ReLU (Wang, §3.1 and §4.6): r from hand-worked geometries, gradients,
rebuilding, the errors bad input gets, the Scale layer and the input-scale suggestion."""

import ast
import pathlib

import numpy as np
import pytest
from conftest import distinct_values

import nanograd_ad as ng
from nanograd_ad import init
from nanograd_ad.activations import derivative_names
from nanograd_ad.ics import (
    PAPER_INPUT_FACTOR,
    RegularizedReLU,
    Scale,
    activation_scales,
    input_factor,
    paper_input,
    regularization_geometry,
    suggest_input_scale,
)


def built(*layers, shape):
    net = ng.Sequential(*layers)
    net.build(shape)
    return net


# ---------------------------------------------------------------- r by hand
def test_r_for_a_padded_conv_worked_by_hand():
    # Conv2D(3, 16, 3, padding=1) on 3×32×32: output 16×32×32
    # c = 3·32·32 = 3072, m = 3·3·3 = 27, s = 32·32 = 1024, n = 16
    net = built(ng.Conv2D(3, 16, 3, padding=1), RegularizedReLU(), shape=(3, 32, 32))
    act = net[1]
    assert (act.c, act.m, act.s, act.n) == (3072, 27, 1024, 16)
    assert act.r == pytest.approx(3072 / (1024 * 16 * 27))
    assert act.r == pytest.approx(1 / 144)
    for text in (repr(act), net.describe()):
        assert "3072" in text and "1024" in text and "27" in text
    assert "3072/(1024·16·27)" in net.describe()
    assert "c=3072, s=1024, n=16, m=27" in repr(act)


def test_r_for_a_strided_unpadded_conv_worked_by_hand():
    # Conv2D(3, 8, 5, stride=2) on 3×32×32: H_out = ⌊(32 − 5)/2⌋ + 1 = 14
    # c = 3072, m = 3·5·5 = 75, s = 14·14 = 196, n = 8  →  r = 3072/117600
    net = built(ng.Conv2D(3, 8, 5, stride=2), RegularizedReLU(), shape=(3, 32, 32))
    act = net[1]
    assert (act.c, act.m, act.s, act.n) == (3072, 75, 196, 8)
    assert act.r == pytest.approx(3072 / 117600)


def test_r_for_a_non_square_conv_worked_by_hand():
    # Conv2D(4, 6, 3) on 4×10×12: output 6×8×10
    # c = 480, m = 36, s = 80, n = 6  →  r = 480/17280 = 1/36
    geometry = regularization_geometry(ng.Conv2D(4, 6, 3), (4, 10, 12))
    assert geometry == {"c": 480, "s": 80, "n": 6, "m": 36, "r": pytest.approx(1 / 36)}


def test_r_for_dense_layers_is_one_over_d_out():
    # Dense(100, 25): c = m = 100, s = 1, n = 25  →  r = 100/(1·25·100) = 1/25
    net = built(
        ng.Flatten(),
        ng.Dense(100, 25),
        RegularizedReLU(),
        ng.Dense(25, 7),
        RegularizedReLU(),
        shape=(4, 5, 5),
    )
    first, second = net[2], net[4]
    assert (first.c, first.s, first.n, first.m, first.r) == (100, 1, 25, 100, pytest.approx(0.04))
    assert (second.c, second.s, second.n, second.m, second.r) == (25, 1, 7, 25, pytest.approx(1 / 7))


# ---------------------------------------------------------------- forward and derivative
def test_forward_is_max_0_rz_and_backward_multiplies_by_r_on_the_positive_side():
    rng = np.random.default_rng(0)
    net = built(ng.Dense(6, 4, rng=1), RegularizedReLU(), shape=(6,))
    x = rng.standard_normal((5, 6)).astype(np.float32)
    a = net(x)
    act, z = net[1], net[1].z
    assert act.r == pytest.approx(0.25)
    np.testing.assert_allclose(a, np.maximum(0, 0.25 * z), rtol=1e-6)
    delta = rng.standard_normal(a.shape).astype(np.float32)
    np.testing.assert_allclose(act.backward(delta), delta * 0.25 * (z > 0), rtol=1e-6)
    assert act.backward(delta).dtype == np.float32


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_passes_gradcheck_in_float64(seed):
    # Scale(300) is the input magnification the method needs: without it the r's leave
    # gradients near 1e-8, where central differences (noise ~1e-11) lose relative precision.
    rng = np.random.default_rng(seed)
    net = ng.Sequential(
        Scale(300.0),
        ng.Conv2D(2, 3, 3, padding=1, rng=1),
        RegularizedReLU(),
        ng.AvgPool2D(2),
        ng.Flatten(),
        ng.Dense(12, 5, rng=2),
        RegularizedReLU(),
        ng.Dense(5, 3, rng=4),
    )
    x = distinct_values(rng, (2, 2, 4, 4), spacing=0.05)
    net.astype(np.float64)
    net(x)
    for act in (net[2], net[6]):  # away from the kink at z = 0 (h·|x| ≤ 1e-5)
        assert np.abs(act.z).min() > 1e-2, np.abs(act.z).min()
    report = ng.gradcheck(net, None, x, seed=seed)  # random upstream gradient on the logits
    assert report.passed, str(report)
    assert {p.name.split(".")[0] for p in report.params} >= {"1", "5", "7", "input"}


def test_ad_derivative_is_r_times_sigmoid_kz_fails_gradcheck_and_matches_the_explicit_recursion():
    assert derivative_names("regularized_relu") == ["true", "ad"]
    rng = np.random.default_rng(5)
    net = ng.Sequential(ng.Dense(4, 6, rng=1), RegularizedReLU(derivative="ad", k=3.5), ng.Dense(6, 3, rng=2))
    x = rng.standard_normal((7, 4))
    net.astype(np.float64)
    out = net(x)
    act = net[1]
    assert act.r == pytest.approx(1 / 6) and "k=3.5" in repr(act)
    delta = rng.standard_normal(out.shape)
    net.zero_grad()
    dx = net.backward(delta)
    np.testing.assert_allclose(act.derivative_value, (1 / 6) / (1 + np.exp(-3.5 * act.z)), rtol=1e-12)
    expected = ng.explicit_backward(net, x, delta)
    np.testing.assert_allclose(dx, expected["input"], rtol=1e-10)
    for name, p in net.named_parameters():
        np.testing.assert_allclose(p.grad, expected[name], rtol=1e-10, err_msg=name)
    assert not ng.gradcheck(net, None, x).passed  # AD is not the gradient of the loss


def test_r_is_never_typed_by_hand():
    with pytest.raises(ValueError, match="derived from the geometry"):
        RegularizedReLU(r=0.5)


# ---------------------------------------------------------------- rebuilding
def test_r_changes_when_the_input_size_changes_and_the_net_is_rebuilt():
    net = ng.Sequential(ng.Conv2D(3, 4, 3), RegularizedReLU(derivative="ad", k=2.0))
    x_small = np.ones((2, 3, 8, 8), np.float32)
    net(x_small)  # the first forward builds
    act = net[1]
    # on 3×8×8: c = 192, output 4×6×6, s = 36, m = 27, n = 4  →  r = 192/3888
    assert (act.c, act.s, act.m, act.n) == (192, 36, 27, 4)
    assert act.r == pytest.approx(192 / 3888)
    x_large = np.ones((2, 3, 16, 16), np.float32)
    with pytest.raises(ValueError, match=r"\(4, 6, 6\).*\(4, 14, 14\)"):
        net(x_large)
    net.build((3, 16, 16))
    # on 3×16×16: c = 768, output 4×14×14, s = 196  →  r = 768/21168
    assert (act.c, act.s) == (768, 196)
    assert act.r == pytest.approx(768 / 21168)
    z = net[0](x_large)
    net(x_large)
    act.backward(np.ones_like(z))
    # the derivative follows the new r and keeps its k
    np.testing.assert_allclose(act.derivative_value, (768 / 21168) / (1 + np.exp(-2.0 * z)), rtol=1e-5)
    with pytest.raises(ValueError, match=r"\(4, 14, 14\).*\(4, 6, 6\)"):
        net(x_small)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "layers, below",
    [
        ((RegularizedReLU(),), "it is the first layer"),
        ((ng.Conv2D(1, 2, 3), ng.AvgPool2D(2), RegularizedReLU()), "it follows AvgPool2D"),
        ((ng.Conv2D(1, 2, 3), ng.ReLU(), RegularizedReLU()), "it follows ReLU"),
    ],
)
def test_a_regularized_relu_must_follow_dense_or_conv(layers, below):
    with pytest.raises(ValueError, match="must directly follow a Dense or Conv2D") as err:
        ng.Sequential(*layers).build((1, 8, 8))
    assert below in str(err.value)


def test_an_unbuilt_layer_refuses_to_run():
    with pytest.raises(ValueError, match="not derived yet"):
        RegularizedReLU().forward(np.ones((1, 3), np.float32))


# ---------------------------------------------------------------- Scale
def test_scale_layer_forward_backward_and_gradcheck():
    layer = Scale(np.float64(2.5))
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert layer(x).dtype == np.float32
    np.testing.assert_allclose(layer(x), 2.5 * x)
    np.testing.assert_allclose(layer.backward(np.ones_like(x)), 2.5 * np.ones_like(x))
    assert ng.check_layer(Scale(-3.0), np.random.default_rng(0).standard_normal((3, 4))).passed
    for bad in (0.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="finite non-zero"):
            Scale(bad)
    assert "why" in Scale(10.0, why="why").describe()


# ---------------------------------------------------------------- input scale
def _homogeneous_net():
    u = init.uniform(-1, 1)
    return ng.Sequential(
        Scale(1.0),
        ng.Conv2D(1, 4, 3, padding=1, weight_init=u, bias_init="zeros", rng=1),
        RegularizedReLU(),
        ng.AvgPool2D(2),
        ng.Conv2D(4, 4, 3, padding=1, weight_init=u, bias_init="zeros", rng=2),
        RegularizedReLU(),
        ng.Flatten(),
        ng.Dense(64, 2, weight_init=u, bias_init="zeros", rng=3),
    )


def _logits_rms(net, x):
    return float(np.sqrt(np.mean(np.asarray(net(x), np.float64) ** 2)))


def test_suggest_input_scale_is_exact_in_one_step_for_a_homogeneous_net():
    x = np.random.default_rng(0).random((16, 1, 8, 8)).astype(np.float32)
    net = _homogeneous_net()
    before = _logits_rms(net, x)
    assert before < 1e-2  # the r's shrink the logits
    alpha = suggest_input_scale(net, x)
    assert alpha == pytest.approx(1 / before, rel=1e-5)  # α = 1 / RMS(net(x))
    net[0].factor = alpha
    assert _logits_rms(net, x) == pytest.approx(1.0, rel=1e-4)
    assert net.describe().count("RegularizedReLU r=c/(s·n·m)=") == 2


def test_suggest_input_scale_iterates_when_biases_break_homogeneity():
    x = np.random.default_rng(1).random((16, 1, 8, 8)).astype(np.float32)
    net = ng.Sequential(
        Scale(1.0),
        ng.Conv2D(1, 4, 3, padding=1, rng=1),
        RegularizedReLU(),
        ng.Flatten(),
        ng.Dense(256, 3, rng=2),
    )  # PyTorch-style biases
    alpha = suggest_input_scale(net, x, target=2.0)
    net[0].factor = alpha
    assert _logits_rms(net, x) == pytest.approx(2.0, rel=2e-3)


def test_suggest_input_scale_bisects_when_uniform_biases_make_the_logits_respond_slowly():
    # five regularized layers with U(−1, 1) weights and biases: the logits are bias-driven for
    # small factors, input-driven (∝ α) only for very large ones
    u = init.uniform(-1, 1)
    layers, c_in = [], 1
    for i, c_out in enumerate([4, 4, 8, 8, 8]):
        layers += [ng.Conv2D(c_in, c_out, 3, padding=1, weight_init=u, bias_init=u, rng=i), RegularizedReLU()]
        c_in = c_out
    net = ng.Sequential(*layers, ng.Flatten(), ng.Dense(8 * 6 * 6, 2, weight_init=u, bias_init=u, rng=9))
    x = np.random.default_rng(4).random((16, 1, 6, 6)).astype(np.float32)
    alpha = suggest_input_scale(net, x)
    assert _logits_rms(net, x * np.float32(alpha)) == pytest.approx(1.0, rel=1e-3)


def test_suggest_input_scale_refuses_a_dead_network():
    net = ng.Sequential(ng.Dense(3, 2, weight_init="zeros", bias_init="zeros"))
    with pytest.raises(ValueError, match="RMS 0"):
        suggest_input_scale(net, np.ones((4, 3), np.float32))


# ------------------------------------------------------- the two input readings (§4.1)


def test_paper_input_binarizes_each_channel_to_zero_or_one_hundred():
    x = np.array([[[[0.0, 0.5, 0.50001], [1.0, 0.2, 0.9]], [[0.7, 0.1, 0.6], [0.3, 0.5, 1.0]]]], np.float32)
    xb = paper_input(x)
    assert xb.dtype == np.float32 and xb.shape == x.shape
    np.testing.assert_array_equal(xb, np.where(x > 0.5, 100.0, 0.0))
    assert set(np.unique(xb)) == {0.0, 100.0} and xb.max() == 100.0
    np.testing.assert_array_equal(paper_input(x, threshold=0.15), np.where(x > 0.15, 100.0, 0.0))
    assert x[0, 0, 0, 1] == np.float32(0.5)  # the input is not modified


def test_the_paper_reading_is_ten_thousand_the_derived_one_unit_logits():
    x = np.random.default_rng(0).random((16, 1, 8, 8)).astype(np.float32)
    net = _homogeneous_net()
    assert PAPER_INPUT_FACTOR == input_factor("paper") == input_factor("paper", net, x) == 1e4
    # the paper's factor on the paper's input: the scaled input's maximum is 10⁴ · 100 = 10⁶
    net[0].factor = input_factor("paper")
    assert float(np.max(net[0](paper_input(x)))) == 1e6
    # the derived factor depends on the network and gives its logits RMS 1 (factor 1 in front)
    net[0].factor = 1.0
    derived = input_factor("derived", net, x)
    assert derived == suggest_input_scale(net, x)
    net[0].factor = derived
    assert _logits_rms(net, x) == pytest.approx(1.0, rel=1e-4)
    with pytest.raises(ValueError, match="'derived' reading needs net and x"):
        input_factor("derived")
    with pytest.raises(ValueError, match=r"reading must be one of \('derived', 'paper'\), got 'x10000'"):
        input_factor("x10000")


def test_activation_scales_are_mean_abs_of_each_activation():
    x = np.random.default_rng(2).random((8, 1, 8, 8)).astype(np.float32)
    net = _homogeneous_net()
    scales = activation_scales(net, x)
    assert [s["layer"] for s in scales] == [2, 5]
    net(x)
    for s in scales:
        assert s["mean_abs"] == pytest.approx(float(np.abs(net[s["layer"]].a).mean()), rel=1e-6)


def test_ics_module_imports_neither_numpy_nor_cupy():
    source = pathlib.Path(ng.__file__).parent / "ics.py"
    imported = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert not imported & {"numpy", "cupy"}
