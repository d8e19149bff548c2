"""Layers against naive loop implementations and central differences."""

import numpy as np
import pytest
from conftest import distinct_values
from hypothesis import given, settings
from hypothesis import strategies as st

import nanograd_ad as ng
from nanograd_ad.layers import col2im, im2col


def naive_conv(x, w, b, stride, pad):
    n, _c, h, wd = x.shape
    o, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    out = np.zeros((n, o, ho, wo))
    for i in range(n):
        for f in range(o):
            for y in range(ho):
                for z in range(wo):
                    patch = xp[i, :, y * stride : y * stride + k, z * stride : z * stride + k]
                    out[i, f, y, z] = (patch * w[f]).sum() + b[f]
    return out


def naive_conv_backward(x, w, delta, stride, pad):
    n, _c, h, wd = x.shape
    o, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(n):
        for f in range(o):
            for y in range(delta.shape[2]):
                for z in range(delta.shape[3]):
                    sl = (
                        i,
                        slice(None),
                        slice(y * stride, y * stride + k),
                        slice(z * stride, z * stride + k),
                    )
                    dw[f] += delta[i, f, y, z] * xp[sl]
                    dxp[sl] += delta[i, f, y, z] * w[f]
    return dxp[:, :, pad : pad + h, pad : pad + wd], dw, delta.sum(axis=(0, 2, 3))


def naive_pool(x, k, s, op):
    n, c, h, w = x.shape
    ho, wo = (h - k) // s + 1, (w - k) // s + 1
    out = np.zeros((n, c, ho, wo))
    for y in range(ho):
        for z in range(wo):
            out[:, :, y, z] = op(x[:, :, y * s : y * s + k, z * s : z * s + k], axis=(2, 3))
    return out


def naive_pool_backward(x, delta, k, s, kind):
    """∂C/∂x of pooling, one window at a time: max sends δ to the first argmax in (i, j)
    order (PyTorch's tie rule), mean sends δ/k² to every position of the window."""
    n, c = x.shape[:2]
    dx = np.zeros_like(x)
    for b in range(n):
        for ch in range(c):
            for y in range(delta.shape[2]):
                for z in range(delta.shape[3]):
                    window = x[b, ch, y * s : y * s + k, z * s : z * s + k]
                    if kind == "max":
                        i, j = np.unravel_index(np.argmax(window), window.shape)  # the first maximum
                        dx[b, ch, y * s + i, z * s + j] += delta[b, ch, y, z]
                    else:
                        dx[b, ch, y * s : y * s + k, z * s : z * s + k] += delta[b, ch, y, z] / k**2
    return dx


conv_cases = st.tuples(
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 4),  # n, c_in, c_out
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(0, 2),  # kernel, stride, padding
    st.integers(3, 7),
    st.integers(3, 7),
    st.integers(0, 10_000),
)


@pytest.mark.parametrize("wing", [ng, ng.fast], ids=["reference", "fast"])
@settings(max_examples=30, deadline=None)
@given(conv_cases)
def test_conv_matches_naive_loops(wing, case):
    n, c, o, k, s, p, h, w, seed = case
    if h + 2 * p < k or w + 2 * p < k:
        return
    rng = np.random.default_rng(seed)
    backend_dtype = np.float64
    layer = wing.Conv2D(c, o, k, stride=s, padding=p).astype(backend_dtype)
    x = rng.standard_normal((n, c, h, w))
    out = layer.forward(x)
    np.testing.assert_allclose(
        out, naive_conv(x, layer.weight.data, layer.bias.data, s, p), rtol=1e-10, atol=1e-12
    )
    delta = rng.standard_normal(out.shape)
    dx = layer.backward(delta)
    ndx, ndw, ndb = naive_conv_backward(x, layer.weight.data, delta, s, p)
    np.testing.assert_allclose(dx, ndx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, ndw, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, ndb, rtol=1e-10, atol=1e-12)


pool_cases = st.tuples(
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(3, 8),
    st.integers(3, 8),
    st.integers(0, 10_000),
)


