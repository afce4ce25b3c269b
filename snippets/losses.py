"""The VAE objective, written with ``keras.ops`` so it runs on every backend.

All quantities are per example and in nats (natural-log units): the sums run
over every non-batch axis, never averages over pixels, so the numbers are
log-probabilities one can compare across models and with published results.
"""

from __future__ import annotations

from keras import ops


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
