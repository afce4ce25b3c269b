"""Anomaly detection: the metrics, the held-out split, the VAE and baseline scores, the
networks' early stopping and the whole protocol."""

from __future__ import annotations

import dataclasses
import itertools

import keras
import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy.special import logsumexp

from snippets.chapters.anomaly import (
    LEARNED_MODELS,
    METRICS,
    NETWORK_FREE_SCORES,
    SCORE_LABELS,
    SCORE_NAMES,
    VAE_SCORES,
    DetectionRow,
    HeldOutSplit,
    ProtocolResult,
    anomaly_scores,
    autoencoder_scores,
    average_precision,
    baseline_scores,
    check_digit,
    compare_scores,
    evaluate_score,
    false_alarm_spread,
    fit_autoencoder,
    fit_baselines,
    held_out_protocol,
    log_likelihood_of_draws,
    log_mean_exp,
    log_reconstruction_probability,
    log_weight_terms,
    not_above_chance,
    plot_metrics_per_digit,
    plot_score_histograms,
    plot_validation_curves,
    rates_at_threshold,
    roc_auc,
    simple_input_conclusion,
    split_out_digit,
    standard_normal_draws,
    stopping_statement,
    summary_table,
    unseen_digit_finding,
    validation_threshold,
    verdict,
    verdict_phrase,
)
from snippets.chapters.comparison import detectable_difference
from snippets.chapters.stopping import StoppingRule, TrainingRecord, hold_back
from snippets.data import binarize
from snippets.evaluation import (
    MeanWithError,
    log_weight_statistics,
    mean_and_standard_error,
)
from snippets.models import VAE, build_dense_decoder, build_dense_encoder


def small_vae(latent_dim: int = 2) -> VAE:
    return VAE(
        build_dense_encoder(hidden_units=(16,), latent_dim=latent_dim),
        build_dense_decoder(hidden_units=(16,), latent_dim=latent_dim),
        seed=0,
    )


@pytest.fixture(scope="module")
def protocol_run(mnist_small):
    return held_out_protocol(
        mnist_small,
        [1, 7],
        seeds=[0, 1],
        latent_dim=2,
        stopping=StoppingRule(max_epochs=3, patience=1),
        k=2,
        hidden_units=(16,),
        batch_size=100,
    )


# --- roc_auc and average_precision -------------------------------------------------


def test_auc_of_a_perfect_scorer_is_one_of_a_reversed_one_zero_and_of_a_constant_one_half():
    is_anomaly = np.array([False, True, False, True, False])
    perfect = np.where(is_anomaly, 2.0, 1.0) + np.arange(5) * 0.01
    assert roc_auc(perfect, is_anomaly) == 1.0
    assert roc_auc(-perfect, is_anomaly) == 0.0
    assert roc_auc(np.ones(5), is_anomaly) == 0.5


def test_auc_is_the_probability_that_an_anomaly_outscores_a_normal_example():
    rng = np.random.default_rng(0)
    scores, is_anomaly = rng.integers(0, 5, 60).astype(float), rng.random(60) < 0.3
    pairs = [
        (a > b) + 0.5 * (a == b)
        for a, b in itertools.product(scores[is_anomaly], scores[~is_anomaly])
    ]
    assert np.isclose(roc_auc(scores, is_anomaly), np.mean(pairs))
    assert roc_auc(scores, is_anomaly.astype(int)) == roc_auc(scores, is_anomaly)


def test_auc_is_unchanged_by_a_monotone_transform_of_the_scores():
    rng = np.random.default_rng(1)
    scores, is_anomaly = rng.standard_normal(50), rng.random(50) < 0.5
    assert np.isclose(
        roc_auc(np.exp(3 * scores) + 7, is_anomaly), roc_auc(scores, is_anomaly)
    )
    assert np.isclose(
        average_precision(np.exp(3 * scores) + 7, is_anomaly),
        average_precision(scores, is_anomaly),
    )


def test_auprc_is_one_for_a_perfect_scorer_and_the_anomaly_share_for_a_constant_one():
    is_anomaly = np.array([False, True, False, False, False, True, False, False])
    assert average_precision(np.where(is_anomaly, 1.0, 0.0), is_anomaly) == 1.0
    assert np.isclose(average_precision(np.zeros(8), is_anomaly), is_anomaly.mean())


