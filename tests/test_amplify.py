"""Gradient amplification (Basodi, Pusuluri, Xiao & Pan, §3): G, G′, Ĝ, selection, the Amplify
rule, the phase strategy."""

import itertools
import math
import random

import numpy as np
import pytest

from nanograd_ad.activations import ReLU
from nanograd_ad.amplify import (
    PARAMS_DEEP,
    PARAMS_SHALLOW,
    THRESHOLDS_DEEP,
    THRESHOLDS_SHALLOW,
    AmplificationStrategy,
    Amplify,
    GradientStatistics,
    check_phases,
    directionality,
    random_layers,
    scale_phases,
    select_layers,
    standardize,
    weight_layers,
    weightwise_directionality,
    without_amplification,
)
from nanograd_ad.feedback import FeedbackRule
from nanograd_ad.init import seed
from nanograd_ad.layers import Conv2D, Dense, Flatten
from nanograd_ad.losses import SoftmaxCrossEntropy
from nanograd_ad.network import Sequential
from nanograd_ad.optim import SGD
from nanograd_ad.train import Trainer


def mlp(widths=(4, 6, 5, 3), dtype=np.float64):
    """Dense → ReLU → … → Dense; weight layers at even indices."""
    seed(3)
    layers = []
    for i, (d_in, d_out) in enumerate(itertools.pairwise(widths)):
        layers.append(Dense(d_in, d_out, weight_init="he_normal"))
        if i < len(widths) - 2:
            layers.append(ReLU())
    return Sequential(*layers).astype(dtype)


def data(n=12, d=4, k=3, rng=0):
    rng = np.random.default_rng(rng)
    return rng.standard_normal((n, d)), rng.integers(0, k, n)


def statistics_of(sequence):
    """Feed a hand-made gradient sequence (one (3, 1) weight gradient per iteration) to the
    statistics of a Dense(3, 1) layer through its after_layer seam."""
    net = Sequential(Dense(3, 1)).astype(np.float64)
    stats = GradientStatistics()
    net.add_feedback(stats)
    stats.start()
    layer = net.layers[0]
    for g in sequence:
        layer.weight.grad[...] = np.asarray(g, dtype=np.float64).reshape(3, 1)
        stats.after_layer(0, layer, None)
    stats.stop()
    return stats.G()[0], stats.G_prime()[0], stats


# ---------------------------------------------------------------------------- measures


def test_same_sign_gradients_give_one():
    g, g_prime, _ = statistics_of([[1.0, 2.0, 0.5], [3.0, 0.1, 4.0], [0.2, 0.2, 0.2]])
    assert g == pytest.approx(1.0) and g_prime == pytest.approx(1.0)
    g, g_prime, _ = statistics_of([[-1.0, -2.0, -0.5], [-3.0, -0.1, -4.0]])
    assert g == pytest.approx(1.0) and g_prime == pytest.approx(1.0)


def test_cancelling_gradients_give_zero():
    g, g_prime, _ = statistics_of([[1.0, -2.0, 3.0], [-1.0, 2.0, -3.0]])
    assert g == 0.0 and g_prime == 0.0


def test_weights_moving_against_each_other_zero_G_but_not_G_prime():
    # each weight keeps its sign (G′ = 1) but the two halves cancel in the layer sum (G = 0)
    g, g_prime, _ = statistics_of([[1.0, -1.0, 0.0], [2.0, -2.0, 0.0]])
    assert g == 0.0
    assert g_prime == pytest.approx(2 / 3)  # the third weight never moves: it counts 0


