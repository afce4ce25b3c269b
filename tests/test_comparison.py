"""Paired differences over seeds and the word a chapter's sentence takes from them."""

from __future__ import annotations

import numpy as np
import pytest

from snippets.chapters.comparison import direction, paired_difference
from snippets.evaluation import MeanWithError


def test_pairing_removes_what_the_runs_share():
    """Two methods that differ by a constant on noisy seeds: the paired error is zero, the spread is not."""
    shared = np.random.default_rng(0).normal(size=8) * 10
    difference = paired_difference(shared + 1.5, shared)
    assert difference.mean == pytest.approx(1.5) and difference.standard_error == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    ("mean", "error", "word"),
    [(-1.0, 0.1, "lower"), (1.0, 0.1, "higher"), (0.1, 0.1, "level"), (-0.15, 0.1, "level"), (-0.3, 0.1, "lower"),
     (0.0, 0.0, "level"), (0.2, 0.0, "higher")],
)
def test_direction_needs_the_difference_beyond_two_standard_errors(mean, error, word):
    assert direction(MeanWithError(mean, error), below="lower", above="higher", level="level") == word


def test_results_of_different_runs_cannot_be_paired():
    with pytest.raises(ValueError, match=r"a and b must be \(n_runs,\) results of the same runs"):
        paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="margin"):
        direction(MeanWithError(0.0, 1.0), below="a", above="b", level="c", margin=-1.0)