def test_auprc_is_the_mean_precision_at_the_rank_of_each_anomaly():
    rng = np.random.default_rng(2)
    scores, is_anomaly = rng.standard_normal(40), rng.random(40) < 0.2
    ranked = is_anomaly[np.argsort(-scores)]
    precision_at_each_anomaly = (np.cumsum(ranked) / np.arange(1, 41))[ranked]
    assert np.isclose(
        average_precision(scores, is_anomaly), precision_at_each_anomaly.mean()
    )


@pytest.mark.parametrize("metric", [roc_auc, average_precision])
@pytest.mark.parametrize(
    ("scores", "labels", "message"),
    [
        (
            [1.0, 2.0],
            [True, True],
            r"is_anomaly must contain both anomalies \(True\) and normal examples",
        ),
        ([1.0, 2.0], [False, False], r"both anomalies"),
        (
            [1.0, 2.0, 3.0],
            [True, False],
            r"is_anomaly must have the shape of scores \(3,\)",
        ),
        ([1.0, np.nan], [True, False], r"scores contains 1 NaN or infinite values"),
        ([1.0, 2.0], [0, 2], r"is_anomaly must be boolean \(or 0/1\)"),
        ([], [], r"scores must have shape \(n,\) with n >= 1"),
    ],
)
def test_metrics_reject_bad_input_by_name(metric, scores, labels, message):
    with pytest.raises(ValueError, match=message):
        metric(scores, labels)


# --- the threshold -----------------------------------------------------------------


def test_the_validation_threshold_raises_at_most_the_chosen_share_of_false_alarms_on_its_own_scores():
    normal = np.random.default_rng(3).standard_normal(400)
    threshold = validation_threshold(normal, 0.95)
    share_flagged = np.mean(normal > threshold)
    assert 0.05 - 1 / 400 <= share_flagged <= 0.05
    assert validation_threshold(normal, 0.5) == np.median(normal)


def test_rates_at_a_threshold_count_the_flagged_examples():
    scores = np.array([0.1, 0.9, 0.8, 0.3, 0.7, 0.2])
    is_anomaly = np.array([False, True, False, False, True, True])
    rates = rates_at_threshold(
        scores, is_anomaly, 0.5
    )  # flags 0.9, 0.8, 0.7: two anomalies of three
    assert np.isclose(rates.precision, 2 / 3) and np.isclose(rates.recall, 2 / 3)
    assert np.isclose(rates.false_alarm_rate, 1 / 3)
    nothing = rates_at_threshold(scores, is_anomaly, 1.0)
    assert (nothing.precision, nothing.recall, nothing.false_alarm_rate) == (
        0.0,
        0.0,
        0.0,
    )


def test_threshold_arguments_are_checked_by_name():
    with pytest.raises(
        ValueError, match=r"quantile must be a finite number in \[0, 1\]"
    ):
        validation_threshold([1.0, 2.0], 1.5)
    with pytest.raises(TypeError, match=r"threshold must be a number"):
        rates_at_threshold([1.0, 2.0], [True, False], "high")


def test_evaluation_sets_its_threshold_on_normal_validation_scores_only():
    rng = np.random.default_rng(4)
    valid, valid_is_anomaly = rng.standard_normal(300), rng.random(300) < 0.1
    test, is_anomaly = rng.standard_normal(300) + 0.5, rng.random(300) < 0.1
    metrics = evaluate_score(valid, valid_is_anomaly, test, is_anomaly)
    assert tuple(metrics) == METRICS
    assert metrics["roc_auc"] == roc_auc(test, is_anomaly) and metrics[
        "auprc"
    ] == average_precision(test, is_anomaly)
    moved = np.where(
        valid_is_anomaly, valid * 100.0, valid
    )  # validation anomalies do not set the threshold
    again = evaluate_score(moved, valid_is_anomaly, test, is_anomaly)
    assert all(
        again[name] == metrics[name]
        for name in ("precision", "recall", "false_alarm_rate")
    )


# --- split_out_digit ---------------------------------------------------------------


