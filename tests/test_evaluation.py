"""IWAE bound and multi-sample ELBO: what they estimate, how they relate, how they are combined."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy.special import logsumexp

from snippets import evaluation
from snippets.chapters.plotting import plot_bounds_by_k
from snippets.chapters.theory import gaussian_log_density, random_linear_gaussian_model
from snippets.conv import build_conv_decoder, build_conv_encoder
from snippets.data import binarize
from snippets.evaluation import (
    MAX_BATCH_VALUES,
    LogWeightSummary,
    MeanWithError,
    codes_per_batch,
    elbo_estimate,
    iwae_bound,
    log_importance_weights,
    log_weight_statistics,
    mean_and_standard_error,
    nats_to_bits_per_dim,
    summarize_log_weights,
)
from snippets.models import VAE, build_dense_decoder, build_dense_encoder, predict_in_batches


def small_vae(latent_dim: int = 4) -> VAE:
    keras.utils.set_random_seed(0)
    vae = VAE(
        build_dense_encoder(hidden_units=(64,), latent_dim=latent_dim),
        build_dense_decoder(hidden_units=(64,), latent_dim=latent_dim),
        seed=0,
    )
    vae.compile(optimizer=keras.optimizers.Adam(3e-3))
    return vae


@pytest.fixture(scope="module")
def trained(mnist_small):
    """A small VAE trained briefly on binarised digits, and 100 binarised test digits."""
    vae = small_vae()
    vae.fit(binarize(mnist_small.x_train, seed=0), epochs=3, batch_size=50, verbose=0)
    return vae, binarize(mnist_small.x_test[:100], seed=1)


def test_iwae_with_one_sample_is_the_single_log_weight_of_the_seeded_draw(trained):
    vae, x = trained
    x = x[:20]
    z_mean, z_log_var = predict_in_batches(vae.encoder, x)
    epsilon = np.stack([np.random.default_rng([5, i]).standard_normal((1, vae.latent_dim)) for i in range(len(x))])
    expected = log_importance_weights(vae, x, z_mean, z_log_var, epsilon)[:, 0]
    bound = iwae_bound(vae, x, k=1, seed=5)
    assert np.allclose(bound, expected, atol=1e-4)
    assert np.array_equal(bound, elbo_estimate(vae, x, n_samples=1, seed=5))


def test_iwae_with_one_sample_averages_to_the_keras_loss(trained):
    """k = 1 is an unbiased ELBO estimate: its mean over seeds matches -evaluate()['loss']."""
    vae, x = trained
    seeds = np.stack([iwae_bound(vae, x, k=1, seed=seed) for seed in range(20)])
    losses = [vae.evaluate(x, batch_size=100, verbose=0, return_dict=True)["loss"] for _ in range(10)]
    iwae_error = seeds.std(axis=0, ddof=1).mean() / math.sqrt(seeds.size)
    loss_error = np.std(losses, ddof=1) / math.sqrt(len(losses))
    assert abs(-seeds.mean() - np.mean(losses)) < 4.0 * math.hypot(iwae_error, loss_error)


def test_iwae_bound_does_not_decrease_with_k_on_average(trained):
    vae, x = trained
    x = x[:40]
    means = {k: np.stack([iwae_bound(vae, x, k, seed=seed) for seed in range(3)]).mean(axis=0) for k in (1, 10, 100)}
    for small, large in ((1, 10), (10, 100)):
        gain = mean_and_standard_error(means[large] - means[small])
        assert gain.mean > -3.0 * gain.standard_error, (small, large, gain)
    assert means[100].mean() > means[1].mean()


def test_multi_sample_elbo_never_exceeds_iwae_on_the_same_draws(trained):
    vae, x = trained
    summary = log_weight_statistics(vae, x[:30], k=50, seed=2)
    assert isinstance(summary, LogWeightSummary) and summary.k == 50
    assert np.all(summary.elbo <= summary.iwae + 1e-9)


def test_estimates_do_not_depend_on_the_batch_size(trained):
    vae, x = trained
    small = log_weight_statistics(vae, x[:12], k=20, seed=3, batch_size=7)
    large = log_weight_statistics(vae, x[:12], k=20, seed=3)
    assert np.allclose(small.iwae, large.iwae, atol=1e-3)
    assert np.allclose(small.elbo, large.elbo, atol=1e-3)


def test_a_decoded_batch_keeps_every_layer_output_under_the_value_bound(monkeypatch):
    """log_weight_statistics decodes a convolutional decoder's codes in batches whose
    feature maps hold at most MAX_BATCH_VALUES values, where a dense decoder, no
    layer of which is wider than its image, keeps ``batch_size``; a decoder whose
    layer outputs are unknown (a subclassed model) keeps ``batch_size`` too."""
    conv = VAE(build_conv_encoder(2), build_conv_decoder(2), seed=0)
    widest = max(math.prod(layer.output.shape[1:]) for layer in conv.decoder.layers)
    assert widest > 784
    decoded = []

    def recording(vae, x, z_mean, z_log_var, epsilon):
        decoded.append(epsilon.shape[0] * epsilon.shape[1])
        return log_importance_weights(vae, x, z_mean, z_log_var, epsilon)

    monkeypatch.setattr(evaluation, "log_importance_weights", recording)
    images = np.zeros((3, 28, 28, 1), np.float32)
    log_weight_statistics(conv, images, k=1000, batch_size=4096)
    assert sum(decoded) == 3 * 1000
    assert max(decoded) * widest <= MAX_BATCH_VALUES < 4096 * widest
    assert max(decoded) == codes_per_batch(conv.decoder, 4096)
    dense = build_dense_decoder(2, hidden_units=(64,))
    assert codes_per_batch(dense, 4096) == 4096

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.logits = keras.layers.Dense(784)

        def call(self, z):
            return self.logits(z)

    subclassed = Subclassed()
    subclassed(np.zeros((1, 2), np.float32))
    assert codes_per_batch(subclassed, 100) == 100


def test_when_q_is_the_true_posterior_every_k_gives_log_p_x(mnist_small):
    """Zero weights: the decoder ignores z, so p(z|x) = p(z) = q(z|x) and every log-weight is log p(x)."""
    vae = small_vae(latent_dim=3)
    for model in (vae.encoder, vae.decoder):
        for variable in model.weights:
            variable.assign(np.zeros(variable.shape, np.float32))
    bias = np.random.default_rng(0).normal(size=784).astype(np.float32)
    vae.decoder.get_layer("logits").bias.assign(bias)
    x = binarize(mnist_small.x_test[:10], seed=0)
    log_p_x = (x * bias - np.logaddexp(0.0, bias)).sum(axis=1)
    for k in (1, 7, 300):
        summary = log_weight_statistics(vae, x, k, seed=k)
        assert np.allclose(summary.iwae, log_p_x, rtol=1e-5)
        assert np.allclose(summary.elbo, log_p_x, rtol=1e-5)


def test_exact_posterior_of_the_linear_gaussian_model_gives_constant_weights_and_log_p_x():
    model = random_linear_gaussian_model(data_dim=5, latent_dim=1, noise_var=0.5, seed=1)
    _, x = model.sample(1, seed=2)
    x = x[0]
    mean, cov = model.posterior(x)
    z = mean + np.sqrt(cov[0, 0]) * np.random.default_rng(3).standard_normal((1000, 1))
    log_w = model.log_likelihood(x, z) + gaussian_log_density(z, 0.0, 1.0) - gaussian_log_density(z, mean, cov[0])
    assert np.allclose(log_w, model.log_marginal(x))
    for k in (1, 10, 1000):
        summary = summarize_log_weights(np.array_split(log_w[None, :k], min(k, 3), axis=1))
        assert np.allclose([summary.iwae[0], summary.elbo[0]], model.log_marginal(x))


def test_chunked_log_sum_exp_equals_the_unchunked_one_and_is_stable():
    log_w = np.random.default_rng(0).normal(-1e4, 5.0, size=(4, 1000))
    chunks = [log_w[:, :1], log_w[:, 1:300], log_w[:, 300:]]
    summary = summarize_log_weights(chunks)
    assert np.all(np.isfinite(summary.iwae))
    assert np.allclose(summary.iwae, logsumexp(log_w, axis=1) - math.log(1000), rtol=0, atol=1e-9)
    assert np.allclose(summary.elbo, log_w.mean(axis=1))
    moderate = log_w + 1e4
    direct = np.log(np.mean(np.exp(moderate), axis=1))
    assert np.allclose(summarize_log_weights([moderate[:, :10], moderate[:, 10:]]).iwae, direct)


def test_784_ln2_nats_are_one_bit_per_dimension():
    assert nats_to_bits_per_dim(784 * math.log(2.0), 784) == pytest.approx(1.0)
    assert np.allclose(nats_to_bits_per_dim([0.0, 2 * math.log(2.0)], 2), [0.0, 1.0])


def test_bad_arguments_raise_errors_naming_them(trained):
    vae, x = trained
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        iwae_bound(vae, x, k=0)
    with pytest.raises(TypeError, match="k must be an integer"):
        iwae_bound(vae, x, k=2.5)
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1"):
        elbo_estimate(vae, x, n_samples=0)
    with pytest.raises(ValueError, match="x is empty"):
        iwae_bound(vae, x[:0], k=1)
    with pytest.raises(ValueError, match="per-example shape"):
        iwae_bound(vae, x.reshape(-1, 28, 28, 1), k=1)
    with pytest.raises(ValueError, match="batch_size"):
        iwae_bound(vae, x, k=1, batch_size=0)
    with pytest.raises(ValueError, match="chunks is empty"):
        summarize_log_weights([])
    with pytest.raises(ValueError, match=r"chunks\[1\]"):
        summarize_log_weights([np.zeros((3, 2)), np.zeros((4, 2))])
    with pytest.raises(ValueError, match="n_dims"):
        nats_to_bits_per_dim(1.0, 0)
    with pytest.raises(ValueError, match="values"):
        mean_and_standard_error([])


def test_bound_plot_shows_levels_and_paired_gains_one_point_per_k():
    rng = np.random.default_rng(0)
    fig = plot_bounds_by_k([1, 10, 100], [rng.normal(-90 + j, 1.0, 50) for j in range(3)], elbo=rng.normal(-91, 1.0, 50))
    assert isinstance(fig, Figure)
    assert [len(ax.lines[0].get_xdata()) for ax in fig.axes] == [3, 3]
    assert np.allclose(fig.axes[1].lines[0].get_ydata()[0], 0.0)
    with pytest.raises(ValueError, match="ks and iwae"):
        plot_bounds_by_k([1, 10], [np.zeros(3)])


def test_conditional_models_are_refused_by_name():
    from snippets.chapters.conditional import build_conditional_vae

    with pytest.raises(TypeError, match=r"needs an unconditional VAE.*got VAE \(conditional\)"):
        log_weight_statistics(build_conditional_vae(2, hidden_units=(8,)), np.zeros((2, 784)), k=2)


def test_the_standard_error_is_the_spread_of_the_mean_over_repeated_samples():
    """Across many samples of n draws, the means scatter by about the standard error each reports,
    and mean +- 2 s.e. covers the true mean about 95 % of the time."""
    rng = np.random.default_rng(11)
    samples = rng.normal(loc=3.0, scale=2.0, size=(2000, 25))
    estimates = [mean_and_standard_error(sample) for sample in samples]
    means = np.array([estimate.mean for estimate in estimates])
    errors = np.array([estimate.standard_error for estimate in estimates])
    assert np.isclose(np.std(means), np.mean(errors), rtol=0.05)
    coverage = np.mean(np.abs(means - 3.0) <= 2 * errors)
    assert 0.92 < coverage < 0.97
    assert mean_and_standard_error([4.0]) == MeanWithError(mean=4.0, standard_error=0.0, n=1)
    assert mean_and_standard_error(samples[0]).n == 25
