"""benchmarks/profile_step.py: the counted NumPy calls of one step are the ones the step's
equations need, and counting them leaves the training's numbers as they were."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from nanograd_ad import backend
from nanograd_ad.experiments import ad_tables

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "profile_step.py"
DEPTH, MODELS, EPOCHS = 3, 3, 2


@pytest.fixture(scope="module")
def profile_step():
    spec = importlib.util.spec_from_file_location("profile_step", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["profile_step"] = module  # dataclasses look their module up by name
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules["profile_step"]


def run(profile_step, *options: str) -> tuple[str, dict]:
    """The benchmark's report at the tiny size (its printed text is returned, not printed)."""
    argv = ["--models", str(MODELS), "--epochs", str(EPOCHS), "--depth", str(DEPTH), "--repeats", "1"]
    args = profile_step.parse_args([*argv, *options])
    previous = backend.default_dtype()
    backend.set_default_dtype("float32")
    try:
        return profile_step.report(profile_step.cell_of(args), args)
    finally:
        backend.set_default_dtype(previous)


def per_step(numbers: dict, phase: str = "step") -> dict[str, float]:
    """Calls of each NumPy call name in ``phase`` (per step, or per epoch outside the step)."""
    return {row.name: row.calls for row in numbers["rows"] if row.phase == phase}


@pytest.fixture(scope="module")
def relu(profile_step):
    return run(profile_step)


def test_the_counted_run_trains_the_numbers_of_train_cell(profile_step):
    """The counted run's lowest test losses equal, bit for bit, those of `ad_tables.train_cell`
    (the table's own call) and of an uncounted run of the benchmark."""
    previous = backend.default_dtype()
    backend.set_default_dtype("float32")
    try:
        cell = profile_step.Cell("ad-relu", "A", DEPTH, "AD ReLU", MODELS, 1.035)
        numpy_functions = {name: getattr(np, name) for name in profile_step.UNDISPATCHED}
        counter, clock, counted = profile_step.counted_run(cell, EPOCHS)
        assert all(getattr(np, name) is f for name, f in numpy_functions.items())  # given back
        _, plain = profile_step.timed_run(cell, EPOCHS)
        hyper = ad_tables.TASKS["ad-relu"].sets["A"]
        data = ad_tables.with_dtype(ad_tables.load_data("ad-relu", 0), "float32")
        table = ad_tables.train_cell("ad-relu", hyper, DEPTH, "AD ReLU", range(MODELS), EPOCHS, data)
    finally:
        backend.set_default_dtype(previous)
    assert counter.calls, "nothing was counted"
    assert np.array_equal(counted, np.asarray(table["lowest_test_loss"], dtype=float))
    assert np.array_equal(counted, plain)
    assert len(clock.epochs) == EPOCHS and clock.steps == [60] * EPOCHS  # 3000 rows / batch 50


def test_every_dense_activation_loss_and_adam_call_is_counted(relu):
    """Depth n = 3 ReLU net, set A (Adam over one flat parameter), per step:
    matmul: n forward (x W) + n for ∂C/∂W = xᵀδ + n for ∂C/∂b (a row of ones times δ)
    + (n − 1) for δ Wᵀ (none below the first layer) = 4n − 1; the bias rows repeated n
    times; ReLU's max(z, 0) (against an array of zeros) and its derivative 1[z ≥ 0] for each
    of the n − 1 activations;
    the loss's square and its two sums; Adam's one sqrt; the two subtractions (ŷ − y and
    θ ← θ − update); one zero_grad; the n − 1 contiguous copies of Wᵀ for δ Wᵀ (a function
    NumPy does not dispatch, counted all the same). Per epoch: the two gathers (x and y),
    the test pass, and the zeros the epoch's loss is summed into."""
    text, numbers = relu
    n = DEPTH
    step = per_step(numbers)
    assert step["matmul"] == 4 * n - 1
    assert step["repeat"] == n
    assert step["maximum"] == n - 1 and step["greater_equal"] == n - 1
    assert step["square"] == 1 and step["add.reduce"] == 2
    assert step["sqrt"] == 1 and step["subtract"] == 2
    assert step["[]= (setitem)"] == 1
    assert step["ascontiguousarray"] == n - 1
    assert per_step(numbers, "gather")["take"] == 2
    evaluate = per_step(numbers, "evaluate")
    assert evaluate["matmul"] == n and evaluate["maximum"] == n - 1  # one test batch: forward only
    assert step["zeros"] == n - 1  # ReLU's max(z, 0) takes an array of zeros
    zeros = [
        row.calls for row in numbers["rows"] if row.name == "zeros" and row.phase not in ("evaluate", "step")
    ]
    assert sum(zeros) == 1.5  # the epoch's loss sum: before the first gathering, then in the rest
    assert numbers["same_numbers"] is True
    assert numbers["step_calls"] == sum(step.values())
    assert numbers["python_calls"] > numbers["step_calls"]
    assert max(len(line) for line in text.splitlines()) <= 100