@pytest.mark.parametrize("digit", [0, 1, 7])
def test_split_trains_on_no_held_out_digit_and_labels_exactly_its_validation_and_test_digits(
    mnist_small, digit
):
    split = split_out_digit(mnist_small, digit)
    assert isinstance(split, HeldOutSplit) and split.digit == digit
    normal = mnist_small.y_train != digit
    assert np.array_equal(split.x_train, mnist_small.x_train[normal])
    assert len(split.x_train) == np.sum(normal) < len(mnist_small.x_train)
    assert np.array_equal(split.x_valid, mnist_small.x_valid)
    assert np.array_equal(split.valid_is_anomaly, mnist_small.y_valid == digit)
    assert np.array_equal(split.x_test, mnist_small.x_test) and np.array_equal(
        split.y_test, mnist_small.y_test
    )
    assert split.is_anomaly.dtype == bool and np.array_equal(
        split.is_anomaly, mnist_small.y_test == digit
    )


@pytest.mark.parametrize(
    ("digit", "error", "message"),
    [
        (10, ValueError, r"digit must be an integer in \[0, 10\), got 10"),
        (-1, ValueError, r"got -1"),
        (1.0, TypeError, r"digit must be an integer"),
        (True, TypeError, r"digit must be an integer"),
    ],
)
def test_split_rejects_a_digit_that_is_not_a_class(mnist_small, digit, error, message):
    with pytest.raises(error, match=message):
        split_out_digit(mnist_small, digit)


@pytest.mark.parametrize("split", ["valid", "test"])
def test_split_rejects_a_digit_absent_from_the_validation_or_test_set(
    mnist_small, split
):
    from dataclasses import replace

    labels = getattr(mnist_small, f"y_{split}")
    data = replace(mnist_small, **{f"y_{split}": np.where(labels == 3, 4, labels)})
    with pytest.raises(ValueError, match=rf"digit 3 does not occur in data.y_{split}"):
        split_out_digit(data, 3)


def test_check_digit_names_the_argument():
    assert check_digit(np.int64(9)) == 9
    with pytest.raises(
        ValueError, match=r"digits\[2\] must be an integer in \[0, 10\)"
    ):
        check_digit(12, "digits[2]")


# --- the reconstruction probability -------------------------------------------------


def test_with_one_draw_the_reconstruction_probability_is_the_likelihood_of_that_draw(
    mnist_small,
):
    x = binarize(mnist_small.x_test[:6], seed=1)
    vae = small_vae()
    z_mean, z_log_var = (
        keras.ops.convert_to_numpy(a).astype(np.float64) for a in vae.encoder(x)
    )
    epsilon = np.stack(
        [np.random.default_rng([7, i]).standard_normal(2) for i in range(6)]
    )
    z = (z_mean + np.exp(0.5 * z_log_var) * epsilon).astype(np.float32)
    logits = keras.ops.convert_to_numpy(vae.decoder(z)).astype(np.float64)
    expected = np.sum(
        x * logits - np.logaddexp(0.0, logits), axis=1
    )  # Bernoulli log p(x|z)
    assert np.allclose(
        log_reconstruction_probability(vae, x, 1, seed=7), expected, rtol=1e-4
    )


def test_the_reconstruction_probability_lies_between_the_mean_and_the_maximum_over_its_draws(
    mnist_small,
):
    x = binarize(mnist_small.x_test[:20], seed=1)
    vae = small_vae()
    draws = log_likelihood_of_draws(vae, x, 16, seed=3)
    value = log_reconstruction_probability(vae, x, 16, seed=3)
    assert draws.shape == (20, 16) and value.shape == (20,)
    assert np.allclose(value, logsumexp(draws, axis=1) - np.log(16))
    assert np.all(value <= draws.max(axis=1) + 1e-9) and np.all(
        value >= draws.mean(axis=1) - 1e-9
    )


