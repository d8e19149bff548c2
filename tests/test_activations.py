"""Activations: true derivatives by central differences; replacement derivatives by formula."""

import numpy as np
import pytest
from conftest import distinct_values

import nanograd_ad as ng
from nanograd_ad.activations import sigmoid

ACTIVATIONS = [ng.ReLU, ng.LeakyReLU, ng.Sigmoid, ng.Tanh, ng.Identity, lambda: ng.ISigmoid(a=0.5, alpha=0.3)]


@pytest.mark.parametrize("make", ACTIVATIONS)
def test_true_derivative_passes_finite_differences(make):
    # distinct values 0.013 apart, the nearest 0.0035 from the kink at 0 (all |x| < 0.16 < 0.5)
    x = distinct_values(np.random.default_rng(0), (4, 6), spacing=0.013) + 0.003
    report = ng.check_layer(make(), x, seed=1)
    assert report.passed, str(report)


def test_named_replacement_derivatives_match_the_papers_formulas():
    z = np.linspace(-4, 4, 81)
    relu = ng.ReLU(derivative="ad", k=3.5)
    relu.forward(z)
    relu.backward(np.ones_like(z))
    np.testing.assert_allclose(relu.derivative_value, 1 / (1 + np.exp(-3.5 * z)), rtol=1e-9)  # eq. 8, k = 3.5
    sig = ng.Sigmoid(derivative="ad")
    y = sig.forward(z)
    np.testing.assert_allclose(sig.backward(np.ones_like(z)), np.minimum(y, 1 - y))  # eq. 11
    eq8 = ng.ReLU(derivative="ad")  # k = 1 by default, as in eq. 8
    eq8.forward(z)
    np.testing.assert_allclose(eq8.backward(np.ones_like(z)), 1 / (1 + np.exp(-z)), rtol=1e-9)


def test_isigmoid_is_the_papers_piecewise_function():
    act = ng.ISigmoid(a=0.5, alpha=2.0)

    def s(v):
        return 1 / (1 + np.exp(-v))

    z = np.array([-2.0, -0.5, 0.1, 0.5, 3.0])
    expected = [2 * (-2 + 0.5) + s(-0.5), 2 * (-0.5 + 0.5) + s(-0.5), s(0.1), s(0.5), 2 * (3 - 0.5) + s(0.5)]
    np.testing.assert_allclose(act.forward(z), expected, rtol=1e-9)
    np.testing.assert_allclose(act.backward(np.ones(5)), [2, 2, s(0.1) * (1 - s(0.1)), 2, 2], rtol=1e-9)


def test_sigmoid_is_stable_at_extremes():
    z = np.array([-1e4, 0.0, 1e4], dtype=np.float32)
    # no overflow, no 0/0, no inf/inf; e^{−|z|} underflowing to 0 at |z| = 1e4 is the right answer
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        np.testing.assert_allclose(sigmoid(z), [0, 0.5, 1])


def test_a_callable_and_a_registered_derivative_plug_in():
    z = np.array([-1.0, 2.0])
    act = ng.Tanh(derivative=lambda z, a: 0.5 * np.ones_like(z))
    act.forward(z)
    np.testing.assert_allclose(act.backward(np.array([2.0, 4.0])), [1.0, 2.0])
    ng.register_derivative("relu", "half_step", lambda: lambda z, a: 0.5 * (z >= 0))
    act = ng.ReLU(derivative="half_step")
    act.forward(z)
    np.testing.assert_allclose(act.backward(np.ones(2)), [0.0, 0.5])
    assert "half_step" in ng.derivative_names("relu") and ng.derivative_names("relu")[0] == "true"


