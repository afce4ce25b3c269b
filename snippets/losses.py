"""The VAE objective, written with ``keras.ops`` so it runs on every backend.

All quantities are per example and in nats (natural-log units): the sums run
over every non-batch axis, never averages over pixels, so the numbers are
log-probabilities one can compare across models and with published results.
"""

from __future__ import annotations

import math

from keras import ops

LOG_2PI = math.log(2.0 * math.pi)


def _sum_over_example(values):
    """Sum a ``(batch, ...)`` tensor over everything but the batch axis."""
    return ops.sum(ops.reshape(values, (ops.shape(values)[0], -1)), axis=-1)


def gaussian_kl_to_standard_normal(z_mean, z_log_var):
    """KL(N(mu, diag(sigma^2)) || N(0, I)) in closed form, per example.

    ``0.5 * sum_j (mu_j^2 + sigma_j^2 - log sigma_j^2 - 1)``.

    Args:
        z_mean, z_log_var: tensors of shape ``(batch, latent_dim)``.

    Returns:
        Tensor of shape ``(batch,)``, in nats; zero only where
        ``mu = 0`` and ``sigma = 1``.
    """
    # NumPy inputs become tensors first: on PyTorch, ``tensor - ndarray`` would
    # otherwise fall back to a NumPy ufunc (CPU only, deprecated in NumPy 2).
    z_mean, z_log_var = ops.convert_to_tensor(z_mean), ops.convert_to_tensor(z_log_var)
    terms = ops.square(z_mean) + ops.exp(z_log_var) - z_log_var - 1.0
    return 0.5 * _sum_over_example(terms)


def bernoulli_log_likelihood(x, logits):
    """log p(x | logits) for independent Bernoulli pixels, per example.

    ``sum_i x_i * l_i - softplus(l_i)``, which equals
    ``sum_i x_i log(sigmoid(l_i)) + (1 - x_i) log(1 - sigmoid(l_i))`` but
    never evaluates ``log(0)``: it stays finite for any logit, including
    pixels that are exactly 0 or 1. ``x`` may be grey levels in ``[0, 1]``
    (then it is the cross-entropy used by most Keras examples).

    Args:
        x: targets of shape ``(batch, ...)`` in ``[0, 1]``.
        logits: decoder outputs of the same shape.

    Returns:
        Tensor of shape ``(batch,)``, in nats (always <= 0 for binary ``x``).
    """
    logits = ops.convert_to_tensor(logits)  # NumPy logits: see gaussian_kl_to_standard_normal
    x = ops.cast(x, logits.dtype)
    # softplus(l) = max(l, 0) + log1p(exp(-|l|)) is the overflow-free form.
    softplus = ops.relu(logits) + ops.log1p(ops.exp(-ops.abs(logits)))
    return _sum_over_example(x * logits - softplus)


def elbo(x, logits, z_mean, z_log_var, beta: float = 1.0):
    """Single-sample evidence lower bound per example, in nats.

    ``ELBO(x) = E_q(z|x)[log p(x|z)] - beta * KL(q(z|x) || p(z))`` with the
    expectation estimated by the one ``z`` that produced ``logits``; with
    ``beta = 1`` it is a lower bound on ``log p(x)``.

    Returns:
        Tensor of shape ``(batch,)``; the VAE training loss is its negative mean.
    """
    reconstruction = bernoulli_log_likelihood(x, logits)
    kl = ops.cast(gaussian_kl_to_standard_normal(z_mean, z_log_var), reconstruction.dtype)
    return reconstruction - beta * kl


def gaussian_log_likelihood(x, mean, log_var):
    """log N(x | mean, exp(log_var) I) per example, in nats.

    ``sum_i -0.5 * (log(2 pi) + log_var_i + (x_i - mean_i)^2 / exp(log_var_i))``.
    A density, not a probability: for data in ``[0, 1]`` with a small variance
    it is positive, and it is not comparable with a Bernoulli likelihood.

    Args:
        x, mean: tensors of shape ``(batch, ...)``.
        log_var: the log-variance, broadcastable to ``x`` (a scalar for one
            shared variance).

    Returns:
        Tensor of shape ``(batch,)``.
    """
    mean = ops.convert_to_tensor(mean)
    x = ops.cast(x, mean.dtype)
    log_var = ops.cast(log_var, mean.dtype) + ops.zeros_like(mean)
    terms = -0.5 * (LOG_2PI + log_var + ops.square(x - mean) / ops.exp(log_var))
    return _sum_over_example(terms)


def continuous_bernoulli_log_norm(logits):
    """log C(lambda) of the continuous Bernoulli, with ``lambda = sigmoid(logits)``.

    The continuous Bernoulli (Loaiza-Ganem & Cunningham, 2019) is the
    Bernoulli formula made a proper density on ``[0, 1]``:
    ``p(x) = C(lambda) lambda^x (1 - lambda)^(1 - x)`` with
    ``C = 2 atanh(1 - 2 lambda) / (1 - 2 lambda)``. In terms of the logit
    ``l`` this is ``C = l / tanh(l / 2)``, which tends to 2 as ``l -> 0``;
    near zero the Taylor form ``2 + l^2 / 6`` avoids 0/0.
    """
    small = ops.abs(logits) < 1e-3
    safe = ops.where(small, ops.ones_like(logits), logits)
    exact = ops.log(safe / ops.tanh(0.5 * safe))
    taylor = ops.log(2.0 + ops.square(logits) / 6.0)
    return ops.where(small, taylor, exact)


def continuous_bernoulli_log_likelihood(x, logits):
    """log p(x | logits) for independent continuous-Bernoulli pixels, per example.

    The Bernoulli log-likelihood plus the log normaliser of each pixel, so that
    grey levels in ``[0, 1]`` get a proper density. Shapes as in
    :func:`bernoulli_log_likelihood`.
    """
    return bernoulli_log_likelihood(x, logits) + _sum_over_example(
        continuous_bernoulli_log_norm(logits)
    )


def continuous_bernoulli_mean(logits):
    """Mean of the continuous Bernoulli: ``lambda / (2 lambda - 1) + 1 / (2 atanh(1 - 2 lambda))``.

    In logits: ``sigmoid(l) / tanh(l / 2) - 1 / l``, which tends to 1/2 as
    ``l -> 0`` (Taylor form ``1/2 + l / 12`` near zero). Unlike the Bernoulli,
    the mean is not ``lambda``, so images are decoded through this function.
    """
    small = ops.abs(logits) < 1e-3
    safe = ops.where(small, ops.ones_like(logits), logits)
    exact = ops.sigmoid(safe) / ops.tanh(0.5 * safe) - 1.0 / safe
    return ops.where(small, 0.5 + logits / 12.0, exact)
