"""Comparing two methods run with the same seeds: the paired difference, and the word
for it.

A conclusion such as "A's error is lower than B's" is drawn from several runs, one per
seed, in which A and B saw the same data. The difference per seed, averaged, with its
standard error across seeds, says how far apart they are and how sure we are; the
sentence of the chapter then takes its verb from that difference, not from the writer.
:func:`compare_over_seeds` runs such an experiment: every arm with every seed, or a
costly arm with a subset of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
from scipy import stats

from snippets.evaluation import MeanWithError, mean_and_standard_error
from snippets.validation import check_number


def paired_difference(a: Sequence[float], b: Sequence[float]) -> MeanWithError:
    """``mean_i (a_i - b_i)`` over runs ``i`` and its standard error: ``a`` and ``b``
    are ``(n_runs,)``.

    Pairing removes what the runs share (the seed's data split, its corruption
    draws), so the error is that of the difference itself.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(
            "a and b must be (n_runs,) results of the same runs, got shapes "
            f"{a.shape} and {b.shape}"
        )
    return mean_and_standard_error(a - b)


def independent_errors(mean: float, parts: Sequence[MeanWithError]) -> MeanWithError:
    """``mean`` with the error of independent sources of spread added:
    ``sqrt(sum_j se_j^2)``.

    Each part is a standard error ``se_j`` estimated from ``n_j`` values. The
    result's ``n`` is one more than the Welch-Satterthwaite degrees of freedom
    ``(sum_j se_j^2)^2 / sum_j (se_j^4 / (n_j - 1))``, rounded down, so that
    :func:`direction` and :func:`detectable_difference` use Student's ``t`` for
    them: a large, well-measured part dominates both the error and the degrees of
    freedom. Parts from fewer than two values carry no spread and are skipped;
    with no spread at all ``n`` is the values counted, less one.
    """
    spread = [(part.standard_error**2, part.n) for part in parts if part.n >= 2]
    variance = sum(part_variance for part_variance, _ in spread)
    if variance == 0.0:
        return MeanWithError(
            float(mean), 0.0, max(sum(part.n for part in parts) - 1, 1)
        )
    degrees = variance**2 / sum(
        part_variance**2 / (n - 1) for part_variance, n in spread if part_variance > 0
    )
    return MeanWithError(float(mean), math.sqrt(variance), int(degrees + 1e-9) + 1)


