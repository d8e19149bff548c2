"""The training loop, its history and its callbacks (switching rule, peak accuracy, ...)."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from nanograd_ad import backend
from nanograd_ad.activations import ReLU
from nanograd_ad.callbacks import Callback, Checkpointing, EarlyStopping
from nanograd_ad.checkpoint import read_checkpoint
from nanograd_ad.ics import PeakAccuracy
from nanograd_ad.layers import Dense
from nanograd_ad.losses import MSE, SoftmaxCrossEntropy
from nanograd_ad.network import Sequential
from nanograd_ad.optim import SGD, Adam
from nanograd_ad.schedules import CosineRestarts, Phases, StepCosineRestarts
from nanograd_ad.train import (
    History,
    Trainer,
    TrainingDiverged,
    _progress_enabled,
    evaluate,
    fit,
    make_optimizer,
)


def abs_data(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-math.sqrt(3), math.sqrt(3), size=(n, 1)).astype(np.float32)
    return x, np.abs(x)


def blobs(n=120, seed=0):
    """Three separable Gaussian blobs in 2-D, integer labels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    centres = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
    x = (centres[y] + 0.3 * rng.standard_normal((n, 2))).astype(np.float32)
    return x, y


def small_classifier():
    return Sequential(Dense(2, 8), ReLU(), Dense(8, 3))


# ------------------------------------------------------------------------- the loop


def test_two_layer_net_fits_abs():
    """|x| = relu(x) + relu(−x): a 2-layer ReLU net must get the test MSE below 1e-3."""
    train, test = abs_data(512, 1), abs_data(256, 2)
    net = Sequential(Dense(1, 16), ReLU(), Dense(16, 1))
    history = fit(
        net, MSE(), "adam", train, epochs=120, batch_size=32, lr=1e-2, test=test, progress=False, seed=0
    )
    assert history.test_loss[-1] < 1e-3, history.test_loss[-5:]
    assert history.train_loss[0] > 10 * history.train_loss[-1]  # it learned, not started there
    assert history.train_acc == [None] * 120 and history.test_acc == [None] * 120  # MSE: no accuracy
    assert history.epoch == list(range(120))


def test_the_step_asks_for_no_input_gradient_and_trains_as_before():
    """The trainer calls net.backward(..., input_grad=False); the weights it reaches equal a
    hand-written loop of the same steps with the default backward (which computes ∂C/∂x)."""
    x, y = blobs(24)
    nets = [small_classifier(), small_classifier()]
    nets[1].load_state_dict(nets[0].state_dict())
    calls = []
    original = nets[0].backward

    def recording_backward(delta, **kwargs):
        calls.append(kwargs)
        return original(delta, **kwargs)

    nets[0].backward = recording_backward
    fit(nets[0], SoftmaxCrossEntropy(), "sgd", (x, y), epochs=1, batch_size=24, lr=0.1, progress=False)
    assert calls == [{"input_grad": False}]
    loss, opt = SoftmaxCrossEntropy(), SGD(nets[1].parameters(), lr=0.1)
    loss.forward(nets[1](x), y)
    assert nets[1].backward(loss.backward()) is not None
    opt.step()
    for trained, by_hand in zip(nets[0].parameters(), nets[1].parameters()):
        np.testing.assert_allclose(trained.data, by_hand.data, rtol=1e-6, atol=1e-7)


def test_classifier_history_rows_and_batch_callbacks():
    x, y = blobs()
    seen = []

    class Spy(Callback):
        def on_batch_end(self, trainer, batch, loss):
            seen.append((trainer.epoch, batch, loss))

    net = small_classifier()
    history = fit(
        net,
        SoftmaxCrossEntropy(),
        "sgd",
        (x, y),
        epochs=3,
        batch_size=50,
        lr=0.5,
        test=(x, y),
        callbacks=[Spy()],
        progress=False,
    )
    assert [e for e, b, _ in seen] == [0, 0, 0, 1, 1, 1, 2, 2, 2]  # ceil(120 / 50) = 3 batches per epoch
    assert [b for e, b, _ in seen] == [0, 1, 2] * 3
    assert all(isinstance(v, float) for _, _, v in seen)
    # the epoch's train loss is the sample-weighted mean of its batch losses (50, 50, 20)
    epoch0 = [v for e, _, v in seen if e == 0]
    assert history.train_loss[0] == pytest.approx((50 * epoch0[0] + 50 * epoch0[1] + 20 * epoch0[2]) / 120)
    assert all(0.0 <= a <= 1.0 for a in history.train_acc + history.test_acc)
    assert history.test_acc[-1] > 0.9
    assert history.lr == [0.5] * 3
    row = history.to_dict()
    assert set(row) == {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "time_s", "events"}
    assert History.from_dict(row).to_dict() == row