def test_mixed_case_by_hand():
    # w1: +3, −1 → |Σ| = 2, Σ|·| = 4;  w2: +2, +2 → 4, 4;  w3: 0, 0 → 0, 0 (counts 0)
    # G = |2 + 4 + 0| / (4 + 4 + 0) = 0.75;  G′ = (2/4 + 4/4 + 0) / 3 = 0.5
    g, g_prime, stats = statistics_of([[3.0, 2.0, 0.0], [-1.0, 2.0, 0.0]])
    assert g == pytest.approx(0.75, abs=1e-12)
    assert g_prime == pytest.approx(0.5, abs=1e-12)
    np.testing.assert_allclose(stats.sum_g[0][0].ravel(), [2.0, 4.0, 0.0])
    np.testing.assert_allclose(stats.sum_abs_g[0][0].ravel(), [4.0, 4.0, 0.0])
    assert stats.iterations[0] == 2


def test_zero_gradient_layer_follows_the_zero_rule():
    g, g_prime, _ = statistics_of([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert g == 0.0 and g_prime == 0.0
    assert directionality(np.zeros(4), np.zeros(4)) == 0.0
    assert weightwise_directionality(np.zeros(4), np.zeros(4)) == 0.0


def test_statistics_accumulate_the_gradients_of_each_backward():
    net = mlp()
    stats = GradientStatistics()
    net.add_feedback(stats)
    stats.start()
    loss = SoftmaxCrossEntropy()
    expected = {i: [0, 0] for i in weight_layers(net)}
    for step in range(3):
        x, y = data(rng=step)
        net.zero_grad()
        loss.forward(net(x), y)
        net.backward(loss.backward())
        for i in expected:
            g = net.layers[i].weight.grad
            expected[i][0] = expected[i][0] + g
            expected[i][1] = expected[i][1] + np.abs(g)
    stats.stop()
    assert stats.layers == [0, 2, 4]
    for i, (sum_g, sum_abs) in expected.items():
        np.testing.assert_allclose(stats.sum_g[i][0], sum_g, rtol=1e-12, err_msg=f"layer {i}")
        np.testing.assert_allclose(stats.sum_abs_g[i][0], sum_abs, rtol=1e-12, err_msg=f"layer {i}")
        assert stats.G()[i] == pytest.approx(abs(sum_g.sum()) / sum_abs.sum(), rel=1e-12)
    rows = stats.table()
    assert [r["layer"] for r in rows] == [0, 2, 4] and rows[1]["weights"] == 6 * 5


def test_include_bias_adds_the_bias_gradients():
    net = mlp()
    with_bias, without = GradientStatistics(include_bias=True), GradientStatistics()
    net.add_feedback(with_bias)
    net.add_feedback(without)
    with_bias.start(), without.start()
    x, y = data()
    loss = SoftmaxCrossEntropy()
    loss.forward(net(x), y)
    net.backward(loss.backward())
    w, b = net.layers[0].weight.grad, net.layers[0].bias.grad
    assert with_bias.G()[0] == pytest.approx(abs(w.sum() + b.sum()) / (np.abs(w).sum() + np.abs(b).sum()))
    assert without.G()[0] == pytest.approx(abs(w.sum()) / np.abs(w).sum())


def test_measures_are_unchanged_by_a_constant_amplification():
    """The statistics read the amplified gradient; G and G′ are scale-free ratios, so they equal
    the measures of the raw gradients when the amplified layers stay fixed over the epoch."""
    results = []
    for amplified in ([], [2]):
        net = mlp()
        stats, rule = GradientStatistics(), Amplify(factor=2.0, scope="backward", selected=amplified)
        net.add_feedback(rule)
        net.add_feedback(stats)
        stats.start()
        loss = SoftmaxCrossEntropy()
        for step in range(3):
            x, y = data(rng=step)
            net.zero_grad()
            loss.forward(net(x), y)
            net.backward(loss.backward())
        results.append((stats.G(), stats.G_prime(), stats.sum_g[0][0].copy()))
    (g0, gp0, s0), (g1, gp1, s1) = results
    np.testing.assert_allclose(s1, 2 * s0, rtol=1e-12)  # the lowest layer did see doubled gradients
    for i in g0:
        assert g1[i] == pytest.approx(g0[i], rel=1e-12) and gp1[i] == pytest.approx(gp0[i], rel=1e-12)


# --------------------------------------------------------------------------- selection


def test_standardize_and_select_on_a_fixed_vector():
    G = {0: 0.1, 2: 0.5, 4: 0.6, 6: 0.9, 8: 0.4}
    # mean 0.5; deviations −0.4, 0, 0.1, 0.4, −0.1; population std = sqrt(0.34 / 5)
    std = math.sqrt(0.34 / 5)
    G_hat = standardize(G)
    for layer, value in G.items():
        assert G_hat[layer] == pytest.approx((value - 0.5) / std, abs=1e-12)
    assert G_hat[6] == pytest.approx(1.5339, abs=1e-4)
    assert select_layers(G_hat, 1.0, case=1) == [6]
    assert select_layers(G_hat, 1.0, case=2) == [0, 6]
    assert select_layers(G_hat, 0.3, case=1) == [4, 6]
    assert select_layers(G_hat, 0.3, case=2) == [0, 4, 6, 8]
    assert select_layers(G_hat, 2.0, case=2) == []


def test_equal_measures_select_nothing():
    assert standardize({0: 0.4, 2: 0.4}) == {0: 0.0, 2: 0.0}
    assert standardize({3: 0.7}) == {3: 0.0}
    assert select_layers(standardize({0: 0.4, 2: 0.4}), 0.5, case=2) == []


def test_random_layers_take_the_ratio():
    layers = [0, 2, 4, 6, 8, 10, 12, 14]
    picked = random_layers(layers, 0.25, random.Random(0))
    assert len(picked) == 2 and set(picked) <= set(layers) and picked == sorted(picked)
    assert picked == random_layers(layers, 0.25, random.Random(0))
    assert random_layers(layers, 1.0, random.Random(1)) == layers
    assert len(random_layers(layers, 0.01, random.Random(1))) == 1
    draws = {tuple(random_layers(layers, 0.25, random.Random(s))) for s in range(20)}
    assert len(draws) > 5


# ----------------------------------------------------------------------- amplification


def one_step(net, x, y, lr, rule=None):
    if rule is not None:
        net.add_feedback(rule)
    loss = SoftmaxCrossEntropy()
    optimizer = SGD(net.parameters(), lr=lr)
    loss.forward(net(x), y)
    delta_in = net.backward(loss.backward())
    grads = {name: p.grad.copy() for name, p in net.named_parameters()}
    optimizer.step()
    return grads, delta_in


def test_weights_scope_equals_doubling_that_layers_learning_rate():
    """Eq. 3: W ← W − η · amp · ∇J is an SGD step with η_amp = 2η for the amplified layer."""
    x, y = data()
    lr = 0.1
    for layer in (0, 2, 4):
        amplified = mlp()
        grads_amp, dx_amp = one_step(amplified, x, y, lr, Amplify(factor=2.0, selected=[layer]))
        plain = mlp()
        start = {name: p.data.copy() for name, p in plain.named_parameters()}
        grads, dx = one_step(plain, x, y, lr)
        for name, p in amplified.named_parameters():
            rate = 2 * lr if name.startswith(f"{layer}.") else lr
            expected = start[name] - rate * grads[name]
            np.testing.assert_allclose(
                p.data, expected, rtol=1e-12, atol=1e-15, err_msg=f"{name}, amplified layer {layer}"
            )
            scale = 2.0 if name.startswith(f"{layer}.") else 1.0
            np.testing.assert_allclose(
                grads_amp[name], scale * grads[name], rtol=1e-12, atol=1e-15, err_msg=name
            )
        np.testing.assert_array_equal(dx_amp, dx)  # the layers below see the plain error


def test_backward_scope_doubles_the_error_of_the_layers_below():
    x, y = data()
    plain = mlp()
    grads, dx = one_step(plain, x, y, 0.1)
    amplified = mlp()
    seen = {}

    class Spy(FeedbackRule):
        def before_layer(self, index, layer, delta):
            seen[index] = delta.copy()
            return delta

    reference = {}

    class ReferenceSpy(FeedbackRule):
        def before_layer(self, index, layer, delta):
            reference[index] = delta.copy()
            return delta

    plain_again = mlp()
    plain_again.add_feedback(ReferenceSpy())
    one_step(plain_again, x, y, 0.1)
    amplified.add_feedback(Spy())  # before Amplify: sees the error arriving from above
    grads_amp, dx_amp = one_step(amplified, x, y, 0.1, Amplify(factor=2.0, scope="backward", selected=[2]))
    for index in (4, 3, 2):  # at and above the amplified layer: the ordinary error arrives
        np.testing.assert_allclose(seen[index], reference[index], rtol=1e-12, err_msg=f"layer {index}")
    for index in (1, 0):  # below it: doubled
        np.testing.assert_allclose(seen[index], 2 * reference[index], rtol=1e-12, err_msg=f"layer {index}")
    np.testing.assert_allclose(dx_amp, 2 * dx, rtol=1e-12)
    for name in grads:
        scale = 1.0 if name.startswith("4.") else 2.0
        np.testing.assert_allclose(grads_amp[name], scale * grads[name], rtol=1e-12, err_msg=name)
    rule = amplified.feedback[-1]
    assert [rule.gradient_scale(i) for i in (0, 2, 4)] == [2.0, 2.0, 1.0]


def test_amplify_on_a_convolution_and_when_disabled():
    seed(1)
    net = Sequential(Conv2D(1, 2, 3, padding=1), ReLU(), Flatten(), Dense(2 * 4 * 4, 3)).astype(np.float64)
    x = np.random.default_rng(0).standard_normal((5, 1, 4, 4))
    y = np.array([0, 1, 2, 0, 1])
    loss = SoftmaxCrossEntropy()
    loss.forward(net(x), y)
    net.backward(loss.backward())
    reference = net.layers[0].weight.grad.copy()
    rule = Amplify(factor=3.0, selected=[0])
    net.add_feedback(rule)
    net.zero_grad()
    loss.forward(net(x), y)
    net.backward(loss.backward())
    np.testing.assert_allclose(net.layers[0].weight.grad, 3 * reference, rtol=1e-12)
    rule.enabled = False
    net.zero_grad()
    loss.forward(net(x), y)
    net.backward(loss.backward())
    np.testing.assert_allclose(net.layers[0].weight.grad, reference, rtol=1e-12)


# ----------------------------------------------------------------------------- strategy


class AmplificationProbe(FeedbackRule):
    """Measures, per epoch, by how much the error entering layer ``index`` was multiplied:
    one probe before every other rule, one after them."""

    def __init__(self, index, log, key):
        self.index, self.log, self.key = index, log, key

    def before_layer(self, index, layer, delta):
        if index == self.index:
            self.log.setdefault(self.key, []).append(delta.copy())
        return delta


class Probes:
    """A callback that wraps the strategy's rules with the two probes and records, per epoch,
    the factor the error entering ``index`` was multiplied by (1.0 when not amplified)."""

    def __init__(self, index):
        self.index, self.factors, self.log = index, {}, {}

    def on_train_begin(self, trainer):
        net = trainer.net
        before = AmplificationProbe(self.index, self.log, "before")
        before.bind(net)
        net.feedback.insert(0, before)
        net.add_feedback(AmplificationProbe(self.index, self.log, "after"))

    def on_epoch_begin(self, trainer, epoch):
        self.log.clear()

    def on_epoch_end(self, trainer, epoch, logs):
        ratios = {
            round(float(np.abs(a).sum() / np.abs(b).sum()), 9)
            for a, b in zip(self.log["after"], self.log["before"])
        }
        assert len(ratios) == 1, f"epoch {epoch}: the factor changed inside the epoch: {ratios}"
        self.factors[epoch] = ratios.pop()


def train_with(strategy, epochs, probe_index=0, rng=0):
    net = mlp()
    x, y = data(n=24, rng=rng)
    optimizer = SGD(net.parameters(), lr=1.0)
    probes = Probes(probe_index)
    trainer = Trainer(
        net,
        SoftmaxCrossEntropy(),
        optimizer,
        (x, y),
        (x, y),
        batch_size=8,
        callbacks=[strategy, probes],
        progress=False,
        rng=0,
    )
    history = trainer.fit(epochs)
    return history, probes.factors, net


def test_phase_list_turns_amplification_on_and_off_at_the_right_epochs():
    # paper's pattern, shrunk: 2 plain epochs, 3 amplified (epoch 2 analyses), 2 amplified at a
    # lower lr (epoch 5 analyses), 1 plain; case 2 with threshold −1 selects every layer
    phases = [(2, 0.1, 0, 1), (5, 0.1, 1, 2), (7, 0.05, 1, 3), (8, 0.05, 0, 1)]
    strategy = AmplificationStrategy(phases, measure="G", case=2, threshold=-1.0)
    history, factors, _ = train_with(strategy, strategy.total_epochs)
    assert factors == {0: 1.0, 1: 1.0, 2: 1.0, 3: 2.0, 4: 2.0, 5: 1.0, 6: 3.0, 7: 1.0}
    assert history.lr == [0.1] * 5 + [0.05] * 3
    assert [e["analysis"] for e in strategy.epoch_log] == [
        False,
        False,
        True,
        False,
        False,
        True,
        False,
        False,
    ]
    assert [e["amplified"] for e in strategy.epoch_log] == [
        [],
        [],
        [],
        [0, 2, 4],
        [0, 2, 4],
        [],
        [0, 2, 4],
        [],
    ]
    selections = history.events_of("amplify_select")
    assert [(e["epoch"], e["phase"], e["layers"]) for e in selections] == [
        (2, 1, [0, 2, 4]),
        (5, 2, [0, 2, 4]),
    ]
    assert selections[0]["candidates"] == [0, 2, 4] and len(selections[0]["normalized"]) == 3
    ends = history.events_of("amplify_phase_end")
    assert [(e["phase"], e["layers"], e["amplified_epochs"]) for e in ends] == [
        (0, [], 0),
        (1, [0, 2, 4], 2),
        (2, [0, 2, 4], 1),
        (3, [], 0),
    ]
    assert [e["epoch"] for e in history.events_of("amplify_phase")] == [0, 2, 5, 7]
    assert not strategy.amplify.enabled  # off after training


def test_selection_follows_the_measure_of_the_analysis_epoch():
    phases = [(1, 0.1, 0, 1), (3, 0.1, 1, 2)]
    strategy = AmplificationStrategy(phases, measure="G'", case=1, threshold=0.5)
    history, _, _ = train_with(strategy, 3)
    event = history.events_of("amplify_select")[0]
    expected_values = strategy.statistics.G_prime()
    assert event["values"] == pytest.approx(list(expected_values.values()))
    assert event["layers"] == select_layers(standardize(expected_values), 0.5, 1)
    assert strategy.epoch_log[2]["amplified"] == event["layers"]


def test_reselection_every_k_epochs_and_the_random_baseline():
    phases = [(1, 0.1, 0, 1), (7, 0.1, 1, 2)]
    strategy = AmplificationStrategy(phases, measure="random", ratio=0.5, reselect_every=2, seed=4)
    history, factors, _ = train_with(strategy, 7, probe_index=4)
    assert [e["epoch"] for e in history.events_of("amplify_select")] == [1, 3, 5]
    assert [e["analysis"] for e in strategy.epoch_log] == [False, True, False, True, False, True, False]
    chosen = [e["layers"] for e in history.events_of("amplify_select")]
    assert all(len(layers) == 2 for layers in chosen)  # ⌊0.5 · 3 + ½⌋ = 2 of the 3 layers
    for epoch in range(2, 7):  # the choice of the latest earlier analysis, analysis epochs included
        current = chosen[len([a for a in (1, 3, 5) if a < epoch]) - 1]
        assert strategy.epoch_log[epoch]["amplified"] == current, epoch
        assert factors[epoch] == (2.0 if 4 in current else 1.0), epoch
    assert factors[1] == 1.0 and factors[0] == 1.0


def test_original_run_is_the_same_phases_without_amplification():
    phases = [(1, 0.1, 0, 1), (3, 0.05, 1, 2)]
    original = AmplificationStrategy(without_amplification(phases))
    history, factors, _ = train_with(original, 3)
    assert set(factors.values()) == {1.0} and history.lr == [0.1, 0.05, 0.05]
    assert history.events_of("amplify_select") == []


def test_strategy_refuses_a_schedule():
    from nanograd_ad.schedules import Constant

    net = mlp()
    x, y = data()
    strategy = AmplificationStrategy([(2, 0.1, 1, 2)])
    trainer = Trainer(
        net,
        SoftmaxCrossEntropy(),
        SGD(net.parameters(), lr=0.1),
        (x, y),
        schedule=Constant(0.1),
        callbacks=[strategy],
        progress=False,
    )
    with pytest.raises(ValueError, match="schedule"):
        trainer.fit(1)


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "phases, message",
    [
        ([(100, 0.1, 1, 2), (50, 0.1, 0, 1)], "strictly increasing"),
        ([(50, 0.1, 0, 1), (50, 0.1, 1, 2)], "strictly increasing"),
        ([(50, 0.1, 1, 0)], "factor must be a finite number > 0"),
        ([(50, 0.1, 1, -2)], "factor must be a finite number > 0"),
        ([(50, 0.1, 1, float("nan"))], "factor must be a finite number > 0"),
        ([(50, 0.1, "yes", 2)], "amplify must be a bool or a number"),
        ([(50, 0.1, 1)], r"\(end_epoch, lr, amplify, factor\)"),
        ([(50, -0.1, 1, 2)], "lr"),
        ([], "at least one"),
    ],
)
def test_bad_phase_lists_are_refused(phases, message):
    with pytest.raises(ValueError, match=message):
        check_phases(phases)
    with pytest.raises(ValueError, match=message):
        AmplificationStrategy(phases)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"threshold": "high"}, "threshold must be a finite number"),
        ({"threshold": float("nan")}, "threshold must be a finite number"),
        ({"threshold": None}, "threshold must be a finite number"),
        ({"threshold": True}, "threshold must be a finite number"),
        ({"measure": "random", "ratio": 0.0}, r"ratio must be a number in \(0, 1\]"),
        ({"measure": "random", "ratio": 1.5}, r"ratio must be a number in \(0, 1\]"),
        ({"case": 3}, "case must be 1"),
        ({"measure": "H"}, "measure must be one of"),
        ({"reselect_every": 0}, "reselect_every"),
        ({"scope": "all"}, "scope must be one of"),
    ],
)
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        AmplificationStrategy([(2, 0.1, 1, 2)], **options)


