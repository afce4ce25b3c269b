"""The conditional VAE (CVAE): generate the digit you ask for.

The label ``y`` goes to both networks, as a one-hot *condition* concatenated
with their input: the encoder models ``q(z | x, y)``, the decoder
``p(x | z, y)``, and the prior ``p(z) = N(0, I)`` stays unconditional; training
maximises ``E_q(z|x,y)[log p(x | z, y)] - KL(q(z | x, y) || N(0, I))``, a bound
on ``log p(x | y)``. A CVAE is the package's :class:`snippets.VAE` built from
conditional networks and fed ``{"x": images, "condition": one_hot}``
(:func:`conditional_inputs`); :func:`decode_every_label` writes one code as
every digit, and :func:`conditional_iwae` and :func:`marginal_iwae` bound
``log p(x | y)`` and ``log p(x)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from keras import ops
from scipy.special import logsumexp

from snippets.losses import diagonal_gaussian_log_density
from snippets.models import (
    VAE,
    build_dense_decoder,
    build_dense_encoder,
    predict_in_batches,
)
from snippets.validation import check_images, check_positive_int

NUM_CLASSES = 10


def one_hot_labels(
    labels, num_classes: int = NUM_CLASSES, n: int | None = None
) -> np.ndarray:
    """Check integer class labels and one-hot encode them.

    Args:
        labels: ``(m,)`` integers in ``[0, num_classes)``.
        num_classes: the number of classes.
        n: if given, the number of labels expected (one per image or code).

    Returns:
        ``(m, num_classes)`` float32 array with a single 1 per row.

    Raises:
        TypeError: the labels are not integers.
        ValueError: wrong shape or length, or a label out of range.
    """
    num_classes = check_positive_int(num_classes, "num_classes")
    array = np.asarray(labels)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(
            "labels must be a non-empty 1-D array of class indices, got shape "
            f"{array.shape}"
        )
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(
            f"labels must be integers in [0, {num_classes}), got dtype {array.dtype}"
        )
    if n is not None and len(array) != n:
        raise ValueError(
            f"labels has {len(array)} entries, expected one per example ({n})"
        )
    if array.min() < 0 or array.max() >= num_classes:
        raise ValueError(
            f"labels must lie in [0, {num_classes}), got values from {array.min()} to "
            f"{array.max()}"
        )
    return np.eye(num_classes, dtype=np.float32)[array]


def conditional_inputs(
    x, labels, num_classes: int = NUM_CLASSES
) -> dict[str, np.ndarray]:
    """A CVAE's inputs: ``{"x": (n, d) images, "condition": (n, classes) one-hot}``.

    ``labels`` are integer classes, one per image; pass the dict to ``fit``,
    ``evaluate`` or as ``validation_data``.
    """
    x = check_images(x, "x").astype(np.float32)
    return {"x": x, "condition": one_hot_labels(labels, num_classes, n=len(x))}


def build_conditional_vae(
    latent_dim: int = 2,
    *,
    input_dim: int = 784,
    num_classes: int = NUM_CLASSES,
    hidden_units: Sequence[int] = (256,),
    **vae_kwargs,
) -> VAE:
    """A dense CVAE: ``[x, y] -> (z_mean, z_log_var)`` and ``[z, y] -> logits``.

    The networks are :func:`snippets.build_dense_encoder` and
    :func:`snippets.build_dense_decoder` with ``condition_dim=num_classes``, so
    a CVAE and a VAE with the same ``hidden_units`` and ``latent_dim`` differ
    only by the weights of the label's inputs. ``vae_kwargs`` (``beta``,
    ``likelihood``, ``seed``, ...) go to :class:`snippets.VAE`; the model is
    returned uncompiled.
    """
    sizes = dict(
        hidden_units=hidden_units,
        condition_dim=check_positive_int(num_classes, "num_classes"),
    )
    encoder = build_dense_encoder(latent_dim, input_dim=input_dim, **sizes)
    decoder = build_dense_decoder(latent_dim, output_dim=input_dim, **sizes)
    return VAE(encoder, decoder, **vae_kwargs)


def decode_every_label(model: VAE, z, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Decode each code with every label: style (``z``) apart from content (``y``).

    Returns ``(num_classes * n, d)`` images in row-major order: row ``k``
    holds digit ``k`` written with codes ``z[0], ..., z[n-1]``, so a grid with
    ``n`` columns has one code per column and one digit per row.
    """
    z = np.asarray(z, np.float32)
    labels = np.repeat(np.arange(num_classes), len(z))
    return model.decode(
        np.tile(z, (num_classes, 1)), condition=one_hot_labels(labels, num_classes)
    )


