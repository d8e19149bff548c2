"""ng.check: silent when right; when wrong, a message naming the array, the shapes, the
worst entry (index, both values, relative error) and a hint for recognisable mistakes."""

import re

import numpy as np
import pytest

import nanograd_ad as ng
from nanograd_ad import CheckError, check


@pytest.fixture
def grads():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3))
    delta = rng.standard_normal((5, 4))
    return x, delta, x.T @ delta  # ∂C/∂W = xᵀ δ, (3, 4)


def _fail(*args, **kwargs) -> CheckError:
    with pytest.raises(CheckError) as raised:
        check(*args, **kwargs)
    return raised.value


def test_passes_quietly(grads, capsys):
    x, delta, expected = grads
    assert check("dW", x.T @ delta, expected) is None
    assert check("C", 0.25, np.float64(0.25)) is None
    assert check("scaled", expected * (1 + 1e-9), expected) is None  # within rtol 1e-7
    assert check("zeros", np.full(3, 1e-13), np.zeros(3)) is None  # within atol
    assert check("list", [1.0, 2.0], np.array([1.0, 2.0])) is None
    assert capsys.readouterr().out == ""


def test_is_an_assertion_error_and_reachable_from_the_top_level():
    assert issubclass(ng.CheckError, AssertionError) and ng.check is check


def test_message_names_array_worst_index_both_values_and_relative_error(grads):
    _, _, expected = grads
    yours = expected.copy()
    yours[2, 1] += 0.5
    yours[0, 0] += 1e-3
    err = _fail("dW", yours, expected)
    message = str(err)
    assert message.startswith("check 'dW' failed: 2 of 12 entries differ")
    assert "shape: (3, 4) as expected" in message
    assert f"worst at index (2, 1): yours {yours[2, 1]:.3g}, expected {expected[2, 1]:.3g}" in message
    relative = 0.5 / max(abs(yours[2, 1]), abs(expected[2, 1]))
    assert f"relative error {relative:.2g} > tolerance 1e-07" in message
    assert err.index == (2, 1) and err.rel_error == pytest.approx(relative)
    assert err.yours == yours[2, 1] and err.expected == expected[2, 1]


def test_a_transposed_matrix_is_recognised(grads):
    x, delta, expected = grads
    err = _fail("dW", delta.T @ x, expected)  # (4, 3) for (3, 4)
    assert "yours has shape (4, 3), expected shape (3, 4)" in str(err)
    assert "transposed" in err.hint
    square = np.arange(9.0).reshape(3, 3)
    assert "transposed" in _fail("W", square.T, square).hint  # same shape, values transposed


def test_a_missing_batch_sum_is_recognised(grads):
    _, delta, _ = grads
    err = _fail("db", delta, delta.sum(axis=0))
    assert "shape (5, 4), expected shape (4,)" in str(err)
    assert "sum over the batch (axis 0) is missing" in err.hint
    assert "averaged" in _fail("db", np.stack([delta.mean(0)] * 5), delta.sum(0) / 5).hint


def test_a_missing_or_extra_one_over_n_is_recognised(grads):
    _, delta, _ = grads
    expected = delta.sum(axis=0) / 5
    assert "missing 1/5" in _fail("db", delta.sum(axis=0), expected).hint
    assert "extra 1/5" in _fail("db", expected / 5, expected).hint
    assert "2 from d(u²)/du" in _fail("dC_da", 2 * expected, expected).hint
    assert "batch size" not in _fail("db", delta.sum(axis=0), expected).hint  # N was not named


