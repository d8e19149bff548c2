"""The fast wing equals the reference wing (cs231n's fast_layers beside layers; minitorch's
one test body over SimpleOps and FastOps; early tinygrad's ``TestOpsGPU(TestOps)``).

One test body, parametrised over every (fast, reference) pair: forward output, input error
and every parameter gradient equal on hypothesis-drawn shapes — float64 to 1e-12, float32
to float32 rounding. Checkpoints written by a fast network load into a reference one and
give the same outputs, and back. Below: the fast wing's own devices (channels-last im2col,
blocks of the batch, scratch arrays) against the plain loops.
"""

import copy
import itertools

import numpy as np
import pytest
from conftest import distinct_values
from hypothesis import given, settings
from hypothesis import strategies as st
from test_layers import conv_cases, naive_conv, naive_conv_backward

import nanograd_ad as ng
from nanograd_ad import activations, layers
from nanograd_ad.fast import layers as fast_layers
from nanograd_ad.fast.activations import inplace_derivative_product, product_like

LAYERS = ["Dense", "Conv2D", "MaxPool2D", "AvgPool2D", "Flatten"]
ACTIVATIONS = ["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "ISigmoid", "Identity"]
PAIRS = LAYERS + ACTIVATIONS

#: float64 agrees to 1e-12; float32 to a few ulps of the values summed (BLAS orders sums differently)
TOLERANCE = {np.float64: dict(rtol=1e-12, atol=1e-12), np.float32: dict(rtol=2e-5, atol=2e-6)}
#: float32 sums (Dense, Conv2D): |fast − reference| ≤ ULPS · ε₃₂ · Σ|terms| per entry, the
#: rounding bound of a sum evaluated in another order; Σ|terms| is the float64 reference run
#: on |x|, |W|, |b|, |δ|. (Relative to the result, a sum that cancels — a bias gradient Σδ
#: near 0 — can differ far beyond 2e-5 with both wings correctly rounded.)
ULPS = 16


def _magnitudes(reference, x, delta):
    """Σ|terms| of every output, input error and parameter gradient: the float64 reference
    layer with |parameters| run on |x| and |δ| (each entry a sum of |products|)."""
    absolute = copy.deepcopy(reference)
    absolute.astype(np.float64)
    for p in absolute.parameters():
        p.data[...] = np.abs(p.data)
        p.zero_grad()
    y = absolute.forward(np.abs(x).astype(np.float64))
    dx = absolute.backward(np.abs(delta).astype(np.float64))
    return y, dx, [p.grad for p in absolute.parameters()]


def _assert_close(fast, reference, magnitude, dtype, what):
    """Equal to float32 rounding of the sums behind each entry, or to TOLERANCE."""
    if magnitude is None:
        np.testing.assert_allclose(fast, reference, **TOLERANCE[dtype], err_msg=what)
        return
    bound = ULPS * np.finfo(np.float32).eps * magnitude
    excess = np.abs(fast.astype(np.float64) - reference.astype(np.float64)) - bound
    worst = np.unravel_index(np.argmax(excess), excess.shape)
    assert excess[worst] <= 0, (
        f"{what}: at {worst} fast {fast[worst]!r} vs reference {reference[worst]!r}, beyond "
        f"{ULPS} float32 ulps of Σ|terms| = {magnitude[worst]:.3g}"
    )


def test_the_fast_wing_exports_every_layer_and_activation_under_the_reference_names():
    for name in PAIRS:
        fast, reference = getattr(ng.fast, name), getattr(ng, name)
        assert fast.__name__ == name and issubclass(fast, reference), name
        assert getattr(layers if name in LAYERS else activations, name) is reference
    assert ng.fast.Flatten is ng.Flatten  # nothing in it is faster: a plain re-export


def _build(name, wing, geometry, rng):
    """A (layer, input) pair of the class ``name`` from ``wing``, drawn from ``geometry``."""
    n, c, o, k, s, p, h, w = geometry
    x = distinct_values(rng, (n, c, h + 2 * p, w + 2 * p))  # distinct: no max-pool ties
    if name == "Dense":
        return wing.Dense(c * h, o), x.reshape(n, -1)[:, : c * h]
    if name == "Conv2D":
        return wing.Conv2D(c, o, k, stride=s, padding=p, bias=bool(rng.integers(2))), x
    if name in ("MaxPool2D", "AvgPool2D"):
        return getattr(wing, name)(k, stride=s), x
    if name == "Flatten":
        return wing.Flatten(), x
    kwargs = {"alpha": 0.1} if name == "LeakyReLU" else {}
    return getattr(wing, name)(**kwargs), x


geometries = st.tuples(
    st.integers(1, 3),  # n: batch 1 included
    st.integers(1, 3),  # c_in: one channel included
    st.integers(1, 4),  # c_out
    st.integers(1, 3),  # kernel
    st.integers(1, 3),  # stride > 1 included
    st.integers(0, 2),  # padding
    st.integers(3, 7),  # h
    st.integers(3, 7),  # w: non-square included
)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", PAIRS)
@settings(max_examples=15, deadline=None)
@given(geometries, st.integers(0, 10_000))
def test_fast_equals_reference(name, dtype, geometry, seed):
    """Forward output, ∂C/∂x and every parameter gradient of the fast class equal the reference's."""
    rng = np.random.default_rng(seed)
    ng.seed(seed)
    reference, x = _build(name, ng, geometry, rng)
    ng.seed(seed)
    fast, _ = _build(name, ng.fast, geometry, np.random.default_rng(seed))
    assert type(fast) is getattr(ng.fast, name) and isinstance(fast, type(reference))
    reference.astype(dtype), fast.astype(dtype)
    x = x.astype(dtype)
    for p_fast, p_ref in zip(fast.parameters(), reference.parameters()):
        np.testing.assert_array_equal(p_fast.data, p_ref.data)  # the same seed, the same draw
    tolerance = TOLERANCE[dtype]
    sums = dtype == np.float32 and name in ("Dense", "Conv2D")
    for _ in range(2):  # twice: whatever a wing keeps between steps must not leak into the next
        for p in reference.parameters() + fast.parameters():
            p.zero_grad()
        y_ref, y_fast = reference.forward(x.copy()), fast.forward(x.copy())
        assert y_fast.dtype == y_ref.dtype == dtype
        delta = rng.standard_normal(y_ref.shape).astype(dtype)
        y_mag, dx_mag, grad_mags = _magnitudes(reference, x, delta) if sums else (None, None, None)
        _assert_close(y_fast, y_ref, y_mag, dtype, f"{name} forward")
        dx_ref, dx_fast = reference.backward(delta.copy()), fast.backward(delta.copy())
        _assert_close(dx_fast, dx_ref, dx_mag, dtype, f"{name} ∂C/∂x")
        assert dx_fast.dtype == dx_ref.dtype
        for i, (p_fast, p_ref) in enumerate(zip(fast.parameters(), reference.parameters())):
            mag = None if grad_mags is None else grad_mags[i]
            _assert_close(p_fast.grad, p_ref.grad, mag, dtype, f"{name} ∂C/∂{p_ref.name}")
    if name in ACTIVATIONS:
        np.testing.assert_allclose(fast.a, reference.a, **tolerance)
        np.testing.assert_allclose(fast.derivative_value, reference.derivative_value, **tolerance)


@pytest.mark.parametrize("name", ["Dense", "Conv2D"])
def test_input_grad_false_gives_the_same_gradients_in_both_wings(name):
    rng = np.random.default_rng(0)
    reference, x = _build(name, ng, (2, 2, 3, 3, 1, 1, 5, 4), rng)
    fast = copy.deepcopy(reference)
    fast.__class__ = getattr(ng.fast, name)
    for layer in (reference, fast):
        layer.astype(np.float64)
    delta = rng.standard_normal(reference.forward(x).shape)
    fast.forward(x)
    assert (
        reference.backward(delta, input_grad=False) is None and fast.backward(delta, input_grad=False) is None
    )
    for p_fast, p_ref in zip(fast.parameters(), reference.parameters()):
        np.testing.assert_allclose(p_fast.grad, p_ref.grad, rtol=1e-12, atol=1e-12)


def _cnn(wing):
    return ng.Sequential(
        wing.Conv2D(1, 4, 3, padding=1), wing.ReLU(), wing.MaxPool2D(2),
        wing.Conv2D(4, 6, 3, stride=2, padding=1), wing.Tanh(), wing.AvgPool2D(1),
        wing.Flatten(), wing.Dense(24, 5), wing.Sigmoid(), wing.Dense(5, 3),
    )  # fmt: skip


@pytest.mark.parametrize(("writer", "reader"), [("fast", "reference"), ("reference", "fast")])
def test_a_checkpoint_of_one_wing_loads_into_the_other_and_gives_the_same_outputs(tmp_path, writer, reader):
    wings = {"fast": ng.fast, "reference": ng}
    x = np.random.default_rng(1).standard_normal((4, 1, 8, 8)).astype(np.float32)
    ng.seed(7)
    source = _cnn(wings[writer])
    source(x)
    path = ng.save_checkpoint(tmp_path / "net.npz", source)
    ng.seed(99)  # another draw: only the checkpoint can make them equal
    target = _cnn(wings[reader])
    assert not np.allclose(target(x), source(x))
    ng.load_checkpoint(path, target)
    assert source.state_dict().keys() == target.state_dict().keys()
    np.testing.assert_allclose(target(x), source(x), rtol=2e-5, atol=2e-6)
    assert repr(target) == repr(source)  # the same names: the checkpoint's architecture reads the same


def test_a_network_may_mix_both_wings():
    x = np.random.default_rng(2).standard_normal((3, 1, 6, 6))
    ng.seed(3)
    mixed = ng.Sequential(ng.fast.Conv2D(1, 2, 3), ng.ReLU(), ng.Flatten(), ng.fast.Dense(32, 2)).astype(
        np.float64
    )
    ng.seed(3)
    plain = ng.Sequential(ng.Conv2D(1, 2, 3), ng.fast.ReLU(), ng.Flatten(), ng.Dense(32, 2)).astype(
        np.float64
    )
    np.testing.assert_allclose(mixed(x), plain(x), rtol=1e-12)
    delta = np.random.default_rng(4).standard_normal((3, 2))
    np.testing.assert_allclose(mixed.backward(delta), plain.backward(delta), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", PAIRS)
def test_the_fast_classes_check_their_input_as_the_reference_does(name):
    """Bad input: the same error and message from both wings (no path around the checks)."""
    bad_inputs = [
        [[1.0, 2.0]],
        np.zeros((2, 3), np.int64),
        np.zeros((2,), np.float32),
        np.zeros((0, 1, 4, 4), np.float32),
    ]
    for x, after_a_good_one in itertools.product(bad_inputs, (False, True)):
        errors = []
        for wing in (ng, ng.fast):
            layer, good = _build(name, wing, (1, 1, 2, 2, 1, 0, 4, 4), np.random.default_rng(0))
            if after_a_good_one:  # a check passed once is made again for another kind of input
                layer.forward(good)
            try:
                layer.forward(x)
                errors.append(None)
            except (TypeError, ValueError) as err:
                errors.append((type(err), str(err)))
        assert errors[0] == errors[1], (name, x, after_a_good_one)
    for wing in (ng, ng.fast):  # backward before forward, and a δ of the wrong shape
        layer = _build(name, wing, (1, 1, 2, 2, 1, 0, 4, 4), np.random.default_rng(0))[0]
        with pytest.raises(RuntimeError, match="backward called before forward"):
            layer.backward(np.zeros((1, 1), np.float32))


def test_inplace_derivative_product_writes_into_d_and_leaves_delta():
    d, delta = np.array([0.0, 1.0, 0.5]), np.array([2.0, 3.0, 4.0])
    out = inplace_derivative_product(d, delta)
    assert out is d
    np.testing.assert_array_equal(d, [0.0, 3.0, 2.0])
    np.testing.assert_array_equal(delta, [2.0, 3.0, 4.0])


def test_product_like_lays_the_product_out_like_d():
    rng = np.random.default_rng(0)
    d = np.ascontiguousarray(rng.standard_normal((2, 4, 5, 3))).transpose(0, 3, 1, 2)  # NCHW view of NHWC
    delta = rng.standard_normal((2, 3, 4, 5))  # plain NCHW
    d_before, delta_before = d.copy(), delta.copy()
    out = product_like(d, delta)
    np.testing.assert_array_equal(out, delta * d)
    assert out.strides == d.strides and out.strides != (delta * d).strides
    np.testing.assert_array_equal(d, d_before)
    np.testing.assert_array_equal(delta, delta_before)
    np.testing.assert_array_equal(product_like(0.5, delta), 0.5 * delta)  # a scalar d: the plain product


# ------------------------------------------------------- the fast wing's own devices
def loop_im2col(x, kh, kw, stride, h_out, w_out):
    """The plain im2col: one strided slice copied per kernel offset."""
    cols = np.empty((x.shape[0], h_out, w_out, kh, kw, x.shape[3]), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, :, i, j, :] = x[:, i : i + stride * h_out : stride, j : j + stride * w_out : stride, :]
    return cols


def loop_col2im(cols, x_shape, stride):
    """The plain col2im: every patch value added back to its input position, one at a time."""
    n, h_out, w_out, kh, kw, _ = cols.shape
    dx = np.zeros(x_shape)
    for b, y, z, i, j in np.ndindex(n, h_out, w_out, kh, kw):
        dx[b, y * stride + i, z * stride + j, :] += cols[b, y, z, i, j, :]
    return dx


@settings(max_examples=30, deadline=None)
@given(conv_cases)
def test_fast_im2col_and_col2im_equal_the_plain_loops(case):
    n, c, _, k, s, p, h, w, seed = case
    h, w = h + 2 * p, w + 2 * p  # an already padded input
    if h < k or w < k:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).transpose(0, 2, 3, 1)  # channels last, as Conv2D cuts it
    h_out, w_out = (h - k) // s + 1, (w - k) // s + 1
    im2col, col2im = fast_layers.im2col, fast_layers.col2im
    np.testing.assert_array_equal(im2col(x, k, k, s, h_out, w_out), loop_im2col(x, k, k, s, h_out, w_out))
    # into a view of a wider buffer, as Conv2D cuts [cols 1]: the patches fill the first K columns only
    buffer = np.full((n * h_out * w_out, k * k * c + 1), 7.0)
    im2col(x, k, k, s, h_out, w_out, out=buffer[:, :-1].reshape(n, h_out, w_out, k, k, c))
    np.testing.assert_array_equal(
        buffer[:, :-1], loop_im2col(x, k, k, s, h_out, w_out).reshape(-1, k * k * c)
    )
    np.testing.assert_array_equal(buffer[:, -1], 7.0)
    cols = rng.standard_normal((n, h_out, w_out, k, k, c))
    # each position sums the patch values that cover it, in another order than the loop: equal to
    # a few ulps of Σ|values| (relative to the sum itself, one that cancels differs far more)
    bound = 4 * np.finfo(np.float64).eps * loop_col2im(np.abs(cols), x.shape, s)
    assert np.all(np.abs(col2im(cols, x.shape, s) - loop_col2im(cols, x.shape, s)) <= bound)


def test_conv_in_blocks_of_the_batch_equals_naive_loops(monkeypatch):
    """PATCH_BYTES small enough for one sample per block: the blocked products still give
    the naive loops' output and gradients (one block is what the hypothesis cases see)."""
    monkeypatch.setattr(fast_layers, "PATCH_BYTES", 1)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 2, 5, 4))
    layer = ng.fast.Conv2D(2, 3, 3, stride=1, padding=1).astype(np.float64)
    out = layer.forward(x)
    np.testing.assert_allclose(out, naive_conv(x, layer.weight.data, layer.bias.data, 1, 1), rtol=1e-10)
    delta = rng.standard_normal(out.shape)
    dx = layer.backward(delta)
    ndx, ndw, ndb = naive_conv_backward(x, layer.weight.data, delta, 1, 1)
    np.testing.assert_allclose(dx, ndx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, ndw, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, ndb, rtol=1e-10, atol=1e-12)


