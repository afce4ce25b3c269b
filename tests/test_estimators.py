"""Both gradient estimators are unbiased, pathwise has lower variance, Sampling is differentiable."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from snippets.chapters.estimators import (
    FAST_SINE,
    SINE,
    SQUARE,
    GradientSummary,
    Objective,
    LayerGradientCheck,
    analytic_sampling_gradient,
    check_sampling_gradient,
    estimate_variance_by_sample_size,
    finite_difference_sampling_gradient,
    layer_dtype,
    layer_loss,
    pathwise_gradient,
    reparameterized_loss,
    sampling_loss_gradient,
    sampling_noise,
    sampling_output,
    score_function_gradient,
    sine_objective,
    summarize_gradient,
)
from snippets.chapters.theory_plots import plot_estimator_variance

Z_MEAN = np.array([[0.3, -1.0, 0.0], [2.0, 0.5, -0.2]])
Z_LOG_VAR = np.array([[0.1, -0.7, 0.0], [0.4, 1.0, -2.0]])


@pytest.mark.parametrize("objective", [SQUARE, SINE, FAST_SINE], ids=lambda o: o.name)
@pytest.mark.parametrize("estimator", [pathwise_gradient, score_function_gradient], ids=lambda e: e.__name__)
def test_estimator_is_unbiased_within_four_standard_errors(estimator, objective):
    summary = summarize_gradient(estimator, objective, mu=1.0, sigma=0.5, n=50_000, seed=1)
    exact = objective.exact_gradient(1.0, 0.5)
    assert np.all(np.abs(summary.mean - exact) < 4 * summary.standard_error)


def test_exact_gradients_match_finite_differences_of_the_closed_form_expectations():
    step, mu, sigma = 1e-6, 0.7, 1.3
    square = lambda m, s: m**2 + s**2  # noqa: E731
    sine = lambda m, s: np.sin(m) * np.exp(-(s**2) / 2)  # noqa: E731
    for objective, expectation in ((SQUARE, square), (SINE, sine)):
        numeric = [
            (expectation(mu + step, sigma) - expectation(mu - step, sigma)) / (2 * step),
            (expectation(mu, sigma + step) - expectation(mu, sigma - step)) / (2 * step),
        ]
        assert objective.exact_gradient(mu, sigma) == pytest.approx(numeric, abs=1e-7)


@pytest.mark.parametrize("objective", [SQUARE, SINE], ids=lambda o: o.name)
def test_pathwise_has_lower_variance_than_score_function(objective):
    pathwise = summarize_gradient(pathwise_gradient, objective, 1.0, 0.5, n=20_000)
    score = summarize_gradient(score_function_gradient, objective, 1.0, 0.5, n=20_000)
    assert np.all(pathwise.variance < score.variance)


def test_pathwise_variance_for_the_square_matches_its_formula():
    """For f = z^2: Var[2z] = 4 sigma^2 and Var[2 z eps] = 4 (mu^2 + 2 sigma^2)."""
    summary = summarize_gradient(pathwise_gradient, SQUARE, 1.0, 0.5, n=200_000)
    assert summary.variance == pytest.approx([1.0, 6.0], rel=0.03)


def test_variance_of_the_average_falls_like_one_over_n():
    variances = estimate_variance_by_sample_size(pathwise_gradient, SQUARE, 1.0, 0.5, [1, 100], repeats=400)
    assert variances[1] == pytest.approx(variances[0] / 100, rel=0.35)


def test_estimators_reject_bad_input():
    with pytest.raises(ValueError, match="sigma"):
        pathwise_gradient(SQUARE, 0.0, 0.0, np.zeros(3))
    with pytest.raises(ValueError, match="epsilon"):
        score_function_gradient(SQUARE, 0.0, 1.0, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="repeats"):
        estimate_variance_by_sample_size(pathwise_gradient, SQUARE, 0.0, 1.0, [1], repeats=1)
    with pytest.raises(ValueError, match="sample_sizes"):
        estimate_variance_by_sample_size(pathwise_gradient, SQUARE, 0.0, 1.0, [0], repeats=2)


def test_sampling_layer_output_is_mean_plus_scaled_noise():
    epsilon = sampling_noise(Z_MEAN.shape, seed=3)
    expected = Z_MEAN + np.exp(Z_LOG_VAR / 2) * epsilon
    assert sampling_output(Z_MEAN, Z_LOG_VAR, seed=3) == pytest.approx(expected, abs=1e-5)


def test_gradient_through_sampling_matches_analytic_in_float32():
    epsilon = sampling_noise(Z_MEAN.shape, seed=3)
    autodiff = sampling_loss_gradient(Z_MEAN, Z_LOG_VAR, seed=3)
    analytic = analytic_sampling_gradient(Z_MEAN, Z_LOG_VAR, epsilon)
    for got, exact in zip(autodiff, analytic):
        assert got == pytest.approx(exact, abs=1e-5)


def test_finite_differences_through_the_layer_match_its_autodiff_and_the_formula():
    check = check_sampling_gradient(Z_MEAN, Z_LOG_VAR, seed=3)
    assert isinstance(check, LayerGradientCheck)
    assert check.dtype == layer_dtype("float64")
    assert check.passed, (check.finite_difference_error, check.analytic_error)
    if check.dtype == "float64":
        assert check.finite_difference_error < 1e-7


def test_layer_loss_is_a_fixed_function_of_its_inputs_given_the_seed():
    first, again = (layer_loss(Z_MEAN, Z_LOG_VAR, seed=4, dtype="float64") for _ in range(2))
    assert first == again
    epsilon = sampling_noise(Z_MEAN.shape, seed=4, dtype="float64")
    assert first == pytest.approx(reparameterized_loss(Z_MEAN, Z_LOG_VAR, epsilon), rel=1e-6)
    assert layer_loss(Z_MEAN, Z_LOG_VAR, seed=5, dtype="float64") != first


def test_finite_differences_see_a_change_of_the_layer():
    """The check differentiates the layer: a different seed, hence other noise, changes it."""
    one = finite_difference_sampling_gradient(Z_MEAN, Z_LOG_VAR, seed=3)
    other = finite_difference_sampling_gradient(Z_MEAN, Z_LOG_VAR, seed=4)
    assert not np.allclose(one[1], other[1])


def test_sampling_helpers_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="z_mean and z_log_var"):
        sampling_output(Z_MEAN, Z_LOG_VAR[:, :2], seed=0)


def test_variance_figure_is_a_figure_and_checks_shapes():
    figure = plot_estimator_variance([1, 10], {"pathwise": np.array([1.0, 0.1])}, "d/dmu")
    assert isinstance(figure, Figure)
    with pytest.raises(ValueError, match="pathwise"):
        plot_estimator_variance([1, 10], {"pathwise": np.array([1.0])}, "d/dmu")


def test_gradient_summary_standard_error_is_the_sample_deviation_over_root_n():
    summary = summarize_gradient(pathwise_gradient, SINE, 0.3, 0.8, n=400, seed=2)
    assert isinstance(summary, GradientSummary) and summary.n == 400
    assert np.allclose(summary.standard_error, np.sqrt(summary.variance / 400))


def test_analytic_sampling_gradient_is_the_gradient_of_reparameterized_loss():
    epsilon, step = sampling_noise(Z_MEAN.shape, seed=5), 1e-6
    grad_mean, _ = analytic_sampling_gradient(Z_MEAN, Z_LOG_VAR, epsilon)
    bumped = Z_MEAN.copy()
    bumped[1, 2] += step
    numeric = (reparameterized_loss(bumped, Z_LOG_VAR, epsilon) - reparameterized_loss(Z_MEAN, Z_LOG_VAR, epsilon)) / step
    assert numeric == pytest.approx(grad_mean[1, 2], abs=1e-4)


def test_the_two_objectives_are_objectives_whose_derivative_matches_finite_differences():
    z, step = np.linspace(-2.0, 2.0, 9), 1e-6
    for objective in (SQUARE, SINE):
        assert isinstance(objective, Objective)
        numeric = (objective.value(z + step) - objective.value(z - step)) / (2 * step)
        assert np.allclose(objective.derivative(z), numeric, atol=1e-6)


def test_score_function_has_the_smaller_variance_for_a_fast_oscillating_objective():
    path = summarize_gradient(pathwise_gradient, FAST_SINE, 1.0, 0.5, n=50_000, seed=3)
    score = summarize_gradient(score_function_gradient, FAST_SINE, 1.0, 0.5, n=50_000, seed=3)
    assert np.all(score.variance < path.variance / 5)


def test_sine_objective_gradient_matches_finite_differences_of_its_expectation():
    objective, step, mu, sigma = sine_objective(3.0), 1e-6, 0.4, 0.7
    def expectation(m, s):
        return np.sin(3.0 * m) * np.exp(-0.5 * (3.0 * s) ** 2)
    numeric = [(expectation(mu + step, sigma) - expectation(mu - step, sigma)) / (2 * step),
               (expectation(mu, sigma + step) - expectation(mu, sigma - step)) / (2 * step)]
    assert objective.exact_gradient(mu, sigma) == pytest.approx(numeric, abs=1e-6)
    with pytest.raises(ValueError, match="frequency"):
        sine_objective(0.0)