def test_a_factor_is_named_among_the_exercises_own_quantities(grads):
    """The hint names the quantity the factor equals — never the batch size by coincidence."""
    _, delta, _ = grads
    expected = delta / 4  # δ/k² with k = 2, at batch size N = 2: δ/k is 2 ×, and 2 is k, not only N
    factors = {"N": 5, "k": 2, "k²": 4}
    hint = _fail("dx", delta / 2, expected, factors=factors).hint
    assert hint.startswith("yours is 2 ×") and "a missing 1/k (k = 2)" in hint and "1/N" not in hint
    assert "an extra 1/k²" in _fail("dx", delta / 16, expected, factors=factors).hint
    assert "missing 1/N (N = 5)" in _fail("dx", 5 * expected, expected, factors=factors).hint
    both = _fail("dx", 2 * expected, expected, factors={"N": 2, "k": 2}).hint
    assert "1/N (N = 2) or" in both and "1/k (k = 2)" in both  # a coincidence is said as one
    hint = _fail("g", -3 * expected, expected, factors={"L": 3}).hint
    assert "flipped sign and a missing 1/L (L = 3)" in hint


def test_an_alias_of_an_input_is_recognised():
    """W_plus = W2 (no copy): the 'perturbed' weights are the input itself, or the difference is 0."""
    W2 = np.arange(1.0, 7.0).reshape(3, 2)
    hint = _fail("W_plus", W2, W2 + 1e-5 * np.eye(3, 2), inputs={"W2": W2}).hint
    assert "exactly `W2`, the input" in hint and "alias" in hint and ".copy()" in hint
    assert "W_plus = W without .copy()" in _fail("numeric", np.zeros(3), np.ones(3)).hint


def test_the_expected_value_is_never_printed_to_within_the_tolerance():
    """Pasting a failure's numbers back must not pass: 3 significant digits and a percentage."""
    expected = 0.6931471805599453
    err = _fail("C", 0.7163, expected)
    message = str(err)
    assert "yours 0.716, expected 0.693: yours is too large by 3.3 %" in message
    assert "0.69314" not in message
    assert "too small by 50 %" in str(_fail("C", 1.0, 2.0))
    assert "opposite sign" in str(_fail("C", -1.0, 2.0))
    assert "too large by 150 %" in str(_fail("C", 2.5, 1.0))
    assert "about 1.23e+03 × the expected value" in str(_fail("C", 1234.0, 1.0))
    assert "too small by 50 %" in str(_fail("C", -3.0, -2.0))  # more negative is smaller
    with pytest.raises(CheckError):
        check("C", float("0.693"), expected)  # what the message shows does not pass
    assert "0.69314" not in str(_fail("v", np.array([np.nan]), np.array([expected])))


def test_the_dtype_is_checked_where_the_exercise_asks_for_one():
    values = np.array([0.5, 0.25], dtype=np.float32)
    assert check("s", values, values.astype(np.float64), dtype="float32") is None
    err = _fail("s", values.astype(np.float64), values, dtype="float32")
    assert "yours is float64, the exercise asks for float32" in str(err)
    assert "float32" in _fail("s", 0.5, 0.5, dtype=np.float32).hint  # a Python float is float64


def test_an_unfinished_exercise_says_so():
    def forward(x):
        raise NotImplementedError()

    not_done = r"exercise 3 \(`forward`\) is not done yet: its cell still holds"
    with pytest.raises(CheckError, match=not_done), ng.checking(3, "forward"):
        check("z1", forward(1.0), 1.0)
    not_defined = r"exercise 4 \(`cost`\) is not done yet: `C_never` is not defined"
    with pytest.raises(CheckError, match=not_defined), ng.checking(4, "cost"):
        check("C", C_never, 1.0)  # type: ignore[name-defined] # noqa: F821
    # a wrong answer is not "not done"
    with pytest.raises(CheckError, match="check 'C' failed"), ng.checking(4, "cost"):
        check("C", 2.0, 1.0)
    with pytest.raises(ZeroDivisionError), ng.checking(4, "cost"):  # other errors pass through
        raise ZeroDivisionError
    with pytest.raises(ValueError, match="number"), ng.checking(0, "cost"):
        pass