def test_evaluate_in_batches_equals_one_batch():
    x, y = blobs(101)
    net = small_classifier()
    loss = SoftmaxCrossEntropy()
    full_loss, full_acc = evaluate(net, loss, x, y, batch_size=1000)
    part_loss, part_acc = evaluate(net, loss, x, y, batch_size=7)
    assert part_loss == pytest.approx(full_loss, rel=1e-5)
    assert part_acc == full_acc
    pred = backend.to_numpy(net(x))
    assert full_acc == pytest.approx(np.mean(pred.argmax(1) == y))
    assert full_loss == pytest.approx(loss.forward(net(x), y), rel=1e-5)


def test_dataset_argument_uses_its_test_split():
    from nanograd_ad.datasets import Dataset

    x, y = blobs(90)
    data = Dataset(x[:60], y[:60], x[60:], y[60:], "blobs", 3, "blobs")
    history = fit(
        small_classifier(), SoftmaxCrossEntropy(), "adam", data, epochs=2, batch_size=16, progress=False
    )
    assert all(v is not None for v in history.test_loss + history.test_acc)


def test_schedule_sets_lr_at_phase_boundaries():
    x, y = blobs()
    seen = {}

    class Spy(Callback):
        def on_batch_end(self, trainer, batch, loss):
            seen.setdefault(trainer.epoch, set()).add(trainer.optimizer.lr)

    net = small_classifier()
    optimizer = SGD(net.parameters(), lr=1.0)
    schedule = Phases([(2, 0.1), (4, 0.01), (5, 0.001)])  # end epochs exclusive, epochs 0-based
    trainer = Trainer(
        net,
        SoftmaxCrossEntropy(),
        optimizer,
        (x, y),
        batch_size=40,
        schedule=schedule,
        callbacks=[Spy()],
        progress=False,
    )
    trainer.fit(3)
    trainer.fit(3)  # resumes at epoch 3; epoch 5 is past the last end: stays in the last phase
    expected = [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    assert trainer.history.epoch == [0, 1, 2, 3, 4, 5]
    assert trainer.history.lr == pytest.approx(expected)
    assert [seen[e] for e in range(6)] == [{v} for v in expected]  # set before the epoch's first batch


class LearningRateSpy(Callback):
    """The rate of every update, in order (on_batch_end runs after optimizer.step)."""

    def __init__(self):
        self.rates = []

    def on_batch_end(self, trainer, batch, loss):
        self.rates.append(trainer.optimizer.lr)


def rates_of_every_update(schedule, *fits):
    """Train the small classifier on 120 rows in batches of 40 (3 updates an epoch) under
    ``schedule``, calling ``fit(e)`` for each e in ``fits``; the trainer and the rates."""
    x, y = blobs()
    net = small_classifier()
    spy = LearningRateSpy()
    trainer = Trainer(
        net,
        SoftmaxCrossEntropy(),
        SGD(net.parameters(), lr=1.0),
        (x, y),
        batch_size=40,
        schedule=schedule,
        callbacks=[spy],
        progress=False,
    )
    for epochs in fits:
        trainer.fit(epochs)
    return trainer, spy.rates


def test_a_per_step_schedule_sets_the_rate_before_every_update():
    schedule = StepCosineRestarts(
        0.1, 0.001, steps_per_epoch=3, period_steps=2, total_epochs=5, final_epochs=1
    )
    trainer, rates = rates_of_every_update(schedule, 2, 3)  # the second fit resumes at epoch 2 = step 6
    assert rates == [schedule.lr_at(t) for t in range(15)]
    assert rates[:4] == pytest.approx([0.1, 0.0505, 0.1, 0.0505])
    assert rates[12:] == [0.001] * 3  # the final epoch
    assert trainer.history.lr == [rates[3 * e + 2] for e in range(5)]  # the epoch's last update


def test_a_per_epoch_schedule_still_sets_one_rate_per_epoch():
    schedule = CosineRestarts(0.1, 0.001, period=2)
    _, rates = rates_of_every_update(schedule, 4)
    assert rates == [schedule.lr_at(e) for e in range(4) for _ in range(3)]


def test_a_per_step_schedule_with_a_bad_rate_is_refused_before_training():
    class NegativeAtStep5:
        resolution, steps_per_epoch = "step", 3

        def lr_at(self, step):
            return -0.1 if step == 5 else 0.1

    with pytest.raises(ValueError, match=r"learning rate -0\.1 at step 5"):
        rates_of_every_update(NegativeAtStep5(), 2)


def test_a_per_step_schedule_for_another_batch_count_is_refused():
    x, y = blobs()
    net = small_classifier()
    schedule = StepCosineRestarts(0.1, 0.0, steps_per_epoch=4, period_steps=2)
    with pytest.raises(ValueError, match="steps_per_epoch=4, but 120 training rows in batches of 40 make 3"):
        Trainer(
            net,
            SoftmaxCrossEntropy(),
            SGD(net.parameters(), lr=0.1),
            (x, y),
            batch_size=40,
            schedule=schedule,
            progress=False,
        )


# -------------------------------------------------------------- settings are refused


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": -3}, "batch_size"),
        ({"epochs": -1}, "epochs"),
        ({"lr": 0.0}, "learning rate"),
        ({"lr": -0.1}, "learning rate"),
        ({"lr": float("nan")}, "learning rate"),
    ],
)
def test_impossible_settings_are_refused_before_training(kwargs, message):
    x, y = blobs()
    net = small_classifier()
    before = {k: v.copy() for k, v in net.state_dict().items()}
    args = {"epochs": 2, "batch_size": 16, "lr": 0.1, **kwargs}
    with pytest.raises(ValueError, match=message):
        fit(
            net,
            SoftmaxCrossEntropy(),
            "sgd",
            (x, y),
            args.pop("epochs"),
            args.pop("batch_size"),
            progress=False,
            **args,
        )
    after = net.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_built_optimizer_with_bad_lr_or_schedule_is_refused():
    x, y = blobs()
    net = small_classifier()
    optimizer = SGD(net.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"SGD: lr must be a finite number ≥ 0, got -1.0"):
        optimizer.lr = -1.0  # checked on assignment
    optimizer.lr = 0.0  # allowed for a schedule's sake, not as the only rate
    with pytest.raises(ValueError, match="learning rate"):
        Trainer(net, SoftmaxCrossEntropy(), optimizer, (x, y), progress=False)
    optimizer.lr = 0.1

    class Negative:
        def lr_at(self, epoch):
            return 0.1 if epoch < 2 else -0.1

    trainer = Trainer(net, SoftmaxCrossEntropy(), optimizer, (x, y), schedule=Negative(), progress=False)
    with pytest.raises(ValueError, match="epoch 2"):
        trainer.fit(3)
    assert len(trainer.history) == 0  # refused before the first epoch
    with pytest.raises(ValueError, match="constructor"):
        fit(net, SoftmaxCrossEntropy(), optimizer, (x, y), 1, lr=0.1, progress=False)
    with pytest.raises(ValueError, match="unknown optimizer"):
        fit(net, SoftmaxCrossEntropy(), "rmsprop", (x, y), 1, lr=0.1, progress=False)
    with pytest.raises(ValueError, match="inputs but"):
        fit(net, SoftmaxCrossEntropy(), "sgd", (x, y[:-1]), 1, lr=0.1, progress=False)


