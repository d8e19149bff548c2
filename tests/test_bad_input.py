"""Bad input at every public entry point: the error type, and a message that names the
argument or layer, what was expected and what was received (issue 12)."""

import numpy as np
import pytest

import nanograd_ad as ng
from nanograd_ad import activations

# ---------------------------------------------------------------- activations


def test_a_misspelt_activation_keyword_is_refused_naming_the_accepted_ones():
    with pytest.raises(TypeError, match=r"ReLU: unknown keyword 'kk'.*accepted.*\['k'\]"):
        ng.ReLU(derivative="ad", kk=3.5)
    with pytest.raises(TypeError, match=r"Sigmoid: unknown keyword 'k'.*accepted: none"):
        ng.Sigmoid(derivative="ad", k=3.5)


@pytest.mark.parametrize("value", ["3.5", None, True, [3.5]])
def test_a_wrongly_typed_activation_keyword_is_refused_at_construction(value):
    with pytest.raises(
        TypeError, match=r"ReLU: keyword k must be a real number .*got " + type(value).__name__
    ):
        ng.ReLU(derivative="ad", k=value)


def test_a_keyword_of_another_registered_derivative_is_kept_for_switching():
    act = ng.ReLU(k=3.5)  # "true" takes no k, "ad" does: the switching rule needs it later
    act.set_derivative("ad")
    z = np.array([-1.0, 1.0], dtype=np.float32)
    act.forward(z)
    np.testing.assert_allclose(act.backward(np.ones(2, np.float32)), activations.sigmoid(3.5 * z))


def test_numpy_scalar_keywords_are_plain_numbers():
    act = ng.ReLU(derivative="ad", k=np.float64(3.5))
    assert repr(act) == "ReLU(derivative='ad', k=3.5)"
    act.forward(np.ones(3, np.float32))
    assert act.backward(np.ones(3, np.float32)).dtype == np.float32  # k does not promote to float64


def test_an_unknown_derivative_type_is_refused():
    with pytest.raises(
        TypeError, match=r"ReLU: derivative must be a registered name .* or a callable.*got int"
    ):
        ng.ReLU(derivative=3)


def test_overwriting_a_registered_derivative_needs_replace():
    with pytest.raises(ValueError, match=r"'relu' already has a derivative 'true'.*replace=True"):
        ng.register_derivative("relu", "true", lambda: lambda z, a: z * 0)
    z = np.array([-1.0, 2.0], dtype=np.float32)
    act = ng.ReLU()
    act.forward(z)
    np.testing.assert_array_equal(act.backward(np.ones(2, np.float32)), [0, 1])  # untouched
    ng.register_derivative("relu", "test_replace", lambda: lambda z, a: z * 0 + 2)
    ng.register_derivative("relu", "test_replace", lambda: lambda z, a: z * 0 + 3, replace=True)
    act = ng.ReLU(derivative="test_replace")
    act.forward(z)
    np.testing.assert_array_equal(act.backward(np.ones(2, np.float32)), [3, 3])


def test_register_derivative_checks_its_arguments():
    with pytest.raises(TypeError, match=r"factory must be callable.*got str"):
        ng.register_derivative("relu", "bad", "sigmoid")
    with pytest.raises(TypeError, match=r"name must be a str, got int"):
        ng.register_derivative("relu", 3, lambda: lambda z, a: z)


@pytest.mark.parametrize("returned, kind", [(None, "NoneType"), ([1.0, 1.0], "list")])
def test_a_derivative_returning_no_array_is_refused_naming_the_layer(returned, kind):
    act = ng.Tanh(derivative=lambda z, a: returned)
    act.forward(np.zeros(2, np.float32))
    with pytest.raises(
        TypeError, match=rf"Tanh.*derivative .*returned {kind}, expected an array of shape \(2,\)"
    ):
        act.backward(np.ones(2, np.float32))