def test_a_flipped_sign_and_other_factors_are_recognised(grads):
    _, _, expected = grads
    assert "sign is flipped" in _fail("dW", -expected, expected).hint
    assert "0.37 ×" in _fail("dW", 0.37 * expected, expected).hint
    assert "−1 ×" in _fail("dW", -expected, expected, factors={"N": 5}).hint
    assert "flipped sign and a constant factor" in _fail("dW", -3.3 * expected, expected).hint
    assert _fail("C", 0.37, 1.0).hint is None  # one number is always a multiple of another
    assert "missing 1/4" in _fail("C", 4.0, 1.0).hint


def test_a_known_wrong_answer_gives_its_own_hint():
    rng = np.random.default_rng(1)
    z = rng.standard_normal(20)
    true_d = (z >= 0).astype(float)
    ad = 1 / (1 + np.exp(-3.5 * z))
    hints = {"the true derivative f′(z) instead of the artificial derivative": true_d}
    err = _fail("d", true_d, ad, hints=hints)
    assert err.hint == "the true derivative f′(z) instead of the artificial derivative"
    assert "hint: the true derivative" in str(err)
    assert _fail("d", ad * 0.9 + 0.05, ad, hints=hints).hint is None  # no recognisable cause


def test_a_rotated_kernel_is_recognised():
    kernel = np.arange(18.0).reshape(2, 3, 3)
    assert "rotated by 180°" in _fail("dW", kernel[:, ::-1, ::-1], kernel).hint


def test_a_reversed_list_is_recognised():
    values = np.array([1e-8, 1e-6, 1e-4, 1e-2])
    assert "reverse order" in _fail("rms per layer", values[::-1], values).hint


def test_zeros_none_nan_and_non_numbers_are_explained():
    expected = np.array([1.0, 2.0])
    assert "all zeros" in _fail("v", np.zeros(2), expected).hint
    assert "is None" in str(_fail("v", None, expected))
    err = _fail("v", np.array([1.0, np.nan]), expected)
    assert "1 of 2 entries are not finite" in str(err) and err.index == (1,)
    assert "should be numbers" in str(_fail("v", "abc", expected))
    assert "the values are right, only the shape differs" in _fail("v", expected[:, None], expected).hint


def test_float32_for_a_float64_check_is_pointed_out():
    expected = np.array([1.0 / 3.0, 2.0 / 3.0])
    err = _fail("p", (expected * (1 + 1e-6)).astype(np.float32), expected)  # float32 rounding, summed up
    assert "float32" in err.hint


def test_tolerances_apply_as_documented():
    assert check("v", [1.001], [1.0], rtol=1e-2) is None
    with pytest.raises(CheckError):
        check("v", [1.001], [1.0], rtol=1e-4)
    assert check("v", [1e-9], [0.0], atol=1e-8) is None
    err = _fail("v", [1e-9], [0.0])
    assert re.search(r"max\(\|yours\|, \|expected\|, 1e-05\)", str(err))
    # an exact check (atol = 0): equal entries pass, zeros included; any difference fails
    assert check("labels", np.array([0, 3, 0]), np.array([0, 3, 0]), rtol=1e-15, atol=0.0) is None
    err = _fail("labels", np.array([0.0, 3.0, 1e-300]), np.array([0.0, 3.0, 0.0]), rtol=1e-15, atol=0.0)
    assert err.index == (2,)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(name=""), "name must be a non-empty string"),
        (dict(rtol=0), "rtol must be a number in \\(0, 1\\)"),
        (dict(rtol=True), "rtol"),
        (dict(atol=-1.0), "atol must be a finite number"),
        (dict(hints=[1, 2]), "hints must be a mapping"),
        (dict(factors=[2]), "factors must be a mapping"),
        (dict(inputs=3), "inputs must be a mapping"),
        (dict(dtype="floaty"), "dtype must be a NumPy dtype"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, message):
    args = dict(name="v", yours=[1.0], expected=[1.0]) | kwargs
    with pytest.raises(ValueError, match=message):
        check(args.pop("name"), args.pop("yours"), args.pop("expected"), **args)