@pytest.mark.parametrize("wing", [ng, ng.fast], ids=["reference", "fast"])
@settings(max_examples=30, deadline=None)
@given(pool_cases, st.sampled_from(["max", "avg"]))
def test_pooling_matches_naive_loops_and_finite_differences(wing, case, kind):
    n, c, k, s, h, w, seed = case
    if h < k or w < k:
        return
    rng = np.random.default_rng(seed)
    x = distinct_values(rng, (n, c, h, w))
    layer = wing.MaxPool2D(k, stride=s) if kind == "max" else wing.AvgPool2D(k, stride=s)
    op = np.max if kind == "max" else np.mean
    np.testing.assert_allclose(
        layer.forward(x), naive_pool(x, k, s, op), rtol=1e-12, atol=1e-14
    )  # a window of ±grid values can average to 0
    report = ng.check_layer(layer, x, seed=seed)
    assert report.passed, str(report)


@pytest.mark.parametrize("wing", [ng, ng.fast], ids=["reference", "fast"])
@settings(max_examples=30, deadline=None)
@given(pool_cases, st.sampled_from(["max", "avg"]), st.booleans())
def test_pooling_backward_matches_naive_loops_ties_included(wing, case, kind, channels_last):
    """Inputs with many ties (a few integer levels): the error goes to the first maximum,
    for NCHW inputs and for the NHWC-in-memory views a convolution returns."""
    n, c, k, s, h, w, seed = case
    if h < k or w < k:
        return
    rng = np.random.default_rng(seed)
    x = rng.integers(-1, 2, (n, c, h, w)).astype(np.float64)
    if channels_last:
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    layer = wing.MaxPool2D(k, stride=s) if kind == "max" else wing.AvgPool2D(k, stride=s)
    y = layer.forward(x)
    np.testing.assert_allclose(y, naive_pool(x, k, s, np.max if kind == "max" else np.mean), atol=1e-14)
    delta = rng.standard_normal(y.shape)
    np.testing.assert_allclose(layer.backward(delta), naive_pool_backward(x, delta, k, s, kind), atol=1e-14)


@pytest.mark.parametrize("wing", [ng, ng.fast], ids=["reference", "fast"])
@pytest.mark.parametrize(
    "layer, shape",
    [
        (lambda wing: wing.Dense(5, 4), (6, 5)),
        (lambda wing: wing.Conv2D(2, 3, 3, stride=1, padding=1), (2, 2, 5, 5)),
        (lambda wing: wing.Conv2D(2, 3, 2, stride=2, padding=0), (2, 2, 6, 5)),
        (lambda wing: wing.Flatten(), (2, 3, 2, 2)),
    ],
)
def test_layer_gradients_by_central_differences(layer, shape, wing):
    x = np.random.default_rng(1).standard_normal(shape)
    report = ng.check_layer(layer(wing), x, seed=3)
    assert report.passed, str(report)


def test_dense_with_a_leading_model_axis_equals_separate_models():
    rng = np.random.default_rng(0)
    ensemble = ng.Dense(3, 2, models=4).astype(np.float64)
    x = rng.standard_normal((4, 5, 3))
    delta = rng.standard_normal((4, 5, 2))
    z = ensemble.forward(x)
    dx = ensemble.backward(delta)
    for e in range(4):
        single = ng.Dense(3, 2).astype(np.float64)
        single.weight.data[...] = ensemble.weight.data[e]
        single.bias.data[...] = ensemble.bias.data[e, 0]
        np.testing.assert_allclose(single.forward(x[e]), z[e], rtol=1e-12)
        np.testing.assert_allclose(single.backward(delta[e]), dx[e], rtol=1e-12)
        np.testing.assert_allclose(single.weight.grad, ensemble.weight.grad[e], rtol=1e-12)
        np.testing.assert_allclose(single.bias.grad, ensemble.bias.grad[e, 0], rtol=1e-12)