def test_an_example_s_draws_depend_neither_on_the_batch_size_nor_on_the_examples_after_it(
    mnist_small,
):
    x = binarize(mnist_small.x_test[:12], seed=1)
    vae = small_vae()
    whole = log_reconstruction_probability(vae, x, 5, seed=2)
    assert np.allclose(
        log_reconstruction_probability(vae, x, 5, seed=2, batch_size=7), whole
    )
    assert np.allclose(log_reconstruction_probability(vae, x[:4], 5, seed=2), whole[:4])
    assert not np.allclose(log_reconstruction_probability(vae, x, 5, seed=3), whole)
    with pytest.raises(ValueError, match=r"n_draws must be an integer >= 1, got 0"):
        log_reconstruction_probability(vae, x, 0)


def test_each_example_draws_its_own_read_only_noise_whatever_the_number_of_examples():
    draws = standard_normal_draws(4, 6, 3, 2)
    assert draws.shape == (6, 3, 2) and not draws.flags.writeable
    assert np.array_equal(
        draws[5], np.random.default_rng([4, 5]).standard_normal((3, 2))
    )
    assert np.array_equal(standard_normal_draws(4, 2, 3, 2), draws[:2])
    with pytest.raises(ValueError):
        draws[0, 0, 0] = 1.0


def test_the_log_weight_terms_add_up_to_the_weights_of_the_evaluation_module(
    mnist_small,
):
    x = binarize(mnist_small.x_test[:15], seed=1)
    vae = small_vae()
    log_px_z, log_prior_over_posterior = log_weight_terms(
        vae, x, 6, seed=2, batch_size=10
    )
    log_w = log_px_z + log_prior_over_posterior
    reference = log_weight_statistics(vae, x, 6, seed=2)
    assert log_px_z.shape == log_prior_over_posterior.shape == (15, 6)
    assert np.allclose(np.mean(log_w, axis=1), reference.elbo, rtol=1e-5)
    assert np.allclose(log_mean_exp(log_w), reference.iwae, rtol=1e-5)


def test_the_log_mean_exp_is_the_log_of_the_mean_and_survives_underflow():
    values = np.array([[0.0, np.log(3.0)], [-1000.0, -1000.0]])
    assert np.allclose(log_mean_exp(values), [np.log(2.0), -1000.0])


# --- anomaly_scores ----------------------------------------------------------------


def test_scores_have_one_value_per_example_and_iwae_never_exceeds_elbo(mnist_small):
    x = binarize(mnist_small.x_test[:30], seed=1)
    vae = small_vae()
    scores = anomaly_scores(vae, x, k=8, seed=3)
    assert tuple(scores) == VAE_SCORES
    assert all(
        values.shape == (30,) and np.all(np.isfinite(values))
        for values in scores.values()
    )
    # The same draws: log of a mean >= mean of logs, so -IWAE_k <= -ELBO_k per example.
    assert np.all(scores["neg_iwae"] <= scores["neg_elbo"] + 1e-9)
    assert np.mean(scores["neg_elbo"] - scores["neg_iwae"]) > 0.0
    assert np.array_equal(
        scores["neg_recon_prob"], -log_reconstruction_probability(vae, x, 8, seed=3)
    )


def test_with_one_sample_iwae_and_elbo_scores_coincide_and_seeds_repeat(mnist_small):
    x = binarize(mnist_small.x_test[:20], seed=1)
    vae = small_vae()
    one = anomaly_scores(vae, x, k=1, seed=5)
    assert np.allclose(one["neg_iwae"], one["neg_elbo"])
    again = anomaly_scores(vae, x, k=1, seed=5)
    assert all(np.array_equal(one[name], again[name]) for name in VAE_SCORES)


def test_squared_error_is_the_summed_squared_difference_to_the_reconstruction(
    mnist_small,
):
    x = mnist_small.x_test[:10]
    vae = small_vae()
    expected = np.sum((x - vae.reconstruct(x)) ** 2, axis=1)
    assert np.allclose(
        anomaly_scores(vae, x, k=2)["squared_error"], expected, rtol=1e-5
    )


def test_anomaly_scores_reject_bad_arguments_by_name(mnist_small):
    vae = small_vae()
    with pytest.raises(ValueError, match=r"k must be an integer >= 1, got 0"):
        anomaly_scores(vae, mnist_small.x_test[:5], k=0)
    with pytest.raises(ValueError, match=r"x must hold pixel intensities in \[0, 1\]"):
        anomaly_scores(vae, mnist_small.x_test[:5] * 255.0, k=2)


