"""Pseudo-normalization (Bu, Jiang, Lu & Zhang 2026, §3.3–3.5): single path = the explicit
recursion with norm(d); two paths = local / carried errors by hand; carried = local / RMS; PN
lifts a vanishing first-layer gradient; bad settings and networks are refused naming the layer."""

import copy
import itertools

import numpy as np
import pytest

import nanograd_ad as ng
from nanograd_ad.feedback import FeedbackRule
from nanograd_ad.pseudo_normalization import PseudoNormalize, pseudo_normalize, rms

EPS = 1e-8


def tanh_mlp(widths=(5, 6, 6, 6, 6, 3), seed=3, init="lecun_normal", act=ng.Tanh):
    """Dense → tanh → … → Dense (linear output), float64."""
    ng.seed(seed)
    layers = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
        layers.append(ng.Dense(fan_in, fan_out, weight_init=init))
        if i < len(widths) - 2:
            layers.append(act())
    return ng.Sequential(*layers).astype(np.float64)


def batch(n=7, features=5, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, features)) * 1.5, rng.integers(0, classes, n)


def run_backward(net, x, y):
    loss = ng.SoftmaxCrossEntropy()
    loss.forward(net(x), y)
    delta_top = loss.backward()
    net.zero_grad()
    return delta_top, net.backward(delta_top)


def hand_rms(d, over):
    """sqrt(mean(d²)) per sample (keepdims) or over the batch."""
    if over == "sample":
        return np.sqrt(np.mean(d * d, axis=tuple(range(1, d.ndim)), keepdims=True))
    return np.sqrt(np.mean(d * d))


def hand_forward(net, x):
    """Nielsen's lists: a^0 = x, z^l = a^{l-1} W^l + b^l, a^l = tanh z^l (linear output)."""
    dense = [layer for layer in net.layers if isinstance(layer, ng.Dense)]
    activations, zs = [x], []
    for l, layer in enumerate(dense):
        z = activations[-1] @ layer.weight.data + layer.bias.data
        zs.append(z)
        activations.append(np.tanh(z) if l < len(dense) - 1 else z)
    return dense, zs, activations


# --------------------------------------------------------------------- single path


@pytest.mark.parametrize("period, start", [(1, 2), (2, 2), (3, 2), (2, 1), (2, 3)])
@pytest.mark.parametrize("over", ["sample", "batch"])
def test_single_path_equals_explicit_recursion_with_norm_d_at_pn_layers(period, start, over):
    net = tanh_mlp()
    net.add_feedback(PseudoNormalize(period=period, start=start, rms=over, eps=EPS))
    x, y = batch()
    delta_top, dx = run_backward(net, x, y)

    # The explicit recursion: δ^l = (δ^{l+1} W^{l+1 T}) ⊙ norm(d^l) at the PN layers, d^l elsewhere.
    dense, _zs, a = hand_forward(net, x)
    L = len(dense)  # layers 1..L; hidden 1..L-1
    pn_depths = set(range(L - start, 0, -period))  # L − start, then every period-th below
    grads, delta = {}, delta_top  # δ^L (linear output: d^L = 1)
    for l in range(L, 0, -1):
        grads[l] = (a[l - 1].T @ delta, delta.sum(axis=0))  # ∂C/∂W^l = a^{l-1 T} δ^l
        delta = delta @ dense[l - 1].weight.data.T  # W^{l T} δ^l
        if l > 1:
            d = 1 - a[l - 1] ** 2  # d^{l-1} = tanh'(z^{l-1})
            if l - 1 in pn_depths:
                d = d / (hand_rms(d, over) + EPS)  # norm(d^{l-1})
            delta = delta * d
    for l, layer in enumerate(dense, start=1):
        np.testing.assert_allclose(layer.weight.grad, grads[l][0], rtol=1e-12, atol=1e-15, err_msg=f"W^{l}")
        np.testing.assert_allclose(layer.bias.grad, grads[l][1], rtol=1e-12, atol=1e-15, err_msg=f"b^{l}")
    np.testing.assert_allclose(dx, delta, rtol=1e-12, atol=1e-15)
    # and PN did change something (the test can fail): plain backprop differs
    plain = copy.deepcopy(net)
    plain.feedback = []
    run_backward(plain, x, y)
    assert not np.allclose(plain.layers[0].weight.grad, dense[0].weight.grad, rtol=1e-3)


