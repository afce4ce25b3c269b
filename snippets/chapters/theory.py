"""Probability, information and the ELBO, computed exactly where that is possible.

The theory chapters check every formula they state against a number: a closed
form against a Monte Carlo estimate, a bound against the exact quantity it
bounds. This module holds those computations, in NumPy and float64 (they need
no backend and no training):

- diagonal Gaussians: log density, entropy, cross-entropy, KL divergence in
  closed form and by Monte Carlo;
- two measurements of the curse of dimensionality;
- the linear-Gaussian latent model (probabilistic PCA), where ``log p(x)``, the
  posterior ``p(z|x)`` and the ELBO of any Gaussian ``q(z)`` are exact;
- the Gaussian log-likelihood written through the mean squared error;
- the data-averaged ELBO as a KL divergence between two joints, on a discrete
  model small enough to enumerate.

All information quantities are in nats (natural logarithms).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from snippets.validation import check_positive_int

LOG_2PI = float(np.log(2.0 * np.pi))


# --------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------


def _check_finite(value: object, name: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return array


def _check_variance(value: object, name: str) -> np.ndarray:
    array = _check_finite(value, name)
    if np.any(array <= 0.0):
        raise ValueError(f"{name} must be > 0 everywhere, got minimum {array.min():g}")
    return array


def _check_same_shape(arrays: Sequence[np.ndarray], names: Sequence[str]) -> None:
    shapes = {array.shape for array in arrays}
    if len(shapes) != 1:
        described = ", ".join(f"{n} {a.shape}" for n, a in zip(names, arrays))
        raise ValueError(f"shapes must match: {described}")


def _check_diagonal_pair(mean_p, var_p, mean_q, var_q) -> tuple[np.ndarray, ...]:
    arrays = (
        _check_finite(mean_p, "mean_p"),
        _check_variance(var_p, "var_p"),
        _check_finite(mean_q, "mean_q"),
        _check_variance(var_q, "var_q"),
    )
    _check_same_shape(arrays, ("mean_p", "var_p", "mean_q", "var_q"))
    if arrays[0].ndim == 0:
        raise ValueError("means and variances need at least one axis (dim,)")
    return arrays


def _check_covariance(value: object, name: str, size: int) -> np.ndarray:
    cov = _check_finite(value, name)
    if cov.shape != (size, size):
        raise ValueError(f"{name} must have shape ({size}, {size}), got {cov.shape}")
    if not np.allclose(cov, cov.T):
        raise ValueError(f"{name} must be symmetric")
    if np.linalg.eigvalsh(cov).min() <= 0.0:
        raise ValueError(f"{name} must be positive definite")
    return cov


# --------------------------------------------------------------------------
# Diagonal Gaussians
# --------------------------------------------------------------------------


def gaussian_log_density(x, mean, var) -> np.ndarray:
    """log N(x; mean, diag(var)), summed over the last axis.

    ``log p(x) = -1/2 sum_j [log(2 pi var_j) + (x_j - mean_j)^2 / var_j]``.

    Args:
        x: points of shape ``(..., dim)``.
        mean, var: ``(dim,)`` or broadcastable to ``x``; ``var > 0``. A scalar
            ``var`` gives the isotropic Gaussian ``N(mean, var I)``.

    Returns:
        Array of shape ``x.shape[:-1]``, in nats.
    """
    x = _check_finite(x, "x")
    mean = _check_finite(mean, "mean")
    var = _check_variance(var, "var")
    if x.ndim == 0:
        raise ValueError("x needs at least one axis (..., dim)")
    try:
        terms = np.broadcast_arrays(x, mean, var)
    except ValueError:
        raise ValueError(
            f"x {x.shape}, mean {mean.shape} and var {var.shape} do not broadcast"
        ) from None
    x, mean, var = terms
    return -0.5 * np.sum(LOG_2PI + np.log(var) + (x - mean) ** 2 / var, axis=-1)


def gaussian_entropy(var) -> np.ndarray:
    """Differential entropy of N(mean, diag(var)): ``1/2 sum_j log(2 pi e var_j)``.

    Args:
        var: variances of shape ``(..., dim)``, all > 0.

    Returns:
        Array of shape ``var.shape[:-1]``, in nats. It is negative when the
        variances are small: a density is not a probability.
    """
    var = _check_variance(var, "var")
    if var.ndim == 0:
        raise ValueError("var needs at least one axis (..., dim)")
    return 0.5 * np.sum(LOG_2PI + 1.0 + np.log(var), axis=-1)


def gaussian_cross_entropy(mean_p, var_p, mean_q, var_q) -> np.ndarray:
    """Cross-entropy H(p, q) = -E_p[log q] of two diagonal Gaussians.

    ``1/2 sum_j [log(2 pi var_q_j) + (var_p_j + (mean_p_j - mean_q_j)^2) / var_q_j]``.

    Args:
        mean_p, var_p, mean_q, var_q: arrays of one shape ``(..., dim)``.

    Returns:
        Array of shape ``(...)``, in nats.
    """
    mean_p, var_p, mean_q, var_q = _check_diagonal_pair(mean_p, var_p, mean_q, var_q)
    terms = LOG_2PI + np.log(var_q) + (var_p + (mean_p - mean_q) ** 2) / var_q
    return 0.5 * np.sum(terms, axis=-1)


def gaussian_kl(mean_p, var_p, mean_q, var_q) -> np.ndarray:
    """KL(p || q) between diagonal Gaussians p = N(mean_p, var_p), q = N(mean_q, var_q).

    ``1/2 sum_j [log(var_q_j / var_p_j)
    + (var_p_j + (mean_p_j - mean_q_j)^2) / var_q_j - 1]``,
    which is ``H(p, q) - H(p)``. With ``q = N(0, I)`` it is
    :func:`snippets.losses.gaussian_kl_to_standard_normal`.

    Args:
        mean_p, var_p, mean_q, var_q: arrays of one shape ``(..., dim)``.

    Returns:
        Array of shape ``(...)``, in nats; ``>= 0``, zero only when p = q.
    """
    mean_p, var_p, mean_q, var_q = _check_diagonal_pair(mean_p, var_p, mean_q, var_q)
    ratio = var_p / var_q
    terms = ratio - np.log(ratio) - 1.0 + (mean_p - mean_q) ** 2 / var_q
    return 0.5 * np.sum(terms, axis=-1)


@dataclass(frozen=True)
class MonteCarloEstimate:
    """A sample mean with its standard error ``std / sqrt(n)``."""

    mean: float
    standard_error: float
    n: int


def monte_carlo_kl(
    mean_p, var_p, mean_q, var_q, n: int, seed: int = 0
) -> MonteCarloEstimate:
    """Estimate KL(p || q) = E_p[log p(z) - log q(z)] from ``n`` draws of p.

    Args:
        mean_p, var_p, mean_q, var_q: arrays of shape ``(dim,)``.
        n: number of samples ``z ~ p``.

    Returns:
        The average log-ratio and its standard error, in nats.
    """
    mean_p, var_p, mean_q, var_q = _check_diagonal_pair(mean_p, var_p, mean_q, var_q)
    if mean_p.ndim != 1:
        raise ValueError(
            f"means and variances must have shape (dim,), got {mean_p.shape}"
        )
    n = check_positive_int(n, "n")
    if n < 2:
        raise ValueError(f"n must be >= 2 to give a standard error, got {n}")
    rng = np.random.default_rng(seed)
    z = mean_p + np.sqrt(var_p) * rng.standard_normal((n, mean_p.size))
    log_ratio = gaussian_log_density(z, mean_p, var_p) - gaussian_log_density(
        z, mean_q, var_q
    )
    return MonteCarloEstimate(
        mean=float(log_ratio.mean()),
        standard_error=float(log_ratio.std(ddof=1) / np.sqrt(n)),
        n=n,
    )


# --------------------------------------------------------------------------
# The curse of dimensionality
# --------------------------------------------------------------------------


def occupied_cell_fraction(
    dim: int, n_samples: int, bins_per_axis: int = 10, seed: int = 0
) -> float:
    """Fraction of a histogram's cells that receive at least one sample.

    ``n_samples`` points are drawn uniformly from the unit cube ``[0, 1]^dim``,
    which is cut into ``bins_per_axis ** dim`` equal cells. A histogram
    density estimate is zero in every empty cell, so this fraction is the part
    of the space where the histogram knows anything at all. It is at most
    ``n_samples / bins_per_axis ** dim``.
    """
    dim = check_positive_int(dim, "dim")
    n_samples = check_positive_int(n_samples, "n_samples")
    bins_per_axis = check_positive_int(bins_per_axis, "bins_per_axis")
    points = np.random.default_rng(seed).random((n_samples, dim))
    cells = np.minimum((points * bins_per_axis).astype(np.int64), bins_per_axis - 1)
    occupied = len(np.unique(cells, axis=0))
    return occupied / float(bins_per_axis) ** dim


def distance_contrast(
    dim: int, n_points: int, n_queries: int, seed: int = 0
) -> np.ndarray:
    """Ratio of nearest to farthest distance from each of ``n_queries`` random queries.

    Queries and the ``n_points`` points are uniform in ``[0, 1]^dim``; the result,
    of shape ``(n_queries,)``, holds ``min_j ||p_j - q|| / max_j ||p_j - q||`` for
    each query ``q``. The ratio is near 0 in low dimensions and tends to 1 as
    ``dim`` grows: all points become about equally far away, so "the nearby data"
    that a kernel or nearest-neighbour density estimate relies on means less and
    less. One query is one draw of a random quantity; average over many.
    """
    dim = check_positive_int(dim, "dim")
    n_points = check_positive_int(n_points, "n_points")
    n_queries = check_positive_int(n_queries, "n_queries")
    rng = np.random.default_rng(seed)
    queries, points = rng.random((n_queries, dim)), rng.random((n_points, dim))
    # ||p - q||^2 = ||p||^2 - 2 p.q + ||q||^2, clipped at 0 against rounding.
    squared = (
        np.sum(queries**2, axis=1)[:, None]
        - 2.0 * queries @ points.T
        + np.sum(points**2, axis=1)
    )
    distances = np.sqrt(np.maximum(squared, 0.0))
    return distances.min(axis=1) / distances.max(axis=1)


# --------------------------------------------------------------------------
# The linear-Gaussian latent model
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class LinearGaussianModel:
    """Probabilistic PCA: ``z ~ N(0, I_k)``, ``x | z ~ N(W z + b, noise_var I_d)``.

    ``weights`` is ``W`` of shape ``(d, k)``, ``bias`` is ``b`` of shape
    ``(d,)``, ``noise_var`` is ``sigma^2 > 0``. Everything a VAE has to
    approximate is exact here (Tipping & Bishop, 1999).
    """

    weights: np.ndarray
    bias: np.ndarray
    noise_var: float

    def __post_init__(self) -> None:
        weights = _check_finite(self.weights, "weights")
        if weights.ndim != 2:
            raise ValueError(
                f"weights must have shape (data_dim, latent_dim), got {weights.shape}"
            )
        bias = _check_finite(self.bias, "bias")
        if bias.shape != (weights.shape[0],):
            raise ValueError(
                f"bias must have shape ({weights.shape[0]},), got {bias.shape}"
            )
        noise_var = float(_check_variance(self.noise_var, "noise_var"))
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "bias", bias)
        object.__setattr__(self, "noise_var", noise_var)

    @property
    def data_dim(self) -> int:
        return self.weights.shape[0]

    @property
    def latent_dim(self) -> int:
        return self.weights.shape[1]

    def check_x(self, x) -> np.ndarray:
        """``x`` as a float64 array of shape ``(..., data_dim)``, or a ValueError."""
        x = _check_finite(x, "x")
        if x.ndim == 0 or x.shape[-1] != self.data_dim:
            raise ValueError(f"x must have shape (..., {self.data_dim}), got {x.shape}")
        return x

    def sample(self, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` pairs from the joint: ``z`` of shape ``(n, k)``, ``x`` of shape
        ``(n, d)``."""
        n = check_positive_int(n, "n")
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((n, self.latent_dim))
        noise = np.sqrt(self.noise_var) * rng.standard_normal((n, self.data_dim))
        return z, z @ self.weights.T + self.bias + noise

    def log_likelihood(self, x, z) -> np.ndarray:
        """Decoder log-density log p(x | z) for ``x (..., d)`` and ``z (..., k)``:
        ``(...)``."""
        x = self.check_x(x)
        z = _check_finite(z, "z")
        if z.ndim == 0 or z.shape[-1] != self.latent_dim:
            raise ValueError(
                f"z must have shape (..., {self.latent_dim}), got {z.shape}"
            )
        return gaussian_log_density(x, z @ self.weights.T + self.bias, self.noise_var)

    def marginal_covariance(self) -> np.ndarray:
        """Covariance of x after integrating z out: ``W W^T + sigma^2 I``,
        ``(d, d)``."""
        return self.weights @ self.weights.T + self.noise_var * np.eye(self.data_dim)

    def log_marginal(self, x) -> np.ndarray:
        """Exact log-evidence log p(x) = log N(x; b, W W^T + sigma^2 I).

        Args:
            x: ``(..., d)``.

        Returns:
            ``(...)``, in nats.
        """
        x = self.check_x(x)
        cholesky = np.linalg.cholesky(self.marginal_covariance())
        white = np.linalg.solve(cholesky, (x - self.bias)[..., None])[..., 0]
        log_det = 2.0 * np.sum(np.log(np.diag(cholesky)))
        return -0.5 * (self.data_dim * LOG_2PI + log_det + np.sum(white**2, axis=-1))

    def posterior(self, x) -> tuple[np.ndarray, np.ndarray]:
        """Exact posterior p(z | x) = N(M^-1 W^T (x - b), sigma^2 M^-1).

        Here ``M = W^T W + sigma^2 I``.

        Args:
            x: ``(..., d)``.

        Returns:
            The mean, ``(..., k)``, and the covariance, ``(k, k)`` (the same for every
            x).
        """
        x = self.check_x(x)
        m = self.weights.T @ self.weights + self.noise_var * np.eye(self.latent_dim)
        m_inv = np.linalg.inv(m)
        mean = (x - self.bias) @ self.weights @ m_inv.T
        return mean, self.noise_var * m_inv

    def with_uncorrelated_posterior(self) -> LinearGaussianModel:
        """The same distribution of x, with latent axes rotated so the posterior is
        diagonal.

        With the singular value decomposition ``W = U S V^T``, the weights ``W V``
        have orthogonal columns, so ``M = V^T W^T W V`` plus ``sigma^2 I`` is
        diagonal, and so is the posterior covariance ``sigma^2 M^-1``. Since
        ``W V V^T W^T = W W^T`` and the prior ``N(0, I)`` is unchanged by a rotation,
        ``p(x)`` is the same for every x: only the meaning of the latent axes changes.
        """
        _, _, v_transposed = np.linalg.svd(self.weights, full_matrices=True)
        return LinearGaussianModel(
            self.weights @ v_transposed.T, self.bias, self.noise_var
        )