# --- the baselines -----------------------------------------------------------------


def test_pca_error_is_the_squared_distance_to_the_principal_subspace_of_the_normal_data():
    rng = np.random.default_rng(5)
    basis = np.linalg.qr(rng.standard_normal((10, 3)))[0]  # orthonormal columns
    offset = rng.standard_normal(10)
    normal = rng.standard_normal((200, 3)) @ basis.T + offset
    pca, forest, neighbours = fit_baselines(normal, 3, seed=0)
    inside = rng.standard_normal((5, 3)) @ basis.T + offset
    away = rng.standard_normal((5, 10))
    away_from_plane = (away - offset) - (away - offset) @ basis @ basis.T
    errors = baseline_scores(
        pca, forest, neighbours, np.vstack([inside, offset + away_from_plane])
    )["pca_error"]
    assert np.allclose(errors[:5], 0.0, atol=1e-9)
    assert np.allclose(errors[5:], np.sum(away_from_plane**2, axis=1))


def test_nearest_neighbour_distance_is_zero_on_training_points_and_grows_with_distance():
    rng = np.random.default_rng(7)
    normal = rng.standard_normal((50, 4))
    _, _, neighbours = fit_baselines(normal, 2, seed=0)
    scores = baseline_scores(
        *fit_baselines(normal, 2, seed=0),
        np.vstack([normal[:1], np.full((2, 4), [[5.0], [9.0]])]),
    )
    distances = np.linalg.norm(normal - normal[0], axis=1)
    assert scores["knn_distance"][0] == pytest.approx(
        np.sort(distances)[:5].mean()
    )  # itself among its neighbours
    assert (
        scores["knn_distance"][0]
        < scores["knn_distance"][1]
        < scores["knn_distance"][2]
    )
    assert neighbours.n_neighbors == 5


def test_isolation_forest_scores_a_far_outlier_highest_and_repeats_with_its_seed():
    rng = np.random.default_rng(6)
    normal = rng.standard_normal((300, 4))
    x = np.vstack([normal[:20], np.full((1, 4), 8.0)])
    first = baseline_scores(*fit_baselines(normal, 2, seed=3), x)
    assert tuple(first) == NETWORK_FREE_SCORES
    assert np.argmax(first["isolation_forest"]) == 20
    again = baseline_scores(*fit_baselines(normal, 2, seed=3), x)
    assert np.array_equal(first["isolation_forest"], again["isolation_forest"])


def test_baselines_reject_more_components_than_the_data_have():
    with pytest.raises(
        ValueError, match=r"n_components must be at most min\(n, d\) = 4, got 5"
    ):
        fit_baselines(np.zeros((10, 4)), 5)


# --- the protocol ------------------------------------------------------------------


def test_protocol_gives_every_metric_in_the_unit_interval_for_every_seed_digit_and_score(
    protocol_run,
):
    keys = {(row.seed, row.digit, row.score) for row in protocol_run.rows}
    assert keys == set(itertools.product((0, 1), (1, 7), SCORE_NAMES)) and len(
        protocol_run.rows
    ) == 4 * len(SCORE_NAMES)
    assert all(isinstance(row, DetectionRow) for row in protocol_run.rows)
    assert all(
        0.0 <= getattr(row, metric) <= 1.0
        for row in protocol_run.rows
        for metric in METRICS
    )
    assert set(protocol_run.scores) == set(itertools.product((0, 1), (1, 7)))
    assert protocol_run.seeds == [0, 1] and protocol_run.digits == [1, 7]


def test_protocol_scores_the_same_once_binarised_test_digits_for_every_seed(
    mnist_small, protocol_run
):
    assert np.array_equal(protocol_run.x_test, binarize(mnist_small.x_test))
    assert set(np.unique(protocol_run.x_test)) <= {0.0, 1.0}, (
        "likelihood scores are computed on binary digits"
    )