def test_pn_layers_are_every_period_th_hidden_layer_from_the_top_and_never_the_output():
    net = ng.Sequential(
        ng.Dense(2, 3),
        ng.Tanh(),
        ng.Dense(3, 3),
        ng.Tanh(),
        ng.Dense(3, 3),
        ng.Tanh(),
        ng.Dense(3, 3),
        ng.Tanh(),
        ng.Dense(3, 1),
        ng.Sigmoid(),
    )
    # L = 5 weight layers; hidden layers 1..4 are the Tanh at indices 1, 3, 5, 7
    cases = [(1, 2, [1, 3, 5]), (2, 2, [1, 5]), (3, 2, [5]), (10, 2, [5])]  # the default start: L−2
    cases += [(1, 1, [1, 3, 5, 7]), (2, 1, [3, 7]), (3, 1, [1, 7]), (2, 4, [1])]  # start=1: L−1, L−3
    for period, start, expected in cases:
        rule = PseudoNormalize(period=period, start=start)
        net.feedback = []
        net.add_feedback(rule)
        assert rule.hidden_layers == [1, 3, 5, 7]
        assert rule.pn_layers == expected, (period, start, rule.pn_layers)
    with pytest.raises(ValueError, match="start=5 asks for hidden layer L−5, but the network has only 4"):
        net.feedback = []
        net.add_feedback(PseudoNormalize(start=5))


@pytest.mark.parametrize("two_path", [False, True])
def test_the_papers_six_layer_example_normalizes_d4_and_d2(two_path):
    """Bu et al. 2026, §3.5: the first feedback path covers "δ^(6) to δ^(4) or δ^(3) to δ^(2)":
    blocks [6, 5, 4] and [3, 2], so the normalized derivatives are d^4 and d^2."""
    net = tanh_mlp(widths=(5, 6, 6, 6, 6, 6, 3))  # 6 Dense layers, tanh after layers 1..5
    rule = PseudoNormalize(two_path=two_path, eps=EPS)
    net.add_feedback(rule)
    dense_at = [i for i, layer in enumerate(net.layers) if isinstance(layer, ng.Dense)]
    assert len(dense_at) == 6
    # hidden layer l is the activation right after Dense layer l (l = 1..6)
    assert rule.pn_layers == [dense_at[1] + 1, dense_at[3] + 1] == [3, 7]
    x, y = batch()
    delta_top, _ = run_backward(net, x, y)
    dense, _zs, a = hand_forward(net, x)
    delta = delta_top
    for l in range(6, 1, -1):  # the recursion with norm(d^4) and norm(d^2) only
        delta = delta @ dense[l - 1].weight.data.T
        d = 1 - a[l - 1] ** 2  # d^{l−1}
        local = delta * d
        if l - 1 in (4, 2):
            d = d / (hand_rms(d, "sample") + EPS)
        delta = delta * d
        # single path: W^{l−1} sees the normalized error; two paths: the local one
        seen = local if two_path else delta
        np.testing.assert_allclose(
            dense[l - 2].weight.grad, a[l - 2].T @ seen, rtol=1e-10, atol=1e-14, err_msg=f"W^{l - 1}"
        )


def test_norm_and_rms_helpers_per_sample_batch_and_conv():
    d = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(rms(d), [np.sqrt(12.5), 0.0])
    np.testing.assert_allclose(rms(d, "batch"), np.sqrt(25 / 4))
    np.testing.assert_allclose(pseudo_normalize(d, eps=0.0 + 1e-12)[0], d[0] / np.sqrt(12.5))
    assert np.all(pseudo_normalize(d)[1] == 0)  # a dead sample stays 0 (ε guards 0/0)
    conv = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    np.testing.assert_allclose(rms(conv), np.sqrt((conv**2).reshape(2, -1).mean(axis=1)))
    ensemble = np.random.default_rng(1).standard_normal((2, 5, 3))  # (E, N, D)
    np.testing.assert_allclose(rms(ensemble), np.sqrt((ensemble**2).mean(axis=2)))
    np.testing.assert_allclose(rms(ensemble, "batch"), np.sqrt((ensemble**2).mean(axis=(1, 2))))


