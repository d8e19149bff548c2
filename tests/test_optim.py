"""Optimizers: updates by hand, clipping, weight decay, state round-trip, bad settings."""

import numpy as np
import pytest

import nanograd_ad as ng
from nanograd_ad.layers import Parameter


def param(values, grad):
    p = Parameter(np.array(values, dtype=np.float64), "w")
    p.grad = np.array(grad, dtype=np.float64)
    return p


def test_sgd_momentum_and_weight_decay_by_hand():
    p = param([1.0, -2.0], [0.5, 0.5])
    opt = ng.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01)
    opt.step()  # g = 0.5 + 0.01θ ; v = g ; θ -= 0.1 v
    g1 = np.array([0.5 + 0.01, 0.5 - 0.02])
    np.testing.assert_allclose(p.data, [1.0, -2.0] - 0.1 * g1)
    theta1 = p.data.copy()
    opt.step()  # v = 0.9 v + g
    v2 = 0.9 * g1 + (0.5 + 0.01 * theta1)
    np.testing.assert_allclose(p.data, theta1 - 0.1 * v2)


def test_adam_first_steps_by_hand():
    p = param([1.0], [2.0])
    opt = ng.Adam([p], lr=0.01, betas=(0.9, 0.999), eps=1e-8)
    opt.step()  # m̂ = g, v̂ = g² → step = lr · g/|g|
    np.testing.assert_allclose(p.data, [1.0 - 0.01 * 2 / (2 + 1e-8)])
    p.grad = np.array([-1.0])
    opt.step()
    m = 0.9 * 0.1 * 2 + 0.1 * -1
    v = 0.999 * 0.001 * 4 + 0.001 * 1
    step = 0.01 * (m / (1 - 0.9**2)) / (np.sqrt(v / (1 - 0.999**2)) + 1e-8)
    np.testing.assert_allclose(p.data, [1.0 - 0.01 * 2 / (2 + 1e-8) - step])


def test_clipping_by_value_and_global_norm():
    p, q = param([0.0, 0.0], [3.0, -0.2]), param([0.0], [-4.0])
    ng.clip_by_value([p, q], 0.5)
    np.testing.assert_allclose(p.grad, [0.5, -0.2])
    np.testing.assert_allclose(q.grad, [-0.5])
    p, q = param([0.0, 0.0], [3.0, 0.0]), param([0.0], [4.0])
    assert np.isclose(ng.clip_by_global_norm([p, q], 1.0), 5.0)
    np.testing.assert_allclose(np.concatenate([p.grad, q.grad]), [0.6, 0.0, 0.8], rtol=1e-9)
    p = param([0.0], [0.3])
    ng.SGD([p], lr=1.0, clip_value=0.5, clip_norm=10).step()
    np.testing.assert_allclose(p.data, [-0.3])


def test_state_dict_round_trip_continues_identically():
    def make():
        return param([1.0, 2.0], [0.3, -0.1])

    a, b = make(), make()
    opt_a = ng.Adam([a], lr=0.1)
    opt_a.step()
    state = opt_a.state_dict()
    b.data = a.data.copy()
    opt_b = ng.Adam([b], lr=0.5)
    opt_b.load_state_dict(state)
    opt_a.step()
    opt_b.step()
    np.testing.assert_array_equal(a.data, b.data)