def test_ad_relu_with_switching_counts_its_derivative(profile_step):
    """AD ReLU under the switching rule, every model still in AD mode over these epochs:
    d = σ(k z) per activation, one exp each, picked by a max, not NumPy's where."""
    _, numbers = run(profile_step, "--variant", "AD ReLU")
    step = per_step(numbers)
    assert "where" not in step and step["exp"] == DEPTH - 1
    assert step["matmul"] == 4 * DEPTH - 1


@pytest.mark.parametrize(("variant", "exps"), [("sigmoid", 1), ("AD sigmoid", 1)])
def test_sigmoid_counts_its_exps_the_output_included(profile_step, variant, exps):
    """The sigmoid nets end in the activation: n sigmoids, each one exp of −|z| forward; the
    true derivative y(1 − y) reads the kept y, the AD one, min(y, 1 − y) = σ(−|z|) (eq. 11),
    is the forward's e^{−|z|}·σ(|z|), kept: no second exp."""
    _, numbers = run(profile_step, "--experiment", "ad-sigmoid", "--variant", variant)
    step = per_step(numbers)
    assert step["exp"] == exps * DEPTH
    assert step["matmul"] == 4 * DEPTH - 1
    assert numbers["same_numbers"] is True


def test_by_shape_tells_the_products_of_a_dense_apart(profile_step):
    """--by-shape: the last Dense's forward x W is (E, 50, 2) @ (E, 2, 1) once per step (no
    other product has these shapes), Adam runs on the one flat parameter of E × (4 + 4(n − 2)
    weights + 3 + 2(n − 2) biases), and the products of all shapes still add up to 4n − 1."""
    _, numbers = run(profile_step, "--by-shape")
    step = per_step(numbers)
    assert step[f"matmul ({MODELS},50,2) ({MODELS},2,1)"] == 1
    flat = MODELS * (4 + 4 * (DEPTH - 2) + 3 + 2 * (DEPTH - 2))
    assert step[f"sqrt ({flat})"] == 1
    assert sum(calls for name, calls in step.items() if name.startswith("matmul ")) == 4 * DEPTH - 1


def test_isigmoid_keeps_counting_behind_its_derivative_filled_in_place(profile_step):
    """ISigmoid's derivative is a fresh ``full`` array (not dispatched: counted by the wrap of
    `UNDISPATCHED`) that δ is multiplied into with ``out=``: the δ below it is still counted,
    so every Dense's products are (4n − 1), and its band's σ(z) writes back with ``[]=``."""
    _, numbers = run(profile_step, "--experiment", "ad-sigmoid", "--variant", "Isigmoid")
    step = per_step(numbers)
    assert step["matmul"] == 4 * DEPTH - 1
    assert step["full"] == DEPTH  # d = α outside the band, one per activation
    assert step["[]= (setitem)"] == 2 * DEPTH + 1  # f's and d's band, and the zero_grad
    assert numbers["same_numbers"] is True


def test_bad_arguments_are_refused_with_the_argument_named(profile_step, capsys):
    with pytest.raises(SystemExit):
        profile_step.parse_args(["--variant", "sigmoid"])
    assert "--variant" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        profile_step.parse_args(["--depth", "1"])
    assert "--depth" in capsys.readouterr().err