def conditional_iwae(
    model: VAE, x, labels, k: int, *, seed: int = 0, batch_size: int = 1000
) -> np.ndarray:
    """The IWAE bound on ``log p(x | y)`` of each example under a CVAE, from ``k``
    codes: ``(n,)`` nats.

    ``log (1/k) sum_i p(x | z_i, y) p(z_i) / q(z_i | x, y)`` with
    ``z_i ~ q(z | x, y)``; ``x`` is ``(n, 784)`` binary, ``labels`` ``(n,)``
    integer classes. Example ``i`` draws its noise from
    ``np.random.default_rng([seed, i])``, as :func:`snippets.log_weight_statistics`
    does for an unconditional VAE, so the same ``seed`` gives every label the
    same noise. About ``batch_size`` codes are decoded at a time.
    """
    x = model.check_examples(x)
    k, batch_size = (
        check_positive_int(k, "k"),
        check_positive_int(batch_size, "batch_size"),
    )
    condition = one_hot_labels(labels, int(model.encoder.inputs[1].shape[-1]), n=len(x))
    z_mean, z_log_var = predict_in_batches(model.encoder, [x, condition])
    bounds, rows = [], max(1, batch_size // k)
    for start in range(0, len(x), rows):
        block = slice(start, start + rows)
        epsilon = np.stack(
            [
                np.random.default_rng([seed, i]).standard_normal((k, model.latent_dim))
                for i in range(start, min(start + rows, len(x)))
            ]
        ).astype(np.float32)
        mean, log_var = (
            np.repeat(part[block], k, axis=0) for part in (z_mean, z_log_var)
        )
        z = mean + np.exp(0.5 * log_var) * epsilon.reshape(-1, model.latent_dim)
        logits = ops.cast(
            model.decoder([z, np.repeat(condition[block], k, axis=0)], training=False),
            "float32",
        )
        log_w = (
            model.likelihood.log_prob(np.repeat(x[block], k, axis=0), logits)
            + diagonal_gaussian_log_density(z, np.zeros_like(z), 0.0)
            - diagonal_gaussian_log_density(z, mean, log_var)
        )
        bounds.append(
            logsumexp(
                ops.convert_to_numpy(log_w).astype(np.float64).reshape(-1, k), axis=1
            )
            - np.log(k)
        )
    return np.concatenate(bounds)


def marginal_iwae(model: VAE, x, label_prior, k: int, *, seed: int = 0) -> np.ndarray:
    """A CVAE as a model of images alone: a bound on
    ``log p(x) = log sum_y p(y) p(x | y)``, ``(n,)`` nats.

    ``label_prior`` is ``p(y)``, ``(num_classes,)`` summing to 1 (the training
    labels' frequencies); each ``p(x | y)`` is estimated by :func:`conditional_iwae`
    with ``k`` codes. Each estimate of ``p(x | y)`` is unbiased, so by Jensen's
    inequality the log of their weighted sum is, in expectation, a lower bound
    on ``log p(x)``: the same kind of number as an unconditional VAE's IWAE bound,
    and comparable with it.
    """
    x = model.check_examples(x)
    label_prior = np.asarray(label_prior, np.float64)
    num_classes = int(model.encoder.inputs[1].shape[-1])
    if (
        label_prior.shape != (num_classes,)
        or np.any(label_prior < 0)
        or not np.isclose(label_prior.sum(), 1.0)
    ):
        raise ValueError(
            f"label_prior must be ({num_classes},) non-negative and sum to 1, got "
            f"{label_prior}"
        )
    per_label = np.stack(
        [
            conditional_iwae(model, x, np.full(len(x), label), k, seed=seed)
            for label in range(num_classes)
        ],
        axis=1,
    )
    with np.errstate(divide="ignore"):
        return logsumexp(per_label + np.log(label_prior), axis=1)
