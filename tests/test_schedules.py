"""Learning-rate schedules: exact values at boundaries, and argument checks."""

import itertools
import math

import pytest

from nanograd_ad.schedules import Constant, CosineRestarts, Phases, Schedule, StepCosineRestarts

# ---------------------------------------------------------------------- protocol


def test_every_schedule_satisfies_the_protocol_and_call_equals_lr_at():
    schedules = [
        Constant(0.1),
        Phases([(3, 0.1), (6, 0.01)]),
        CosineRestarts(
            0.1, 0.001, period=4, warmup_fraction=0.5, total_epochs=10, final_epochs=2, final_lr=1e-4
        ),
    ]
    for schedule in schedules:
        assert isinstance(schedule, Schedule)
        for epoch in range(12):
            assert schedule(epoch) == schedule.lr_at(epoch)
            assert isinstance(schedule(epoch), float)


@pytest.mark.parametrize(
    "schedule", [Constant(0.1), Phases([(3, 0.1)]), CosineRestarts(0.1, 0.0, 5)], ids=repr
)
@pytest.mark.parametrize("epoch", [-1, 1.5, "3", True, None])
def test_bad_epoch_is_rejected(schedule, epoch):
    with pytest.raises((TypeError, ValueError), match="epoch"):
        schedule.lr_at(epoch)


# ---------------------------------------------------------------------- Constant


def test_constant():
    schedule = Constant(0.05)
    assert [schedule(e) for e in (0, 1, 1000)] == [0.05, 0.05, 0.05]


@pytest.mark.parametrize("lr", [0, -0.1, math.nan, math.inf, "0.1", None])
def test_constant_rejects_bad_lr(lr):
    with pytest.raises(ValueError, match="lr"):
        Constant(lr)


# ------------------------------------------------------------------------ Phases

STRATEGY = [(50, 0.1, 0, 1), (100, 0.1, 1, 2), (130, 0.01, 1, 2), (150, 0.001, 0, 1)]


def test_phase_boundaries_are_end_exclusive_and_zero_based():
    phases = Phases(STRATEGY)
    expected = {
        0: 0,
        49: 0,  # epochs 0..49 → phase 0
        50: 1,
        99: 1,  # epochs 50..99 → phase 1
        100: 2,
        129: 2,
        130: 3,
        149: 3,
        150: 3,
        10_000: 3,  # past the last end: stay in the last phase
    }
    for epoch, index in expected.items():
        assert phases.phase_index(epoch) == index, epoch
        assert phases.phase(epoch) == STRATEGY[index]
        assert phases.lr_at(epoch) == STRATEGY[index][1]
    assert phases.total_epochs == 150


def test_phases_docstring_example():
    phases = Phases([(50, 0.1, 0, 1), (100, 0.1, 1, 2)])
    assert {phases.phase_index(e) for e in range(50)} == {0}
    assert {phases.phase_index(e) for e in range(50, 100)} == {1}
    assert phases.phase(50) == (50 + 50, 0.1, 1, 2)


def test_phases_accepts_lists_and_keeps_extra_fields():
    phases = Phases([[5, 0.2, "plain"], [8, 0.02, "amplified", 2.0]])
    assert phases.phase(0) == (5, 0.2, "plain")
    assert phases.phase(7) == (8, 0.02, "amplified", 2.0)
    assert phases(4) == 0.2 and phases(5) == 0.02


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ([], "at least one"),
        ([(10,)], "entry 0"),
        ([(0, 0.1)], "entry 0 .*end_epoch 0"),
        ([(-5, 0.1)], "entry 0"),
        ([(10.0, 0.1)], "entry 0 .*end_epoch 10.0"),
        ([(True, 0.1)], "entry 0"),
        ([(10, 0.1), (10, 0.1)], r"entry 1 \(10, 0.1\).*strictly increasing"),
        ([(10, 0.1), (20, 0.1), (15, 0.1)], r"entry 2 \(15, 0.1\).*strictly increasing"),
        ([(10, 0.0)], r"entry 0 \(10, 0.0\) has lr"),
        ([(10, 0.1), (20, -1.0)], "entry 1 .*lr -1.0"),
        ([(10, math.nan)], "entry 0"),
        ("abc", "phases must be"),
        (5, "phases must be"),
    ],
)
def test_phases_validation_names_the_offending_entry(bad, fragment):
    with pytest.raises(ValueError, match=fragment):
        Phases(bad)


# ---------------------------------------------------------------- CosineRestarts


def test_cosine_without_warmup_starts_at_max_and_restarts_every_period():
    schedule = CosineRestarts(lr_max=0.1, lr_min=0.001, period=10)
    span = 0.1 - 0.001
    for start in (0, 10, 20, 90):
        assert schedule(start) == pytest.approx(0.1, abs=1e-15)  # period start: lr_max
        # middle of the period: u = 1/2 → lr_min + Δ/2
        assert schedule(start + 5) == pytest.approx(0.001 + span / 2, abs=1e-15)
        # last epoch of the period: u = 9/10, just above lr_min
        assert schedule(start + 9) == pytest.approx(
            0.001 + span * 0.5 * (1 + math.cos(0.9 * math.pi)), abs=1e-15
        )
    values = [schedule(e) for e in range(10)]
    assert all(a > b for a, b in itertools.pairwise(values)), "must fall monotonically within a period"
    assert min(values) > 0.001


