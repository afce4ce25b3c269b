"""The likelihoods and latent terms equal the formulas their docstrings state, and are distributions."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops
from scipy.stats import norm

from snippets import (
    VAE,
    Bernoulli,
    Categorical,
    ContinuousBernoulli,
    Gaussian,
    LatentVariableModel,
    Likelihood,
    Multinomial,
    build_dense_decoder,
    build_dense_encoder,
    diagonal_gaussian_log_density,
    gaussian_kl_to_standard_normal,
)


def numpy_of(tensor) -> np.ndarray:
    return ops.convert_to_numpy(tensor)


def test_kl_closed_form_equals_monte_carlo_estimate():
    """KL(q || N(0, I)) = E_q[log q(z) - log p(z)]: closed form vs 400k samples."""
    rng = np.random.default_rng(1)
    mean = np.array([[0.7, -1.2, 0.1]])
    log_var = np.array([[-0.5, 0.4, -2.0]])
    closed = float(numpy_of(gaussian_kl_to_standard_normal(mean, log_var))[0])

    z = mean + np.exp(0.5 * log_var) * rng.standard_normal((400_000, 3))
    samples = numpy_of(diagonal_gaussian_log_density(z, mean, log_var)) - numpy_of(
        diagonal_gaussian_log_density(z, np.zeros_like(z), 0.0)
    )
    standard_error = samples.std() / np.sqrt(len(samples))
    assert abs(samples.mean() - closed) < 4 * standard_error


def test_kl_is_zero_only_at_the_prior_and_positive_elsewhere():
    zero = numpy_of(gaussian_kl_to_standard_normal(np.zeros((1, 4)), np.zeros((1, 4))))
    assert np.allclose(zero, 0.0)
    rng = np.random.default_rng(2)
    kl = numpy_of(gaussian_kl_to_standard_normal(rng.normal(size=(50, 4)), rng.normal(size=(50, 4))))
    assert kl.shape == (50,) and np.all(kl > 0)


def test_diagonal_gaussian_density_equals_scipy():
    rng = np.random.default_rng(5)
    z, mean, log_var = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    expected = norm.logpdf(z, mean, np.exp(0.5 * log_var)).sum(axis=1)
    assert np.allclose(numpy_of(diagonal_gaussian_log_density(z, mean, log_var)), expected, rtol=1e-5)


def test_bernoulli_is_a_distribution_over_binary_images():
    """Summed over all 2^d binary vectors, p(x | logits) is 1, and it matches the naive formula."""
    rng = np.random.default_rng(3)
    logits = rng.normal(scale=3.0, size=(1, 6)).astype(np.float32)
    every_x = ((np.arange(64)[:, None] >> np.arange(6)) & 1).astype(np.float32)
    log_p = numpy_of(Bernoulli().log_prob(every_x, np.repeat(logits, 64, axis=0)))
    assert np.isclose(np.exp(log_p.astype(np.float64)).sum(), 1.0, rtol=1e-5)
    p = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    naive = (every_x * np.log(p) + (1 - every_x) * np.log(1 - p)).sum(axis=1)
    assert np.allclose(log_p, naive, rtol=1e-5, atol=1e-4)


def test_bernoulli_stays_finite_on_saturated_pixels_and_sums_over_image_axes():
    """Pixels exactly 0/1 with huge logits: the naive formula gives log(0), this one does not."""
    x = np.array([[0.0, 1.0, 0.0, 1.0]], dtype=np.float32)
    logits = np.array([[200.0, -200.0, -200.0, 200.0]], dtype=np.float32)
    value = numpy_of(Bernoulli().log_prob(x, logits))
    assert np.all(np.isfinite(value)) and np.allclose(value, [-400.0], rtol=1e-6)
    images = np.ones((2, 28, 28, 1), dtype=np.float32)
    assert np.allclose(numpy_of(Bernoulli().log_prob(images, 0 * images)), -784 * np.log(2.0), rtol=1e-6)


@pytest.mark.parametrize("logit", [-30.0, -4.0, -1e-4, 0.0, 2e-4, 0.7, 25.0])
def test_continuous_bernoulli_density_integrates_to_one_and_has_the_stated_mean(logit):
    x = np.linspace(0.0, 1.0, 20001)[:, None]
    density = np.exp(numpy_of(ContinuousBernoulli().log_prob(x, np.full_like(x, logit))))
    assert np.isclose(np.trapezoid(density, x[:, 0]), 1.0, rtol=1e-6)
    mean = np.trapezoid(x[:, 0] * density, x[:, 0])
    assert np.isclose(float(numpy_of(ContinuousBernoulli().mean(np.array([logit])))[0]), mean, atol=1e-6)


def test_the_bernoulli_formula_on_grey_levels_is_maximised_at_the_grey_level_yet_not_normalised():
    """For a grey level x the Bernoulli formula peaks at lambda = x, but integrates to less than 1."""
    logits = np.linspace(-6, 6, 2001)[:, None]
    for grey in (0.2, 0.5, 0.9):
        log_p = numpy_of(Bernoulli().log_prob(np.full_like(logits, grey), logits))
        best = 1 / (1 + np.exp(-logits[np.argmax(log_p), 0]))
        assert abs(best - grey) < 0.01
    x = np.linspace(0.0, 1.0, 2001)[:, None]
    total = np.trapezoid(np.exp(numpy_of(Bernoulli().log_prob(x, np.full_like(x, 2.0)))), x[:, 0])
    assert total < 0.95


@pytest.mark.parametrize("variance", [0.05, 1.0])
def test_fixed_variance_gaussian_equals_scipy_and_integrates_to_one(variance):
    rng = np.random.default_rng(6)
    x, logits = rng.random((3, 6)), rng.normal(size=(3, 6))
    expected = norm.logpdf(x, 1 / (1 + np.exp(-logits)), np.sqrt(variance)).sum(axis=1)
    assert np.allclose(numpy_of(Gaussian(variance).log_prob(x, logits)), expected, rtol=1e-5)
    grid = np.linspace(-8, 8, 40001)[:, None]
    density = np.exp(numpy_of(Gaussian(variance).log_prob(grid, np.zeros_like(grid))))
    assert np.isclose(np.trapezoid(density, grid[:, 0]), 1.0, rtol=1e-5)


def test_calibrated_gaussian_uses_the_batch_mean_squared_error_as_variance():
    rng = np.random.default_rng(7)
    x, logits = rng.random((5, 8)).astype(np.float32), rng.normal(size=(5, 8)).astype(np.float32)
    mse = float(np.mean((x - 1 / (1 + np.exp(-logits))) ** 2))
    assert np.allclose(numpy_of(Gaussian(None).log_prob(x, logits)), numpy_of(Gaussian(mse).log_prob(x, logits)),
                       rtol=1e-4)


def test_multinomial_and_categorical_equal_their_log_softmax_formulas():
    rng = np.random.default_rng(8)
    logits = rng.normal(size=(4, 7)).astype(np.float32)
    counts = rng.integers(0, 3, size=(4, 7)).astype(np.float32)
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert np.allclose(numpy_of(Multinomial().log_prob(counts, logits)), (counts * log_softmax).sum(axis=1),
                       atol=1e-5)
    assert np.allclose(numpy_of(Multinomial().mean(logits)).sum(axis=1), 1.0, atol=1e-6)
    sequences = rng.normal(size=(2, 3, 5)).astype(np.float32)
    tokens = np.array([[1, 4, 0], [2, 0, 0]])
    per_step = sequences - np.log(np.exp(sequences).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(per_step, tokens[..., None], axis=-1)[..., 0]
    assert np.allclose(numpy_of(Categorical().log_prob(tokens, sequences)), picked.sum(axis=1), atol=1e-5)
    masked = numpy_of(Categorical(ignore_class=0).log_prob(tokens, sequences))
    assert np.allclose(masked, (picked * (tokens != 0)).sum(axis=1), atol=1e-5)


@pytest.mark.parametrize(
    ("likelihood", "x", "message"),
    [
        (Bernoulli(), np.full((2, 3), 255.0), r"x must hold pixel intensities in \[0, 1\].*divide by 255"),
        (Gaussian(0.1), np.array([[0.0, np.nan]]), "x contains 1 NaN"),
        (Multinomial(), -np.ones((2, 3)), r"x must hold values in \[0, inf\]"),
        (Categorical(), np.array([[0.5, 1.0]]), "x must hold whole numbers"),
    ],
)
def test_each_likelihood_rejects_data_outside_its_support(likelihood, x, message):
    with pytest.raises(ValueError, match=message):
        likelihood.check(x)


def test_a_bad_variance_is_rejected_by_name():
    with pytest.raises(ValueError, match="variance must be a number > 0, 'learned' or None"):
        Gaussian(-1.0)


def test_a_learned_variance_is_trained_and_reloads(tmp_path):
    """With Gaussian('learned') the log-variance is a weight: fit moves it, saving keeps it."""
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).random((64, 784)).astype(np.float32)
    vae = VAE(build_dense_encoder(2, hidden_units=(16,)), build_dense_decoder(2, hidden_units=(16,)),
              likelihood=Gaussian("learned"), seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(1e-2))
    vae.fit(x, epochs=3, batch_size=32, verbose=0)
    learned = float(numpy_of(vae.likelihood.log_variance))
    assert learned < -0.03  # the residuals of pixels in [0, 1] have far less than unit variance
    vae.save(tmp_path / "vae.keras")
    restored = keras.saving.load_model(tmp_path / "vae.keras", safe_mode=True)
    assert float(numpy_of(restored.likelihood.log_variance)) == pytest.approx(learned)


def test_a_custom_likelihood_subclass_plugs_into_the_vae_and_the_base_class_serves_both_models():
    """A reader's own Likelihood (here a Laplace with unit scale) trains with the unchanged VAE."""

    class UnitLaplace(Likelihood):
        def log_prob(self, x, logits):
            mean = self.mean(logits)
            return ops.sum(-ops.abs(ops.cast(x, mean.dtype) - mean) - np.log(2.0), axis=-1)

        def mean(self, logits):
            return ops.sigmoid(logits)

    x = np.random.default_rng(0).random((64, 784)).astype(np.float32)
    vae = VAE(build_dense_encoder(2, hidden_units=(16,)), build_dense_decoder(2, hidden_units=(16,)),
              likelihood=UnitLaplace(), seed=0)
    vae.compile(optimizer="adam")
    losses = vae.fit(x, epochs=3, batch_size=32, verbose=0).history["loss"]
    assert losses[-1] < losses[0] and isinstance(vae, LatentVariableModel)
    assert vae.check_examples(x) is not None  # the base Likelihood.check accepts any finite array


def test_categorical_rejects_a_class_past_the_decoders_last_one():
    """``one_hot`` scores an out-of-range class as probability 0; the check refuses it first."""
    tokens = np.array([[0, 4], [2, 5]])
    assert np.array_equal(Categorical().check(tokens[:1], logits_shape=(2, 5)), tokens[:1])
    with pytest.raises(ValueError, match=r"tokens must hold values in \[0, 4\], got values in \[0, 5\]"):
        Categorical().check(tokens, "tokens", logits_shape=(2, 5))