# ------------------------------------------------------------------------ two paths


def test_two_path_local_and_carried_errors_equal_methods_formulas_by_hand():
    net = tanh_mlp(widths=(5, 6, 6, 6, 3))  # L = 4, hidden 1..3, PN at 3 and 1 (start=1: L−1, L−3)
    rule = PseudoNormalize(period=2, start=1, two_path=True, eps=EPS)
    net.add_feedback(rule)
    x, y = batch()
    delta_top, dx = run_backward(net, x, y)
    dense, _zs, a = hand_forward(net, x)
    W = {l: layer.weight.data for l, layer in enumerate(dense, start=1)}
    d = {l: 1 - a[l] ** 2 for l in (1, 2, 3)}
    norm = {l: d[l] / (np.sqrt(np.mean(d[l] ** 2, axis=1, keepdims=True)) + EPS) for l in (1, 3)}

    c4 = e4 = delta_top  # top: c^L = e^L = δ^L
    e3, c3 = (c4 @ W[4].T) * d[3], (c4 @ W[4].T) * norm[3]  # PN layer
    e2 = c2 = (c3 @ W[3].T) * d[2]  # not a PN layer: c^2 = e^2
    e1, c1 = (c2 @ W[2].T) * d[1], (c2 @ W[2].T) * norm[1]  # PN layer
    assert rule.pn_layers == [1, 5]  # the Tanh after Dense 1 and Dense 3
    for index, e, c in [(5, e3, c3), (1, e1, c1)]:
        np.testing.assert_allclose(rule.local_error[index], e, rtol=1e-12, err_msg=f"local_error[{index}]")
        np.testing.assert_allclose(
            rule.carried_error[index], c, rtol=1e-12, err_msg=f"carried_error[{index}]"
        )
    for l, e in [(1, e1), (2, e2), (3, e3), (4, e4)]:  # own gradients from the local error
        np.testing.assert_allclose(dense[l - 1].weight.grad, a[l - 1].T @ e, rtol=1e-12, err_msg=f"W^{l}")
        np.testing.assert_allclose(dense[l - 1].bias.grad, e.sum(axis=0), rtol=1e-12, err_msg=f"b^{l}")
    np.testing.assert_allclose(dx, c1 @ W[1].T, rtol=1e-12)  # the input gets the carried error
    # single path would differ exactly where a layer's own gradient sees its normalization
    single = copy.deepcopy(net)
    single.feedback = []
    single.add_feedback(PseudoNormalize(period=2, start=1))
    run_backward(single, x, y)
    np.testing.assert_allclose(single.layers[2].weight.grad, net.layers[2].weight.grad, rtol=1e-12)
    assert not np.allclose(single.layers[4].weight.grad, net.layers[4].weight.grad, rtol=1e-3)


@pytest.mark.parametrize("over", ["sample", "batch"])
def test_carried_equals_local_over_rms_exactly(over):
    net = tanh_mlp()
    rule = PseudoNormalize(period=2, two_path=True, rms=over)
    net.add_feedback(rule)
    run_backward(net, *batch(n=9))
    assert rule.pn_layers == [1, 5]  # L = 5: hidden layers L−2 = 3 and L−4 = 1
    for index in rule.pn_layers:
        d = net.layers[index].derivative_value
        scale = np.sqrt(np.mean(d * d, axis=1 if over == "sample" else None)) + rule.eps
        expected = rule.local_error[index] / (scale[:, None] if over == "sample" else scale)
        np.testing.assert_array_equal(rule.carried_error[index], expected)  # bit for bit


