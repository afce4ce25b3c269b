"""The latent-variable terms of the VAE objective, in ``keras.ops`` for every backend.

Everything is per example and in nats (natural-log units): sums run over every
non-batch axis, never averages, so a reconstruction term from
:mod:`snippets.likelihoods` and these terms add up to a log-probability.
"""

from __future__ import annotations

import math

from keras import ops

LOG_2PI = math.log(2.0 * math.pi)


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
    return 0.5 * ops.sum(
        ops.square(z_mean) + ops.exp(z_log_var) - z_log_var - 1.0, axis=-1
    )


def diagonal_gaussian_log_density(z, mean, log_var):
    """``log N(z | mean, diag(exp(log_var)))`` per example: ``(batch,)`` nats.

    ``sum_j -0.5 * (log(2 pi) + log_var_j + (z_j - mean_j)^2 / exp(log_var_j))``
    for ``z``, ``mean`` of shape ``(batch, latent_dim)`` and ``log_var``
    broadcastable to them (``0.0`` gives the standard normal prior ``p(z)``).
    """
    z = ops.convert_to_tensor(z)
    mean = ops.cast(mean, z.dtype)
    log_var = ops.cast(log_var, z.dtype) + ops.zeros_like(z)
    return ops.sum(
        -0.5 * (LOG_2PI + log_var + ops.square(z - mean) / ops.exp(log_var)), axis=-1
    )
