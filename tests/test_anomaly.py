"""Anomaly detection: the AUC wrapper, the held-out split, the scores and the whole protocol."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from matplotlib.figure import Figure

from snippets.chapters.anomaly import (
    SCORE_NAMES,
    AucRow,
    HeldOutSplit,
    ProtocolResult,
    anomaly_scores,
    check_digit,
    held_out_protocol,
    plot_auc_per_digit,
    plot_score_histograms,
    roc_auc,
    split_out_digit,
)
from snippets.data import binarize
from snippets.models import VAE, build_dense_decoder, build_dense_encoder


def small_vae(latent_dim: int = 2) -> VAE:
    return VAE(build_dense_encoder(hidden_units=(16,), latent_dim=latent_dim),
               build_dense_decoder(hidden_units=(16,), latent_dim=latent_dim), seed=0)


def tiny_protocol(data, latent_dims=(2,), digits=(1, 7)) -> ProtocolResult:
    return held_out_protocol(data, list(digits), list(latent_dims), epochs=1, k=4, hidden_units=(16,), batch_size=100)


@pytest.fixture(scope="module")
def protocol_run(mnist_small):
    return tiny_protocol(mnist_small, latent_dims=(2, 3))


# --- roc_auc -----------------------------------------------------------------


def test_auc_of_a_perfect_scorer_is_one_of_a_reversed_one_zero_and_of_a_constant_one_half():
    is_anomaly = np.array([False, True, False, True, False])
    perfect = np.where(is_anomaly, 2.0, 1.0) + np.arange(5) * 0.01
    assert roc_auc(perfect, is_anomaly) == 1.0
    assert roc_auc(-perfect, is_anomaly) == 0.0
    assert roc_auc(np.ones(5), is_anomaly) == 0.5


def test_auc_is_the_probability_that_an_anomaly_outscores_a_normal_example():
    rng = np.random.default_rng(0)
    scores, is_anomaly = rng.integers(0, 5, 60).astype(float), rng.random(60) < 0.3
    pairs = [(a > b) + 0.5 * (a == b) for a, b in itertools.product(scores[is_anomaly], scores[~is_anomaly])]
    assert np.isclose(roc_auc(scores, is_anomaly), np.mean(pairs))
    assert roc_auc(scores, is_anomaly.astype(int)) == roc_auc(scores, is_anomaly)


def test_auc_is_unchanged_by_a_monotone_transform_of_the_scores():
    rng = np.random.default_rng(1)
    scores, is_anomaly = rng.standard_normal(50), rng.random(50) < 0.5
    assert np.isclose(roc_auc(np.exp(3 * scores) + 7, is_anomaly), roc_auc(scores, is_anomaly))


@pytest.mark.parametrize(
    ("scores", "labels", "message"),
    [
        ([1.0, 2.0], [True, True], r"is_anomaly must contain both anomalies \(True\) and normal examples"),
        ([1.0, 2.0], [False, False], r"both anomalies"),
        ([1.0, 2.0, 3.0], [True, False], r"is_anomaly must have the shape of scores \(3,\)"),
        ([1.0, np.nan], [True, False], r"scores contains 1 NaN or infinite values"),
        ([1.0, 2.0], [0, 2], r"is_anomaly must be boolean \(or 0/1\)"),
        ([], [], r"scores must have shape \(n,\) with n >= 1"),
    ],
)
def test_roc_auc_rejects_bad_input_by_name(scores, labels, message):
    with pytest.raises(ValueError, match=message):
        roc_auc(scores, labels)


# --- split_out_digit ---------------------------------------------------------


@pytest.mark.parametrize("digit", [0, 1, 7])
def test_split_trains_on_no_held_out_digit_and_labels_exactly_its_test_digits(mnist_small, digit):
    split = split_out_digit(mnist_small, digit)
    assert isinstance(split, HeldOutSplit) and split.digit == digit
    normal = mnist_small.y_train != digit
    assert np.array_equal(split.x_train, mnist_small.x_train[normal])
    assert len(split.x_train) == np.sum(normal) < len(mnist_small.x_train)
    assert np.array_equal(split.x_test, mnist_small.x_test) and np.array_equal(split.y_test, mnist_small.y_test)
    assert split.is_anomaly.dtype == bool and np.array_equal(split.is_anomaly, mnist_small.y_test == digit)


@pytest.mark.parametrize(
    ("digit", "error", "message"),
    [(10, ValueError, r"digit must be an integer in \[0, 10\), got 10"), (-1, ValueError, r"got -1"),
     (1.0, TypeError, r"digit must be an integer"), (True, TypeError, r"digit must be an integer")],
)
def test_split_rejects_a_digit_that_is_not_a_class(mnist_small, digit, error, message):
    with pytest.raises(error, match=message):
        split_out_digit(mnist_small, digit)


def test_split_rejects_a_digit_absent_from_the_test_set(mnist_small):
    from dataclasses import replace

    data = replace(mnist_small, y_test=np.where(mnist_small.y_test == 3, 4, mnist_small.y_test))
    with pytest.raises(ValueError, match=r"digit 3 does not occur in data.y_test"):
        split_out_digit(data, 3)


def test_check_digit_names_the_argument():
    assert check_digit(np.int64(9)) == 9
    with pytest.raises(ValueError, match=r"digits\[2\] must be an integer in \[0, 10\)"):
        check_digit(12, "digits[2]")


# --- anomaly_scores ----------------------------------------------------------


def test_scores_have_one_value_per_example_and_iwae_never_exceeds_elbo(mnist_small):
    x = binarize(mnist_small.x_test[:30], seed=1)
    scores = anomaly_scores(small_vae(), x, k=8, seed=3)
    assert set(scores) == set(SCORE_NAMES)
    assert all(values.shape == (30,) and np.all(np.isfinite(values)) for values in scores.values())
    # The same draws: log of a mean >= mean of logs, so -IWAE_k <= -ELBO_k per example.
    assert np.all(scores["neg_iwae"] <= scores["neg_elbo"] + 1e-9)
    assert np.mean(scores["neg_elbo"] - scores["neg_iwae"]) > 0.0


def test_with_one_sample_iwae_and_elbo_scores_coincide_and_seeds_repeat(mnist_small):
    x = binarize(mnist_small.x_test[:20], seed=1)
    vae = small_vae()
    one = anomaly_scores(vae, x, k=1, seed=5)
    assert np.allclose(one["neg_iwae"], one["neg_elbo"])
    again = anomaly_scores(vae, x, k=1, seed=5)
    assert all(np.array_equal(one[name], again[name]) for name in SCORE_NAMES)


def test_squared_error_is_the_summed_squared_difference_to_the_reconstruction(mnist_small):
    x = mnist_small.x_test[:10]
    vae = small_vae()
    expected = np.sum((x - vae.reconstruct(x)) ** 2, axis=1)
    assert np.allclose(anomaly_scores(vae, x, k=2)["squared_error"], expected, rtol=1e-5)


def test_anomaly_scores_reject_bad_arguments_by_name(mnist_small):
    vae = small_vae()
    with pytest.raises(ValueError, match=r"k must be an integer >= 1, got 0"):
        anomaly_scores(vae, mnist_small.x_test[:5], k=0)
    with pytest.raises(ValueError, match=r"x must hold pixel intensities in \[0, 1\]"):
        anomaly_scores(vae, mnist_small.x_test[:5] * 255.0, k=2)


# --- the protocol ------------------------------------------------------------


def test_protocol_gives_an_auc_in_the_unit_interval_for_every_digit_latent_size_and_score(protocol_run):
    keys = {(row.latent_dim, row.digit, row.score) for row in protocol_run.aucs}
    assert keys == set(itertools.product((2, 3), (1, 7), SCORE_NAMES)) and len(protocol_run.aucs) == 12
    assert all(isinstance(row, AucRow) and 0.0 <= row.auc <= 1.0 for row in protocol_run.aucs)
    assert set(protocol_run.scores) == set(itertools.product((2, 3), (1, 7)))
    assert set(np.unique(protocol_run.x_test)) <= {0.0, 1.0}, "likelihood scores are computed on binary digits"


def test_protocol_aucs_are_those_of_its_stored_scores(protocol_run):
    assert isinstance(protocol_run, ProtocolResult)
    is_one = protocol_run.y_test == 1
    for name in SCORE_NAMES:
        assert protocol_run.auc(3, 1, name) == roc_auc(protocol_run.scores[(3, 1)][name], is_one)
    expected = np.mean([protocol_run.auc(2, d, "neg_iwae") for d in (1, 7)])
    assert np.isclose(protocol_run.mean_auc(2, "neg_iwae"), expected)
    with pytest.raises(KeyError, match=r"no AUC for latent_dim=5"):
        protocol_run.auc(5, 1, "neg_iwae")
    with pytest.raises(KeyError, match=r"no AUC for latent_dim=5"):
        protocol_run.mean_auc(5, "neg_iwae")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(digits=[]), ValueError, r"digits and latent_dims must each name at least one value"),
        (dict(digits=[1, 10]), ValueError, r"digits\[1\] must be an integer in \[0, 10\)"),
        (dict(latent_dims=[0]), ValueError, r"latent_dims\[0\] must be an integer >= 1"),
        (dict(epochs=0), ValueError, r"epochs must be an integer >= 1"),
    ],
)
def test_protocol_rejects_bad_arguments_by_name(mnist_small, kwargs, error, message):
    arguments = dict(digits=[1], latent_dims=[2], epochs=1, k=2, hidden_units=(8,))
    with pytest.raises(error, match=message):
        held_out_protocol(mnist_small, **{**arguments, **kwargs})


# --- figures -----------------------------------------------------------------


def test_auc_bar_chart_has_one_bar_per_digit_and_latent_size(protocol_run):
    fig = plot_auc_per_digit(protocol_run, "neg_elbo")
    assert isinstance(fig, Figure)
    assert len(fig.axes[0].patches) == 2 * 2
    with pytest.raises(ValueError, match=r"score must be one of"):
        plot_auc_per_digit(protocol_run, "elbo")


def test_score_histograms_draw_one_panel_per_model(protocol_run):
    is_one = protocol_run.y_test == 1
    panels = {f"latent {dim}": protocol_run.scores[(dim, 1)] for dim in (2, 3)}
    fig = plot_score_histograms(panels, is_one, "squared_error", bins=10)
    assert len(fig.axes) == 2 and fig.axes[0].get_title().startswith("latent 2: AUC")
    with pytest.raises(ValueError, match=r"is_anomaly has shape \(3,\)"):
        plot_score_histograms(panels, is_one[:3])
    with pytest.raises(ValueError, match=r"scores must name at least one model"):
        plot_score_histograms({}, is_one)
