"""Evaluating a trained VAE: multi-sample ELBO and the importance-weighted bound.

For one example ``x`` and ``k`` codes ``z_i ~ q(z|x)`` the log importance
weights are

``log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x)``

with ``p(z) = N(0, I)``, ``q(z|x) = N(z_mean, diag(exp(z_log_var)))`` and the
VAE's own likelihood ``p(x|z)``. Two estimates of ``log p(x)`` follow:

- the multi-sample ELBO, ``(1/k) sum_i log w_i``, whose expectation is the
  ELBO whatever ``k``;
- the importance-weighted bound (Burda et al., 2016),
  ``log (1/k) sum_i w_i``, whose expectation grows with ``k`` towards
  ``log p(x)``. For the same draws it is never below the multi-sample ELBO
  (the log of a mean is at least the mean of the logs).

Everything is per example, in nats. The weights are computed in chunks of
examples and of samples and combined with a stable log-sum-exp, so ``k`` in
the thousands fits in memory: a chunk decodes at most ``batch_size`` codes, and
fewer where a layer's output, such as a convolutional decoder's feature maps,
would otherwise hold more than ``MAX_BATCH_VALUES`` values (``2**24``, 64 MB in
float32) for the chunk. Time grows with the ``n * k`` codes
decoded, so an estimate refuses more than ``max_codes`` of them (``MAX_DECODED_CODES``,
``10**8``, by default: on a CPU the book's dense decoder takes minutes per
``10**7`` codes), rather than run for hours.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from snippets.losses import diagonal_gaussian_log_density
from snippets.models import VAE, predict_in_batches
from snippets.validation import check_array, check_positive_int, check_seed

DEFAULT_BATCH_SIZE = 4096
MAX_DECODED_CODES = 10**8
MAX_BATCH_VALUES = 2**24


@dataclass(frozen=True)
class LogWeightSummary:
    """Both estimates of ``log p(x)`` from the same ``k`` log-weights per example.

    ``iwae`` is ``log (1/k) sum_i w_i`` and ``elbo`` is ``(1/k) sum_i log w_i``,
    each of shape ``(n,)`` in nats; ``elbo <= iwae`` element by element.
    """

    iwae: np.ndarray
    elbo: np.ndarray
    k: int


def summarize_log_weights(chunks: Iterable[np.ndarray]) -> LogWeightSummary:
    """Reduce log-weights that arrive in chunks along the sample axis.

    Args:
        chunks: arrays of shape ``(n, s_j)``, the log-weights of the same
            ``n`` examples for ``s_j`` further samples each.

    Returns:
        The IWAE bound and the multi-sample ELBO over all ``k = sum_j s_j`` samples.
        Only one chunk is held at a time: each is reduced to its log-sum-exp and its
        sum, and the partial log-sum-exps are combined by NumPy's stable
        ``np.logaddexp.reduce`` at the end, which equals the log-sum-exp of the
        concatenated weights.
    """
    partial_lse, total, k, n = [], 0.0, 0, None
    for index, chunk in enumerate(chunks):
        chunk = np.asarray(chunk, dtype=np.float64)
        if (
            chunk.ndim != 2
            or chunk.shape[1] == 0
            or (n is not None and chunk.shape[0] != n)
        ):
            expected = "(n, s) with s >= 1" if n is None else f"({n}, s) with s >= 1"
            raise ValueError(
                f"chunks[{index}] must have shape {expected}, got {chunk.shape}"
            )
        n = chunk.shape[0]
        partial_lse.append(np.logaddexp.reduce(chunk, axis=1))
        total = total + chunk.sum(axis=1)
        k += chunk.shape[1]
    if k == 0:
        raise ValueError(
            "chunks is empty; expected at least one (n, s) array of log-weights"
        )
    iwae = np.logaddexp.reduce(np.stack(partial_lse, axis=1), axis=1) - math.log(k)
    return LogWeightSummary(iwae=iwae, elbo=total / k, k=k)


def log_importance_weights(vae: VAE, x, z_mean, z_log_var, epsilon) -> np.ndarray:
    """``log p(x|z) + log p(z) - log q(z|x)`` for ``s`` codes per example: ``(n, s)``.

    Args:
        vae: a VAE; its decoder and ``likelihood`` give ``log p(x|z)``.
        x: ``n`` examples, ``(n, *input_shape)``.
        z_mean, z_log_var: the encoder's outputs for ``x``, ``(n, latent_dim)``.
        epsilon: standard normal noise, ``(n, s, latent_dim)``; the codes are
            ``z = z_mean + exp(z_log_var / 2) * epsilon``.
    """
    n, s, latent_dim = epsilon.shape
    mean = np.repeat(np.asarray(z_mean, np.float32), s, axis=0)
    log_var = np.repeat(np.asarray(z_log_var, np.float32), s, axis=0)
    z = mean + np.exp(0.5 * log_var) * epsilon.reshape(n * s, latent_dim).astype(
        np.float32
    )
    logits = ops.cast(
        vae.decoder(z, training=False), "float32"
    )  # sum the pixels in float32
    log_px_z = vae.likelihood.log_prob(np.repeat(np.asarray(x), s, axis=0), logits)
    log_pz = diagonal_gaussian_log_density(z, np.zeros_like(z), 0.0)
    log_qz = diagonal_gaussian_log_density(z, mean, log_var)
    log_w = ops.cast(log_px_z, "float32") + log_pz - log_qz
    return ops.convert_to_numpy(log_w).astype(np.float64).reshape(n, s)


def _log_weight_chunks(
    vae: VAE,
    x,
    z_mean,
    z_log_var,
    rngs: Sequence[np.random.Generator],
    k: int,
    sample_chunk: int,
) -> Iterator[np.ndarray]:
    """The ``(n, s)`` log-weights of ``x`` for consecutive chunks of at most
    ``sample_chunk`` samples."""
    for start in range(0, k, sample_chunk):
        s = min(sample_chunk, k - start)
        epsilon = np.stack([rng.standard_normal((s, vae.latent_dim)) for rng in rngs])
        yield log_importance_weights(vae, x, z_mean, z_log_var, epsilon)


def codes_per_batch(decoder: keras.Model, batch_size: int) -> int:
    """How many codes :func:`log_weight_statistics` decodes at once: ``batch_size``,
    or fewer, so that no layer of ``decoder`` outputs more than
    ``MAX_BATCH_VALUES`` values for them, and at least one.

    A dense decoder's widest output is usually its image, so ``batch_size``
    codes; a convolutional one's feature maps (``28 x 28 x 32`` values per code
    in keras.io's) would otherwise take more than a gigabyte for a few thousand
    codes. The layers of nested models count too. A decoder whose layer output
    sizes are not all known (a subclassed model, or an unknown dimension) decodes
    ``batch_size`` codes.
    """
    try:
        widest = max(
            math.prod(tensor.shape[1:])
            for layer in _nested_layers(decoder)
            for tensor in keras.tree.flatten(layer.output)
        )
    except (AttributeError, ValueError, TypeError):  # sizes that cannot be read
        return batch_size
    return max(1, min(batch_size, MAX_BATCH_VALUES // widest))


def _nested_layers(model: keras.Model) -> Iterator[keras.layers.Layer]:
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _nested_layers(layer)


def log_weight_statistics(
    vae: VAE,
    x,
    k: int,
    *,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_codes: int = MAX_DECODED_CODES,
) -> LogWeightSummary:
    """The IWAE bound and the multi-sample ELBO of every example, from ``k`` shared
    draws.

    Args:
        vae: a trained VAE (any likelihood it supports).
        x: ``(n, *input_shape)`` examples, pixels in ``[0, 1]``; for the
            Bernoulli likelihood binary pixels make ``p(x|z)`` a probability.
        k: number of codes ``z_i ~ q(z|x)`` per example, ``>= 1``.
        seed: example ``i`` draws its noise from ``np.random.default_rng([seed, i])``,
            so its estimate depends neither on ``batch_size`` nor on the other
            examples, and ``k = 10`` uses the first ten of the draws ``k = 100`` uses.
        batch_size: at most this many codes are decoded at once, fewer where a
            layer of the decoder would output more than ``MAX_BATCH_VALUES``
            values for them (:func:`codes_per_batch`); memory does not grow
            with ``k``.
        max_codes: the most codes ``n * k`` the call may decode; time grows
            with them, so more raise ``ValueError`` before any is decoded.

    Returns:
        A :class:`LogWeightSummary` with arrays of shape ``(n,)`` in nats.

    With ``Gaussian(variance=None)`` the
    variance is calibrated on each decoded batch, as in training, so the
    numbers then depend on how many codes a batch decodes (``batch_size`` and
    :func:`codes_per_batch`): fix the variance for a proper density.
    """
    if (
        not isinstance(vae, VAE)
        or vae.conditional
        or type(vae).decoder_inputs is not VAE.decoder_inputs
    ):
        conditional = " (conditional)" if getattr(vae, "conditional", False) else ""
        raise TypeError(
            "log_weight_statistics needs an unconditional VAE whose decoder reads z "
            f"alone, got {type(vae).__name__}{conditional}"
        )
    x = vae.check_examples(x)
    k = check_positive_int(k, "k")
    seed = check_seed(seed)
    batch_size = check_positive_int(batch_size, "batch_size")
    max_codes = check_positive_int(max_codes, "max_codes")
    if len(x) * k > max_codes:
        raise ValueError(
            f"k={k} codes for each of {len(x)} examples would decode {len(x) * k:.3g} "
            f"codes, over the bound max_codes={max_codes:.3g} (time grows with k * "
            "n): lower k, pass fewer examples, or raise max_codes"
        )
    codes = codes_per_batch(vae.decoder, batch_size)
    sample_chunk = min(k, codes)
    example_chunk = max(1, codes // sample_chunk)
    z_mean, z_log_var = predict_in_batches(vae.encoder, x)
    parts = []
    for start in range(0, len(x), example_chunk):
        rows = slice(start, start + example_chunk)
        rngs = [
            np.random.default_rng([seed, i])
            for i in range(start, min(start + example_chunk, len(x)))
        ]
        chunks = _log_weight_chunks(
            vae, x[rows], z_mean[rows], z_log_var[rows], rngs, k, sample_chunk
        )
        parts.append(summarize_log_weights(chunks))
    return LogWeightSummary(
        iwae=np.concatenate([part.iwae for part in parts]),
        elbo=np.concatenate([part.elbo for part in parts]),
        k=k,
    )


def iwae_bound(
    vae: VAE,
    x,
    k: int,
    *,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_codes: int = MAX_DECODED_CODES,
) -> np.ndarray:
    """The importance-weighted bound ``log (1/k) sum_i p(x, z_i) / q(z_i|x)`` per
    example: ``(n,)`` nats.

    ``z_i ~ q(z|x)``. Its expectation is a lower bound on ``log p(x)`` that
    never decreases with ``k`` and reaches ``log p(x)`` as ``k -> infinity``;
    with ``k = 1`` it is a single-sample ELBO estimate (Burda et al., 2016).
    See :func:`log_weight_statistics` for the arguments; more than
    ``max_codes`` codes ``n * k`` (``10**8`` by default) raise ``ValueError``.
    """
    return log_weight_statistics(
        vae, x, k, seed=seed, batch_size=batch_size, max_codes=max_codes
    ).iwae


def elbo_estimate(
    vae: VAE,
    x,
    n_samples: int,
    *,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_codes: int = MAX_DECODED_CODES,
) -> np.ndarray:
    """The ELBO of each example estimated from ``n_samples`` codes:
    ``(1/k) sum_i log w_i``, ``(n,)`` nats.

    Averaging more samples lowers its noise, not its expectation, which is
    the ELBO for any ``n_samples``. With the same ``seed`` it uses the draws
    :func:`iwae_bound` uses and is never above it.
    """
    n_samples = check_positive_int(n_samples, "n_samples")
    return log_weight_statistics(
        vae, x, n_samples, seed=seed, batch_size=batch_size, max_codes=max_codes
    ).elbo


def nats_to_bits_per_dim(nats, n_dims: int):
    """Convert nats per example to bits per dimension: ``nats / (n_dims * ln 2)``.

    The sign is kept, so pass the negative log-likelihood ``-log p(x)`` to get
    the positive bits/dim the literature reports (784 ln 2 nats for a
    784-pixel image is 1 bit/dim: a fair coin per pixel). No offset is added:
    for binary pixels this is the whole conversion; for 8-bit images modelled
    by a density, papers also account for the 256 grey levels.
    """
    n_dims = check_positive_int(n_dims, "n_dims")
    return np.asarray(nats, dtype=np.float64) / (n_dims * math.log(2.0))


@dataclass(frozen=True)
class MeanWithError:
    """A sample mean, its standard error (both in the values' unit) and the number of
    values ``n``."""

    mean: float
    standard_error: float
    n: int = 1


def mean_and_standard_error(values) -> MeanWithError:
    """Mean of per-example values ``(n,)`` and its standard error ``std / sqrt(n)`` (0
    when ``n = 1``).

    ``std`` is the sample standard deviation (``ddof=1``). For many independent
    values ``mean +- 2 * standard_error`` covers the expectation about 95 % of
    the time; for few (a handful of seeds) the factor is Student's ``t`` with
    ``n - 1`` degrees of freedom, ``scipy.stats.t.ppf(0.975, n - 1)``: 4.30 for
    three values, 2.78 for five.
    """
    values = check_array(values, "values", ()).astype(np.float64)
    spread = values.std(ddof=1) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return MeanWithError(
        mean=float(values.mean()), standard_error=float(spread), n=len(values)
    )