def test_protocol_metrics_are_those_of_its_stored_test_scores(protocol_run):
    is_one = protocol_run.y_test == 1
    for row in protocol_run.rows:
        if row.digit == 1:
            values = protocol_run.scores[(row.seed, 1)][row.score]
            assert row.roc_auc == roc_auc(
                values, is_one
            ) and row.auprc == average_precision(values, is_one)


def test_summaries_are_means_and_standard_errors_over_seeds_of_digit_averages(
    protocol_run,
):
    per_seed = protocol_run.per_seed("neg_iwae", "auprc")
    expected = [
        np.mean(
            [
                row.auprc
                for row in protocol_run.rows
                if (row.seed, row.score) == (seed, "neg_iwae")
            ]
        )
        for seed in (0, 1)
    ]
    assert np.allclose(per_seed, expected)
    assert protocol_run.summary("neg_iwae", "auprc") == mean_and_standard_error(
        per_seed
    )
    difference = protocol_run.paired_difference("neg_iwae", "pca_error")
    assert difference == mean_and_standard_error(
        protocol_run.per_seed("neg_iwae") - protocol_run.per_seed("pca_error")
    )
    assert protocol_run.per_seed("pca_error", digit=7).shape == (2,)


def test_the_best_score_is_chosen_on_validation_digits(protocol_run):
    best = protocol_run.best(VAE_SCORES)
    valid = {
        score: protocol_run.per_seed(score, "valid_roc_auc").mean()
        for score in VAE_SCORES
    }
    assert best in VAE_SCORES and valid[best] == max(valid.values())
    share = np.mean([np.mean(protocol_run.y_test == d) for d in (1, 7)])
    assert np.isclose(protocol_run.anomaly_share(), share)


def test_result_queries_reject_what_was_not_measured(protocol_run):
    with pytest.raises(KeyError, match=r"digit 5 was not held out"):
        protocol_run.per_seed("neg_iwae", digit=5)
    with pytest.raises(ValueError, match=r"metric must be one of"):
        protocol_run.per_seed("neg_iwae", "accuracy")
    with pytest.raises(ValueError, match=r"score must be one of"):
        protocol_run.summary("elbo")
    with pytest.raises(ValueError, match=r"scores must name at least one score"):
        protocol_run.best([])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            dict(digits=[]),
            ValueError,
            r"digits and seeds must each name at least one value",
        ),
        (
            dict(seeds=[]),
            ValueError,
            r"digits and seeds must each name at least one value",
        ),
        (
            dict(digits=[1, 10]),
            ValueError,
            r"digits\[1\] must be an integer in \[0, 10\)",
        ),
        (dict(latent_dim=0), ValueError, r"latent_dim must be an integer >= 1"),
        (dict(stopping=3), TypeError, r"stopping must be a StoppingRule, got int"),
    ],
)
def test_protocol_rejects_bad_arguments_by_name(mnist_small, kwargs, error, message):
    arguments = dict(
        digits=[1],
        seeds=[0],
        latent_dim=2,
        stopping=StoppingRule(max_epochs=1),
        k=2,
        hidden_units=(8,),
    )
    with pytest.raises(error, match=message):
        held_out_protocol(mnist_small, **{**arguments, **kwargs})


# --- verdicts, tables and figures --------------------------------------------------


@pytest.mark.parametrize(
    ("mean", "error", "word"),
    [
        (0.5, 0.1, "clearly above"),
        (-0.5, 0.1, "clearly below"),
        (0.4, 0.1, "not clearly different from"),
    ],
)
def test_verdict_needs_the_95_percent_interval_of_three_seeds_to_exclude_the_reference(
    mean, error, word
):
    """With three seeds Student's t is 4.30: 0.5 +- 0.43 excludes zero, 0.4 +- 0.43
    does not."""
    assert verdict(MeanWithError(mean, error, n=3)) == word
    assert verdict(MeanWithError(mean + 0.5, error, n=3), reference=0.5) == word