def test_bad_factor_and_layers_are_refused():
    with pytest.raises(ValueError, match="factor"):
        Amplify(factor=0)
    with pytest.raises(ValueError, match=r"layer 1 \(ReLU\(\)\) has no weight"):
        mlp().add_feedback(Amplify(selected=[1]))
    rule = Amplify()
    mlp().add_feedback(rule)
    with pytest.raises(ValueError, match="layer 9"):
        rule.select([9])
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        random_layers([0, 2], 0, random.Random(0))


def test_statistics_started_before_bind_say_so():
    with pytest.raises(RuntimeError, match=r"GradientStatistics: start\(\) before bind\(\)"):
        GradientStatistics().start()


# ------------------------------------------------------ the paper's presets (§4)


def test_the_paper_strategies_are_params1_and_params2():
    assert [tuple(p) for p in PARAMS_SHALLOW] == [
        (50, 0.1, False, 1.0),
        (100, 0.1, True, 2.0),
        (130, 0.01, True, 2.0),
        (150, 0.01, False, 1.0),
    ]
    assert [tuple(p) for p in PARAMS_DEEP] == [
        (10, 0.1, False, 1.0),
        (100, 0.1, True, 2.0),
        (145, 0.01, True, 2.0),
        (150, 0.01, False, 1.0),
    ]
    assert check_phases(PARAMS_DEEP) == list(PARAMS_DEEP)
    deep = AmplificationStrategy(PARAMS_DEEP)
    assert deep.total_epochs == 150
    # 0-based: epochs 0–9 plain; epoch 10 (the paper's 11th) analyses for 11–99; epoch 100
    # (the paper's 101st) analyses again at lr 0.01 for 101–144; 145–149 plain
    assert [deep.phase_of(e) for e in (0, 9, 10, 99, 100, 144, 145, 149)] == [0, 0, 1, 1, 2, 2, 3, 3]