def test_two_path_conv_with_pooling_between_activation_and_weights():
    """Conv → MaxPool → Tanh(PN): the carried error travels through the pool and conv as
    defined (copies of the layers pass c^l down), the conv's gradient comes from e^l."""
    ng.seed(5)
    net = ng.Sequential(
        ng.Conv2D(2, 3, 3, padding=1, weight_init="lecun_normal"),
        ng.MaxPool2D(2),
        ng.Tanh(),
        ng.Conv2D(3, 4, 3, padding=1, weight_init="lecun_normal"),
        ng.Tanh(),
        ng.Flatten(),
        ng.Dense(16, 3, weight_init="lecun_normal"),
    ).astype(np.float64)
    rule = PseudoNormalize(period=2, two_path=True)  # L = 3: hidden layer L−2 = 1, below it the first conv
    net.add_feedback(rule)
    assert rule.pn_layers == [2] and rule.weight_below == {2: 0}
    net.feedback = []
    rule = PseudoNormalize(period=2, start=1, two_path=True)
    net.add_feedback(rule)
    assert rule.pn_layers == [4] and rule.weight_below == {4: 3}
    net.feedback = []
    rule = PseudoNormalize(period=1, start=1, two_path=True, eps=EPS)
    net.add_feedback(rule)
    assert rule.pn_layers == [2, 4] and rule.weight_below == {2: 0, 4: 3}
    x = np.random.default_rng(2).permutation(np.arange(2 * 2 * 4 * 4) * 0.02 - 0.6).reshape(2, 2, 4, 4)
    y = np.array([0, 2])
    delta_top, dx = run_backward(net, x, y)

    hand = copy.deepcopy(net)  # same weights and caches, no rules
    hand.feedback = []
    hand.zero_grad()
    L = hand.layers
    carried_path = copy.deepcopy(L)  # layers that only pass carried errors down

    def scale(d):
        return hand_rms(d, "sample") + EPS

    c5 = L[5].backward(L[6].backward(delta_top))  # c^L passed through Dense, Flatten
    e_b = L[4].backward(c5)  # e = (W^T c) ⊙ d
    c_b = c5 * (L[4].derivative_value / scale(L[4].derivative_value))  # c = (W^T c) ⊙ norm(d)
    L[3].backward(e_b)  # conv 3's gradient from e
    below = carried_path[3].backward(c_b)  # W^T c travels down
    e_a = L[2].backward(below)
    c_a = below * (L[2].derivative_value / scale(L[2].derivative_value))
    L[0].backward(L[1].backward(e_a))  # conv 0's gradient from Pool^T e
    dx_hand = carried_path[0].backward(carried_path[1].backward(c_a))  # W^T Pool^T c

    for index, e, c in [(4, e_b, c_b), (2, e_a, c_a)]:
        np.testing.assert_allclose(rule.local_error[index], e, rtol=1e-12, err_msg=f"local_error[{index}]")
        np.testing.assert_allclose(
            rule.carried_error[index], c, rtol=1e-12, err_msg=f"carried_error[{index}]"
        )
    for (name, p), (_, q) in zip(net.named_parameters(), hand.named_parameters()):
        np.testing.assert_allclose(p.grad, q.grad, rtol=1e-12, atol=1e-15, err_msg=name)
    np.testing.assert_allclose(dx, dx_hand, rtol=1e-12, atol=1e-15)


def test_seed_ensemble_models_are_normalized_independently():
    ng.seed(2)
    ensemble = ng.Sequential(
        ng.Dense(4, 5, models=2), ng.Tanh(), ng.Dense(5, 5, models=2), ng.Tanh(), ng.Dense(5, 3, models=2)
    ).astype(np.float64)
    for over in ("sample", "batch"):
        ensemble.feedback = []
        ensemble.add_feedback(PseudoNormalize(period=1, two_path=True, rms=over))
        x, y = batch(n=6, features=4)
        run_backward(ensemble, x, y)
        for e in range(2):
            single = ng.Sequential(
                ng.Dense(4, 5), ng.Tanh(), ng.Dense(5, 5), ng.Tanh(), ng.Dense(5, 3)
            ).astype(np.float64)
            for s, m in zip(single.parameters(), ensemble.parameters()):
                s.data[...] = m.data[e].reshape(s.shape)
            single.add_feedback(PseudoNormalize(period=1, two_path=True, rms=over))
            run_backward(single, x, y)
            for s, m in zip(single.parameters(), ensemble.parameters()):
                np.testing.assert_allclose(
                    s.grad, m.grad[e].reshape(s.shape), rtol=1e-12, err_msg=f"{over} model {e}"
                )


