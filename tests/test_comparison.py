"""Paired differences over seeds and the word a chapter's sentence takes from them."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from snippets.chapters.comparison import (
    UNSETTLED,
    budget_check,
    budget_checked_direction,
    compare_over_seeds,
    detectable_difference,
    direction,
    independent_errors,
    paired_difference,
    student_interval,
    unpaired_difference,
    verdict_numbers,
)
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


def test_an_unpaired_difference_adds_the_two_errors_and_uses_welchs_degrees_of_freedom():
    rng = np.random.default_rng(2)
    a, b = rng.normal(1.0, 1.0, size=40), rng.normal(0.0, 3.0, size=10)
    difference = unpaired_difference(a, b)
    result = stats.ttest_ind(a, b, equal_var=False)
    assert difference.mean == pytest.approx(a.mean() - b.mean())
    assert difference.mean / difference.standard_error == pytest.approx(result.statistic)
    assert difference.n - 1 == int(result.df)
    with pytest.raises(ValueError, match="a and b must be 1-D samples of at least two values"):
        unpaired_difference([1.0], [1.0, 2.0])


def test_independent_errors_add_in_quadrature_and_a_dominant_well_measured_part_sets_the_degrees_of_freedom():
    few_runs, many_users = MeanWithError(0.0, 0.01, 3), MeanWithError(0.0, 0.1, 1000)
    combined = independent_errors(0.5, [few_runs, many_users])
    assert combined.mean == 0.5 and combined.standard_error == pytest.approx(np.hypot(0.01, 0.1))
    assert combined.n > 900  # the users' error dominates, and it rests on a thousand values
    assert independent_errors(0.5, [MeanWithError(0.0, 0.1, 3), MeanWithError(0.0, 0.001, 1000)]).n == 3
    assert independent_errors(0.5, [MeanWithError(0.0, 0.0, 1), many_users]).n == many_users.n
    assert independent_errors(0.5, [MeanWithError(0.0, 0.0, 3), MeanWithError(0.0, 0.0, 4)]) == MeanWithError(0.5, 0.0, 6)


def test_unpaired_samples_two_standard_errors_apart_are_level_and_five_apart_are_not():
    base = np.tile([-1.0, 1.0], 50)  # mean 0, standard error about 0.1 per sample
    near, far = unpaired_difference(base + 0.2, base), unpaired_difference(base + 0.8, base)
    assert direction(near, below="-", above="+", level="=") == "="
    assert direction(far, below="-", above="+", level="=") == "+"


def test_verdict_numbers_are_the_mean_error_detectable_difference_and_word_of_one_estimate():
    estimate = MeanWithError(-1.0, 0.1, 3)
    numbers = verdict_numbers(estimate, below="lower", above="higher", level="level")
    assert numbers == {"": -1.0, "_se": 0.1, "_detectable": pytest.approx(detectable_difference(estimate)),
                       "_word": "lower"}
    assert verdict_numbers(MeanWithError(0.1, 0.1, 3), below="-", above="+", level="=")["_word"] == "="


class _History:
    def __init__(self, seed):
        self.history = {"loss": [float(seed)]}


def test_every_arm_runs_with_every_seed_and_the_first_seed_is_kept():
    calls = []

    def fit(arm, seed, first):
        calls.append((arm, seed, first))
        return (arm, seed), _History(seed)

    comparison = compare_over_seeds(fit, lambda arm, model: {"loss": 10.0 * model[1] + arm}, [1, 2], [5, 3, 4])
    assert sorted(calls) == sorted((arm, seed, seed == 5) for arm in (1, 2) for seed in (5, 3, 4))
    assert np.array_equal(comparison.scores[2]["loss"], [52.0, 32.0, 42.0])
    assert comparison.models == {1: (1, 5), 2: (2, 5)} and comparison.histories[1] == {"loss": [5.0]}
    difference = comparison.difference(2, 1, "loss")
    assert difference.mean == pytest.approx(1.0) and difference.standard_error == pytest.approx(0.0)
    assert comparison.summary(1, "loss").mean == pytest.approx(41.0)


def test_an_arm_run_with_fewer_seeds_pairs_with_the_others_on_the_seeds_it_shares():
    calls = []

    def fit(arm, seed, first):
        calls.append((arm, seed, first))
        return (arm, seed), _History(seed)

    def score(arm, model):
        return {"loss": 10.0 * model[1] + (5.0 if model == ("costly", 3) else 0.0)}

    comparison = compare_over_seeds(
        fit, score, [0, "costly"], [5, 3, 4], arm_seeds={"costly": [4, 3]}
    )
    assert sorted(calls, key=str) == sorted(
        [(0, 5, True), (0, 3, False), (0, 4, False),
         ("costly", 3, True), ("costly", 4, False)], key=str)
    # The subset keeps the order of seeds, whatever order it was given in.
    assert comparison.seeds_of("costly") == (3, 4) and comparison.seeds_of(0) == (5, 3, 4)
    assert np.array_equal(comparison.scores["costly"]["loss"], [35.0, 40.0])
    assert comparison.models["costly"] == ("costly", 3)
    # costly minus arm 0 on seeds 3 and 4 only: differences 5 and 0.
    difference = comparison.difference("costly", 0, "loss")
    assert difference.n == 2 and difference.mean == pytest.approx(2.5)
    assert comparison.difference(0, "costly", "loss").mean == pytest.approx(-2.5)


def test_arms_without_a_shared_seed_cannot_be_paired():
    comparison = compare_over_seeds(
        lambda arm, seed, first: ((arm, seed), _History(seed)),
        lambda arm, model: {"loss": float(model[1])}, ["a", "b"], [0, 1],
        arm_seeds={"a": [0], "b": [1]})
    with pytest.raises(ValueError, match="'a' and 'b' share no seed"):
        comparison.difference("a", "b", "loss")


@pytest.mark.parametrize(
    "arm_seeds, message",
    [({"other": [5]}, "not one of"), ({1: [6]}, "subset of seeds"), ({1: []}, "seeds"),
     ([(1, [5])], "arm_seeds must map")],
)
def test_bad_arm_seeds_are_named(arm_seeds, message):
    with pytest.raises(ValueError, match=message):
        compare_over_seeds(
            lambda arm, seed, first: None, lambda arm, model: {}, [1], [5], arm_seeds
        )


@pytest.mark.parametrize("seeds", [[], [0, 0], [-1], [True]])
def test_bad_seeds_are_named(seeds):
    with pytest.raises(ValueError, match="seeds"):
        compare_over_seeds(lambda arm, seed, first: None, lambda arm, model: {}, [2], seeds)


def test_student_interval_is_where_direction_calls_a_reference_level():
    estimate = MeanWithError(mean=1.0, standard_error=0.1, n=3)
    low, high = student_interval(estimate)
    assert high - 1.0 == pytest.approx(1.0 - low) == pytest.approx(0.4303, abs=1e-3)
    words = dict(below="below", above="above", level="level")
    assert direction(estimate, reference=high - 1e-6, **words) == "level"
    assert direction(estimate, reference=high + 1e-6, **words) == "below"
    assert direction(estimate, reference=low - 1e-6, **words) == "above"
    assert student_interval(MeanWithError(mean=1.0, standard_error=0.0, n=1)) == (-np.inf, np.inf)


def test_a_difference_smaller_than_the_detectable_one_is_called_level_and_a_larger_one_is_not():
    # Three seeds with a spread of 1.1: t = 4.30, so nothing under 4.7 can be told from zero.
    spread = MeanWithError(mean=0.0, standard_error=1.1, n=3)
    smallest = detectable_difference(spread)
    assert smallest == pytest.approx(stats.t.ppf(0.975, 2) * 1.1)
    words = dict(below="lower", above="higher", level="level")
    assert direction(MeanWithError(-0.99 * smallest, 1.1, 3), **words) == "level"
    assert direction(MeanWithError(-1.01 * smallest, 1.1, 3), **words) == "lower"


def test_more_seeds_detect_smaller_differences_and_one_run_detects_none():
    assert detectable_difference(MeanWithError(0.0, 1.0, 10)) < detectable_difference(MeanWithError(0.0, 1.0, 3))
    assert detectable_difference(MeanWithError(0.0, 1.0, 1)) == float("inf")


@pytest.mark.parametrize("base, doubled, word", [
    (-3.0, -1.5, "keeps its sign"),
    (2.0, 7.0, "keeps its sign"),
    (-3.0, 0.5, "changes sign"),
    (4.0, -0.1, "changes sign"),
    # A count that does not change at one budget has no sign to keep.
    (-5.0, 0.0, "is zero at one budget"),
    (0.0, 0.0, "is zero at both budgets"),
])
def test_a_budget_check_says_whether_doubling_training_keeps_the_ranking(base, doubled, word):
    assert budget_check(base, doubled) == {"_base": base, "_doubled": doubled, "_word": word}


WORDS = dict(below="lower", above="higher", level="level with")
CLEARLY_HIGHER = MeanWithError(mean=5.0, standard_error=0.5, n=5)
LEVEL = MeanWithError(mean=0.5, standard_error=1.0, n=5)


@pytest.mark.parametrize("estimate, check, word", [
    # a clear verdict that the doubled run shares stands as it is
    (CLEARLY_HIGHER, budget_check(4.0, 6.0), "higher"),
    # one that the doubled run does not share belongs to the training length, and says so
    (CLEARLY_HIGHER, budget_check(4.0, -1.0), "higher" + UNSETTLED),
    (CLEARLY_HIGHER, budget_check(4.0, 0.0), "higher" + UNSETTLED),
    # what counts is the doubled run's side of zero, not whether the first seed turned
    (CLEARLY_HIGHER, budget_check(-0.4, 1.0), "higher"),
    (CLEARLY_HIGHER, budget_check(-0.4, -0.8), "higher" + UNSETTLED),
    (MeanWithError(mean=-5.0, standard_error=0.5, n=5), budget_check(-1.0, -2.0), "lower"),
    # a level verdict allows a difference that turns
    (LEVEL, budget_check(1.0, -1.0), "level with"),
])
def test_a_clear_verdict_that_turns_when_training_doubles_is_marked(estimate, check, word):
    assert budget_checked_direction(estimate, check, **WORDS) == word


@pytest.mark.parametrize("check", [{}, {"_doubled": "x"}, None, {"_doubled": True}])
def test_a_budget_checked_verdict_names_a_bad_check(check):
    with pytest.raises(ValueError, match="check must be the result of budget_check"):
        budget_checked_direction(CLEARLY_HIGHER, check, **WORDS)


@pytest.mark.parametrize("arguments, name", [
    ((float("nan"), 1.0), "at_budget"),
    ((1.0, "two"), "at_double_budget"),
])
def test_a_budget_check_names_a_bad_difference(arguments, name):
    with pytest.raises((TypeError, ValueError), match=name):
        budget_check(*arguments)