def log_marginal_by_prior_sampling(
    model: LinearGaussianModel, x, n: int, seed: int = 0
) -> float:
    """Naive Monte Carlo log p(x) ~ log (1/n) sum_i p(x | z_i), z_i ~ p(z).

    Consistent but biased low for finite ``n`` (Jensen), and it needs many
    samples because few prior draws land where p(z | x) has its mass.
    ``x`` has shape ``(d,)``.
    """
    x = model.check_x(x)
    if x.ndim != 1:
        raise ValueError(f"x must have shape ({model.data_dim},), got {x.shape}")
    n = check_positive_int(n, "n")
    z = np.random.default_rng(seed).standard_normal((n, model.latent_dim))
    log_weights = model.log_likelihood(x, z)
    peak = log_weights.max()
    return float(peak + np.log(np.mean(np.exp(log_weights - peak))))


@dataclass(frozen=True)
class ElboTerms:
    """The two terms of the ELBO of one ``x``, in nats.

    ``reconstruction = E_q[log p(x|z)]``, ``kl = KL(q(z) || p(z))`` and
    ``elbo = reconstruction - kl``.
    """

    reconstruction: float
    kl: float

    @property
    def elbo(self) -> float:
        return self.reconstruction - self.kl


def elbo_terms(model: LinearGaussianModel, x, q_mean, q_cov) -> ElboTerms:
    """Exact ELBO of a Gaussian q(z) = N(q_mean, q_cov) for one ``x`` of shape ``(d,)``.

    With ``r = x - W m - b``:

    ``E_q[log p(x|z)] = -d/2 log(2 pi sigma^2) - (|r|^2 + tr(W S W^T)) / (2 sigma^2)``

    ``KL(q || N(0, I)) = 1/2 (tr S + |m|^2 - k - log det S)``

    Args:
        q_mean: ``m``, shape ``(k,)``.
        q_cov: ``S``, shape ``(k, k)``, symmetric positive definite.
    """
    x = model.check_x(x)
    if x.ndim != 1:
        raise ValueError(f"x must have shape ({model.data_dim},), got {x.shape}")
    k = model.latent_dim
    q_mean = _check_finite(q_mean, "q_mean")
    if q_mean.shape != (k,):
        raise ValueError(f"q_mean must have shape ({k},), got {q_mean.shape}")
    q_cov = _check_covariance(q_cov, "q_cov", k)
    residual = x - model.weights @ q_mean - model.bias
    spread = np.trace(model.weights @ q_cov @ model.weights.T)
    reconstruction = -0.5 * model.data_dim * np.log(2.0 * np.pi * model.noise_var) - (
        residual @ residual + spread
    ) / (2.0 * model.noise_var)
    kl = 0.5 * (np.trace(q_cov) + q_mean @ q_mean - k - np.linalg.slogdet(q_cov)[1])
    return ElboTerms(reconstruction=float(reconstruction), kl=float(kl))


