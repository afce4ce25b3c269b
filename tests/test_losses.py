"""The loss terms equal the formulas their docstrings state."""

from __future__ import annotations

import numpy as np
import pytest
from keras import ops

from snippets.losses import (
    bernoulli_log_likelihood,
    continuous_bernoulli_log_likelihood,
    continuous_bernoulli_log_norm,
    continuous_bernoulli_mean,
    elbo,
    gaussian_kl_to_standard_normal,
    gaussian_log_likelihood,
)


def numpy_of(tensor) -> np.ndarray:
    return ops.convert_to_numpy(tensor)


def test_kl_closed_form_equals_monte_carlo_estimate():
    """KL(q || N(0, I)) = E_q[log q(z) - log p(z)]: closed form vs 400k samples."""
    rng = np.random.default_rng(1)
    mean = np.array([[0.7, -1.2, 0.1]])
    log_var = np.array([[-0.5, 0.4, -2.0]])
    closed = float(numpy_of(gaussian_kl_to_standard_normal(mean, log_var))[0])

    std = np.exp(0.5 * log_var)
    z = mean + std * rng.standard_normal((400_000, 3))
    log_q = -0.5 * (((z - mean) / std) ** 2 + log_var + np.log(2 * np.pi)).sum(axis=1)
    log_p = -0.5 * (z**2 + np.log(2 * np.pi)).sum(axis=1)
    samples = log_q - log_p
    standard_error = samples.std() / np.sqrt(len(samples))
    assert abs(samples.mean() - closed) < 4 * standard_error


def test_kl_is_zero_only_at_the_prior_and_positive_elsewhere():
    zero = numpy_of(gaussian_kl_to_standard_normal(np.zeros((1, 4)), np.zeros((1, 4))))
    assert np.allclose(zero, 0.0)
    rng = np.random.default_rng(2)
    kl = numpy_of(gaussian_kl_to_standard_normal(rng.normal(size=(50, 4)), rng.normal(size=(50, 4))))
    assert kl.shape == (50,) and np.all(kl > 0)


def test_bernoulli_log_likelihood_matches_the_naive_formula_where_finite():
    rng = np.random.default_rng(3)
    x = rng.random((8, 20)).astype(np.float32)
    logits = rng.normal(scale=3.0, size=(8, 20)).astype(np.float32)
    p = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    naive = (x * np.log(p) + (1 - x) * np.log(1 - p)).sum(axis=1)
    assert np.allclose(numpy_of(bernoulli_log_likelihood(x, logits)), naive, rtol=1e-5, atol=1e-4)


def test_bernoulli_log_likelihood_stays_finite_on_saturated_binary_pixels():
    """Pixels exactly 0/1 with huge logits: the naive formula gives log(0), ours does not."""
    x = np.array([[0.0, 1.0, 0.0, 1.0]], dtype=np.float32)
    logits = np.array([[200.0, -200.0, -200.0, 200.0]], dtype=np.float32)
    value = numpy_of(bernoulli_log_likelihood(x, logits))
    assert np.all(np.isfinite(value))
    assert np.allclose(value, [-400.0], rtol=1e-6)  # the two wrong pixels cost 200 nats each


def test_bernoulli_log_likelihood_sums_over_image_axes():
    x = np.ones((2, 28, 28, 1), dtype=np.float32)
    logits = np.zeros((2, 28, 28, 1), dtype=np.float32)
    assert np.allclose(numpy_of(bernoulli_log_likelihood(x, logits)), -784 * np.log(2.0), rtol=1e-6)


def test_elbo_is_reconstruction_minus_beta_times_kl():
    rng = np.random.default_rng(4)
    x = (rng.random((5, 10)) < 0.5).astype(np.float32)
    logits = rng.normal(size=(5, 10)).astype(np.float32)
    mean, log_var = rng.normal(size=(5, 2)), rng.normal(size=(5, 2))
    rec = numpy_of(bernoulli_log_likelihood(x, logits))
    kl = numpy_of(gaussian_kl_to_standard_normal(mean, log_var))
    assert np.allclose(numpy_of(elbo(x, logits, mean, log_var)), rec - kl, rtol=1e-5)
    assert np.allclose(numpy_of(elbo(x, logits, mean, log_var, beta=0.0)), rec, rtol=1e-5)


def test_gaussian_log_likelihood_matches_the_density_formula():
    rng = np.random.default_rng(5)
    x, mean = rng.random((3, 6)), rng.random((3, 6))
    log_var = np.float64(np.log(0.05))
    expected = (-0.5 * (np.log(2 * np.pi * 0.05) + (x - mean) ** 2 / 0.05)).sum(axis=1)
    got = numpy_of(gaussian_log_likelihood(x, mean, log_var))
    # The inputs are float64, and TensorFlow and PyTorch compute in float64. JAX
    # keeps float32 unless jax_enable_x64 is set, so there the check is float32-tight.
    rtol = 1e-10 if got.dtype == np.float64 else 1e-6
    assert np.allclose(got, expected, rtol=rtol)


@pytest.mark.parametrize("logit", [-30.0, -4.0, -1e-4, 0.0, 2e-4, 0.7, 25.0])
def test_continuous_bernoulli_density_integrates_to_one(logit):
    """The normaliser makes C(l) * lambda^x (1 - lambda)^(1 - x) a density on [0, 1]."""
    x = np.linspace(0.0, 1.0, 20001)[:, None]
    logits = np.full_like(x, logit)
    density = np.exp(numpy_of(continuous_bernoulli_log_likelihood(x, logits)))
    assert np.isclose(np.trapezoid(density, x[:, 0]), 1.0, rtol=1e-6)
    mean = np.trapezoid(x[:, 0] * density, x[:, 0])
    assert np.isclose(float(numpy_of(continuous_bernoulli_mean(np.array([logit])))[0]), mean, atol=1e-6)


def test_continuous_bernoulli_normaliser_is_log_two_at_the_centre():
    assert np.allclose(numpy_of(continuous_bernoulli_log_norm(np.zeros(3))), np.log(2.0))
