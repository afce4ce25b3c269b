"""Diagnostics of trained VAEs: active units, per-unit KL, held-out numbers, figures."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from snippets.callbacks import KLWarmup
from snippets.chapters.diagnostics import (
    ActiveUnits,
    SeedRuns,
    active_units,
    fit_dense_vae,
    fit_over_seeds,
    gaussian_held_out_reconstruction,
    held_out_iwae,
    held_out_summary,
    kl_per_dimension,
    lowest,
    plot_rate_distortion,
    plot_unit_activity,
    plot_warmup,
    reconstruction_mse,
    seed_table,
    unit_activity,
)
from snippets.data import binarize
from snippets.evaluation import elbo_estimate, iwae_bound, mean_and_standard_error
from snippets.likelihoods import Gaussian
from snippets.losses import gaussian_kl_to_standard_normal
from snippets.models import VAE, build_dense_decoder, build_dense_encoder


@pytest.fixture(scope="module")
def trained(mnist_small):
    """A small VAE trained briefly on binary draws of the digits, with the history of a held-out set."""
    keras.utils.set_random_seed(0)
    return fit_dense_vae(mnist_small.x_train, latent_dim=4, hidden_units=(32,), epochs=2, batch_size=100,
                         validation_data=binarize(mnist_small.x_test, seed=1), dynamic_binarization=True)


def encoder_with_one_dead_unit() -> keras.Model:
    """Unit 0's mean is the first pixel, unit 1's mean is the constant 0.5; log-variances 0."""
    encoder = build_dense_encoder(input_dim=3, hidden_units=(), latent_dim=2)
    encoder.get_layer("z_mean").set_weights([np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]), np.array([0.0, 0.5])])
    encoder.get_layer("z_log_var").set_weights([np.zeros((3, 2)), np.zeros(2)])
    return encoder


def test_a_unit_whose_mean_varies_is_active_and_a_constant_one_is_not():
    vae = VAE(encoder_with_one_dead_unit(), build_dense_decoder(output_dim=3, hidden_units=(), latent_dim=2))
    x = np.array([[0.0, 0.3, 0.3], [1.0, 0.3, 0.3], [0.5, 0.9, 0.1], [0.2, 0.0, 1.0]], np.float32)
    result = active_units(vae, x)
    assert isinstance(result, ActiveUnits) and result.count == 1
    assert np.allclose(result.activity, [np.var(x[:, 0]), 0.0], atol=1e-7)


def test_unit_activity_is_the_variance_of_posterior_means_across_data():
    z_mean = np.array([[0.0, 2.0, 5.0], [1.0, 2.0, 5.0], [2.0, 2.0, 5.1]])
    assert np.allclose(unit_activity(z_mean), [2.0 / 3.0, 0.0, np.var([5.0, 5.0, 5.1])])


def test_per_dimension_kl_adds_up_to_the_total_kl(mnist_small, trained):
    vae, _ = trained
    x = mnist_small.x_test
    z_mean, z_log_var = vae.encoder(x)
    total = keras.ops.convert_to_numpy(gaussian_kl_to_standard_normal(z_mean, z_log_var)).mean()
    per_dimension = kl_per_dimension(vae, x)
    assert per_dimension.shape == (4,) and np.all(per_dimension >= 0.0)
    assert np.isclose(per_dimension.sum(), total, rtol=1e-5)


def test_beta_zero_trains_on_the_reconstruction_alone(mnist_small):
    vae, _ = fit_dense_vae(mnist_small.x_train, latent_dim=2, hidden_units=(16,), beta=0.0, epochs=1)
    result = vae.evaluate(mnist_small.x_test, batch_size=100, verbose=0, return_dict=True)
    assert np.isclose(result["loss"], result["reconstruction"], rtol=1e-6)
    assert result["kl"] > 0.0


def test_the_same_seed_trains_the_same_model(mnist_small):
    codes = [fit_dense_vae(mnist_small.x_train[:200], latent_dim=2, hidden_units=(16,), epochs=1)[0]
             .encode(mnist_small.x_test[:10]) for _ in range(2)]
    assert np.array_equal(codes[0], codes[1])


def test_held_out_neg_elbo_is_reconstruction_plus_kl_whatever_beta(mnist_small, trained):
    vae, _ = trained
    vae.beta.assign(4.0)
    summary = held_out_summary(vae, mnist_small.x_test)
    vae.beta.assign(1.0)
    assert np.isclose(summary["neg_elbo"], summary["reconstruction"] + summary["kl"])
    assert summary["latent_dim"] == 4 and 0 <= summary["active_units"] <= 4
    assert 0.0 < reconstruction_mse(vae, mnist_small.x_test) < 0.25


def test_rate_distortion_plot_has_one_point_per_beta():
    fig = plot_rate_distortion([30.0, 20.0, 10.0], [150.0, 160.0, 180.0], [0.5, 1.0, 2.0])
    ax = fig.axes[0]
    assert len(ax.lines[0].get_xydata()) == 3
    assert [text.get_text() for text in ax.texts] == ["β = 0.5", "β = 1", "β = 2"]


def test_unit_activity_plot_has_one_bar_per_unit_and_model():
    activities = {"a": np.array([1.0, 0.0, 0.5]), "b": np.array([0.2, 0.3])}
    kls = {"a": np.array([2.0, 0.0, 1.0]), "b": np.array([0.5, 0.6])}
    fig = plot_unit_activity(activities, kls)
    assert [len(ax.patches) for ax in fig.axes] == [3, 2, 3, 2]
    assert fig.axes[0].get_title() == "a: 2 active"


def test_warmup_plot_draws_a_curve_per_run_and_panel(mnist_small, trained):
    _, history = trained
    warm_vae, warm = fit_dense_vae(mnist_small.x_train[:200], latent_dim=2, hidden_units=(16,), epochs=2,
                                   validation_data=mnist_small.x_test, callbacks=[KLWarmup(2)])
    assert warm.history["beta"] == [0.5, 1.0]
    fig = plot_warmup({"constant": history.history, "warm-up": warm.history})
    assert [len(ax.lines) for ax in fig.axes] == [2, 2, 2]
    assert list(fig.axes[0].lines[0].get_ydata()) == [1.0, 1.0]


def test_bad_arguments_raise_errors_that_name_them(mnist_small, trained):
    vae, _ = trained
    with pytest.raises(ValueError, match=r"threshold must be a finite number in \[0, inf\)"):
        active_units(vae, mnist_small.x_test, threshold=-0.1)
    with pytest.raises(ValueError, match="x is empty"):
        active_units(vae, np.zeros((0, 784), np.float32))
    with pytest.raises(ValueError, match="x is empty"):
        kl_per_dimension(vae, np.zeros((0, 784), np.float32))
    with pytest.raises(ValueError, match=r"z_mean must have shape \(n, latent_dim\)"):
        unit_activity(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        fit_dense_vae(mnist_small.x_train, epochs=0)
    with pytest.raises(ValueError, match="equal length"):
        plot_rate_distortion([1.0], [2.0, 3.0], [1.0])
    with pytest.raises(KeyError, match="train with validation_data"):
        plot_warmup({"no validation": {"kl": [1.0]}})


def test_fit_over_seeds_gives_one_row_per_seed_and_repeats_fit_dense_vae(mnist_small):
    x_train, x_test = mnist_small.x_train[:200], binarize(mnist_small.x_test[:100])
    settings = dict(latent_dim=2, hidden_units=(16,), epochs=1, batch_size=50, dynamic_binarization=True)
    runs = fit_over_seeds(x_train, x_test, [3, 1], x_valid=x_test, **settings)
    assert [row["seed"] for row in runs.rows] == [3, 1]
    assert runs.values("neg_elbo").shape == (2,) and np.all(np.isfinite(runs.values("valid_neg_elbo")))
    alone, _ = fit_dense_vae(x_train, seed=1, **settings)
    assert np.isclose(held_out_summary(alone, x_test)["kl"], runs.rows[1]["kl"], rtol=1e-5)
    assert np.array_equal(runs.model.encode(x_test[:5]), fit_dense_vae(x_train, seed=3, **settings)[0].encode(x_test[:5]))
    assert "val_kl" in runs.history.history
    with pytest.raises(ValueError, match="seeds must be a non-empty sequence of distinct integers"):
        fit_over_seeds(x_train, x_test, [0, 0], **settings)


def test_fit_over_seeds_with_iwae_adds_the_bound_on_test_and_validation_digits(mnist_small):
    x_train, x_test = mnist_small.x_train[:200], binarize(mnist_small.x_test[:100])
    settings = dict(latent_dim=2, hidden_units=(16,), epochs=1, batch_size=50, dynamic_binarization=True)
    runs = fit_over_seeds(x_train, x_test, [0], x_valid=x_test[50:], iwae_k=10, iwae_examples=20, **settings)
    row = runs.rows[0]
    assert row["neg_iwae"] == pytest.approx(held_out_iwae(runs.model, x_test[:20], 10)["neg_iwae"])
    assert row["valid_neg_iwae"] == pytest.approx(held_out_iwae(runs.model, x_test[50:70], 10)["neg_iwae"])
    with pytest.raises(ValueError, match="iwae_k"):
        fit_over_seeds(x_train, x_test, [0], iwae_k=0, **settings)


def test_held_out_iwae_is_the_mean_negative_bound_of_the_first_examples_with_its_error(mnist_small, trained):
    vae, _ = trained
    x = binarize(mnist_small.x_test[:30])
    expected = mean_and_standard_error(-iwae_bound(vae, x[:12], 50, seed=2))
    result = held_out_iwae(vae, x, 50, examples=12, seed=2)
    assert result == pytest.approx({"neg_iwae": expected.mean, "neg_iwae_se": expected.standard_error,
                                    "neg_elbo_k": -elbo_estimate(vae, x[:12], 50, seed=2).mean()})
    assert result["neg_iwae"] <= result["neg_elbo_k"]
    assert held_out_iwae(vae, x, 50, seed=2)["neg_iwae"] != pytest.approx(result["neg_iwae"])
    with pytest.raises(ValueError, match="iwae_examples"):
        held_out_iwae(vae, x, 50, examples=0)


def test_gaussian_variance_is_fitted_on_one_set_and_the_term_scored_on_the_other(mnist_small):
    vae, _ = fit_dense_vae(mnist_small.x_train[:200], latent_dim=2, hidden_units=(16,), epochs=1, likelihood="gaussian")
    x_fit, x_score = mnist_small.x_test[:50], mnist_small.x_test[50:100]
    variance, term = gaussian_held_out_reconstruction(vae, x_fit, x_score, seed=0)
    again = gaussian_held_out_reconstruction(vae, x_fit, x_score[::-1], seed=0)
    assert again[0] == variance  # the variance does not depend on the scored digits
    assert 0.0 < variance < 0.25 and np.isfinite(term)
    other_variance, other_term = gaussian_held_out_reconstruction(vae, x_score, x_score, seed=0)
    assert other_variance != variance and other_term != term  # the variance comes from x_fit alone
    with pytest.raises(TypeError, match="Gaussian likelihood"):
        gaussian_held_out_reconstruction(fit_dense_vae(mnist_small.x_train[:100], latent_dim=2, hidden_units=(8,),
                                                       epochs=1)[0], x_fit, x_score)


def seed_runs(values: dict[str, list[float]]) -> SeedRuns:
    """Hand-made runs whose rows hold ``values`` seed by seed (no model)."""
    n_seeds = len(next(iter(values.values())))
    return SeedRuns([{key: column[i] for key, column in values.items()} for i in range(n_seeds)], None, None)


def test_seed_table_holds_the_mean_and_standard_error_of_each_run():
    runs = {"a": seed_runs({"kl": [1.0, 2.0, 6.0]}), "b": seed_runs({"kl": [4.0, 4.0, 4.0]})}
    table = seed_table(runs, keys=("kl",))
    expected = mean_and_standard_error([1.0, 2.0, 6.0])
    assert list(table.columns) == ["kl", "kl s.e."] and list(table.index) == ["a", "b"]
    assert np.allclose(table.loc["a"], [expected.mean, expected.standard_error])
    assert np.allclose(table.loc["b"], [4.0, 0.0])


def test_lowest_names_the_run_with_the_lowest_mean():
    runs = {0.5: seed_runs({"loss": [3.0, 1.0]}), 1.0: seed_runs({"loss": [1.5, 1.6]}), 2.0: seed_runs({"loss": [9.0, 0.0]})}
    assert lowest(runs, "loss") == 1.0
    with pytest.raises(ValueError, match="at least one"):
        lowest({}, "loss")