def gaussian_kl_full(mean_p, cov_p, mean_q, cov_q) -> float:
    """KL(N(mean_p, cov_p) || N(mean_q, cov_q)) for full covariances ``(k, k)``, means
    ``(k,)``.

    ``1/2 [tr(cov_q^-1 cov_p) + (mq - mp)^T cov_q^-1 (mq - mp) - k
    + log det cov_q - log det cov_p]``.
    """
    mean_p, mean_q = _check_finite(mean_p, "mean_p"), _check_finite(mean_q, "mean_q")
    if mean_p.ndim != 1 or mean_q.shape != mean_p.shape:
        raise ValueError(
            f"mean_p and mean_q must share a shape (k,), got {mean_p.shape} and "
            f"{mean_q.shape}"
        )
    k = mean_p.size
    cov_p, cov_q = (
        _check_covariance(cov_p, "cov_p", k),
        _check_covariance(cov_q, "cov_q", k),
    )
    difference = mean_q - mean_p
    trace = np.trace(np.linalg.solve(cov_q, cov_p))
    mahalanobis = difference @ np.linalg.solve(cov_q, difference)
    log_dets = np.linalg.slogdet(cov_q)[1] - np.linalg.slogdet(cov_p)[1]
    return float(0.5 * (trace + mahalanobis - k + log_dets))


