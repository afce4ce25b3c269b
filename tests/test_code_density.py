"""A mixture fitted to codes draws new codes where the codes are, not in the gaps between them."""

from __future__ import annotations

import numpy as np
import pytest

from snippets.chapters.code_density import sample_fitted_code_density
from snippets.chapters.latent import hole_fraction, sample_bounding_box


def ring_codes(n: int, seed: int) -> np.ndarray:
    """Codes on a thin ring of radius 3: a shape whose bounding box is mostly empty."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0.0, 2.0 * np.pi, n)
    radius = 3.0 + 0.05 * rng.standard_normal(n)
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)


def test_draws_from_the_fitted_density_fall_in_far_fewer_holes_than_box_draws():
    codes = ring_codes(2_000, seed=0)
    fitted = sample_fitted_code_density(codes, n=1_000, seed=1)
    box = sample_bounding_box(codes, n=1_000, seed=1)
    assert fitted.shape == (1_000, 2)
    assert hole_fraction(codes, fitted) < 0.25 < 0.75 < hole_fraction(codes, box)


def test_draws_are_reproducible_and_mixed_across_components():
    codes = ring_codes(500, seed=2)
    first, again = sample_fitted_code_density(codes, n=200, seed=3), sample_fitted_code_density(codes, n=200, seed=3)
    np.testing.assert_array_equal(first, again)
    # Sorted by component the first 50 draws would share one arc of the ring.
    angles = np.arctan2(first[:50, 1], first[:50, 0])
    assert np.ptp(angles) > np.pi


@pytest.mark.parametrize(
    "codes, kwargs, message",
    [
        (np.zeros((5, 2)), {"n": 3}, "n_components = 10"),
        (np.zeros(20), {"n": 3}, "codes must have shape"),
        (np.full((20, 2), np.nan), {"n": 3}, "finite"),
        (np.zeros((20, 2)), {"n": 0}, "n"),
        (np.zeros((20, 2)), {"n": 3, "n_components": 0}, "n_components"),
    ],
)
def test_bad_input_is_rejected_naming_the_argument(codes, kwargs, message):
    with pytest.raises(ValueError, match=message):
        sample_fitted_code_density(codes, **kwargs)