def test_the_paper_threshold_sweeps():
    assert THRESHOLDS_SHALLOW == (
        0.7,
        0.8,
        0.9,
        1.0,
        1.1,
        1.2,
        1.3,
        1.4,
        1.5,
        1.6,
        1.7,
        1.8,
        1.9,
        2.0,
        2.1,
        2.2,
        2.3,
        2.4,
        2.5,
    )
    assert THRESHOLDS_DEEP == (1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0)


def test_scale_phases_keeps_rates_flags_and_factors():
    assert [tuple(p) for p in scale_phases(PARAMS_DEEP, 30)] == [
        (2, 0.1, False, 1.0),
        (20, 0.1, True, 2.0),
        (29, 0.01, True, 2.0),
        (30, 0.01, False, 1.0),
    ]
    assert scale_phases(PARAMS_SHALLOW, 150) == list(PARAMS_SHALLOW)
    assert [p.end_epoch for p in scale_phases(PARAMS_SHALLOW, 9)] == [3, 6, 8, 9]
    with pytest.raises(ValueError, match=r"8 epochs are too few for 4 phases .*scaled ends \[1, 5, 8, 8\]"):
        scale_phases(PARAMS_DEEP, 8)
    with pytest.raises(ValueError, match="epochs must be an int >= 1, got 0"):
        scale_phases(PARAMS_DEEP, 0)