@dataclass(frozen=True)
class PosteriorFit:
    """The result of maximising the ELBO over Gaussian q(z) = N(mean, cov).

    ``elbo`` holds the ELBO before the first step and after every step,
    shape ``(steps + 1,)``; ``mean`` ``(k,)`` and ``cov`` ``(k, k)`` are the final q.
    """

    elbo: np.ndarray
    mean: np.ndarray
    cov: np.ndarray


def fit_gaussian_posterior(
    model: LinearGaussianModel, x, steps: int, learning_rate: float
) -> PosteriorFit:
    """Gradient ascent on the exact ELBO over q(z) = N(m, L L^T), starting from the
    prior.

    ``L`` is lower triangular with a positive diagonal, kept positive by
    stepping on the logarithm of its diagonal. The exact gradients are

    ``dELBO/dm = W^T (x - b - W m) / sigma^2 - m``,
    ``dELBO/dL = L^-T - A L`` with ``A = W^T W / sigma^2 + I``
    (the posterior precision), so the optimum is ``m = A^-1 W^T (x - b) / sigma^2``,
    ``L L^T = A^-1``: the exact posterior.

    Args:
        x: one data point, ``(d,)``.
        steps: number of gradient steps.
        learning_rate: step size; below ``1 / lambda_max(A)`` the ascent is stable.
    """
    x = model.check_x(x)
    if x.ndim != 1:
        raise ValueError(f"x must have shape ({model.data_dim},), got {x.shape}")
    steps = check_positive_int(steps, "steps")
    if not 0.0 < learning_rate < np.inf:
        raise ValueError(
            f"learning_rate must be a finite number > 0, got {learning_rate}"
        )
    k, w, sigma2 = model.latent_dim, model.weights, model.noise_var
    precision = w.T @ w / sigma2 + np.eye(k)
    target = w.T @ (x - model.bias) / sigma2
    mean, off_diagonal, log_diagonal = np.zeros(k), np.zeros((k, k)), np.zeros(k)
    history = []
    for step in range(steps + 1):
        chol = np.tril(off_diagonal, -1) + np.diag(np.exp(log_diagonal))
        history.append(elbo_terms(model, x, mean, chol @ chol.T).elbo)
        if step == steps:
            break
        grad_chol = np.linalg.inv(chol).T - precision @ chol
        mean = mean + learning_rate * (target - precision @ mean)
        off_diagonal = off_diagonal + learning_rate * np.tril(grad_chol, -1)
        log_diagonal = log_diagonal + learning_rate * np.diag(grad_chol) * np.exp(
            log_diagonal
        )
    return PosteriorFit(elbo=np.array(history), mean=mean, cov=chol @ chol.T)


