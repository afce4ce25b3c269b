"""The theory chapters' formulas hold: closed forms agree with brute force, bounds bound."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import norm
from keras import ops
from matplotlib.figure import Figure

from snippets.chapters.theory import (
    ElboTerms,
    LinearGaussianModel,
    MonteCarloEstimate,
    PosteriorFit,
    distance_contrast,
    elbo_terms,
    fit_gaussian_posterior,
    format_table,
    gaussian_cross_entropy,
    gaussian_entropy,
    gaussian_kl,
    gaussian_kl_full,
    gaussian_log_density,
    gaussian_log_likelihood_from_mse,
    joint_elbo_decomposition,
    log_marginal_by_prior_sampling,
    monte_carlo_kl,
    occupied_cell_fraction,
    random_linear_gaussian_model,
)
from snippets.chapters.theory_plots import plot_curse_of_dimensionality, plot_elbo_trace, plot_gaussian_pair
from snippets.losses import gaussian_kl_to_standard_normal

MEAN_P, VAR_P = np.array([0.0, 1.0, -1.0]), np.array([1.0, 0.5, 2.0])
MEAN_Q, VAR_Q = np.array([0.5, 0.0, 0.0]), np.array([2.0, 1.0, 1.0])


@pytest.fixture()
def ppca():
    """A 5-D linear-Gaussian model with a 2-D latent and one data point from it."""
    model = random_linear_gaussian_model(data_dim=5, latent_dim=2, noise_var=0.5, seed=0)
    return model, model.sample(1, seed=1)[1][0]


def random_gaussian(rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray]:
    factor = rng.standard_normal((k, k))
    return rng.standard_normal(k), factor @ factor.T + 0.1 * np.eye(k)


# -- Gaussians and information -------------------------------------------------


def test_log_density_matches_the_univariate_formula_per_coordinate():
    x = np.array([[0.3, -2.0]])
    expected = sum(
        -0.5 * np.log(2 * np.pi * v) - (xi - m) ** 2 / (2 * v)
        for xi, m, v in zip(x[0], [1.0, 0.0], [0.25, 3.0])
    )
    assert gaussian_log_density(x, [1.0, 0.0], [0.25, 3.0]) == pytest.approx([expected], abs=1e-12)


def test_entropy_equals_minus_expected_log_density():
    """H(p) = -E_p[log p], checked with 200k samples (within 4 standard errors)."""
    z = MEAN_P + np.sqrt(VAR_P) * np.random.default_rng(0).standard_normal((200_000, 3))
    neg_log = -gaussian_log_density(z, MEAN_P, VAR_P)
    assert abs(neg_log.mean() - gaussian_entropy(VAR_P)) < 4 * neg_log.std() / np.sqrt(len(z))


def test_cross_entropy_is_entropy_plus_kl():
    assert gaussian_cross_entropy(MEAN_P, VAR_P, MEAN_Q, VAR_Q) == pytest.approx(
        gaussian_entropy(VAR_P) + gaussian_kl(MEAN_P, VAR_P, MEAN_Q, VAR_Q), abs=1e-12
    )


def test_kl_closed_form_agrees_with_monte_carlo_within_four_standard_errors():
    estimate = monte_carlo_kl(MEAN_P, VAR_P, MEAN_Q, VAR_Q, n=50_000, seed=0)
    assert isinstance(estimate, MonteCarloEstimate) and estimate.n == 50_000
    assert abs(estimate.mean - gaussian_kl(MEAN_P, VAR_P, MEAN_Q, VAR_Q)) < 4 * estimate.standard_error


def test_kl_is_non_negative_on_random_pairs_and_zero_for_equal_distributions():
    rng = np.random.default_rng(0)
    means, variances = rng.standard_normal((2, 100, 4)), rng.uniform(0.1, 3.0, (2, 100, 4))
    assert np.all(gaussian_kl(means[0], variances[0], means[1], variances[1]) > 0)
    assert gaussian_kl(means[0], variances[0], means[0], variances[0]) == pytest.approx(np.zeros(100), abs=1e-12)


def test_kl_is_not_symmetric():
    """KL(N(0,1) || N(1,4)) = 0.443 but KL(N(1,4) || N(0,1)) = 1.307 nats."""
    forward = gaussian_kl([0.0], [1.0], [1.0], [4.0])
    backward = gaussian_kl([1.0], [4.0], [0.0], [1.0])
    assert forward == pytest.approx(0.5 * (np.log(4.0) + 0.5 - 1.0))
    assert backward == pytest.approx(0.5 * (np.log(0.25) + 5.0 - 1.0))
    assert abs(forward - backward) > 0.5


def test_kl_to_standard_normal_matches_the_keras_loss():
    log_var = np.log(VAR_P)[None]
    keras_kl = ops.convert_to_numpy(gaussian_kl_to_standard_normal(MEAN_P[None], log_var))
    assert gaussian_kl(MEAN_P, VAR_P, np.zeros(3), np.ones(3)) == pytest.approx(keras_kl[0], rel=1e-6)


def test_full_covariance_kl_reduces_to_the_diagonal_one():
    assert gaussian_kl_full(MEAN_P, np.diag(VAR_P), MEAN_Q, np.diag(VAR_Q)) == pytest.approx(
        gaussian_kl(MEAN_P, VAR_P, MEAN_Q, VAR_Q), abs=1e-12
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((MEAN_P, -VAR_P, MEAN_Q, VAR_Q), "var_p"),
        ((MEAN_P, VAR_P, MEAN_Q, np.zeros(3)), "var_q"),
        ((MEAN_P, VAR_P, MEAN_Q[:2], VAR_Q), "shapes must match"),
        ((MEAN_P, VAR_P, [np.nan, 0, 0], VAR_Q), "mean_q"),
    ],
)
def test_kl_rejects_bad_input_naming_the_argument(arguments, message):
    with pytest.raises(ValueError, match=message):
        gaussian_kl(*arguments)


def test_other_bad_input_errors_name_the_argument():
    with pytest.raises(ValueError, match="var"):
        gaussian_log_density([0.0], [0.0], [0.0])
    with pytest.raises(ValueError, match="n must be >= 2"):
        monte_carlo_kl(MEAN_P, VAR_P, MEAN_Q, VAR_Q, n=1)
    with pytest.raises(ValueError, match="cov_q must be positive definite"):
        gaussian_kl_full([0.0, 0.0], np.eye(2), [0.0, 0.0], np.zeros((2, 2)))


# -- Curse of dimensionality ----------------------------------------------------


def test_histogram_cells_empty_out_as_dimension_grows():
    fractions = [occupied_cell_fraction(d, n_samples=2_000, seed=0) for d in (1, 2, 4, 6)]
    assert fractions[0] == 1.0
    assert np.all(np.diff(fractions) <= 0)
    assert fractions[-1] <= 2_000 / 10**6


def test_nearest_and_farthest_distances_concentrate_in_high_dimension():
    low, high = distance_contrast(2, 500, n_queries=50, seed=0), distance_contrast(500, 500, n_queries=50, seed=0)
    assert low.shape == high.shape == (50,)
    assert np.mean(low) < 0.05 < 0.5 < np.mean(high)


def test_distance_contrast_is_the_brute_force_ratio_for_each_query():
    ratios = distance_contrast(3, 40, n_queries=5, seed=7)
    rng = np.random.default_rng(7)
    queries, points = rng.random((5, 3)), rng.random((40, 3))
    for ratio, query in zip(ratios, queries):
        distances = np.linalg.norm(points - query, axis=1)
        assert ratio == pytest.approx(distances.min() / distances.max(), rel=1e-9)


# -- The linear-Gaussian model ---------------------------------------------------


def test_exact_log_marginal_matches_quadrature_and_prior_sampling_in_1d_latent():
    model = random_linear_gaussian_model(data_dim=4, latent_dim=1, noise_var=0.3, seed=2)
    x = model.sample(1, seed=3)[1][0]
    exact = float(model.log_marginal(x))
    joint = lambda z: np.exp(float(model.log_likelihood(x, np.array([[z]]))[0]) + norm.logpdf(z))  # noqa: E731
    assert np.log(quad(joint, -12.0, 12.0, epsabs=0, epsrel=1e-12)[0]) == pytest.approx(exact, abs=1e-8)
    assert log_marginal_by_prior_sampling(model, x, n=200_000, seed=0) == pytest.approx(exact, abs=0.05)


def test_log_marginal_matches_a_dense_gaussian_density(ppca):
    model, x = ppca
    cov = model.marginal_covariance()
    diff = x - model.bias
    expected = -0.5 * (5 * np.log(2 * np.pi) + np.linalg.slogdet(cov)[1] + diff @ np.linalg.solve(cov, diff))
    assert model.log_marginal(x) == pytest.approx(expected, abs=1e-10)


def test_posterior_is_bayes_rule(ppca):
    """log p(z|x) = log p(x|z) + log p(z) - log p(x) at arbitrary z."""
    model, x = ppca
    mean, cov = model.posterior(x)
    z = np.random.default_rng(4).standard_normal((7, 2))
    diff = z - mean
    log_posterior = -0.5 * (
        2 * np.log(2 * np.pi) + np.linalg.slogdet(cov)[1] + np.sum(diff @ np.linalg.inv(cov) * diff, axis=1)
    )
    bayes = model.log_likelihood(x, z) + gaussian_log_density(z, 0.0, 1.0) - model.log_marginal(x)
    assert log_posterior == pytest.approx(bayes, abs=1e-10)


def test_elbo_plus_kl_to_the_posterior_is_log_marginal_for_random_q(ppca):
    """log p(x) = ELBO(q) + KL(q || p(z|x)) to 1e-8, and so ELBO <= log p(x)."""
    model, x = ppca
    post_mean, post_cov = model.posterior(x)
    log_px = float(model.log_marginal(x))
    rng = np.random.default_rng(5)
    for _ in range(20):
        q_mean, q_cov = random_gaussian(rng, 2)
        elbo = elbo_terms(model, x, q_mean, q_cov).elbo
        assert elbo <= log_px
        assert elbo + gaussian_kl_full(q_mean, q_cov, post_mean, post_cov) == pytest.approx(log_px, abs=1e-8)


def test_elbo_equals_log_marginal_at_the_true_posterior(ppca):
    model, x = ppca
    assert elbo_terms(model, x, *model.posterior(x)).elbo == pytest.approx(model.log_marginal(x), abs=1e-10)


@pytest.mark.parametrize("data_dim, latent_dim", [(5, 2), (6, 3), (2, 3)])
def test_rotated_model_keeps_log_marginal_and_has_a_diagonal_posterior(data_dim, latent_dim):
    """W -> W V leaves p(x) alone, and a factorised q then closes the ELBO gap."""
    model = random_linear_gaussian_model(data_dim=data_dim, latent_dim=latent_dim, noise_var=0.5, seed=3)
    rotated = model.with_uncorrelated_posterior()
    x = model.sample(4, seed=4)[1]
    assert rotated.log_marginal(x) == pytest.approx(model.log_marginal(x), abs=1e-10)
    mean, cov = rotated.posterior(x[0])
    assert cov - np.diag(np.diag(cov)) == pytest.approx(np.zeros_like(cov), abs=1e-12)
    assert elbo_terms(rotated, x[0], mean, np.diag(np.diag(cov))).elbo == pytest.approx(
        rotated.log_marginal(x[0]), abs=1e-10
    )


def test_elbo_terms_match_a_monte_carlo_estimate(ppca):
    """The closed-form reconstruction term is E_q[log p(x|z)] (within 4 standard errors)."""
    model, x = ppca
    q_mean, q_cov = random_gaussian(np.random.default_rng(6), 2)
    z = np.random.default_rng(7).multivariate_normal(q_mean, q_cov, size=100_000)
    log_lik = model.log_likelihood(x, z)
    terms = elbo_terms(model, x, q_mean, q_cov)
    assert isinstance(terms, ElboTerms) and terms.elbo == terms.reconstruction - terms.kl
    assert abs(log_lik.mean() - terms.reconstruction) < 4 * log_lik.std() / np.sqrt(len(z))


def test_gradient_ascent_on_the_elbo_recovers_the_posterior(ppca):
    model, x = ppca
    fit = fit_gaussian_posterior(model, x, steps=300, learning_rate=0.05)
    assert isinstance(fit, PosteriorFit) and fit.elbo.shape == (301,)
    post_mean, post_cov = model.posterior(x)
    assert np.all(np.diff(fit.elbo) >= -1e-12)
    assert fit.elbo[-1] == pytest.approx(model.log_marginal(x), abs=1e-8)
    assert fit.mean == pytest.approx(post_mean, abs=1e-6)
    assert fit.cov == pytest.approx(post_cov, abs=1e-6)


def test_linear_gaussian_model_rejects_bad_input():
    with pytest.raises(ValueError, match="noise_var"):
        LinearGaussianModel(np.ones((3, 1)), np.zeros(3), 0.0)
    with pytest.raises(ValueError, match="bias"):
        LinearGaussianModel(np.ones((3, 1)), np.zeros(2), 1.0)
    model = random_linear_gaussian_model(3, 2, 1.0)
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 3\)"):
        model.log_marginal(np.zeros(4))
    with pytest.raises(ValueError, match="q_cov must be symmetric"):
        elbo_terms(model, np.zeros(3), np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="learning_rate"):
        fit_gaussian_posterior(model, np.zeros(3), steps=3, learning_rate=-1.0)


# -- Decoder likelihoods -----------------------------------------------------------


def test_gaussian_log_likelihood_is_a_rescaled_shifted_mse():
    """sum_j log N(x_j; x_hat_j, s^2) = -d * MSE / (2 s^2) - d/2 log(2 pi s^2)."""
    rng = np.random.default_rng(8)
    x, x_hat = rng.random((6, 784)), rng.random((6, 784))
    mse = np.mean((x - x_hat) ** 2, axis=1)
    for noise_var in (0.01, 0.1, 1.0):
        direct = gaussian_log_density(x, x_hat, noise_var)
        assert gaussian_log_likelihood_from_mse(mse, 784, noise_var) == pytest.approx(direct, abs=1e-9)


def test_mse_likelihood_rejects_bad_input():
    with pytest.raises(ValueError, match="noise_var"):
        gaussian_log_likelihood_from_mse(0.1, 10, 0.0)
    with pytest.raises(ValueError, match="mse"):
        gaussian_log_likelihood_from_mse(-0.1, 10, 1.0)


# -- Tables and figures --------------------------------------------------------------


def test_format_table_rounds_and_aligns():
    table = format_table(["q", "ELBO"], [["prior", -14.54832], ["posterior", -1e-12]])
    assert table.splitlines() == [
        "        q      ELBO",
        "---------  --------",
        "    prior  -14.5483",
        "posterior    0.0000",
    ]
    with pytest.raises(ValueError, match="every row"):
        format_table(["a"], [[1, 2]])


def test_figures_are_built_without_pyplot(ppca):
    model, x = ppca
    fit = fit_gaussian_posterior(model, x, steps=20, learning_rate=0.05)
    figures = [
        plot_gaussian_pair(0.0, 1.0, 1.0, 4.0),
        plot_curse_of_dimensionality([1, 2], [1.0, 0.5], [np.array([0.1, 0.2]), np.array([0.3])], n_samples=100, bins_per_axis=10),
        plot_elbo_trace(fit.elbo, float(model.log_marginal(x))),
    ]
    assert all(isinstance(figure, Figure) for figure in figures)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_data_averaged_elbo_is_minus_a_joint_kl_minus_the_data_entropy(seed):
    terms = joint_elbo_decomposition(n_x=6, n_z=4, seed=seed)
    assert terms.mean_elbo == pytest.approx(-terms.joint_kl - terms.data_entropy, abs=1e-12)
    # The joint KL bounds the KL between the marginals from above (chain rule of KL).
    assert terms.joint_kl >= terms.marginal_kl > 0


def test_joint_elbo_decomposition_rejects_bad_sizes():
    with pytest.raises(ValueError, match="n_z"):
        joint_elbo_decomposition(n_x=3, n_z=0)
