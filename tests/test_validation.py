"""Bad input fails early, naming the argument and what was expected."""

from __future__ import annotations

import numpy as np
import pytest

from snippets.validation import check_array, check_images, check_number, check_positive_int


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.zeros((0, 784)), r"x is empty"),
        (np.full((2, 784), 255.0), r"x must hold pixel intensities in \[0, 1\].*divide by 255"),
        (np.full((2, 784), -0.1), r"x must hold pixel intensities in \[0, 1\]"),
        (np.array([[0.1, np.nan]]), r"x contains 1 NaN or infinite"),
        (np.array([["a", "b"]]), r"x must be a numeric array"),
    ],
)
def test_bad_pixels_raise_a_clear_error(x, message):
    with pytest.raises((ValueError, TypeError), match=message):
        check_images(x)


def test_wrong_per_example_shape_names_both_shapes():
    with pytest.raises(ValueError, match=r"per-example shape \(28, 28\).*expects \(784,\)"):
        check_images(np.zeros((3, 28, 28)), "x", (784,))


def test_good_images_pass_through_unchanged():
    x = np.linspace(0, 1, 784 * 2).reshape(2, 784)
    assert check_images(x, "x", (None,)) is not None


@pytest.mark.parametrize("value", [0, -3, 1.5, "4", True])
def test_positive_int_rejects_non_positive_or_non_integers(value):
    with pytest.raises((ValueError, TypeError), match="latent_dim must be an integer >= 1"):
        check_positive_int(value, "latent_dim")


@pytest.mark.parametrize(
    ("kwargs", "value", "message"),
    [
        (dict(low=0.0), -1.0, r"beta must be a finite number in \[0, inf\), got -1.0"),
        (dict(low=0.0, high=1.0, high_open=True), 1.0, r"beta must be a finite number in \[0, 1\), got 1.0"),
        (dict(low=0.0, low_open=True), 0, r"beta must be a finite number in \(0, inf\), got 0"),
        (dict(), float("nan"), r"beta must be a finite number in \(-inf, inf\)"),
    ],
)
def test_check_number_states_the_interval_it_wanted(kwargs, value, message):
    with pytest.raises(ValueError, match=message):
        check_number(value, "beta", **kwargs)


def test_check_number_returns_floats_inside_the_interval_and_rejects_non_numbers():
    assert check_number(1, "rate", low=0.0, high=1.0) == 1.0 and isinstance(check_number(1, "rate"), float)
    with pytest.raises(TypeError, match="rate must be a number, got '0.5'"):
        check_number("0.5", "rate")
    with pytest.raises(TypeError, match="rate must be a number, got True"):
        check_number(True, "rate")


def test_check_array_checks_range_integrality_and_shape():
    counts = check_array([[0, 2, 5]], "counts", (3,), low=0, integer=True)
    assert counts.shape == (1, 3)
    with pytest.raises(ValueError, match=r"counts must hold values in \[0, inf\], got values in \[-1, 0\]"):
        check_array([[-1, 0]], "counts", low=0)
    with pytest.raises(ValueError, match="tokens must hold whole numbers"):
        check_array([[0.5]], "tokens", integer=True)
    with pytest.raises(ValueError, match=r"x has per-example shape \(784,\).*layout='image'"):
        check_array(np.zeros((2, 784)), "x", (28, 28, 1))