def test_switching_derivative_back_and_forth_keeps_parameters():
    act = ng.ReLU(derivative="ad", k=3.5)
    act.set_derivative("true")
    z = np.array([-1.0, 1.0])
    act.forward(z)
    np.testing.assert_allclose(act.backward(np.ones(2)), [0.0, 1.0])
    act.set_derivative("ad")
    act.forward(z)
    np.testing.assert_allclose(act.backward(np.ones(2)), sigmoid(3.5 * z))


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown derivative 'magic'; known: \['true', 'ad'"):
        ng.Sigmoid(derivative="magic")


def test_a_derivative_of_the_wrong_shape_is_refused():
    act = ng.ReLU(derivative=lambda z, a: np.ones(3))
    act.forward(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"returned shape \(3,\), expected \(2, 5\)"):
        act.backward(np.ones((2, 5)))


# ---------------------------------------------------------------- float32 tails (issue 12)
TINY32 = np.finfo(np.float32).tiny  # the smallest normal float32


def _sigmoid64(z32):
    """σ in float64 of the same float32 arguments, by the branch that does not cancel."""
    z = z32.astype(np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def test_sigmoid_is_tail_accurate_in_float32():
    z = np.linspace(-80, 80, 20001, dtype=np.float32)
    got, want = sigmoid(z), _sigmoid64(z)
    assert got.dtype == np.float32
    normal = want >= TINY32
    rel = np.abs(got[normal].astype(np.float64) - want[normal]) / want[normal]
    worst = int(np.argmax(rel))
    assert rel[worst] < 1e-6, f"σ({z[normal][worst]}) = {got[normal][worst]}, float64 {want[normal][worst]}"
    assert normal.all()  # over [−80, 80] every σ is a normal float32


def test_artificial_derivatives_never_vanish_in_float32():
    # AD ReLU d = σ(k·z): > 0 wherever it is a normal float32 (k·z ≥ −87)
    k = 3.5
    z = np.linspace(-87 / k, 80, 20001, dtype=np.float32)
    relu = ng.ReLU(derivative="ad", k=k)
    relu.forward(z)
    relu.backward(np.ones_like(z))
    assert relu.derivative_value.dtype == np.float32
    assert (relu.derivative_value > 0).all(), z[relu.derivative_value <= 0][:5]
    # AD sigmoid d = min(y, 1 − y) = σ(−|z|): > 0 over [−80, 80], and tail-accurate from z
    z = np.linspace(-80, 80, 20001, dtype=np.float32)
    sig = ng.Sigmoid(derivative="ad")
    sig.forward(z)
    sig.backward(np.ones_like(z))
    d = sig.derivative_value
    assert d.dtype == np.float32 and (d > 0).all(), z[d <= 0][:5]
    want = _sigmoid64(-np.abs(z))
    np.testing.assert_allclose(d.astype(np.float64), want, rtol=1e-6, atol=0)


# ---------------------------------------------------------------- memory of a step (issue 19)
# Each built-in activation (and its "ad" derivative, where it has one) beside the same
# activation given the same formula as a plain callable, which keeps z, a and d as written.
BUILT_IN = [
    (ng.ReLU, {}, lambda z, a: (z >= 0).astype(z.dtype)),
    (ng.ReLU, {"derivative": "ad", "k": 3.5}, lambda z, a: sigmoid(3.5 * z)),
    (ng.LeakyReLU, {}, lambda z, a: np.where(z >= 0, 1.0, 0.01).astype(z.dtype)),
    (ng.Sigmoid, {}, lambda z, a: a * (1 - a)),
    (ng.Sigmoid, {"derivative": "ad"}, lambda z, a: sigmoid(-np.abs(z))),
    (ng.Tanh, {}, lambda z, a: 1 - a * a),
    (ng.Identity, {}, lambda z, a: np.ones_like(z)),
]


@pytest.mark.parametrize("wing", [ng, ng.fast], ids=["reference", "fast"])
@pytest.mark.parametrize(("make", "kwargs", "plain"), BUILT_IN)
def test_built_in_derivatives_give_what_the_plain_formula_gives(make, kwargs, plain, wing):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((6, 5)).astype(np.float32)
    delta = rng.standard_normal((6, 5)).astype(np.float32)
    make = getattr(wing, make.__name__)  # the class of that name in this wing
    fast, slow = make(**kwargs), make(derivative=plain)
    a_fast, a_slow = fast.forward(z), slow.forward(z)
    np.testing.assert_array_equal(a_fast, a_slow)
    np.testing.assert_array_equal(fast.a, a_slow)  # recomputed from z when it was not kept
    np.testing.assert_array_equal(fast.backward(delta), slow.backward(delta))
    np.testing.assert_array_equal(fast.derivative_value, slow.derivative_value)
    assert fast.derivative_value.dtype == np.float32


def _traced_step(act, z, delta):
    """(bytes the layer holds after forward, peak bytes of backward above what was held before,
    bytes held after backward besides the returned error), by tracemalloc. A copy of the layer
    takes the same step first, untraced: what the process sets up once (the thread pool and
    threadpoolctl's view of the BLAS, on the first array large enough to split) is not the layer's."""
    import copy
    import tracemalloc

    warm_up = copy.deepcopy(act)
    warm_up.forward(z)
    warm_up.backward(delta)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        act.forward(z)  # the output is dropped: what stays is what the layer keeps
        held = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.reset_peak()
        out = act.backward(delta)
        after, peak = tracemalloc.get_traced_memory()
        return held, peak - before - held, after - before - held - out.nbytes
    finally:
        tracemalloc.stop()


def test_a_fast_relu_step_keeps_z_only_and_writes_the_error_into_its_derivative():
    z = np.random.default_rng(0).standard_normal((64, 4096)).astype(np.float32)  # 1 MiB
    delta = np.ones_like(z)
    held, peak, extra = _traced_step(ng.fast.ReLU(), z, delta)
    assert held < 0.01 * z.nbytes, f"ReLU kept {held} bytes after forward (a = f(z) should go)"
    # d = 1[z ≥ 0] written straight into one float32 array (1×, no bool mask); δ ⊙ d is written into d
    assert peak < 1.05 * z.nbytes, f"ReLU backward peaked {peak / z.nbytes:.2f}× z's bytes, expected ≤ 1.05×"
    assert extra < 0.01 * z.nbytes, f"ReLU kept {extra} bytes after backward besides the error"
    # a callable keeps a = f(z) for d(z, a), and d beside the error
    held, peak, extra = _traced_step(ng.fast.ReLU(derivative=lambda z, a: (z >= 0).astype(z.dtype)), z, delta)
    assert held >= z.nbytes and extra >= z.nbytes
    # the reference keeps z, a and d, as its docstring says
    held, peak, extra = _traced_step(ng.ReLU(), z, delta)
    assert held >= z.nbytes and extra >= z.nbytes


def test_a_derivative_keeping_its_array_is_never_overwritten():
    z = np.array([[-1.0, 2.0, 3.0]], dtype=np.float32)
    half = np.full(z.shape, 0.5, dtype=np.float32)
    act = ng.ReLU(derivative=lambda z, a: half)
    act.forward(z)
    np.testing.assert_array_equal(act.backward(np.full(z.shape, 4.0, dtype=np.float32)), [[2.0, 2.0, 2.0]])
    np.testing.assert_array_equal(half, 0.5)
    assert act.derivative_value is half


def test_derivative_value_is_the_one_backward_used_after_a_switch():
    z = np.array([-1.0, 1.0], dtype=np.float32)
    act = ng.ReLU(derivative="ad", k=3.5)
    act.forward(z)
    act.backward(np.ones_like(z))
    act.set_derivative("true")  # as SwitchingRule does between epochs
    np.testing.assert_allclose(act.derivative_value, sigmoid(3.5 * z))
    assert ng.ReLU().derivative_value is None  # before any backward