def test_fast_im2col_col2im_are_adjoint():
    """<im2col(x), c> = <x, col2im(c)>: col2im is the exact transpose of im2col."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 6))
    cols = fast_layers.im2col(x.transpose(0, 2, 3, 1), 3, 2, 2, 3, 3)
    c = rng.standard_normal(cols.shape)
    assert np.isclose(
        (cols * c).sum(), (x.transpose(0, 2, 3, 1) * fast_layers.col2im(c, (2, 7, 6, 3), 2)).sum(), rtol=1e-12
    )


def test_conv_scratch_arrays_are_reused_per_thread_and_never_shared():
    import threading

    first = fast_layers._scratch("test", (4, 5), np.float32)
    again = fast_layers._scratch("test", (2, 5), np.float32)  # smaller: the same memory
    assert np.shares_memory(first, again)
    other = {}
    worker = threading.Thread(target=lambda: other.update(a=fast_layers._scratch("test", (4, 5), np.float32)))
    worker.start()
    worker.join()
    assert not np.shares_memory(first, other["a"])  # another thread has its own
    big = (fast_layers.PATCH_BYTES // 2 + 1, 4)  # over 2 · PATCH_BYTES of float32: a new array each time
    assert not np.shares_memory(
        fast_layers._scratch("test", big, np.float32), fast_layers._scratch("test", big, np.float32)
    )


def test_two_convolutions_sharing_the_scratch_arrays_equal_naive_loops():
    """Two layers of different widths, one after the other, forward and backward twice: each
    cuts its patches into the same scratch arrays and still gives the naive loops' numbers."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 2, 6, 5))
    first = ng.fast.Conv2D(2, 4, 3, padding=1).astype(np.float64)
    second = ng.fast.Conv2D(4, 3, 2, stride=2, bias=False).astype(np.float64)
    for _ in range(2):
        z1 = first.forward(x)
        z2 = second.forward(z1)
        np.testing.assert_allclose(z1, naive_conv(x, first.weight.data, first.bias.data, 1, 1), rtol=1e-10)
        np.testing.assert_allclose(z2, naive_conv(z1, second.weight.data, np.zeros(3), 2, 0), rtol=1e-10)
    delta = rng.standard_normal(z2.shape)
    for layer in (first, second):
        for p in layer.parameters():
            p.zero_grad()
    dz1 = second.backward(delta)
    dx = first.backward(dz1)
    want_dz1, want_dw2, _ = naive_conv_backward(z1, second.weight.data, delta, 2, 0)
    want_dx, want_dw1, want_db1 = naive_conv_backward(x, first.weight.data, dz1, 1, 1)
    np.testing.assert_allclose(dz1, want_dz1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(second.weight.grad, want_dw2, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(first.weight.grad, want_dw1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(first.bias.grad, want_db1, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("params", [{}, {"a": 0.05, "alpha": 0.5}])
def test_fast_isigmoid_gives_the_references_numbers_bit_for_bit(dtype, params):
    """σ on the band −a < z < a only: the same f and true derivative, to the last bit, at the
    band's edges, at ±0, NaN and ±inf, and where e^{−|z|} is subnormal (|z| ≈ 90 in float32)."""
    from nanograd_ad import activations as reference
    from nanograd_ad.fast import activations as fast

    rng = np.random.default_rng(5)
    a = params.get("a", 0.01)
    special = [
        a,
        -a,
        np.nextafter(a, 0),
        -np.nextafter(a, 0),
        0.0,
        -0.0,
        np.nan,
        np.inf,
        -np.inf,
        90.0,
        -95.0,
    ]
    for scale in (0.5 * a, 3 * a, 1.0, 100.0):
        z = np.concatenate([rng.standard_normal(997) * scale, special]).astype(dtype)
        ref, new = reference.ISigmoid(**params), fast.ISigmoid(**params)
        with np.errstate(all="ignore"):
            pairs = [(ref.f(z), new.f(z)), (ref.d(z, None), new.true_derivative_array(z, None))]
        for expected, got in pairs:
            assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes(), (
                scale,
                np.flatnonzero(expected.view(np.uint8) != got.view(np.uint8))[:5],
            )
    own_a = fast.ISigmoid(**params)
    own_a.set_derivative("true", a=0.2)  # the derivative's own a, not f's
    z = np.array([0.1, -0.1, 0.3], dtype=dtype)
    expected = reference.ISigmoid.true_derivative(a=0.2, alpha=params.get("alpha", 1.0))(z, None)
    assert own_a.true_derivative_array(z, None).tobytes() == expected.tobytes()


#: ±0, NaN, ±inf, tiny, and where e^{−|z|} is subnormal or 0 in float32
SPECIAL_Z = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-30, -1e-30, 30.0, -30.0, 88.7, -88.7, 95.0, -95.0, 104.0]


def _with_derivative(act, derivative, **params):
    act.set_derivative(derivative, **params)
    return act


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize(
    "make",
    [
        lambda wing: wing.ReLU(),
        lambda wing: wing.ReLU(derivative="ad", k=3.5),
        lambda wing: wing.ReLU(derivative="ad", k=1),
        lambda wing: wing.LeakyReLU(0.01),
        lambda wing: wing.LeakyReLU(1.0),
        lambda wing: wing.LeakyReLU(0.0),  # outside 0 < α ≤ 1: the reference's passes
        lambda wing: wing.LeakyReLU(2.0),
        lambda wing: wing.Sigmoid(),
        lambda wing: wing.Sigmoid(derivative="ad"),
        lambda wing: wing.ISigmoid(),
        lambda wing: wing.ISigmoid(a=0.5, alpha=0.5),
        lambda wing: _with_derivative(wing.ISigmoid(), "true", a=0.2),  # its own band, not f's
        lambda wing: wing.Tanh(),
    ],
    ids=lambda make: repr(make(activations)),
)
def test_fast_activations_give_the_references_numbers_bit_for_bit(make, dtype):
    """Forward a, δ^l and d^l of every fast activation and the derivatives it computes itself
    (true, AD ReLU's sigmoid(k·z), AD sigmoid's σ(−|z|) from the forward) equal the reference's
    to the last bit — at ±0, NaN, ±inf, where e^{−|z|} is subnormal or 0, and at every scale."""
    import nanograd_ad.artificial_derivative  # noqa: F401  (registers "ad")
    from nanograd_ad.fast import activations as fast

    rng = np.random.default_rng(7)
    z = np.concatenate([rng.standard_normal(500) * s for s in (0.01, 1, 10, 100)] + [SPECIAL_Z]).astype(dtype)
    reference, new = make(activations), make(fast)
    for _ in range(2):  # twice: nothing kept from one step may leak into the next
        delta = rng.standard_normal(z.shape).astype(dtype)
        with np.errstate(all="ignore"):
            got = [new.forward(z.copy()), new.backward(delta.copy())]
            expected = [reference.forward(z.copy()), reference.backward(delta.copy())]
            got += [new.derivative_value, new.a]
            expected += [reference.derivative_value, reference.a]
        for what, g, e in zip(("a", "δ", "d", "a read later"), got, expected):
            differ = (g.view(np.uint8) != e.view(np.uint8)).reshape(len(z), -1).any(axis=1)
            assert g.dtype == e.dtype and not differ.any(), (what, "differs at z =", z[differ][:5])


def test_a_copied_fast_activation_computes_its_derivative_from_its_own_arrays():
    """The derivative a fast activation computes itself is a bound method: a deep copy (what
    `ensemble.stack` makes of each activation) uses its own forward's arrays, not the original's."""
    import nanograd_ad.artificial_derivative  # noqa: F401
    from nanograd_ad.fast import activations as fast

    original = fast.Sigmoid(derivative="ad")
    copied = copy.deepcopy(original)
    z = np.linspace(-3, 3, 7)
    original.forward(-z)
    copied.forward(z)
    np.testing.assert_array_equal(copied.backward(np.ones_like(z)), activations.sigmoid(-np.abs(z)))


def test_switching_keeps_the_fast_derivatives_numbers():
    """The switching rule sets the AD and true derivatives back and forth (as callables), and
    a per-model mix while the models disagree; a fast AD ReLU gives the reference's d^l in every
    mode, computing it itself except in the all-true mode."""
    from nanograd_ad.artificial_derivative import SwitchingRule
    from nanograd_ad.fast import activations as fast

    z = np.random.default_rng(3).standard_normal((3, 5, 2)).astype(np.float32)  # 3 models
    z[0, 0, 0], z[1, 0, 0] = np.nan, np.inf
    acts = {wing: wing.ReLU(derivative="ad", k=3.5) for wing in (activations, fast)}
    rules = {wing: SwitchingRule([act]) for wing, act in acts.items()}
    history = type("T", (), {"history": ng.History(models=3)})()
    epochs = [  # per-model epoch losses; a rise of more than 3.5 % switches that model
        ([1.0, 1.0, 1.0], "ad"),
        ([2.0, 1.0, 1.0], "mixed"),  # model 0 switches to the true derivative
        ([2.0, 2.0, 2.0], "mixed"),  # models 1 and 2 too, model 0 back to AD
        ([1.0, 1.0, 5.0], "mixed"),
        ([9.0, 1.0, 9.0], "true"),  # models 0 and 2 to the true derivative: all agree
    ]
    for losses, mode in epochs:
        values = []
        for wing, act in acts.items():
            rules[wing].on_epoch_end(history, 0, {"train_loss": np.array(losses)})
            with np.errstate(invalid="ignore"):
                act.forward(z)
                delta = act.backward(np.full_like(z, 0.5))  # δ^l = 0.5 d^l: what backward computed
            values.append((delta.tobytes(), act.derivative_value.tobytes()))
        assert values[0] == values[1], mode
        assert (acts[fast]._own is not None) == (mode != "true"), mode  # computed by the fast ReLU itself