def test_dense_ensemble_with_a_shared_input():
    ensemble = ng.Dense(3, 2, models=2).astype(np.float64)
    x = np.random.default_rng(0).standard_normal((5, 3))
    z = ensemble.forward(x)
    assert z.shape == (2, 5, 2)
    ensemble.backward(np.ones_like(z))
    np.testing.assert_allclose(ensemble.weight.grad[1], x.T @ np.ones((5, 2)))


@pytest.mark.parametrize("wing", [ng, ng.fast], ids=["reference", "fast"])
def test_dense_rejects_wrong_width_naming_both_shapes(wing):
    with pytest.raises(ValueError, match=r"Dense\(64, 10\) expects input of shape \(N, 64\), got \(8, 63\)"):
        wing.Dense(64, 10).forward(np.zeros((8, 63), np.float32))


@pytest.mark.parametrize("wing", [ng, ng.fast], ids=["reference", "fast"])
def test_layers_reject_integer_input_and_bad_arguments(wing):
    with pytest.raises(TypeError, match="floating-point input, got dtype int64"):
        wing.Dense(2, 2).forward(np.zeros((3, 2), np.int64))
    with pytest.raises(ValueError, match="expects input of shape \\(N, 3, H, W\\), got \\(3, 8, 8\\)"):
        wing.Conv2D(3, 4, 3).forward(np.zeros((3, 8, 8), np.float32))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        wing.Conv2D(1, 1, 5).forward(np.zeros((1, 1, 3, 3), np.float32))
    with pytest.raises(ValueError, match="kernel_size must be a positive int, got 0"):
        wing.MaxPool2D(0)
    with pytest.raises(ValueError, match="padding must be an int ≥ 0, got -1"):
        wing.Conv2D(1, 1, 3, padding=-1)


def test_initializers_have_the_documented_scale():
    rng = np.random.default_rng(0)
    from nanograd_ad import init

    w = init.draw("torch", (400, 300), 400, 300, rng)
    assert np.abs(w).max() <= 1 / 20 and np.abs(w).max() > 0.049
    assert np.isclose(init.draw("he_normal", (2000, 500), 2000, 500, rng).std(), np.sqrt(2 / 2000), rtol=0.01)
    assert np.isclose(
        init.draw("xavier_normal", (2000, 500), 2000, 500, rng).std(), np.sqrt(2 / 2500), rtol=0.01
    )
    assert np.isclose(
        init.draw("lecun_normal", (2000, 500), 2000, 500, rng).std(), np.sqrt(1 / 2000), rtol=0.01
    )
    u = init.draw(init.uniform(-1, 1), (1000,), 1, 1, rng)
    assert u.min() >= -1 and u.max() <= 1 and u.min() < -0.99
    with pytest.raises(ValueError, match="unknown initializer 'glorot'"):
        init.draw("glorot", (2,), 1, 1)


INITIALIZER_CASES = [*sorted(__import__("nanograd_ad").init.INITIALIZERS), "uniform(-2, 3)"]


@pytest.mark.parametrize("name", INITIALIZER_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 2**16 + 7), (5,), (0, 4)])
def test_drawing_in_a_dtype_gives_the_float64_draw_cast_bit_for_bit(name, dtype, shape):
    """draw(..., dtype) fills the array chunk by chunk; the values (and what the generator
    draws next) equal one float64 draw of the whole shape, cast — today's numbers."""
    from nanograd_ad import init

    initializer = init.uniform(-2, 3) if name.startswith("uniform") else init.INITIALIZERS[name]
    old_rng, new_rng = np.random.default_rng(11), np.random.default_rng(11)
    expected = np.asarray(initializer(shape, 7, 5, old_rng)).astype(dtype)
    drawn = init.draw(initializer, shape, 7, 5, new_rng, dtype)
    assert drawn.dtype == dtype and drawn.shape == shape
    np.testing.assert_array_equal(drawn, expected, strict=True)
    assert new_rng.random() == old_rng.random()