def test_optimizer_options_are_passed_through():
    x, y = blobs()
    captured = {}

    class Spy(Callback):
        def on_train_begin(self, trainer):
            captured["optimizer"] = trainer.optimizer

    fit(
        small_classifier(),
        SoftmaxCrossEntropy(),
        "sgd",
        (x, y),
        1,
        lr=0.05,
        momentum=0.9,
        weight_decay=3e-3,
        clip_value=0.5,
        callbacks=[Spy()],
        progress=False,
    )
    opt = captured["optimizer"]
    assert isinstance(opt, SGD)
    assert (opt.lr, opt.momentum, opt.weight_decay, opt.clip_value, opt.clip_norm) == (
        0.05,
        0.9,
        3e-3,
        0.5,
        None,
    )
    adam = make_optimizer("adam", small_classifier().parameters(), clip_norm=1.0)
    assert isinstance(adam, Adam) and adam.lr == 1e-3 and adam.clip_norm == 1.0
    with pytest.raises(ValueError, match="momentum"):
        make_optimizer("adam", small_classifier().parameters(), momentum=0.9)


# ------------------------------------------------------------------- non-finite loss


class CorruptAt(Callback):
    """Write inf into one layer's weight after a given batch (a simulated overflow)."""

    def __init__(self, epoch, batch, layer):
        self.epoch, self.batch, self.layer = epoch, batch, layer

    def on_batch_end(self, trainer, batch, loss):
        if trainer.epoch == self.epoch and batch == self.batch:
            trainer.net.layers[self.layer].weight.data[0, 0] = np.inf


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nonfinite_loss_names_epoch_batch_layer_and_keeps_last_checkpoint(tmp_path):
    x, y = blobs()
    net = small_classifier()
    path = tmp_path / "last.npz"
    saved = {}

    class Snapshot(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            saved[epoch] = trainer.net.state_dict()

    callbacks = [Checkpointing(path), Snapshot(), CorruptAt(epoch=1, batch=1, layer=2)]
    with pytest.raises(TrainingDiverged) as info:
        fit(
            net,
            SoftmaxCrossEntropy(),
            "sgd",
            (x, y),
            5,
            batch_size=30,
            lr=0.1,
            callbacks=callbacks,
            progress=False,
        )
    err = info.value
    assert (err.epoch, err.batch) == (1, 2)  # the batch after the corruption
    assert (err.layer_index, err.pass_name) == (2, "forward")
    assert "Dense" in err.layer_name
    assert "epoch 1, batch 2" in str(err) and "layer 2" in str(err) and "2.weight" in str(err)
    event = err.history.events_of("diverged")[0]
    assert event["epoch"] == 1 and event["nonfinite_parameters"] == ["2.weight"]
    assert net.check_finite is False  # restored after the diagnosis
    # the checkpoint still holds the end of epoch 0: finite, and equal to that state
    checkpoint = read_checkpoint(path)
    assert checkpoint.metadata["epoch"] == 0
    for name, value in checkpoint.net_state.items():
        assert np.all(np.isfinite(value))
        np.testing.assert_array_equal(value, saved[0][name])


@pytest.mark.parametrize("check_gradients", [True, False])
def test_nonfinite_backward_is_located_by_the_rerun(check_gradients):
    """A derivative that returns NaN: the forward pass is finite, the backward is not."""
    x, y = blobs()
    poisoned = ReLU(derivative=lambda z, a: backend.xp.where(z > 0, 1.0, backend.xp.nan).astype(z.dtype))
    net = Sequential(Dense(2, 8), poisoned, Dense(8, 3))
    loss = SoftmaxCrossEntropy()
    trainer = Trainer(
        net,
        loss,
        SGD(net.parameters(), lr=0.1),
        (x, y),
        batch_size=30,
        progress=False,
        check_gradients=check_gradients,
    )
    with pytest.raises(TrainingDiverged) as info:
        trainer.fit(3)
    if check_gradients:
        # caught before the update: the backward pass of the activation (layer 1) is named
        assert (info.value.epoch, info.value.batch) == (0, 0)
        assert (info.value.layer_index, info.value.pass_name) == (1, "backward")
        assert "ReLU" in info.value.layer_name and "no update was made" in str(info.value)
        assert all(np.all(np.isfinite(v)) for v in net.state_dict().values())
    else:
        # the first step writes NaN into layer 0's weights; the next batch's loss is NaN,
        # and its re-run finds them in the forward pass of layer 0
        assert (info.value.epoch, info.value.batch) == (0, 1)
        assert (info.value.layer_index, info.value.pass_name) == (0, "forward")
        assert "already non-finite" in str(info.value)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nonfinite_with_stop_returns_history():
    x, y = blobs()
    history = fit(
        small_classifier(),
        SoftmaxCrossEntropy(),
        "sgd",
        (x, y),
        5,
        batch_size=30,
        lr=0.1,
        callbacks=[CorruptAt(epoch=2, batch=0, layer=0)],
        progress=False,
        on_nonfinite="stop",
    )
    assert history.epoch == [0, 1]  # the diverged epoch is not logged
    assert history.events_of("diverged")[0]["layer_index"] == 0


# ------------------------------------------------------------ stopping callbacks


def feed_logs(callback, rows):
    trainer = SimpleNamespace(history=History(), stop=False, epoch=None, net=None)

    def request_stop(epoch, reason, **info):
        trainer.stop = True
        trainer.history.record(epoch, "stop", reason=reason, **info)

    trainer.request_stop = request_stop
    callback.on_train_begin(trainer)
    for epoch, row in enumerate(rows):
        trainer.epoch = epoch
        callback.on_epoch_end(trainer, epoch, row)
        if trainer.stop:
            break
    callback.on_train_end(trainer)
    return trainer


def test_peak_accuracy_stops_after_patience_and_reports_best_test():
    train = [0.5, 0.6, 0.7, 0.65, 0.7, 0.69, 0.9]
    test = [0.4, 0.55, 0.5, 0.62, 0.58, 0.6, 0.99]
    peak = PeakAccuracy(patience=3)
    trainer = feed_logs(peak, [{"train_acc": a, "test_acc": t} for a, t in zip(train, test)])
    # train acc best 0.7 at epoch 2; epochs 3, 4 (equal is not better), 5 → stop at 5
    assert trainer.epoch == 5 and trainer.stop
    assert (peak.best_test_acc, peak.best_epoch) == (0.62, 3)
    assert trainer.history.events_of("stop")[0]["epoch"] == 5
    assert trainer.history.events_of("peak_accuracy")[0]["best_test_acc"] == 0.62


def test_peak_accuracy_keeps_going_while_training_accuracy_improves():
    peak = PeakAccuracy(patience=2)
    trainer = feed_logs(peak, [{"train_acc": 0.1 * i, "test_acc": 0.5} for i in range(8)])
    assert not trainer.stop and trainer.epoch == 7 and peak.best_epoch == 0
    with pytest.raises(ValueError, match="train_acc"):
        feed_logs(PeakAccuracy(), [{"train_acc": None, "test_acc": None}])


def test_early_stopping_patience_and_min_delta():
    rows = [{"test_loss": v} for v in [1.0, 0.9, 0.91, 0.95, 0.92, 0.5]]
    stopper = EarlyStopping(patience=2)
    trainer = feed_logs(stopper, rows)
    assert trainer.epoch == 3 and (stopper.best, stopper.best_epoch) == (0.9, 1)
    strict = EarlyStopping(patience=2, min_delta=0.15)  # 1.0 → 0.9 is not enough
    trainer = feed_logs(strict, rows)
    assert trainer.epoch == 2 and strict.best_epoch == 0
    acc = EarlyStopping(monitor="test_acc", patience=1)  # auto mode: max for accuracies
    trainer = feed_logs(acc, [{"test_acc": v} for v in [0.5, 0.6, 0.55, 0.9]])
    assert trainer.epoch == 2 and acc.best == 0.6


def test_early_stopping_in_training_restores_best_weights():
    x, y = blobs()
    net = small_classifier()
    states = {}

    class Snapshot(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            states[epoch] = trainer.net.state_dict()
            logs["test_loss"] = [1.0, 0.5, 0.7, 0.8, 0.9, 0.1][epoch]  # best at epoch 1

    stopper = EarlyStopping(patience=2, restore_best=True)
    history = fit(
        net,
        SoftmaxCrossEntropy(),
        "sgd",
        (x, y),
        6,
        batch_size=40,
        lr=0.1,
        test=(x, y),
        callbacks=[Snapshot(), stopper],
        progress=False,
    )
    assert history.epoch == [0, 1, 2, 3]
    assert history.events_of("stop")[0]["reason"].startswith("test_loss has not improved")
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(value, states[1][name])


def test_progress_bar_off_when_asked_or_not_a_terminal(monkeypatch):
    class Terminal:
        def isatty(self):
            return True

        def write(self, text):
            return len(text)

        def flush(self):
            pass

    assert _progress_enabled(False) is False
    monkeypatch.setattr("sys.stderr", Terminal())
    assert _progress_enabled(True) is True
    assert _progress_enabled(False) is False
    monkeypatch.setattr("sys.stderr", SimpleNamespace(isatty=lambda: False))
    assert _progress_enabled(True) is False


def test_moved_names_keep_their_old_import_paths():
    import nanograd_ad.callbacks
    import nanograd_ad.feedback
    import nanograd_ad.ics
    import nanograd_ad.pseudo_normalization
    import nanograd_ad.train

    for name in ("Callback", "EarlyStopping", "Checkpointing"):
        assert getattr(nanograd_ad.train, name) is getattr(nanograd_ad.callbacks, name)
    assert nanograd_ad.train.PeakAccuracy is nanograd_ad.ics.PeakAccuracy
    for name in ("PseudoNormalize", "pseudo_normalize", "rms"):  # the feedback shim's one release is over
        assert hasattr(nanograd_ad.pseudo_normalization, name) and not hasattr(nanograd_ad.feedback, name)
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        nanograd_ad.train.Nothing  # noqa: B018