def test_a_comparison_is_a_paired_difference_over_seeds_in_plain_python_values(
    protocol_run,
):
    comparison = compare_scores(
        protocol_run, "squared_error", "isolation_forest", "auprc"
    )
    difference = protocol_run.paired_difference(
        "squared_error", "isolation_forest", "auprc"
    )
    assert (
        comparison["difference"] == difference.mean
        and comparison["difference_se"] == difference.standard_error
    )
    assert np.isclose(
        comparison["mean"] - comparison["other_mean"], comparison["difference"]
    )
    assert comparison["verdict"] == verdict(difference) and comparison["seeds"] == 2
    assert 0 <= comparison["ahead"] <= 2
    assert all(type(value) in (float, int, str) for value in comparison.values()), (
        "glue takes Python values"
    )


def test_summary_table_has_a_row_per_score_a_column_per_metric_and_a_verdict_against_chance(
    protocol_run,
):
    table = summary_table(protocol_run)
    assert table.shape == (len(SCORE_NAMES), len(METRICS) + 1)
    value = protocol_run.summary("pca_error", "auprc")
    assert (
        table.loc["PCA error", "AUPRC"]
        == f"{value.mean:.3f} ± {value.standard_error:.3f}"
    )
    assert table.loc["PCA error", "ROC-AUC against chance"] == verdict(
        protocol_run.summary("pca_error"), reference=0.5
    )
    assert (
        table.loc["PCA error", "resolves"]
        == f"{detectable_difference(protocol_run.summary('pca_error')):.3f}"
    )
    assert "autoencoder squared error" in table.index


def test_false_alarm_spread_is_the_binomial_error_of_both_samples():
    assert false_alarm_spread(360, 900) == pytest.approx(
        np.sqrt(0.05 * 0.95 * (1 / 360 + 1 / 900))
    )
    assert false_alarm_spread(10**9, 10**9) < 1e-4
    with pytest.raises(ValueError, match="n_valid_normal"):
        false_alarm_spread(0, 900)


def test_a_simulated_quantile_threshold_misses_its_rate_by_about_the_false_alarm_spread():
    rng = np.random.default_rng(0)
    rates = []
    for _ in range(2000):
        threshold = validation_threshold(rng.standard_normal(360))
        rates.append(np.mean(rng.standard_normal(900) > threshold))
    assert np.mean(rates) == pytest.approx(
        0.05, abs=0.004
    )  # np.quantile interpolates: a bias of order 1 / n
    assert np.std(rates) == pytest.approx(false_alarm_spread(360, 900), rel=0.1)


@pytest.mark.parametrize(
    ("word", "says"),
    [
        ("clearly below", "*larger* bound on their likelihood"),
        ("not clearly different from", "does not tell"),
        ("clearly above", "smaller bound on their likelihood"),
    ],
)
def test_the_finding_about_an_unseen_digit_follows_its_verdict(word, says):
    finding = unseen_digit_finding(word, 1)
    assert says in finding and "$1$s" in finding
    with pytest.raises(ValueError, match="word"):
        unseen_digit_finding("below", 1)


def test_the_conclusion_about_a_simple_input_follows_every_verdict():
    assert "rated a simple input as normal" in simple_input_conclusion(
        ["clearly above", "clearly below"]
    )
    assert "each still flagged" in simple_input_conclusion(
        ["clearly above", "clearly above"]
    )
    assert "could not tell" in simple_input_conclusion(
        ["clearly above", "not clearly different from"]
    )
    with pytest.raises(ValueError, match="words"):
        simple_input_conclusion([])


def test_metric_figure_draws_one_error_bar_series_per_score_in_each_panel(protocol_run):
    fig = plot_metrics_per_digit(
        protocol_run, ["neg_iwae", "pca_error", "isolation_forest"]
    )
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert all(len(ax.containers) == 3 for ax in fig.axes)
    with pytest.raises(ValueError, match=r"scores must be one of"):
        plot_metrics_per_digit(protocol_run, ["elbo"])


def test_score_histograms_draw_one_panel_per_score(protocol_run):
    is_one = protocol_run.y_test == 1
    panels = {
        name: protocol_run.scores[(0, 1)][name] for name in ("neg_iwae", "pca_error")
    }
    fig = plot_score_histograms(panels, is_one, bins=10)
    assert len(fig.axes) == 2 and fig.axes[1].get_title().startswith("PCA error: AUC")
    with pytest.raises(ValueError, match=r"is_anomaly has shape \(3,\)"):
        plot_score_histograms(panels, is_one[:3])
    with pytest.raises(ValueError, match=r"scores must name at least one score"):
        plot_score_histograms({}, is_one)


