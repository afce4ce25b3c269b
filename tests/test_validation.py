"""Bad input fails early, naming the argument and what was expected."""

from __future__ import annotations

import numpy as np
import pytest

from snippets.profile import ExecutionProfile, current_profile
from snippets.validation import check_images, check_positive_int


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


def test_profile_defaults_to_full_and_picks_sizes(monkeypatch):
    monkeypatch.delenv("VAE_BOOK_PROFILE", raising=False)
    assert current_profile().pick(quick=3, full=30) == 30
    monkeypatch.setenv("VAE_BOOK_PROFILE", "quick")
    assert current_profile().pick(quick=3, full=30) == 3


def test_unknown_profile_is_rejected(monkeypatch):
    monkeypatch.setenv("VAE_BOOK_PROFILE", "fast")
    with pytest.raises(ValueError, match="VAE_BOOK_PROFILE must be one of"):
        current_profile()
    with pytest.raises(ValueError, match="profile name must be one of"):
        ExecutionProfile("medium")