# ------------------------------------------------------------- vanishing gradients


def first_layer_grad_rms(net, x, y, rule):
    """RMS ∂C/∂W^1 of one backward with ``rule`` (or none); leaves no rule and no gradient behind."""
    net.feedback = []
    if rule is not None:
        net.add_feedback(rule)
    run_backward(net, x, y)
    g = net.layers[0].weight.grad
    value = float(np.sqrt(np.mean(g * g)))
    net.feedback = []
    net.zero_grad()
    return value


def test_batch_rms_scales_the_first_layer_gradient_by_the_product_of_inverse_rms():
    """With one RMS per batch every factor is a scalar: ∂C/∂W^1 grows by Π_{PN} 1/(RMS(d^l)+ε)."""
    net = tanh_mlp(widths=(5,) + (8,) * 20 + (3,), seed=0)  # 20 tanh layers
    x, y = batch(n=16)
    plain = first_layer_grad_rms(net, x, y, None)
    rule = PseudoNormalize(period=2, rms="batch")
    pn = first_layer_grad_rms(net, x, y, rule)
    product = np.prod(
        [1 / (np.sqrt(np.mean(net.layers[i].derivative_value ** 2)) + rule.eps) for i in rule.pn_layers]
    )
    assert len(rule.pn_layers) == 10
    np.testing.assert_allclose(pn / plain, product, rtol=1e-10)
    assert product > 1


def test_depth_20_tanh_first_layer_gradient_rms_is_10x_larger_with_pn():
    """Depth 20 (tanh, width 32, LeCun normal) trained 20 epochs on digits with the PN
    paper's recipe (SGD, batch 50, lr 0.05, clip ±0.5) without PN; then the same weights
    and batch go backward with and without PN (period 2, per-sample RMS).

    Measured (seed 0), first-layer gradient RMS 0.01487 plain; with the paper's placement
    (start=2: L−2, …, layer 1 normalized) single-path 13.3×, two-path 8.6× (layer 1's own
    gradient does not see norm(d^1)); with start=1 (L−1, …, 3: layer 1 not a PN layer)
    15.0× for both paths — its local error carries every factor above it. At
    initialization the ratio is only 1.9–2.5×: tanh is nearly linear there (RMS(d^l) ≈
    0.72–0.96), and PN amplifies exactly as much as d falls below 1.
    """
    from nanograd_ad.datasets import digits, standardize
    from nanograd_ad.train import Trainer, make_optimizer

    data = digits(image=False)
    x_train, _, _, _ = standardize(data.x_train)
    net = tanh_mlp(widths=(64,) + (32,) * 20 + (10,), seed=0).astype(np.float32)
    x, y = x_train[:50], data.y_train[:50]
    at_init = first_layer_grad_rms(net, x, y, PseudoNormalize()) / first_layer_grad_rms(net, x, y, None)
    optimizer = make_optimizer("sgd", net.parameters(), lr=0.05, clip_value=0.5)
    Trainer(
        net,
        ng.SoftmaxCrossEntropy(),
        optimizer,
        (x_train, data.y_train),
        None,
        batch_size=50,
        progress=False,
        rng=0,
    ).fit(20)
    plain = first_layer_grad_rms(net, x, y, None)
    single = first_layer_grad_rms(net, x, y, PseudoNormalize())
    two_path = first_layer_grad_rms(net, x, y, PseudoNormalize(two_path=True))
    assert single >= 10 * plain, f"PN {single:.4g} vs plain {plain:.4g}: only {single / plain:.2f}x"
    assert 5 * plain <= two_path < single, (plain, two_path, single)  # layer 1's own norm is left out
    single_1 = first_layer_grad_rms(net, x, y, PseudoNormalize(start=1))
    two_path_1 = first_layer_grad_rms(net, x, y, PseudoNormalize(start=1, two_path=True))
    assert single_1 >= 10 * plain
    np.testing.assert_allclose(two_path_1, single_1, rtol=1e-5)  # layer 1 is no PN layer: paths agree
    assert 1 < at_init < 10, at_init