def test_load_state_dict_copies_the_buffers():
    p = param([1.0, 2.0], [0.3, -0.1])
    opt = ng.Adam([p], lr=0.1)
    opt.step()
    state = opt.state_dict()
    saved = state["m.0"].copy()
    other = ng.Adam([param([1.0, 2.0], [0.3, -0.1])], lr=0.1)
    other.load_state_dict(state)
    other.step()
    np.testing.assert_array_equal(state["m.0"], saved)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(lr=0), "lr must be > 0, got 0"),
        (dict(lr=-1e-3), "lr must be > 0, got -0.001"),
        (dict(lr=float("nan")), "lr must be > 0, got nan"),
        (dict(lr=0.1, momentum=1.0), r"momentum must be in \[0, 1\), got 1.0"),
        (dict(lr=0.1, weight_decay=-1), "weight_decay must be ≥ 0"),
        (dict(lr=0.1, clip_value=0), "clip_value must be > 0 or None"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ng.SGD([param([0.0], [0.0])], **kwargs)


def test_params_must_be_parameters():
    with pytest.raises(ValueError, match="non-empty list of Parameter"):
        ng.Adam([np.zeros(3)])


# ------------------------------------------------ where L2 enters: two readings (PN paper)


def test_l2_after_clipping_adds_lambda_theta_to_the_clipped_gradient():
    p = param([10.0, 10.0, -10.0], [1.0, -0.2, 0.0])
    ng.SGD([p], lr=1.0, weight_decay=0.003, clip_value=0.5).step()  # default l2="after_clip"
    # g ← clip(g, ±0.5) + 0.003·θ: the decay term escapes the clip
    np.testing.assert_allclose(
        p.data, [10 - (0.5 + 0.03), 10 - (-0.2 + 0.03), -10 - (0.0 - 0.03)], rtol=1e-15
    )


def test_l2_in_the_loss_adds_two_lambda_theta_before_clipping():
    p = param([10.0, 10.0, -10.0], [1.0, -0.2, 0.0])
    ng.SGD([p], lr=1.0, weight_decay=0.003, clip_value=0.5, l2="loss").step()
    # g ← clip(g + 2·0.003·θ, ±0.5) = clip([1.06, −0.14, −0.06])
    np.testing.assert_allclose(p.data, [10 - 0.5, 10 - (-0.2 + 0.06), -10 - (0.0 - 0.06)], rtol=1e-15)


@pytest.mark.parametrize("make", [lambda ps, **kw: ng.SGD(ps, lr=0.1, momentum=0.9, **kw), ng.Adam])
def test_each_l2_reading_changes_only_what_it_says(make):
    """Without clipping, "loss" is "after_clip" with 2λ; without decay, both are the plain optimizer."""
    rng = np.random.default_rng(0)
    theta, grads = rng.standard_normal(5), rng.standard_normal((3, 5))

    def run(**kw):
        p = param(theta.copy(), grads[0])
        opt = make([p], **kw)
        for g in grads:
            p.grad = g.copy()
            opt.step()
        return p.data

    np.testing.assert_array_equal(run(weight_decay=0.006), run(weight_decay=0.003, l2="loss"))
    np.testing.assert_array_equal(run(), run(l2="loss"))
    np.testing.assert_array_equal(run(clip_value=0.5), run(clip_value=0.5, l2="loss"))
    assert not np.array_equal(run(weight_decay=0.003), run(weight_decay=0.003, l2="loss"))


def test_l2_in_the_loss_is_the_gradient_of_c_plus_lambda_sum_theta_squared():
    """A Dense layer under MSE: the step of l2="loss" equals central differences of C + λΣθ²."""
    rng = np.random.default_rng(1)
    layer = ng.Sequential(ng.Dense(3, 2)).astype(np.float64)
    x, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    loss, lam, h = ng.MSE(), 0.003, 1e-6

    def objective():
        return float(loss.forward(layer(x), y)) + lam * sum(
            float((p.data**2).sum()) for p in layer.parameters()
        )

    before = [p.data.copy() for p in layer.parameters()]
    numeric = []
    for p in layer.parameters():
        grad = np.zeros_like(p.data)
        for i in np.ndindex(p.shape):
            p.data[i] += h
            up = objective()
            p.data[i] -= 2 * h
            down = objective()
            p.data[i] += h
            grad[i] = (up - down) / (2 * h)
        numeric.append(grad)
    layer.zero_grad()
    loss.forward(layer(x), y)
    layer.backward(loss.backward())
    ng.SGD(layer.parameters(), lr=1.0, weight_decay=lam, l2="loss").step()
    for p, start, expected in zip(layer.parameters(), before, numeric):
        np.testing.assert_allclose(start - p.data, expected, rtol=1e-7, atol=1e-10)


def test_an_unknown_l2_reading_is_refused():
    with pytest.raises(ValueError, match=r"SGD: l2 must be one of \('after_clip', 'loss'\), got 'keras'"):
        ng.SGD([param([1.0], [0.0])], lr=0.1, l2="keras")
