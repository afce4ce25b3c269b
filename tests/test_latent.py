"""Latent-space helpers measure what they claim on constructed cases."""

from __future__ import annotations

import numpy as np
import pytest

from snippets.latent import (
    hole_fraction,
    nearest_code_distance,
    sample_bounding_box,
    sample_standard_normal,
)


def test_box_samples_stay_inside_the_box_of_the_codes():
    codes = np.array([[0.0, -1.0], [2.0, 3.0], [1.0, 0.0]])
    points = sample_bounding_box(codes, 1000, seed=0)
    assert points.shape == (1000, 2)
    assert np.all(points >= codes.min(axis=0)) and np.all(points <= codes.max(axis=0))


def test_standard_normal_samples_have_unit_moments():
    z = sample_standard_normal(100_000, 3, seed=0)
    assert np.allclose(z.mean(axis=0), 0.0, atol=0.02) and np.allclose(z.std(axis=0), 1.0, atol=0.02)


def test_nearest_code_distance_on_a_hand_computable_case():
    codes = np.array([[0.0, 0.0], [10.0, 0.0]])
    points = np.array([[3.0, 4.0], [10.0, 1.0]])
    assert np.allclose(nearest_code_distance(codes, points), [5.0, 1.0])


def test_holes_are_found_between_two_clusters_and_not_inside_them():
    rng = np.random.default_rng(0)
    clusters = np.concatenate([rng.normal(-5, 0.3, (300, 2)), rng.normal(5, 0.3, (300, 2))])
    inside = rng.normal(5, 0.3, (200, 2))
    between = np.zeros((50, 2))
    assert hole_fraction(clusters, inside) < 0.05
    assert hole_fraction(clusters, between) == 1.0


@pytest.mark.parametrize("quantile", [0.0, 1.0, 1.5])
def test_hole_fraction_rejects_a_quantile_outside_the_open_unit_interval(quantile):
    with pytest.raises(ValueError, match="quantile must lie in"):
        hole_fraction(np.zeros((3, 2)), np.zeros((1, 2)), quantile)


def test_mismatched_latent_dims_are_named():
    with pytest.raises(ValueError, match="points have latent_dim 3 but codes have 2"):
        nearest_code_distance(np.zeros((2, 2)), np.zeros((1, 3)))