def test_the_deep_strategy_runs_on_a_resnet50():
    """params₂ shrunk to 20 epochs on a width-1 ResNet-50: phases, analyses and amplified layers."""
    from nanograd_ad.models import resnet50

    seed(0)
    rng = np.random.default_rng(0)
    net = resnet50(3, input_shape=(2, 8, 8), width=1)
    x, y = rng.standard_normal((8, 2, 8, 8)).astype(np.float32), rng.integers(0, 3, 8)
    phases = scale_phases(PARAMS_DEEP, 20)  # ends 1, 13, 19, 20
    strategy = AmplificationStrategy(phases, measure="G", case=2, threshold=THRESHOLDS_DEEP[0])
    history = Trainer(
        net,
        SoftmaxCrossEntropy(),
        SGD(net.parameters(), lr=1.0, momentum=0.9),
        (x, y),
        batch_size=4,
        callbacks=[strategy],
        progress=False,
    ).fit(strategy.total_epochs)
    assert len(history) == 20
    assert history.lr == [0.1] * 13 + [0.01] * 7
    selections = history.events_of("amplify_select")
    assert [(e["epoch"], e["phase"]) for e in selections] == [(1, 1), (13, 2)]
    assert len(selections[0]["candidates"]) == len(weight_layers(net)) == 54
    for event in selections:  # case 2: |Ĝ| above the threshold
        expected = [l for l, g in zip(event["candidates"], event["normalized"]) if abs(g) > 1.0]
        assert event["layers"] == expected and expected
    assert strategy.epoch_log[2]["amplified"] == selections[0]["layers"]
    assert strategy.epoch_log[19]["amplified"] == []
    assert np.isfinite(history.train_loss).all()
