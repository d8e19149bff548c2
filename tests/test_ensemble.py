"""Seed ensembles in the one training loop: model e of an ensemble is the single run of seed e."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from nanograd_ad import init
from nanograd_ad.activations import LeakyReLU, ReLU, Sigmoid
from nanograd_ad.artificial_derivative import SwitchingRule, should_switch
from nanograd_ad.ensemble import ensemble_size, flat_parameter, from_seeds, member_state, stack
from nanograd_ad.history import History
from nanograd_ad.layers import Conv2D, Dense
from nanograd_ad.losses import MSE, SoftmaxCrossEntropy
from nanograd_ad.network import Sequential
from nanograd_ad.optim import SGD, Adam
from nanograd_ad.train import Trainer, evaluate

SEEDS = [3, 7, 11, 20]


def abs_data(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-math.sqrt(3), math.sqrt(3), size=(n, 1)).astype(np.float32)
    return x, np.abs(x)


def build_relu(depth=4, derivative="ad"):
    """Width-2 ReLU net of the AD paper: Dense(1, 2) → … → Dense(2, 1)."""
    widths = [1] + [2] * (depth - 1) + [1]
    layers = []
    for i in range(depth):
        layers.append(Dense(widths[i], widths[i + 1]))
        if i < depth - 1:
            layers.append(ReLU(derivative=derivative, k=3.5))
    return Sequential(*layers)


def make_optimizer(kind, params):
    return Adam(params, lr=0.02) if kind == "adam" else SGD(params, lr=0.1)


def test_model_e_starts_as_the_single_model_with_seed_e():
    net = from_seeds(build_relu, SEEDS)
    for e, seed in enumerate(SEEDS):
        init.seed(seed)
        single = build_relu().state_dict()
        mine = member_state(net, e)
        assert mine.keys() == single.keys()
        for name in single:
            np.testing.assert_array_equal(mine[name], single[name], err_msg=f"model {e} (seed {seed}) {name}")
    assert net[0].weight.shape == (len(SEEDS), 1, 2) and net[0].bias.shape == (len(SEEDS), 1, 2)


@pytest.mark.parametrize("switching", [False, True], ids=["no-switching", "switching"])
@pytest.mark.parametrize("kind", ["adam", "sgd"])
def test_model_e_follows_the_single_run_of_seed_e(kind, switching):
    """Same losses every epoch, same switches, same final weights as Trainer (+ SwitchingRule)
    run alone with seed e. 200 / 32 leaves a partial last batch; A = 0.995 makes the models
    switch at different epochs, so the per-model mixed derivative is exercised."""
    train, test = abs_data(200, 1), abs_data(100, 2)
    epochs, A = 10, 0.995
    net = from_seeds(build_relu, SEEDS)
    trainer = Trainer(
        net,
        MSE(),
        make_optimizer(kind, [flat_parameter(net)]),
        train,
        test,
        batch_size=32,
        rng=SEEDS,
        callbacks=[SwitchingRule(net, A=A)] if switching else [],
        progress=False,
    )
    history = trainer.fit(epochs)
    assert history.models == len(SEEDS) and history.column("train_loss").shape == (epochs, len(SEEDS))
    if switching:
        models_per_epoch = {}
        for s in history.events_of("switch"):
            models_per_epoch.setdefault(s["epoch"], set()).add(s["model"])
        assert models_per_epoch and any(len(m) < len(SEEDS) for m in models_per_epoch.values()), (
            "the test needs models that switch at different epochs"
        )

    for e, seed in enumerate(SEEDS):
        init.seed(seed)
        single = build_relu()
        callbacks = [SwitchingRule(single, A=A)] if switching else []
        reference = Trainer(
            single,
            MSE(),
            make_optimizer(kind, single.parameters()),
            train,
            test,
            batch_size=32,
            rng=seed,
            callbacks=callbacks,
            progress=False,
        ).fit(epochs)
        mine = history.member(e)
        np.testing.assert_allclose(
            mine.train_loss, reference.train_loss, rtol=2e-5, err_msg=f"model {e} train loss"
        )
        np.testing.assert_allclose(
            mine.test_loss, reference.test_loss, rtol=2e-5, err_msg=f"model {e} test loss"
        )
        assert [(s["epoch"], s["mode"]) for s in mine.events_of("switch")] == [
            (s["epoch"], s["mode"]) for s in reference.events_of("switch")
        ], f"model {e} switches"
        final = member_state(net, e)
        for name, value in single.state_dict().items():
            np.testing.assert_allclose(final[name], value, rtol=1e-4, atol=1e-6, err_msg=f"model {e} {name}")
        best = int(np.argmin(reference.test_loss))
        lowest, best_epoch = history.best("test_loss", "min")
        assert best_epoch[e] == best
        assert lowest[e] == pytest.approx(reference.test_loss[best], rel=2e-5)


def test_lowest_test_loss_bookkeeping_matches_the_history():
    train, test = abs_data(200, 1), abs_data(100, 2)
    net = from_seeds(lambda: build_relu(derivative="true"), SEEDS)
    history = Trainer(
        net,
        MSE(),
        Adam([flat_parameter(net)], lr=0.05),
        train,
        test,
        batch_size=50,
        rng=SEEDS,
        progress=False,
    ).fit(12)
    test_loss = history.column("test_loss")
    assert test_loss.shape == history.column("train_loss").shape == (12, len(SEEDS))
    lowest, best_epoch = history.best("test_loss", "min")
    np.testing.assert_array_equal(lowest, test_loss.min(axis=0))
    np.testing.assert_array_equal(best_epoch, test_loss.argmin(axis=0))


def test_evaluation_in_chunks_is_the_row_weighted_mean():
    net = from_seeds(build_relu, SEEDS)
    x, y = abs_data(100, 2)
    whole, _ = evaluate(net, MSE(), x, y, batch_size=100)
    chunked, _ = evaluate(net, MSE(), x, y, batch_size=7)  # 14 chunks of 7 and one of 2
    assert whole.shape == chunked.shape == (len(SEEDS),)
    by_hand = [np.mean((net(x)[e] - y) ** 2) for e in range(len(SEEDS))]
    np.testing.assert_allclose(chunked, whole, rtol=1e-6)
    np.testing.assert_allclose(whole, by_hand, rtol=1e-6)


def test_a_diverging_model_spoils_only_its_own_numbers():
    train, test = abs_data(200, 1), abs_data(100, 2)

    def run(poison):
        net = from_seeds(build_relu, SEEDS)
        if poison:
            net[0].weight.data[1] = np.nan
        trainer = Trainer(
            net,
            MSE(),
            Adam([flat_parameter(net)], lr=0.02),
            train,
            test,
            batch_size=32,
            rng=SEEDS,
            callbacks=[SwitchingRule(net)],
            progress=False,
        )
        with np.errstate(invalid="ignore"):
            return trainer.fit(4), net

    (clean, clean_net), (poisoned, poisoned_net) = run(False), run(True)
    lowest, best_epoch = poisoned.best("test_loss", "min")
    assert np.isnan(lowest[1]) and best_epoch[1] == -1
    assert not poisoned.events_of("diverged")
    for e in (0, 2, 3):
        np.testing.assert_array_equal(poisoned.column("test_loss")[:, e], clean.column("test_loss")[:, e])
        for name, value in member_state(clean_net, e).items():
            np.testing.assert_array_equal(
                member_state(poisoned_net, e)[name], value, err_msg=f"model {e} {name}"
            )


def test_switching_rule_is_applied_per_model():
    net = from_seeds(lambda: Sequential(Dense(2, 3), Sigmoid(derivative="ad"), Dense(3, 1)), range(3))
    rule = SwitchingRule(net, A=1.1)
    trainer = SimpleNamespace(history=History(models=3))
    rule.on_train_begin(trainer)
    losses = [np.array([1.0, 1.0, 1.0]), np.array([1.05, 1.2, 0.5]), np.array([1.2, 1.3, 0.56])]
    best = [None] * 3
    expected_modes = [["ad"] * 3]
    for epoch, loss in enumerate(losses):
        rule.on_epoch_end(trainer, epoch, {"train_loss": loss})
        modes = list(expected_modes[-1])
        for e in range(3):
            if should_switch(loss[e], best[e], 1.1):
                modes[e] = "original" if modes[e] == "ad" else "ad"
            best[e] = loss[e] if best[e] is None else min(best[e], loss[e])
        expected_modes.append(modes)
        assert list(rule.mode) == modes, f"epoch {epoch}"
    assert rule.switches == [(1, 1, "original"), (2, 0, "original"), (2, 1, "ad"), (2, 2, "original")]
    assert [(e["epoch"], e["model"], e["mode"]) for e in trainer.history.events_of("switch")] == rule.switches
    assert trainer.history.member(1).events_of("switch")[0] == {
        "epoch": 1,
        "event": "switch",
        "mode": "original",
        "loss": 1.2,
        "best_loss": 1.0,
        "A": 1.1,
    }

    # the mixed derivative: AD, min(y, 1 − y), for models 0 and 2; the true y(1 − y) for model 1
    rule.ad_mode = np.array([True, False, True])
    rule._apply()
    assert net[1].derivative_name == "ad or true, per model"
    z = np.random.default_rng(0).normal(size=(3, 5, 3)).astype(np.float32)
    act = net[1]
    a = act.forward(z)
    act.backward(np.ones_like(z))
    d = act.derivative_value
    y = 1 / (1 + np.exp(-z.astype(np.float64)))  # min(y, 1 − y) in float64: d computes it as σ(−|z|)
    np.testing.assert_allclose(d[0], np.minimum(y[0], 1 - y[0]), rtol=1e-6)
    np.testing.assert_allclose(d[1], a[1] * (1 - a[1]))
    np.testing.assert_allclose(d[2], np.minimum(y[2], 1 - y[2]), rtol=1e-6)


def test_flat_parameter_shares_memory_with_the_layers():
    net = from_seeds(build_relu, SEEDS)
    before = {k: v.copy() for k, v in net.state_dict().items()}
    flat = flat_parameter(net)
    assert flat.shape == (net.num_parameters(),)
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
    flat.data += 1.0
    flat.grad[:] = 2.0
    for name, p in net.named_parameters():
        np.testing.assert_array_equal(p.data, before[name] + 1.0)
        assert (p.grad == 2.0).all()


def test_refusals():
    net = from_seeds(build_relu, SEEDS)
    with pytest.raises(ValueError, match="clip_norm"):
        Trainer(net, MSE(), Adam(net.parameters(), clip_norm=1.0), abs_data(10, 0), batch_size=5, rng=SEEDS)
    with pytest.raises(ValueError, match="rng: an ensemble of 4 models needs 4 seeds"):
        Trainer(net, MSE(), Adam(net.parameters()), abs_data(10, 0), batch_size=5, rng=[1, 2])
    with pytest.raises(ValueError, match="history: of models=None"):
        Trainer(net, MSE(), Adam(net.parameters()), abs_data(10, 0), rng=SEEDS, history=History())
    with pytest.raises(ValueError, match="differ at layer 1"):
        stack([Sequential(Dense(1, 2), ReLU()), Sequential(Dense(1, 2), LeakyReLU())])
    with pytest.raises(ValueError, match="differ at layer 0"):
        stack([Sequential(Dense(1, 2)), Sequential(Dense(1, 3))])
    with pytest.raises(TypeError, match="neither Dense"):
        stack([Sequential(Conv2D(1, 2, 3))] * 2)
    with pytest.raises(ValueError, match="at least one"):
        stack([])


def test_classification_ensemble_has_each_models_own_accuracy_and_loss():
    """SoftmaxCrossEntropy with integer labels: per-model accuracies of the one loop equal
    the single runs'; an int rng s gives model e the batch order of seed s + e."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 2)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64) + (x[:, 0] > 1)  # three classes
    train, test = (x[:60], y[:60]), (x[60:], y[60:])

    def build():
        return Sequential(Dense(2, 5), ReLU(), Dense(5, 3))

    net = from_seeds(build, [5, 6, 7])
    history = Trainer(
        net,
        SoftmaxCrossEntropy(),
        SGD(net.parameters(), lr=0.5),
        train,
        test,
        batch_size=16,
        rng=5,
        progress=False,
    ).fit(4)
    for e, seed in enumerate([5, 6, 7]):
        init.seed(seed)
        single = build()
        reference = Trainer(
            single,
            SoftmaxCrossEntropy(),
            SGD(single.parameters(), lr=0.5),
            train,
            test,
            batch_size=16,
            rng=seed,
            progress=False,
        ).fit(4)
        mine = history.member(e)
        assert mine.train_acc == pytest.approx(reference.train_acc, abs=1e-12), f"model {e}"
        assert mine.test_acc == pytest.approx(reference.test_acc, abs=1e-12), f"model {e}"
        np.testing.assert_allclose(mine.train_loss, reference.train_loss, rtol=2e-5, err_msg=f"model {e}")
    assert len({tuple(history.column("test_acc")[:, e]) for e in range(3)}) > 1, "models must differ"