# -------------------------------------------------------------------- bad input


@pytest.mark.parametrize("period", [0, -1, 1.5, True, "2"])
def test_period_or_start_below_one_or_not_an_int_is_refused(period):
    with pytest.raises(ValueError, match="period must be an int ≥ 1"):
        PseudoNormalize(period=period)
    with pytest.raises(ValueError, match=f"start must be an int ≥ 1 .*got {period!r}"):
        PseudoNormalize(start=period)


def test_bad_rms_and_eps_are_refused():
    with pytest.raises(ValueError, match="rms must be 'sample' or 'batch'"):
        PseudoNormalize(rms="channel")
    for eps in (0, -1e-8, float("nan")):
        with pytest.raises(ValueError, match="eps must be a finite float > 0"):
            PseudoNormalize(eps=eps)
    rule = PseudoNormalize()
    rule.period = 0  # changed after construction: bind checks again
    with pytest.raises(ValueError, match="period must be an int ≥ 1"):
        tanh_mlp().add_feedback(rule)


def test_network_without_hidden_activation_is_refused_naming_the_output_layer():
    with pytest.raises(ValueError, match=r"no hidden activation below the output layer 0 \(Dense\(3, 2\)\)"):
        ng.Sequential(ng.Dense(3, 2), ng.Sigmoid(), feedback=[PseudoNormalize()])
    with pytest.raises(ValueError, match=r"no hidden activation .*no Dense/Conv2D layer"):
        ng.Sequential(ng.Tanh(), feedback=[PseudoNormalize()])


def test_two_path_refuses_a_layer_below_that_cannot_take_the_local_error():
    with pytest.raises(ValueError, match=r"below PN layer 2 \(Tanh\(\)\) is layer 1 \(Sigmoid\(\)\)"):
        ng.Sequential(
            ng.Dense(3, 3),
            ng.Sigmoid(),
            ng.Tanh(),
            ng.Dense(3, 2),
            feedback=[PseudoNormalize(two_path=True, start=1)],
        )
    with pytest.raises(ValueError, match=r"below PN layer 1 \(Tanh\(\)\) is the network input"):
        ng.Sequential(
            ng.Flatten(), ng.Tanh(), ng.Dense(4, 2), feedback=[PseudoNormalize(two_path=True, start=1)]
        )

    class Scale(ng.Layer):
        def forward(self, x):
            return 2 * x

        def backward(self, delta):
            return 2 * delta

    with pytest.raises(ValueError, match=r"below PN layer 2 \(Tanh\(\)\) is layer 1 \(Scale\(\)\)"):
        ng.Sequential(
            ng.Dense(3, 3),
            Scale(),
            ng.Tanh(),
            ng.Dense(3, 2),
            feedback=[PseudoNormalize(two_path=True, start=1)],
        )
    # the same networks are fine for single-path PN, which only rescales at the activation
    ng.Sequential(
        ng.Dense(3, 3), ng.Sigmoid(), ng.Tanh(), ng.Dense(3, 2), feedback=[PseudoNormalize(start=1)]
    )


def test_feedback_rule_stays_the_identity():
    rule, delta = FeedbackRule(), np.arange(3.0)
    assert rule.before_layer(0, None, delta) is delta and rule.after_layer(0, None, delta) is delta
    assert (
        repr(PseudoNormalize(period=3, two_path=True))
        == "PseudoNormalize(period=3, start=2, two_path=True, rms='sample', eps=1e-08)"
    )