def test_a_seed_gives_the_same_dense_as_one_float64_draw_cast():
    """The network a seed gave before chunked drawing: U(−1/√D_in, 1/√D_in) drawn whole in float64."""
    ng.seed(3)
    layer = ng.Dense(300, 500)  # 150 000 weights: three chunks
    rng, bound = np.random.default_rng(3), 1 / np.sqrt(300)
    np.testing.assert_array_equal(
        layer.weight.data, rng.uniform(-bound, bound, (300, 500)).astype(np.float32)
    )
    np.testing.assert_array_equal(layer.bias.data, rng.uniform(-bound, bound, (500,)).astype(np.float32))


@pytest.mark.parametrize(
    "build",
    [lambda: ng.Dense(1024, 1024), lambda: ng.Conv2D(256, 256, 3), lambda: ng.Dense(256, 256, models=8)],
    ids=["Dense", "Conv2D", "EnsembleDense"],
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_building_a_layer_peaks_at_its_weights_and_gradients(build, dtype):
    """Issue 28: float32 layers peaked at 4× their weight (drawn whole in float64, then cast);
    now at weight + gradient, plus one chunk of float64 draws (512 KiB)."""
    import tracemalloc

    from nanograd_ad import backend, init

    backend.set_default_dtype(dtype)
    try:
        tracemalloc.start()
        layer = build()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    finally:
        backend.set_default_dtype("float32")
    held = sum(p.data.nbytes + p.grad.nbytes for p in layer.parameters())
    assert peak <= held + 8 * init.CHUNK + 2**16, f"peak {peak / 2**20:.2f} MiB, held {held / 2**20:.2f} MiB"


def test_same_seed_same_network_and_numbers():
    def run():
        ng.seed(123)
        net = ng.Sequential(ng.Conv2D(1, 2, 3), ng.ReLU(), ng.Flatten(), ng.Dense(8, 3))
        x = np.random.default_rng(5).standard_normal((4, 1, 4, 4)).astype(np.float32)
        loss = ng.SoftmaxCrossEntropy()
        opt = ng.SGD(net.parameters(), lr=0.1, momentum=0.9)
        for _ in range(3):
            net.zero_grad()
            loss.forward(net(x), np.array([0, 1, 2, 0]))
            net.backward(loss.backward())
            opt.step()
        return net.state_dict()

    a, b = run(), run()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def loop_im2col_nchw(x, k, stride, h_out, w_out):
    """The plain im2col: every patch copied one output pixel at a time, as rows (c, i, j)."""
    n, c = x.shape[:2]
    cols = np.empty((n, h_out, w_out, c * k * k))
    for b, y, z in np.ndindex(n, h_out, w_out):
        cols[b, y, z] = x[b, :, y * stride : y * stride + k, z * stride : z * stride + k].ravel()
    return cols.reshape(n * h_out * w_out, c * k * k)


def loop_col2im_nchw(cols, x_shape, k, stride, h_out, w_out):
    """The plain col2im: every patch value added back to its input position, one patch at a time."""
    n, c = x_shape[:2]
    dx = np.zeros(x_shape)
    rows = cols.reshape(n, h_out, w_out, c, k, k)
    for b, y, z in np.ndindex(n, h_out, w_out):
        dx[b, :, y * stride : y * stride + k, z * stride : z * stride + k] += rows[b, y, z]
    return dx


@settings(max_examples=30, deadline=None)
@given(conv_cases)
def test_reference_im2col_and_col2im_equal_the_plain_loops_and_are_adjoint(case):
    n, c, _, k, s, p, h, w, seed = case
    h, w = h + 2 * p, w + 2 * p  # an already padded input
    if h < k or w < k:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    h_out, w_out = (h - k) // s + 1, (w - k) // s + 1
    cols = im2col(x, k, s, h_out, w_out)
    np.testing.assert_array_equal(cols, loop_im2col_nchw(x, k, s, h_out, w_out))
    g = rng.standard_normal(cols.shape)
    back = col2im(g, x.shape, k, s, h_out, w_out)
    np.testing.assert_allclose(back, loop_col2im_nchw(g, x.shape, k, s, h_out, w_out), rtol=1e-12, atol=1e-15)
    assert np.isclose((cols * g).sum(), (x * back).sum(), rtol=1e-12)  # <im2col(x), g> = <x, col2im(g)>