def test_cosine_with_warmup_rises_to_peak_then_falls():
    schedule = CosineRestarts(lr_max=0.2, lr_min=0.002, period=8, warmup_fraction=0.5)
    span = 0.2 - 0.002
    for start in (0, 8, 16):
        assert schedule(start) == pytest.approx(0.002, abs=1e-15)  # period start: lr_min
        assert schedule(start + 4) == pytest.approx(0.2, abs=1e-15)  # u = w: the peak
        # half way up the half-cosine: u/w = 1/2
        assert schedule(start + 2) == pytest.approx(0.002 + span / 2, abs=1e-15)
        # half way down: (u − w)/(1 − w) = 1/2
        assert schedule(start + 6) == pytest.approx(0.002 + span / 2, abs=1e-15)
    rising = [schedule(e) for e in range(5)]
    falling = [schedule(e) for e in range(4, 8)]
    assert all(a < b for a, b in itertools.pairwise(rising))
    assert all(a > b for a, b in itertools.pairwise(falling))
    assert max(schedule(e) for e in range(40)) == pytest.approx(0.2, abs=1e-15)


def test_cosine_with_asymmetric_warmup():
    schedule = CosineRestarts(lr_max=1.0, lr_min=0.0, period=10, warmup_fraction=0.2)
    assert schedule(0) == 0.0
    assert schedule(1) == pytest.approx(0.5 * (1 - math.cos(math.pi * 0.1 / 0.2)))
    assert schedule(2) == pytest.approx(1.0)
    assert schedule(6) == pytest.approx(0.5)  # (0.6 − 0.2)/(0.8) = 1/2
    assert schedule(10) == 0.0


def test_pn_recipe_final_epochs_use_final_lr():
    schedule = CosineRestarts(0.05, 0.001, period=10, total_epochs=90, final_epochs=20, final_lr=1e-4)
    assert schedule.final_start == 70
    assert schedule(69) == pytest.approx(0.001 + 0.049 * 0.5 * (1 + math.cos(0.9 * math.pi)))
    assert [schedule(e) for e in (70, 80, 89, 90, 500)] == [1e-4] * 5
    assert schedule(60) == pytest.approx(0.05)


def test_final_lr_defaults_to_lr_min():
    schedule = CosineRestarts(0.1, 0.01, period=5, total_epochs=20, final_epochs=5)
    assert schedule(15) == 0.01 and schedule(14) > 0.01


def test_cosine_period_one_and_no_final_phase():
    assert [CosineRestarts(0.1, 0.0, period=1)(e) for e in range(3)] == [0.1, 0.1, 0.1]
    assert CosineRestarts(0.1, 0.0, period=4, total_epochs=8).final_start is None


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(lr_max=0.0, lr_min=0.0, period=5), "lr_max"),
        (dict(lr_max=0.1, lr_min=-0.01, period=5), "lr_min"),
        (dict(lr_max=0.1, lr_min=0.2, period=5), "lr_min"),
        (dict(lr_max=0.1, lr_min=0.0, period=0), "period"),
        (dict(lr_max=0.1, lr_min=0.0, period=2.5), "period"),
        (dict(lr_max=0.1, lr_min=0.0, period=5, warmup_fraction=1.0), "warmup_fraction"),
        (dict(lr_max=0.1, lr_min=0.0, period=5, warmup_fraction=-0.1), "warmup_fraction"),
        (dict(lr_max=0.1, lr_min=0.0, period=5, final_epochs=3), "total_epochs"),
        (dict(lr_max=0.1, lr_min=0.0, period=5, total_epochs=10, final_epochs=11), "final_epochs"),
        (dict(lr_max=0.1, lr_min=0.0, period=5, total_epochs=0), "total_epochs"),
        (dict(lr_max=0.1, lr_min=0.0, period=5, final_epochs=-1), "final_epochs"),
        (dict(lr_max=0.1, lr_min=0.0, period=5, total_epochs=10, final_epochs=2, final_lr=0.0), "final_lr"),
        (dict(lr_max=0.1, lr_min=0.0, period=5, final_lr=1e-4), "final_lr"),
    ],
)
def test_cosine_validation(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        CosineRestarts(**kwargs)


# ------------------------------------------------------------ StepCosineRestarts


def sgdr(t, period, lr_max, lr_min):
    """Loshchilov & Hutter's SGDR: η_t = η_min + ½(η_max − η_min)(1 + cos(π T_cur / T)), T_cur = t mod T."""
    return lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * (t % period) / period))