def random_linear_gaussian_model(
    data_dim: int, latent_dim: int, noise_var: float, seed: int = 0
) -> LinearGaussianModel:
    """A linear-Gaussian model with standard normal weights ``(d, k)`` and bias
    ``(d,)``."""
    data_dim = check_positive_int(data_dim, "data_dim")
    latent_dim = check_positive_int(latent_dim, "latent_dim")
    rng = np.random.default_rng(seed)
    return LinearGaussianModel(
        weights=rng.standard_normal((data_dim, latent_dim)),
        bias=rng.standard_normal(data_dim),
        noise_var=noise_var,
    )


# --------------------------------------------------------------------------
# Decoder likelihoods
# --------------------------------------------------------------------------


def gaussian_log_likelihood_from_mse(mse, dim: int, noise_var: float) -> np.ndarray:
    """log N(x; x_hat, noise_var I) written through ``mse = mean_j (x_j - x_hat_j)^2``.

    ``-dim * mse / (2 noise_var) - dim / 2 * log(2 pi noise_var)``: minimising
    the MSE maximises this likelihood for a fixed variance, but its value in
    nats depends on ``noise_var``, which the MSE leaves unstated.

    Args:
        mse: per-example mean squared error, any shape.
        dim: number of values averaged in each MSE (pixels per example).
        noise_var: the decoder's variance ``sigma^2 > 0``.
    """
    mse = _check_finite(mse, "mse")
    if np.any(mse < 0):
        raise ValueError("mse must be >= 0")
    dim = check_positive_int(dim, "dim")
    noise_var = float(_check_variance(noise_var, "noise_var"))
    return -dim * mse / (2.0 * noise_var) - 0.5 * dim * np.log(2.0 * np.pi * noise_var)