def test_ensemble_history_columns_round_trip_and_members():
    history = History(models=2)
    for epoch, (loss, acc) in enumerate([([1.0, 2.0], [0.5, 0.25]), ([0.5, np.nan], [0.75, 0.5])]):
        history.log(
            {
                "epoch": epoch,
                "train_loss": np.array(loss),
                "train_acc": np.array(acc),
                "lr": 0.1,
                "time_s": 0.0,
            }
        )
    history.record(1, "switch", model=1, mode="original")
    history.record(1, "stop", reason="asked")
    again = History.from_dict(history.to_dict())
    np.testing.assert_array_equal(again.column("train_loss"), [[1.0, 2.0], [0.5, np.nan]])
    assert np.isnan(again.column("test_loss")).all() and again.column("test_loss").shape == (2, 2)
    lowest, epoch = again.best("train_loss", "min")
    np.testing.assert_array_equal(lowest, [0.5, 2.0])
    np.testing.assert_array_equal(epoch, [1, 0])
    first = again.member(0)
    assert first.train_loss == [1.0, 0.5] and first.train_acc == [0.5, 0.75] and first.models is None
    assert [e["event"] for e in first.events] == ["stop"]
    assert again.member(1).events[0] == {"epoch": 1, "event": "switch", "mode": "original"}
    with pytest.raises(ValueError, match=r"model must be an int in \[0, 2\), got 2"):
        again.member(2)
    assert ensemble_size(from_seeds(build_relu, SEEDS)) == len(SEEDS) and ensemble_size(build_relu()) is None