def unpaired_difference(a: Sequence[float], b: Sequence[float]) -> MeanWithError:
    """``mean(a) - mean(b)`` for two independent samples ``a`` ``(n_a,)`` and ``b``
    ``(n_b,)``, with its standard error.

    The error is ``sqrt(se_a^2 + se_b^2)`` with Welch's degrees of freedom
    (:func:`independent_errors`). Use it where the two means come from different
    examples, such as a model's loss on its training digits and on test digits.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or b.ndim != 1 or len(a) < 2 or len(b) < 2:
        raise ValueError(
            "a and b must be 1-D samples of at least two values, got shapes "
            f"{a.shape} and {b.shape}"
        )
    first, second = mean_and_standard_error(a), mean_and_standard_error(b)
    return independent_errors(first.mean - second.mean, [first, second])


def direction(
    estimate: MeanWithError,
    *,
    below: str,
    above: str,
    level: str,
    reference: float = 0.0,
    confidence: float = 0.95,
) -> str:
    """``below`` or ``above`` when the ``confidence`` interval of ``estimate`` lies
    wholly under or over ``reference``, else ``level``.

    The interval is ``mean +- t * standard_error`` with Student's ``t`` quantile
    for ``estimate.n - 1`` degrees of freedom (a handful of seeds needs a wide
    one: ``t = 4.30`` for three at 95 %); one run says nothing about the spread,
    so it always gives ``level``. With ``reference = 0`` and a paired difference
    this is "A is lower / higher than B"; with ``reference = 0.5`` and a ROC-AUC
    it says whether a detector beats chance.
    """
    low, high = student_interval(estimate, confidence)
    reference = check_number(reference, "reference")
    if high < reference:
        return below
    if low > reference:
        return above
    return level


@dataclass(frozen=True)
class SeedComparison:
    """Held-out scores of several arms (models that differ in one choice), one run per
    arm and seed.

    ``scores[arm][name]`` is ``(n,)``, one value per seed of :meth:`seeds_of`, in
    order: every arm ran with all of ``seeds`` unless ``arm_seeds`` names a subset for
    it (an arm too costly to run as often). Arms pair up seed by seed on the seeds they
    share. ``models`` and ``histories`` (Keras ``History.history`` dicts) keep each
    arm's first run only, for figures.
    """

    seeds: tuple[int, ...]
    scores: dict[Hashable, dict[str, np.ndarray]]
    models: dict[Hashable, Any]
    histories: dict[Hashable, dict[str, list[float]]]
    arm_seeds: Mapping[Hashable, tuple[int, ...]] = field(default_factory=dict)

    def seeds_of(self, arm: Hashable) -> tuple[int, ...]:
        """The seeds ``arm`` ran with, in the order of its scores."""
        return self.arm_seeds.get(arm, self.seeds)

    def summary(self, arm: Hashable, name: str) -> MeanWithError:
        """Mean of score ``name`` of ``arm`` over its seeds, with its standard error."""
        return mean_and_standard_error(self.scores[arm][name])

    def difference(self, arm: Hashable, baseline: Hashable, name: str) -> MeanWithError:
        """``arm`` minus ``baseline`` in score ``name``, paired on the seeds both ran
        with, and its standard error."""
        shared = [s for s in self.seeds_of(arm) if s in self.seeds_of(baseline)]
        if not shared:
            raise ValueError(
                f"arms {arm!r} and {baseline!r} share no seed, so they cannot be paired"
            )
        a, b = (
            self.scores[side][name][[self.seeds_of(side).index(s) for s in shared]]
            for side in (arm, baseline)
        )
        return paired_difference(a, b)


def student_interval(
    estimate: MeanWithError, confidence: float = 0.95
) -> tuple[float, float]:
    """The ``confidence`` interval ``mean +- t * standard_error`` of a mean over
    ``estimate.n`` runs.

    ``t`` is Student's quantile for ``n - 1`` degrees of freedom, the interval
    :func:`snippets.chapters.comparison.direction` tests against its reference;
    one run gives no spread, so its interval is the whole line.
    """
    confidence = check_number(
        confidence, "confidence", low=0.0, high=1.0, low_open=True, high_open=True
    )
    if estimate.n < 2:
        return -math.inf, math.inf
    half_width = (
        float(stats.t.ppf(0.5 + confidence / 2, estimate.n - 1))
        * estimate.standard_error
    )
    return estimate.mean - half_width, estimate.mean + half_width


def detectable_difference(estimate: MeanWithError, confidence: float = 0.95) -> float:
    """The smallest measured difference the experiment behind ``estimate`` would call
    non-zero.

    It is the half-width ``t * standard_error`` of :func:`student_interval`: a
    measured difference inside it gets the verdict "level", so a null result is
    stated with it. It is a threshold, not a guarantee: a true difference of
    exactly this size is called clear only about half the time, and about
    ``(t + 0.84) * standard_error`` is needed to be called clear in four runs
    of five. With three seeds ``t = 4.30``, so a spread of 1.1 makes 4.7 the
    threshold; more seeds shrink both factors. One run detects nothing (``inf``).
    """
    low, high = student_interval(estimate, confidence)
    return (high - low) / 2


def verdict_numbers(
    estimate: MeanWithError,
    *,
    below: str,
    above: str,
    level: str,
    confidence: float = 0.95,
) -> dict[str, float | str]:
    """What a sentence about a difference quotes, keyed by the suffix of its glue name.

    ``""``: the mean; ``"_se"``: its standard error; ``"_detectable"``: the
    :func:`detectable_difference`, which a "level" verdict states; ``"_word"``: the
    :func:`direction` word (``below``, ``above`` or ``level``) at ``confidence``.
    A chapter glues ``f"{name}{suffix}"`` for each, so every verdict sentence reads
    the same four numbers.
    """
    return {
        "": float(estimate.mean),
        "_se": float(estimate.standard_error),
        "_detectable": detectable_difference(estimate, confidence),
        "_word": direction(
            estimate, below=below, above=above, level=level, confidence=confidence
        ),
    }


def budget_check(at_budget: float, at_double_budget: float) -> dict[str, float | str]:
    """One seed's paired difference at a chapter's budget and at twice it, keyed by
    the suffix of its glue name.

    ``"_base"`` and ``"_doubled"`` are the two differences (the same arms, the same
    seed); ``"_word"`` is ``"keeps its sign"`` when both lie on the same side of zero,
    ``"changes sign"`` when they lie on opposite sides, and ``"is zero at one budget"``
    or ``"is zero at both budgets"`` for a difference of exactly zero (a count, say).
    A ranking that changes sign when training is doubled belongs to the training
    length, not to the models. One seed speaks to the direction only: how much the
    difference moved is not resolved by it.
    """
    base = check_number(at_budget, "at_budget")
    doubled = check_number(at_double_budget, "at_double_budget")
    if base == 0.0 or doubled == 0.0:
        word = "is zero at both budgets" if base == doubled else "is zero at one budget"
    else:
        word = "keeps its sign" if (base > 0) == (doubled > 0) else "changes sign"
    return {"_base": base, "_doubled": doubled, "_word": word}


UNSETTLED = " at this training length, but not when it doubles"


def budget_checked_direction(
    estimate: MeanWithError,
    check: Mapping[str, float | str],
    *,
    below: str,
    above: str,
    level: str,
    confidence: float = 0.95,
) -> str:
    """:func:`direction` of a paired difference over seeds, held to its
    :func:`budget_check`.

    A clear verdict (``below`` or ``above``) stands when the difference trained twice
    as long (``check["_doubled"]``, one seed) lies on the verdict's side of zero; else
    it gets :data:`UNSETTLED` appended: such a ranking belongs to the training length,
    not to the models. ``level`` needs no check.
    """
    doubled = check.get("_doubled") if isinstance(check, Mapping) else None
    if isinstance(doubled, bool) or not isinstance(doubled, (int, float)):
        raise ValueError(
            "check must be the result of budget_check, with a number under "
            f"'_doubled'; got {check!r}"
        )
    word = direction(
        estimate, below=below, above=above, level=level, confidence=confidence
    )
    if word == level or (doubled < 0 if word == below else doubled > 0):
        return word
    return word + UNSETTLED


def _check_seeds(seeds: Sequence[int]) -> tuple[int, ...]:
    seeds = tuple(seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(
            f"seeds must be a non-empty sequence of distinct integers, got {seeds}"
        )
    for seed in seeds:
        if (
            isinstance(seed, bool)
            or not isinstance(seed, (int, np.integer))
            or seed < 0
        ):
            raise ValueError(f"seeds must be non-negative integers, got {seed!r}")
    return tuple(int(seed) for seed in seeds)


def compare_over_seeds(
    fit: Callable[[Hashable, int, bool], tuple[Any, keras.callbacks.History]],
    score: Callable[[Hashable, Any], Mapping[str, float]],
    arms: Sequence[Hashable],
    seeds: Sequence[int],
    arm_seeds: Mapping[Hashable, Sequence[int]] | None = None,
) -> SeedComparison:
    """Train and score every arm with every seed: ``len(arms) * len(seeds)`` runs,
    fewer where ``arm_seeds`` gives an arm a subset of ``seeds``.

    ``fit(arm, seed, first)`` returns ``(model, history)``; ``first`` is true for
    the arm's first seed, whose runs are kept (it may, say, track validation curves,
    which the others need not pay for). ``score(arm, model)`` returns named
    held-out numbers. Models of later seeds are dropped once scored, so memory
    holds one run per arm beyond the first seed's.
    """
    seeds, arms = _check_seeds(seeds), tuple(arms)
    if not arms:
        raise ValueError("arms must name at least one model to train")
    subsets = _check_arm_seeds(arm_seeds or {}, arms, seeds)
    scores: dict[Hashable, dict[str, list[float]]] = {arm: {} for arm in arms}
    models, histories = {}, {}
    for seed in seeds:
        for arm in arms:
            own_seeds = subsets.get(arm, seeds)
            if seed not in own_seeds:
                continue
            first = seed == own_seeds[0]
            model, history = fit(arm, seed, first)
            for name, value in score(arm, model).items():
                scores[arm].setdefault(name, []).append(float(value))
            if first:
                models[arm], histories[arm] = model, dict(history.history)
    arrays = {
        arm: {name: np.asarray(values) for name, values in named.items()}
        for arm, named in scores.items()
    }
    return SeedComparison(seeds, arrays, models, histories, subsets)


def _check_arm_seeds(
    arm_seeds: Mapping[Hashable, Sequence[int]],
    arms: tuple[Hashable, ...],
    seeds: tuple[int, ...],
) -> dict[Hashable, tuple[int, ...]]:
    if not isinstance(arm_seeds, Mapping):
        raise ValueError(
            "arm_seeds must map arms to subsets of seeds, got "
            f"{type(arm_seeds).__name__}"
        )
    subsets = {}
    for arm, subset in arm_seeds.items():
        if arm not in arms:
            raise ValueError(f"arm_seeds names {arm!r}, which is not one of {arms}")
        subset = _check_seeds(subset)
        if not set(subset) <= set(seeds):
            raise ValueError(
                f"arm_seeds[{arm!r}] must be a subset of seeds {seeds}, got {subset}"
            )
        subsets[arm] = tuple(s for s in seeds if s in subset)
    return subsets
