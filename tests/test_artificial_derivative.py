"""The artificial-derivative paper's switching rule (Hu, Zhang & Ge 2021, §III.A) for one model;
the per-model rule of an ensemble is tested in test_ensemble.py."""

from types import SimpleNamespace

import numpy as np
import pytest

from nanograd_ad.activations import ReLU
from nanograd_ad.artificial_derivative import SwitchingRule, should_switch
from nanograd_ad.callbacks import Callback
from nanograd_ad.layers import Dense
from nanograd_ad.losses import SoftmaxCrossEntropy
from nanograd_ad.network import Sequential
from nanograd_ad.train import History, fit


def blobs(n=120, seed=0):
    """Three separable Gaussian blobs in 2-D, integer labels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    centres = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
    x = (centres[y] + 0.3 * rng.standard_normal((n, 2))).astype(np.float32)
    return x, y


def test_should_switch_is_the_papers_inequality():
    assert should_switch(1.04, 1.0, 1.035)
    assert not should_switch(1.03, 1.0, 1.035)
    assert not should_switch(1.035, 1.0, 1.035)  # strictly greater
    assert not should_switch(5.0, None, 1.035)  # first epoch: nothing to compare with
    assert should_switch(1.02, 1.0, 1.01)


def feed_losses(rule, losses):
    trainer = SimpleNamespace(history=History())
    rule.on_train_begin(trainer)
    modes = []
    for epoch, value in enumerate(losses):
        rule.on_epoch_end(trainer, epoch, {"train_loss": value})
        modes.append(rule.mode)
    return trainer.history, modes


def test_switching_rule_toggles_on_a_constructed_sequence():
    acts = [ReLU(derivative="ad", k=3.5), ReLU(derivative="ad", k=3.5)]
    rule = SwitchingRule(acts, A=1.035)
    z = np.array([-1.0, -0.2, 0.3, 2.0], dtype=np.float32)
    ad_values = acts[0].d(z, np.maximum(z, 0))
    true_values = (z >= 0).astype(np.float32)
    # best so far: 1.0, 0.9, (0.95 > 0.9315: switch), 0.8, 0.82 (< 0.828), (0.9 > 0.828: switch)
    history, modes = feed_losses(rule, [1.0, 0.9, 0.95, 0.8, 0.82, 0.9])
    assert modes == ["ad", "ad", "original", "original", "original", "ad"]
    assert [(e["epoch"], e["mode"]) for e in history.events_of("switch")] == [(2, "original"), (5, "ad")]
    assert rule.switches == [(2, "original"), (5, "ad")]
    # the derivative actually in use follows the mode
    rule.ad_mode = np.array(False)
    rule._apply()
    for act in acts:
        np.testing.assert_array_equal(act.d(z, np.maximum(z, 0)), true_values)
    rule.ad_mode = np.array(True)
    rule._apply()
    for act in acts:
        np.testing.assert_allclose(act.d(z, np.maximum(z, 0)), ad_values)
        assert act.derivative_name == "ad"
    assert np.all(ad_values[:2] > 0) and np.all(true_values[:2] == 0)


@pytest.mark.parametrize("losses", [[1.0, 0.9, 0.8, 0.7, 0.6], [1.0, 1.03, 1.02, 1.034, 0.99, 1.02]])
def test_switching_rule_does_not_switch_otherwise(losses):
    rule = SwitchingRule([ReLU(derivative="ad", k=3.5)], A=1.035)
    history, modes = feed_losses(rule, losses)
    assert set(modes) == {"ad"} and history.events == []


def test_switching_rule_in_a_real_training_and_from_a_network():
    x, y = blobs()
    net = Sequential(Dense(2, 8), ReLU(derivative="ad", k=3.5), Dense(8, 3))
    rule = SwitchingRule(net)  # finds the activations itself
    assert rule.activations == [net.layers[1]]

    class Bump(Callback):  # the loss the rule sees jumps at epoch 3
        def on_epoch_end(self, trainer, epoch, logs):
            if epoch == 3:
                logs["train_loss"] = 10.0

    fit(
        net,
        SoftmaxCrossEntropy(),
        "sgd",
        (x, y),
        5,
        batch_size=40,
        lr=0.1,
        callbacks=[Bump(), rule],
        progress=False,
    )
    assert rule.switches == [(3, "original")]
    assert net.layers[1].derivative_name == "true"
    with pytest.raises(TypeError, match="set_derivative"):
        SwitchingRule([Dense(2, 2)])


def test_should_switch_is_elementwise_over_models():
    np.testing.assert_array_equal(
        should_switch(np.array([1.04, 1.03, np.nan]), np.array([1.0, 1.0, 1.0]), 1.035), [True, False, False]
    )
    assert should_switch(np.array([9.0, 9.0]), None).tolist() == [False, False]