def test_inputs_are_still_checked_after_a_batch_of_another_kind_passed():
    """forward checks an input once per (type, shape, dtype): a new kind is checked again."""
    layer = Dense(2, 3, models=4)
    good = np.ones((4, 5, 2), dtype=np.float32)
    layer.forward(good)
    layer.forward(good + 1)  # the same kind: passes without a second check
    with pytest.raises(ValueError, match=r"\(N, 2\) shared by the models or \(4, N, 2\)"):
        layer.forward(np.ones((4, 5, 3), dtype=np.float32))
    with pytest.raises(TypeError, match="floating-point"):
        layer.forward(np.ones((4, 5, 2), dtype=np.int64))
    with pytest.raises(TypeError, match="expects an array"):
        layer.forward([[1.0, 2.0]])
    assert layer.forward(good).shape == (4, 5, 3)


def test_the_fast_derivative_check_still_refuses_what_the_reference_refuses():
    from nanograd_ad.fast.activations import ReLU as FastReLU

    act = FastReLU(derivative=lambda z, a: np.ones(z.shape[1:], dtype=z.dtype))  # broadcasts: fine
    z = np.linspace(-1, 1, 12, dtype=np.float32).reshape(2, 3, 2)
    act.forward(z)
    assert act.backward(np.ones_like(z)).shape == z.shape
    for bad, error in [
        (lambda z, a: np.ones((2, 3, 4), dtype=z.dtype), ValueError),  # grows z's shape
        (lambda z, a: np.ones(z.shape, dtype=np.complex64), TypeError),  # not real
        (lambda z, a: [1.0], TypeError),  # not an array
    ]:
        act = FastReLU(derivative=bad)
        act.forward(z)
        with pytest.raises(error, match="derivative"):
            act.backward(np.ones_like(z))
