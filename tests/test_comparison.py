"""Paired differences over seeds and the word a chapter's sentence takes from them."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from snippets.chapters.comparison import direction, paired_difference
from snippets.evaluation import MeanWithError


def test_pairing_removes_what_the_runs_share():
    """Two methods that differ by a constant on noisy seeds: the paired error is zero, the spread is not."""
    shared = np.random.default_rng(0).normal(size=8) * 10
    difference = paired_difference(shared + 1.5, shared)
    assert difference.mean == pytest.approx(1.5) and difference.standard_error == pytest.approx(0.0, abs=1e-12)
    assert difference.n == 8


@pytest.mark.parametrize(
    ("mean", "error", "n", "word"),
    [(-1.0, 0.1, 3, "lower"), (1.0, 0.1, 3, "higher"), (0.4, 0.1, 3, "level"), (0.4, 0.1, 30, "higher"),
     (0.25, 0.1, 5, "level"), (0.3, 0.1, 5, "higher"), (5.0, 0.0, 1, "level"), (0.2, 0.0, 2, "higher")],
)
def test_a_verdict_needs_the_t_interval_of_the_runs_to_exclude_zero(mean, error, n, word):
    """t(0.975, 2) = 4.30, t(0.975, 4) = 2.78, t(0.975, 29) = 2.05; one run has no interval at all."""
    assert direction(MeanWithError(mean, error, n), below="lower", above="higher", level="level") == word


def test_the_interval_covers_the_true_difference_as_often_as_it_claims():
    """Over many experiments of three noisy runs each, a false verdict appears in about 5 % of them."""
    rng = np.random.default_rng(1)
    words = [direction(paired_difference(rng.normal(size=3), np.zeros(3)), below="-", above="+", level="=")
             for _ in range(4000)]
    assert 0.035 < np.mean([word != "=" for word in words]) < 0.065
    assert stats.t.ppf(0.975, 2) == pytest.approx(4.303, abs=1e-3)


def test_results_of_different_runs_cannot_be_paired():
    with pytest.raises(ValueError, match=r"a and b must be \(n_runs,\) results of the same runs"):
        paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="confidence"):
        direction(MeanWithError(0.0, 1.0, 3), below="a", above="b", level="c", confidence=1.0)
