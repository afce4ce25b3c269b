"""Anomaly scores of a VAE, and a threshold set on normal data alone.

A model trained on normal data gives every new input ``x`` a score, higher =
more anomalous (:func:`anomaly_scores`): ``-ELBO`` and ``-IWAE_k`` from ``k``
codes ``z_i ~ q(z|x)`` (the second a tighter upper bound on ``-log p(x)``,
Burda et al., 2016), minus the log of An & Cho's (2015) reconstruction
probability ``(1/k) sum_i p(x|z_i)``, and the squared error of the
reconstruction. :func:`validation_threshold` sets the threshold at a quantile
of the scores of normal validation examples, so flagging ``score > threshold``
raises a false alarm on about ``1 - quantile`` of normal data.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from keras import ops
from scipy.special import logsumexp

from snippets.evaluation import DEFAULT_BATCH_SIZE
from snippets.losses import diagonal_gaussian_log_density
from snippets.models import VAE, predict_in_batches
from snippets.validation import check_array, check_number, check_positive_int

THRESHOLD_QUANTILE = 0.95


@functools.lru_cache(maxsize=2)
def standard_normal_draws(
    seed: int, n: int, n_draws: int, latent_dim: int
) -> np.ndarray:
    """The noise ``eps_l ~ N(0, I)`` of ``n`` examples: ``(n, n_draws, latent_dim)``,
    read-only.

    Example ``i`` draws from ``np.random.default_rng([seed, i])``, as
    :func:`snippets.evaluation.log_weight_statistics` does, so its noise
    depends neither on ``n`` nor on the other examples. The last two results
    are kept (``functools.lru_cache``): a protocol scores the same validation
    and test digits with every detector of a seed and draws their noise once.
    """
    n, n_draws = check_positive_int(n, "n"), check_positive_int(n_draws, "n_draws")
    shape = (n_draws, check_positive_int(latent_dim, "latent_dim"))
    draws = np.stack(
        [np.random.default_rng([seed, i]).standard_normal(shape) for i in range(n)]
    )
    draws.flags.writeable = False
    return draws


def log_weight_terms(
    vae: VAE, x, n_draws: int, *, seed: int = 0, batch_size: int = DEFAULT_BATCH_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """The two parts of the log importance weights of ``L = n_draws`` codes per
    example, each ``(n, L)`` nats.

    With ``z_l = mu(x) + exp(log_var(x) / 2) * eps_l`` and the noise of
    :func:`standard_normal_draws`: ``log p(x|z_l)``, and ``log p(z_l) - log q(z_l|x)``;
    their sum is the ``log w_l`` of :func:`snippets.evaluation.log_weight_statistics`.
    Each code is decoded once; about ``batch_size`` codes (at least the ``L``
    of one example) at a time, so a value depends neither on ``batch_size``
    nor on the other examples.
    """
    x = vae.check_examples(x)
    n_draws = check_positive_int(n_draws, "n_draws")
    rows = max(1, check_positive_int(batch_size, "batch_size") // n_draws)
    z_mean, z_log_var = predict_in_batches(vae.encoder, x)
    epsilon = standard_normal_draws(seed, len(x), n_draws, vae.latent_dim)
    z = (z_mean[:, None] + np.exp(0.5 * z_log_var[:, None]) * epsilon).astype(
        np.float32
    )
    flat_z, flat_mean = (
        z.reshape(-1, vae.latent_dim),
        np.repeat(z_mean, n_draws, axis=0),
    )
    log_prior_over_posterior = diagonal_gaussian_log_density(
        flat_z, np.zeros_like(flat_z), 0.0
    ) - diagonal_gaussian_log_density(
        flat_z, flat_mean, np.repeat(z_log_var, n_draws, axis=0)
    )
    parts = []
    for start in range(0, len(x), rows):
        block = slice(start, start + rows)
        logits = ops.cast(
            vae.decoder(z[block].reshape(-1, vae.latent_dim), training=False), "float32"
        )
        log_px_z = vae.likelihood.log_prob(np.repeat(x[block], n_draws, axis=0), logits)
        parts.append(
            ops.convert_to_numpy(log_px_z).astype(np.float64).reshape(-1, n_draws)
        )
    return np.concatenate(parts), ops.convert_to_numpy(log_prior_over_posterior).astype(
        np.float64
    ).reshape(-1, n_draws)


def log_likelihood_of_draws(
    vae: VAE, x, n_draws: int, *, seed: int = 0, batch_size: int = DEFAULT_BATCH_SIZE
) -> np.ndarray:
    """``log p(x|z_l)`` for ``L = n_draws`` codes ``z_l ~ q(z|x)`` per example:
    ``(n, L)`` nats.

    The first part of :func:`log_weight_terms`: example ``i`` draws its noise
    from ``np.random.default_rng([seed, i])``, so a value depends neither on
    ``batch_size`` nor on the other examples.
    """
    return log_weight_terms(vae, x, n_draws, seed=seed, batch_size=batch_size)[0]


def log_mean_exp(log_values: np.ndarray) -> np.ndarray:
    """``log (1/L) sum_l exp(a_l)`` along the last axis of ``(..., L)``:
    ``scipy.special.logsumexp`` minus ``log L``.

    Stable for values like ``-100`` that would underflow as probabilities; it
    lies between the mean and the maximum of the ``a_l``.
    """
    return logsumexp(log_values, axis=-1) - math.log(log_values.shape[-1])


def log_reconstruction_probability(
    vae: VAE, x, n_draws: int, *, seed: int = 0, batch_size: int = DEFAULT_BATCH_SIZE
) -> np.ndarray:
    """An & Cho's (2015) reconstruction probability, in log space: ``(n,)`` nats.

    ``log (1/L) sum_l p(x|z_l)`` with ``z_l ~ q(z|x)``, the draws of
    :func:`log_likelihood_of_draws`, computed by :func:`log_mean_exp` so that
    probabilities like ``e^-100`` neither underflow nor lose precision. It
    lies between the mean and the maximum of the ``log p(x|z_l)``.
    """
    return log_mean_exp(
        log_likelihood_of_draws(vae, x, n_draws, seed=seed, batch_size=batch_size)
    )


def anomaly_scores(
    vae: VAE, x, *, k: int = 100, seed: int = 0, batch_size: int = DEFAULT_BATCH_SIZE
) -> dict[str, np.ndarray]:
    """The four VAE scores of each example, higher = more anomalous: ``{name: (n,)}``.

    ``neg_elbo`` (``-mean_i log w_i``), ``neg_iwae`` (``-log mean_i w_i``) and
    ``neg_recon_prob`` (:func:`log_reconstruction_probability` with ``L = k``)
    come from the same ``k`` codes per example (:func:`log_weight_terms`,
    each decoded once), seeded per example by ``seed``, so
    ``neg_iwae <= neg_elbo`` element by element; ``squared_error`` is
    ``sum_j (x_j - x_hat_j)^2`` over the pixels of the reconstruction of the
    posterior mean. See the module docstring.
    """
    x = vae.check_examples(x)
    k = check_positive_int(k, "k")
    log_px_z, log_prior_over_posterior = log_weight_terms(
        vae, x, k, seed=seed, batch_size=batch_size
    )
    log_w = log_px_z + log_prior_over_posterior
    error = np.sum(
        (x.reshape(len(x), -1) - vae.reconstruct(x).reshape(len(x), -1)) ** 2, axis=1
    )
    scores = {
        "neg_elbo": -np.mean(log_w, axis=1),
        "neg_iwae": -log_mean_exp(log_w),
        "neg_recon_prob": -log_mean_exp(log_px_z),
        "squared_error": error.astype(np.float64),
    }
    for name, values in scores.items():
        if not np.all(np.isfinite(values)):
            raise FloatingPointError(
                f"score {name} is not finite for "
                f"{int(np.sum(~np.isfinite(values)))} examples"
            )
    return scores


def validation_threshold(normal_scores, quantile: float = THRESHOLD_QUANTILE) -> float:
    """The ``quantile`` of the scores of normal validation examples ``(n,)``:
    ``np.quantile``.

    Flagging ``score > threshold`` then raises a false alarm on about
    ``1 - quantile`` of normal data; no anomaly is needed to set it.
    """
    normal_scores = check_array(normal_scores, "normal_scores", ())
    return float(
        np.quantile(
            normal_scores, check_number(quantile, "quantile", low=0.0, high=1.0)
        )
    )