# --- the networks' training ------------------------------------------------------


def test_held_back_digits_are_a_seeded_disjoint_share_of_the_training_digits():
    x = np.arange(40.0).reshape(20, 2)
    fitted, held = hold_back(x, 0.25, seed=3)
    assert held.shape == (5, 2) and fitted.shape == (15, 2)
    assert sorted(np.concatenate([fitted, held])[:, 0]) == sorted(x[:, 0])
    assert np.array_equal(held, hold_back(x, 0.25, seed=3)[1])
    assert not np.array_equal(held, hold_back(x, 0.25, seed=4)[1])
    with pytest.raises(
        ValueError, match=r"share=0.01 of 20 examples leaves 0 held back"
    ):
        hold_back(x, 0.01, seed=0)


def test_a_network_that_runs_out_of_epochs_is_recorded_as_capped(protocol_run):
    for records in protocol_run.training.values():
        assert set(records) == set(LEARNED_MODELS)
        for record in records.values():
            assert (
                1 <= record.best_epoch <= record.epochs <= 3
                and len(record.val_loss) == record.epochs
            )
            if record.epochs < 3:
                assert not record.capped
    summary = protocol_run.stopping_summary("VAE")
    epochs = [record.epochs for record in protocol_run.training_records("VAE")]
    assert (
        summary["runs"] == 4
        and summary["low"] == min(epochs)
        and summary["high"] == max(epochs)
    )
    assert summary["capped"] == sum(
        record.capped for record in protocol_run.training_records("VAE")
    )
    with pytest.raises(ValueError, match="model must be one of"):
        protocol_run.training_records("PCA")


def test_the_stopping_statement_says_whether_any_run_hit_the_cap(protocol_run):
    def with_capped(capped):
        record = TrainingRecord(3, 3, capped, (3.0, 2.0, 1.0))
        training = {
            key: {model: record for model in LEARNED_MODELS}
            for key in protocol_run.training
        }
        return dataclasses.replace(protocol_run, training=training)

    assert stopping_statement(with_capped(False)).startswith(
        "none of the 8 runs reached the cap of 3 epochs"
    )
    assert stopping_statement(with_capped(True)).startswith(
        "8 of the 8 runs reached the cap of 3 epochs"
    )


def test_the_autoencoder_score_is_its_summed_squared_reconstruction_error(mnist_small):
    x = binarize(mnist_small.x_train[:50], seed=0)
    autoencoder, _ = fit_autoencoder(x, latent_dim=2, hidden_units=(8,), epochs=1)
    expected = np.sum((x - autoencoder.reconstruct(x).reshape(50, -1)) ** 2, axis=1)
    assert np.allclose(autoencoder_scores(autoencoder, x)["ae_squared_error"], expected)
    assert autoencoder.encoder.output_shape == (None, 2), "one code, no variance head"


def test_a_null_verdict_states_the_smallest_difference_the_seeds_resolve():
    level = MeanWithError(0.01, 0.01, n=3)
    assert verdict_phrase(level) == (
        "not clearly different from zero: the seeds resolve only a difference "
        "larger than about "
        f"{detectable_difference(level):.3f}"
    )
    assert (
        verdict_phrase(MeanWithError(0.9, 0.01, n=3), 0.5, against="chance")
        == "clearly above chance"
    )


def test_scores_not_above_chance_are_named_by_their_labels(protocol_run):
    names = not_above_chance(protocol_run)
    expected = [
        score
        for score in SCORE_NAMES
        if verdict(protocol_run.summary(score), 0.5) != "clearly above"
    ]
    assert names == [SCORE_LABELS[score] for score in expected]


def test_validation_curves_draw_one_line_and_one_best_epoch_per_run(protocol_run):
    fig = plot_validation_curves(protocol_run)
    assert len(fig.axes) == 2 and [ax.get_title() for ax in fig.axes] == list(
        LEARNED_MODELS
    )
    assert all(
        len(ax.lines) == 2 * 4 + 1 for ax in fig.axes
    )  # a curve and a dot per run, and the cap