@dataclass(frozen=True)
class JointElboDecomposition:
    """The data-averaged ELBO of a discrete model and the divergences it equals, in
    nats.

    ``mean_elbo = E_{p_data(x)}[ELBO(x)]``; ``joint_kl = KL(q(x, z) || p(x, z))`` with
    ``q(x, z) = p_data(x) q(z|x)``; ``data_entropy = H(p_data)``;
    ``marginal_kl = KL(p_data(x) || p(x))``. Then
    ``mean_elbo = -joint_kl - data_entropy`` and ``joint_kl >= marginal_kl``.
    """

    mean_elbo: float
    joint_kl: float
    data_entropy: float
    marginal_kl: float


def joint_elbo_decomposition(
    n_x: int, n_z: int, seed: int = 0
) -> JointElboDecomposition:
    """Draw a random discrete model and compute its ELBO terms by enumeration.

    ``x`` takes ``n_x`` values and ``z`` takes ``n_z``; the prior ``p(z)``, the decoder
    ``p(x|z)``, the encoder ``q(z|x)`` and the data distribution ``p_data(x)`` are
    random (Dirichlet draws), so ``q(z|x)`` is not the posterior.
    """
    n_x, n_z = check_positive_int(n_x, "n_x"), check_positive_int(n_z, "n_z")
    rng = np.random.default_rng(seed)
    prior = rng.dirichlet(np.ones(n_z))
    decoder = rng.dirichlet(np.ones(n_x), size=n_z)  # [z, x] = p(x|z)
    encoder = rng.dirichlet(np.ones(n_z), size=n_x)  # [x, z] = q(z|x)
    data = rng.dirichlet(np.ones(n_x))
    log_joint_p = np.log(prior)[None, :] + np.log(decoder.T)  # [x, z] = log p(x, z)
    elbo = (encoder * (log_joint_p - np.log(encoder))).sum(axis=1)
    joint_q = data[:, None] * encoder
    joint_kl = (joint_q * (np.log(joint_q) - log_joint_p)).sum()
    marginal = np.exp(log_joint_p).sum(axis=1)
    return JointElboDecomposition(
        mean_elbo=float(data @ elbo),
        joint_kl=float(joint_kl),
        data_entropy=float(-(data * np.log(data)).sum()),
        marginal_kl=float((data * (np.log(data) - np.log(marginal))).sum()),
    )


def format_table(
    header: Sequence[str], rows: Sequence[Sequence[object]], digits: int = 4
) -> str:
    """A plain-text table: numbers rounded to ``digits`` decimals, columns
    right-aligned."""
    if any(len(row) != len(header) for row in rows):
        raise ValueError(f"every row must have {len(header)} entries, like header")
    cells = [list(map(str, header))] + [
        # Adding 0.0 turns a rounded -0.0 into 0.0, so a vanishing gap prints without a
        # sign.
        [
            f"{round(float(value), digits) + 0.0:.{digits}f}"
            if isinstance(value, (float, np.floating))
            else str(value)
            for value in row
        ]
        for row in rows
    ]
    widths = [max(len(row[col]) for row in cells) for col in range(len(header))]
    lines = [
        "  ".join(cell.rjust(width) for cell, width in zip(row, widths))
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
