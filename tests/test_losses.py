"""Losses: values by hand, gradients by central differences, stability."""

import numpy as np
import pytest

import nanograd_ad as ng


def test_softmax_cross_entropy_by_hand():
    logits = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    loss = ng.SoftmaxCrossEntropy()
    value = loss.forward(logits, np.array([2, 0]))
    p0 = np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum()
    assert np.isclose(value, (-np.log(p0[2]) - np.log(1 / 3)) / 2, rtol=1e-12)
    np.testing.assert_allclose(loss.backward(), np.array([p0 - [0, 0, 1], np.full(3, 1 / 3) - [1, 0, 0]]) / 2)


@pytest.mark.parametrize(
    "loss, target",
    [
        (ng.SoftmaxCrossEntropy(), np.array([0, 2, 1, 2])),
        (ng.SoftmaxCrossEntropy(), np.eye(3)[[1, 0, 2, 2]]),
        (ng.MSE(), np.random.default_rng(9).standard_normal((4, 3))),
    ],
)
def test_loss_gradients_by_central_differences(loss, target):
    net = ng.Sequential(ng.Dense(3, 3, weight_init="he_normal"))
    x = np.random.default_rng(2).standard_normal((4, 3)) * 3
    report = ng.gradcheck(net, loss, x, target, seed=4)
    assert report.passed, str(report)


def test_softmax_cross_entropy_finite_at_huge_logits():
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype=np.float32)
    loss = ng.SoftmaxCrossEntropy()
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # exp(−2e4) may underflow to 0
        value = loss.forward(logits, np.array([1, 0]))
        delta = loss.backward()
    assert np.isfinite(value) and np.isclose(value, (2e4 + 2e4 + np.log(2)) / 2, rtol=1e-6)
    assert np.isfinite(delta).all()


def test_labels_out_of_range_and_bad_targets_are_refused():
    loss = ng.SoftmaxCrossEntropy()
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\), got values in \[0, 3\]"):
        loss.forward(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\), got values in \[-1, 1\]"):
        loss.forward(np.zeros((2, 3)), np.array([-1, 1]))
    with pytest.raises(TypeError, match="labels must be integers"):
        loss.forward(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="3 labels for 2 rows"):
        loss.forward(np.zeros((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"MSE: pred \(2, 3\) and target \(2, 2\)"):
        ng.MSE().forward(np.zeros((2, 3)), np.zeros((2, 2)))


def test_per_model_losses_for_a_leading_model_axis():
    pred = np.random.default_rng(0).standard_normal((3, 5, 2))
    target = np.random.default_rng(1).standard_normal((5, 2))
    mse = ng.MSE()
    total = mse.forward(pred, target)
    singles = [ng.MSE().forward(pred[e], target) for e in range(3)]
    np.testing.assert_allclose(mse.per_model, singles)
    assert np.isclose(total, sum(singles))
    single = ng.MSE()
    single.forward(pred[1], target)
    np.testing.assert_allclose(mse.backward()[1], single.backward())


def test_mse_summed_over_the_batch_is_n_times_the_mean():
    rng = np.random.default_rng(3)
    pred, target = rng.standard_normal((2, 7, 3)), rng.standard_normal((7, 3))
    mean, summed = ng.MSE(), ng.MSE(reduction="sum")
    mean_value, summed_value = mean.forward(pred, target), summed.forward(pred, target)
    assert summed_value == pytest.approx(21 * mean_value, rel=1e-12)
    np.testing.assert_allclose(summed.backward(), 21 * mean.backward(), rtol=1e-12)
    np.testing.assert_allclose(summed.per_model, mean.per_model)  # reported: the mean either way
    # δ^L of the sum against central differences (float64, h = 1e-5)
    h, analytic, worst = 1e-5, summed.backward(), 0.0
    for index in np.ndindex(pred.shape):
        up, down = pred.copy(), pred.copy()
        up[index] += h
        down[index] -= h
        numeric = (ng.MSE("sum").forward(up, target) - ng.MSE("sum").forward(down, target)) / (2 * h)
        worst = max(worst, abs(numeric - analytic[index]) / max(abs(numeric), abs(analytic[index]), 1e-8))
    assert worst < 1e-6, f"MSE(sum) δ^L: worst relative error {worst:.2e}"
    assert repr(summed) == "MSE(reduction='sum')" and repr(mean) == "MSE()"
    with pytest.raises(ValueError, match=r"reduction must be one of \('mean', 'sum'\), got 'max'"):
        ng.MSE(reduction="max")
