"""Comparing two methods run with the same seeds: the paired difference, and the word for it.

A conclusion such as "A's error is lower than B's" is drawn from several runs, one per
seed, in which A and B saw the same data. The difference per seed, averaged, with its
standard error across seeds, says how far apart they are and how sure we are; the
sentence of the chapter then takes its verb from that difference, not from the writer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

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
    estimate: MeanWithError, *, below: str, above: str, level: str, reference: float = 0.0, confidence: float = 0.95
) -> str:
    """``below`` or ``above`` when the ``confidence`` interval of ``estimate`` lies wholly under or
    over ``reference``, else ``level``.

    The interval is ``mean +- t * standard_error`` with Student's ``t`` quantile
    for ``estimate.n - 1`` degrees of freedom (a handful of seeds needs a wide
    one: ``t = 4.30`` for three at 95 %); one run says nothing about the spread,
    so it always gives ``level``. With ``reference = 0`` and a paired difference
    this is "A is lower / higher than B"; with ``reference = 0.5`` and a ROC-AUC
    it says whether a detector beats chance.
    """
    confidence = check_number(confidence, "confidence", low=0.0, high=1.0, low_open=True, high_open=True)
    if estimate.n < 2:
        return level
    half_width = float(stats.t.ppf(0.5 + confidence / 2, estimate.n - 1)) * estimate.standard_error
    offset = estimate.mean - check_number(reference, "reference")
    if offset < -half_width:
        return below
    if offset > half_width:
        return above
    return level