def test_step_cosine_follows_the_sgdr_formula_at_every_step():
    schedule = StepCosineRestarts(0.1, 0.001, steps_per_epoch=7, period_steps=5)
    assert schedule.resolution == "step" and isinstance(schedule, Schedule)
    for t in range(80):  # periods that cut across epoch boundaries (7 steps an epoch, 5 a period)
        assert schedule.lr_at(t) == pytest.approx(sgdr(t, 5, 0.1, 0.001), rel=1e-14, abs=1e-16)
        assert schedule(t) == schedule.lr_at(t)
    assert [schedule.lr_at(t) for t in (0, 5, 10, 35)] == [0.1] * 4  # each restart at lr_max
    assert schedule.periods_per_epoch == pytest.approx(7 / 5)


def test_step_cosine_period_as_a_fraction_of_an_epoch():
    schedule = StepCosineRestarts(1.0, 0.0, steps_per_epoch=10, period_epochs=0.5)  # 5 steps
    assert schedule.period == 5.0 and schedule.periods_per_epoch == 2.0
    assert [schedule.lr_at(t) for t in (0, 5, 10, 15)] == [1.0] * 4
    for t in range(40):
        assert schedule.lr_at(t) == pytest.approx(0.5 * (1 + math.cos(math.pi * (t % 5) / 5)), abs=1e-15)
        assert schedule.lr_at_epoch(t / 10) == pytest.approx(schedule.lr_at(t), abs=1e-15)
    # several epochs per period: 2.5 epochs = 25 steps
    long = StepCosineRestarts(1.0, 0.0, steps_per_epoch=10, period_epochs=2.5)
    assert long.lr_at(25) == 1.0 and long.lr_at_epoch(1.25) == pytest.approx(0.5, abs=1e-15)


def test_step_cosine_with_the_model3_warmup_half_period():
    schedule = StepCosineRestarts(0.2, 0.002, steps_per_epoch=3, period_steps=8, warmup_fraction=0.5)
    span = 0.2 - 0.002
    for start in (0, 8, 16):
        assert schedule.lr_at(start) == pytest.approx(0.002, abs=1e-15)  # rises from lr_min
        assert schedule.lr_at(start + 2) == pytest.approx(0.002 + span * 0.5 * (1 - math.cos(math.pi / 2)))
        assert schedule.lr_at(start + 4) == pytest.approx(0.2, abs=1e-15)  # the peak at half a period
        assert schedule.lr_at(start + 6) == pytest.approx(0.002 + span / 2, abs=1e-15)
    rising = [schedule.lr_at(t) for t in range(5)]
    assert all(a < b for a, b in itertools.pairwise(rising))


def test_step_cosine_final_phase_starts_at_the_first_step_of_its_epoch():
    schedule = StepCosineRestarts(
        0.1, 0.001, steps_per_epoch=10, period_steps=4, total_epochs=9, final_epochs=2, final_lr=1e-4
    )
    assert schedule.final_start == 7
    assert schedule.lr_at(69) == pytest.approx(sgdr(69, 4, 0.1, 0.001))
    assert [schedule.lr_at(t) for t in (70, 75, 89, 500)] == [1e-4] * 4
    assert schedule.lr_at_epoch(6.9) == pytest.approx(sgdr(69, 4, 0.1, 0.001))
    assert schedule.lr_at_epoch(7.0) == 1e-4


def test_step_cosine_at_epoch_starts_equals_the_per_epoch_reading():
    """With a period of P whole epochs, the per-step curve read at each epoch's first step is
    `CosineRestarts`' per-epoch value: the per-epoch reading is the step one sampled once an epoch."""
    per_epoch = CosineRestarts(0.1, 0.001, period=3, warmup_fraction=0.5, total_epochs=12, final_epochs=2)
    per_step = StepCosineRestarts(
        0.1, 0.001, steps_per_epoch=6, period_epochs=3, warmup_fraction=0.5, total_epochs=12, final_epochs=2
    )
    for epoch in range(14):
        assert per_step.lr_at(6 * epoch) == per_epoch.lr_at(epoch)
    # and within an epoch the per-step rate moves, where the per-epoch one cannot
    assert len({per_step.lr_at(t) for t in range(6)}) == 6


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(steps_per_epoch=10), "exactly one of period_steps or period_epochs"),
        (dict(steps_per_epoch=10, period_steps=5, period_epochs=0.5), "exactly one"),
        (dict(steps_per_epoch=0, period_steps=5), "steps_per_epoch"),
        (dict(steps_per_epoch=10, period_steps=0), "period_steps"),
        (dict(steps_per_epoch=10, period_steps=2.5), "period_steps"),
        (dict(steps_per_epoch=10, period_epochs=0.05), "at least 1 step"),
        (dict(steps_per_epoch=10, period_epochs=-1.0), "period_epochs"),
        (dict(steps_per_epoch=10, period_steps=5, warmup_fraction=1.0), "warmup_fraction"),
        (dict(steps_per_epoch=10, period_steps=5, final_epochs=2), "total_epochs"),
    ],
)
def test_step_cosine_validation(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        StepCosineRestarts(0.1, 0.0, **kwargs)


@pytest.mark.parametrize("step", [-1, 1.5, "3", True, None])
def test_step_cosine_rejects_a_bad_step(step):
    with pytest.raises(ValueError, match="step must be an int >= 0"):
        StepCosineRestarts(0.1, 0.0, steps_per_epoch=4, period_steps=3).lr_at(step)
