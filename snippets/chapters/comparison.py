"""Comparing two methods run with the same seeds: the paired difference, and the word for it.

A conclusion such as "A's error is lower than B's" is drawn from several runs, one per
seed, in which A and B saw the same data. The difference per seed, averaged, with its
standard error across seeds, says how far apart they are and how sure we are; the
sentence of the chapter then takes its verb from that difference, not from the writer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from snippets.evaluation import MeanWithError, mean_and_standard_error
from snippets.validation import check_number


def paired_difference(a: Sequence[float], b: Sequence[float]) -> MeanWithError:
    """``mean_i (a_i - b_i)`` over runs ``i`` and its standard error: ``a`` and ``b`` are ``(n_runs,)``.

    Pairing removes what the runs share (the seed's data split, its corruption
    draws), so the error is that of the difference itself.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a and b must be (n_runs,) results of the same runs, got shapes {a.shape} and {b.shape}")
    return mean_and_standard_error(a - b)


def direction(
    estimate: MeanWithError, *, below: str, above: str, level: str, reference: float = 0.0, margin: float = 2.0
) -> str:
    """``below`` if ``estimate.mean`` lies more than ``margin`` standard errors under ``reference``,
    ``above`` if that far over it, else ``level``; with one run (no error) any difference counts.

    With ``reference = 0`` and a paired difference this is the verdict "A is lower / higher than B";
    with ``reference = 0.5`` and a ROC-AUC it says whether a detector beats chance.
    """
    margin = check_number(margin, "margin", low=0.0)
    offset = estimate.mean - check_number(reference, "reference")
    threshold = margin * estimate.standard_error
    if offset < -threshold and offset != 0.0:
        return below
    if offset > threshold and offset != 0.0:
        return above
    return level
