"""Drawing points in a latent space and measuring where the data is not.

A plain autoencoder places its codes wherever reconstruction is easiest, so the
region they occupy has no known shape: a point drawn from its bounding box can
land far from every training code (a "hole"), where the decoder was never
trained. A VAE's KL term, averaged over the data, pulls the aggregate posterior
``q(z)`` (the mixture of every digit's ``q(z|x)``) towards ``N(0, I)`` without
making the two equal, so fewer prior draws land in holes, but some still do.
These functions make that difference measurable, and place points in a VAE's
latent space where the prior expects them: on a grid of Normal quantiles, and
along interpolation paths between two codes. Whether a
larger latent space buys a better bound is asked of several seeds at once
(:func:`compare_over_seeds`, :func:`compare_latent_sizes`), by the ELBO and by
the tighter importance-weighted bound. The interactive explorer of the chapter
decodes in the reader's browser from the payload :func:`explorer_payload` builds.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from statistics import NormalDist
from typing import Any

import keras
import numpy as np
from scipy import special, stats
from scipy.spatial import cKDTree

from snippets.chapters.comparison import SeedComparison, compare_over_seeds
from snippets.chapters.conditional import one_hot_labels
from snippets.chapters.diagnostics import fit_dense_vae, held_out_terms
from snippets.evaluation import (
    log_weight_statistics,
)
from snippets.export import export_dense_decoder, exported_decoder_logits
from snippets.models import VAE, predict_in_batches
from snippets.validation import check_number, check_positive_int


def _check_codes(codes: np.ndarray, name: str) -> np.ndarray:
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or len(codes) == 0:
        raise ValueError(
            f"{name} must have shape (n, latent_dim) with n >= 1, got {codes.shape}"
        )
    return codes


def sample_bounding_box(codes: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` points drawn uniformly from the axis-aligned box around ``codes``.

    Args:
        codes: ``(m, latent_dim)`` training codes.

    Returns:
        ``(n, latent_dim)`` array.
    """
    codes = _check_codes(codes, "codes")
    n = check_positive_int(n, "n")
    low, high = codes.min(axis=0), codes.max(axis=0)
    return np.random.default_rng(seed).uniform(low, high, size=(n, codes.shape[1]))


def sample_standard_normal(n: int, latent_dim: int, seed: int = 0) -> np.ndarray:
    """``n`` draws from the VAE prior ``N(0, I)``: ``(n, latent_dim)``."""
    n = check_positive_int(n, "n")
    latent_dim = check_positive_int(latent_dim, "latent_dim")
    return np.random.default_rng(seed).standard_normal((n, latent_dim))


def _check_codes_and_points(
    codes: np.ndarray, points: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Codes and points as finite float arrays of one latent size: distances exist."""
    codes = _check_codes(codes, "codes")
    points = _check_codes(points, "points")
    if points.shape[1] != codes.shape[1]:
        raise ValueError(
            f"points have latent_dim {points.shape[1]} but codes have {codes.shape[1]}"
        )
    for array, name in ((codes, "codes"), (points, "points")):
        if not np.all(np.isfinite(array)):
            raise ValueError(
                f"{name} must be finite to measure distances; "
                "found NaN or infinite values"
            )
    return codes, points


def _nearest_distance(tree: cKDTree, points: np.ndarray) -> np.ndarray:
    distances, _ = tree.query(points, k=1)
    return np.asarray(distances, dtype=np.float64)


def nearest_code_distance(codes: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Euclidean distance from each point to its nearest training code: ``(n,)``.

    A k-d tree over the codes answers each query, so memory grows with
    ``n + m`` and never with ``n * m``: 10,000 codes and 10,000 points need a
    few megabytes, not the gigabytes of an ``(n, m)`` distance matrix.
    """
    codes, points = _check_codes_and_points(codes, points)
    return _nearest_distance(cKDTree(codes), points)


def hole_fraction(
    codes: np.ndarray, points: np.ndarray, quantile: float = 0.99
) -> float:
    """Fraction of ``points`` that fall in holes between the training codes.

    A point is in a hole when its nearest training code is farther away than
    the ``quantile`` of the codes' own nearest-neighbour distances, i.e.
    farther from the data than almost any training code is from another one.
    The measure is scale-free, so two latent spaces of different size compare.
    Like :func:`nearest_code_distance` it needs memory in ``n + m`` only.
    """
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must lie in (0, 1), got {quantile}")
    codes, points = _check_codes_and_points(codes, points)
    if len(codes) < 2:
        raise ValueError("codes must hold at least two points to measure spacing")
    # Each code's two nearest codes are itself (distance 0) and its nearest other
    # code; with duplicated codes both are at distance 0, which is the right spacing.
    tree = cKDTree(codes)
    own, _ = tree.query(codes, k=2)
    spacing = np.quantile(own[:, 1], quantile)
    return float(np.mean(_nearest_distance(tree, points) > spacing))


def normal_quantile_grid(
    n_per_side: int, low: float = 0.05, high: float = 0.95
) -> np.ndarray:
    """A square grid of 2-D latent points at standard-Normal quantiles.

    Each axis takes the values ``Phi^{-1}(p)`` for ``n_per_side`` evenly spaced
    probabilities ``p`` from ``low`` to ``high`` (one point: the median
    ``Phi^{-1}((low + high) / 2)``), so neighbouring values enclose equal prior
    mass ``(high - low) / (n_per_side - 1)`` rather than equal length.

    Returns:
        ``(n_per_side**2, 2)`` points in row-major order, ready for an image
        grid with ``n_per_side`` columns: ``z_1`` grows from left to right
        along a row and ``z_2`` shrinks from the top row to the bottom, so the
        grid has the orientation of a scatter plot of ``(z_1, z_2)``.
    """
    n_per_side = check_positive_int(n_per_side, "n_per_side")
    if not 0.0 < low < high < 1.0:
        raise ValueError(
            f"low and high must satisfy 0 < low < high < 1, got low={low}, high={high}"
        )
    if n_per_side == 1:
        probabilities = np.array([(low + high) / 2.0])
    else:
        probabilities = np.linspace(low, high, n_per_side)
    values = np.array([NormalDist().inv_cdf(p) for p in probabilities])
    z1, z2 = np.meshgrid(values, values[::-1])
    return np.stack([z1.ravel(), z2.ravel()], axis=1)


def _check_interpolation(z0, z1, t) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check the arguments of ``lerp``/``slerp``; return ``t`` shaped to broadcast."""
    z0 = np.asarray(z0, dtype=np.float64)
    z1 = np.asarray(z1, dtype=np.float64)
    if z0.ndim not in (1, 2) or z0.size == 0:
        raise ValueError(
            f"z0 must have shape (latent_dim,) or (n, latent_dim), got {z0.shape}"
        )
    if z1.shape != z0.shape:
        raise ValueError(
            f"z0 and z1 must have the same shape, got {z0.shape} and {z1.shape}"
        )
    t = np.asarray(t, dtype=np.float64)
    if t.ndim != 1 or len(t) == 0:
        raise ValueError(
            f"t must be a non-empty 1-D array of weights, got shape {t.shape}"
        )
    if not np.all((t >= 0.0) & (t <= 1.0)):
        raise ValueError(
            f"t must lie in [0, 1], got values from {np.min(t)} to {np.max(t)}"
        )
    return z0, z1, t.reshape(-1, *([1] * z0.ndim))


def lerp(z0: np.ndarray, z1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Linear interpolation ``(1 - t) z0 + t z1``: the straight line from z0 to z1.

    Args:
        z0, z1: codes of the same shape, ``(latent_dim,)`` or ``(n, latent_dim)``
            (then ``n`` pairs are interpolated at once).
        t: ``(m,)`` weights in ``[0, 1]``; ``t = 0`` gives ``z0``, ``t = 1``
            gives ``z1``.

    Returns:
        ``(m, *z0.shape)``: one point (or one row of ``n`` points) per weight.
    """
    z0, z1, t = _check_interpolation(z0, z1, t)
    return (1.0 - t) * z0 + t * z1


def slerp(z0: np.ndarray, z1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical linear interpolation (White, 2016): the great-circle arc z0 to z1.

    With ``omega`` the angle between the two codes,

    ``slerp(z0, z1, t) = (sin((1 - t) omega) z0 + sin(t omega) z1) / sin(omega)``.

    When ``|z0| = |z1|`` every point of the path keeps that norm, so a path
    between two typical draws of ``N(0, I_d)`` (norm near ``sqrt(d)``) stays
    where the prior puts its mass, while the straight line dips towards the
    origin. Where ``sin(omega)`` vanishes (parallel or opposite codes, or a
    zero code) the arc is undefined and the straight line is returned. Near
    that limit, codes of unequal norm give an arc that swings far out: its
    midpoint has norm ``|z0 + z1| / (2 cos(omega / 2))``.
    Arguments and result as for :func:`lerp`.
    """
    z0, z1, t = _check_interpolation(z0, z1, t)
    norms = np.linalg.norm(z0, axis=-1, keepdims=True) * np.linalg.norm(
        z1, axis=-1, keepdims=True
    )
    cosine = np.sum(z0 * z1, axis=-1, keepdims=True) / np.where(norms > 0.0, norms, 1.0)
    omega = np.arccos(np.clip(cosine, -1.0, 1.0))
    sin_omega = np.sin(omega)
    degenerate = (sin_omega < 1e-6) | (norms == 0.0)
    sin_omega = np.where(degenerate, 1.0, sin_omega)
    arc = (np.sin((1.0 - t) * omega) * z0 + np.sin(t * omega) * z1) / sin_omega
    return np.where(degenerate, lerp(z0, z1, t.ravel()), arc)


def compare_latent_sizes(
    x_train: np.ndarray,
    x_valid: np.ndarray,
    x_test: np.ndarray,
    *,
    seeds: Sequence[int],
    epochs: int,
    batch_size: int,
    learning_rate: float,
    latent_dims: Sequence[int] = (2, 16),
    hidden_units: Sequence[int] = (256,),
    x_iwae: np.ndarray | None = None,
    iwae_samples: int = 1000,
) -> SeedComparison:
    """Dense Bernoulli VAEs ``784-hidden-d``, one per latent size d and seed, scored.

    Each run is :func:`snippets.chapters.diagnostics.fit_dense_vae` with dynamic
    binarisation (the same epochs, batch size and Adam rate for every arm, so the
    same number of gradient steps) and is scored by :func:`held_out_terms` on the
    binary ``x_test`` ``(n, 784)``. The first seed also tracks the loss on the
    binary ``x_valid`` after every epoch (``histories[d]["val_loss"]``).

    With binary ``x_iwae`` ``(m, 784)`` each run is also scored by the
    importance-weighted bound with ``iwae_samples`` codes per digit
    (:func:`snippets.log_weight_statistics`, the same draws for every run):
    ``"neg_iwae"``, the mean ``-IWAE`` in nats, and ``"bound_gap"``, the mean
    of ``IWAE - ELBO`` over the same digits and draws, the part of the ELBO's
    gap to ``log p(x)`` that ``iwae_samples`` codes close.
    """
    if x_iwae is not None:
        iwae_samples = check_positive_int(iwae_samples, "iwae_samples")

    def fit(
        latent_dim: int, seed: int, first: bool
    ) -> tuple[Any, keras.callbacks.History]:
        return fit_dense_vae(
            x_train,
            latent_dim=check_positive_int(latent_dim, "latent_dim"),
            hidden_units=hidden_units,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            seed=seed,
            validation_data=x_valid if first else None,
            dynamic_binarization=True,
        )

    def score(_: int, model: VAE) -> dict[str, float]:
        scores = held_out_terms(model, x_test)
        if x_iwae is not None:
            bounds = log_weight_statistics(model, x_iwae, iwae_samples)
            scores["neg_iwae"] = -float(np.mean(bounds.iwae))
            scores["bound_gap"] = float(np.mean(bounds.iwae - bounds.elbo))
        return scores

    return compare_over_seeds(fit, score, latent_dims, seeds)


def class_centres(codes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The mean code of each class ``0, ..., max(labels)``: ``(n_classes, latent_dim)``.

    Args:
        codes: ``(n, latent_dim)`` posterior means.
        labels: ``(n,)`` integer classes; every class up to the largest must occur.
    """
    codes = _check_codes(codes, "codes")
    labels = np.asarray(labels)
    if (
        labels.shape != (len(codes),)
        or not np.issubdtype(labels.dtype, np.integer)
        or labels.min() < 0
    ):
        raise ValueError(
            f"labels must be {len(codes)} non-negative integers, one per code, "
            f"got shape {labels.shape}"
        )
    missing = sorted(set(range(labels.max() + 1)) - set(labels.tolist()))
    if missing:
        raise ValueError(
            f"labels has no code of class {missing}; "
            "every class needs one for its centre"
        )
    return np.stack([codes[labels == k].mean(axis=0) for k in range(labels.max() + 1)])


def confident_pixel_percent(
    images: np.ndarray, margin: float = 0.1, axis: int | None = None
) -> float | np.ndarray:
    """Percentage of pixels of ``images`` (Bernoulli means) within ``margin`` of 0 or 1.

    A decoder that draws a crisp digit is confident almost everywhere; grey,
    undecided pixels lower the share. Over all pixels by default; ``axis=-1`` gives
    one percentage per image of ``(n, pixels)`` images.
    """
    margin = check_number(
        margin, "margin", low=0.0, high=0.5, low_open=True, high_open=True
    )
    images = np.asarray(images, dtype=np.float64)
    confident = (images <= margin) | (images >= 1.0 - margin)
    if axis is None:
        return 100.0 * float(np.mean(confident))
    return 100.0 * np.mean(confident, axis=axis)


def prior_mass_within(radius: float, latent_dim: int) -> float:
    """``P(|z| <= radius)`` under ``N(0, I_d)``: chi-squared CDF at ``radius**2``."""
    radius = check_number(radius, "radius", low=0.0)
    return float(
        stats.chi2.cdf(radius**2, check_positive_int(latent_dim, "latent_dim"))
    )


def mean_pixel_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two images (or batches) of Bernoulli means."""
    return float(np.mean(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def gap_between_classes(
    vae: VAE, codes: np.ndarray, labels: np.ndarray, first: int, second: int
) -> dict[str, float]:
    """How far apart two classes' codes lie, and what the decoder draws halfway.

    Returns, for the class centres ``c_1, c_2`` (:func:`class_centres`):
    ``"gap"``, ``|c_1 - c_2|``; ``"median_pair"``, the median distance over all
    pairs of classes; ``"pairs_closer"``, how many pairs lie closer than the two;
    and the :func:`mean_pixel_difference` of the decoded midpoint from each decoded
    centre (``"middle_to_first"``, ``"middle_to_second"``) and between the two
    decoded centres (``"first_to_second"``).
    """
    centres = class_centres(codes, labels)
    pairs = np.linalg.norm(centres[:, None] - centres[None], axis=-1)[
        np.triu_indices(len(centres), 1)
    ]
    gap = float(np.linalg.norm(centres[first] - centres[second]))
    path = np.stack(
        [centres[first], (centres[first] + centres[second]) / 2, centres[second]]
    )
    one, middle, other = vae.decode(path)
    return {
        "gap": gap,
        "median_pair": float(np.median(pairs)),
        "pairs_closer": int(np.sum(pairs < gap)),
        "middle_to_first": mean_pixel_difference(middle, one),
        "middle_to_second": mean_pixel_difference(middle, other),
        "first_to_second": mean_pixel_difference(one, other),
    }


def far_from_the_prior(
    vae: VAE, codes: np.ndarray, radius: float, n_points: int = 36
) -> dict[str, float]:
    """What a 2-D VAE decodes on the circle ``|z| = radius``, against its data's codes.

    Returns ``"prior_outside_percent"``, the prior's mass beyond the circle, and
    ``"codes_outside_percent"``, the share of ``codes`` beyond it;
    ``"nearest_code"``, the median distance from the circle's ``n_points`` evenly
    spaced points to the nearest of ``codes``; ``"code_spacing"`` and
    ``"code_spacing_99"``, the median and the 99th percentile of the distance from
    a code to its nearest other code, the data's own scale of nearness where the
    codes are dense and where they are sparse; :func:`confident_pixel_percent` of
    the images decoded there (``"far_confident_percent"``) and at ``codes``
    (``"data_confident_percent"``); and ``"data_less_confident_percent"``, the share
    of codes whose image has fewer confident pixels than the median image decoded
    on the circle.
    """
    codes = _check_codes(codes, "codes")
    if codes.shape[1] != 2:
        raise ValueError(
            f"codes must be two-dimensional, got latent_dim {codes.shape[1]}"
        )
    radius = check_number(radius, "radius", low=0.0, low_open=True)
    angles = np.linspace(
        0.0, 2 * np.pi, check_positive_int(n_points, "n_points"), endpoint=False
    )
    circle = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    tree = cKDTree(codes)
    own, _ = tree.query(codes, k=2)
    per_far_image = confident_pixel_percent(vae.decode(circle), axis=-1)
    per_data_image = confident_pixel_percent(vae.decode(codes), axis=-1)
    return {
        "prior_outside_percent": 100.0 * (1.0 - prior_mass_within(radius, 2)),
        "codes_outside_percent": 100.0
        * float(np.mean(np.linalg.norm(codes, axis=1) > radius)),
        "nearest_code": float(np.median(_nearest_distance(tree, circle))),
        "code_spacing": float(np.median(own[:, 1])),
        "code_spacing_99": float(np.percentile(own[:, 1], 99)),
        "far_confident_percent": float(np.mean(per_far_image)),
        "data_confident_percent": float(np.mean(per_data_image)),
        "data_less_confident_percent": 100.0
        * float(np.mean(per_data_image < np.median(per_far_image))),
    }


def aggregate_posterior_variance(vae: VAE, x: np.ndarray) -> np.ndarray:
    """Per latent axis, the variance of the codes ``z ~ q(z | x)`` pooled over ``x``.

    The pooled distribution ``q(z) = mean_x q(z | x)`` (the aggregate posterior) has
    variance ``Var_x[mu(x)] + E_x[sigma(x)^2]`` on each axis: the spread of the
    means plus the encoder's own spread. Where ``q(z)`` matches the prior
    ``N(0, I)`` this is ``1``, so the means alone spread less than the prior.
    ``x`` is ``(n, ...)`` examples the encoder reads; returns ``(latent_dim,)``.
    """
    means, log_variances = predict_in_batches(vae.encoder, vae.check_examples(x))
    return np.var(means, axis=0) + np.mean(np.exp(log_variances), axis=0)


def _explorer_codes(
    model: VAE, x: np.ndarray, labels: np.ndarray, scale: int
) -> dict[str, Any]:
    """Posterior means of ``x`` as base64 int16 ``round(scale * z)``; labels as text."""
    condition = one_hot_labels(labels, n=len(x)) if model.conditional else None
    int16 = np.iinfo(np.int16)
    codes = np.clip(np.rint(model.encode(x, condition) * scale), int16.min, int16.max)
    return {
        "codes": base64.b64encode(codes.astype("<i2").tobytes()).decode("ascii"),
        "labels": "".join(str(int(k)) for k in labels),
    }


def explorer_payload(
    vae: VAE,
    cvae: VAE,
    x: np.ndarray,
    labels: np.ndarray,
    *,
    extent: float = 4.0,
    scale: int = 100,
) -> dict[str, Any]:
    """What the chapter's explorer needs: two exported decoders and the codes of ``x``.

    Args:
        vae: a VAE with a two-dimensional latent space and a dense Bernoulli decoder.
        cvae: the same for a conditional VAE whose condition is a one-hot digit.
        x: ``(n, 784)`` binary held-out digits, whose codes are drawn as dots.
        labels: ``(n,)`` integer labels ``0, ..., 9``; the CVAE encodes each digit
            with its own.
        extent: the panel shows ``[-extent, extent]`` on both axes.
        scale: codes are stored as integers ``round(scale * z)``, so ``100`` keeps
            two decimals.

    Returns:
        ``{"format": "latent-explorer", "version": 2, "extent", "scale",
        "models": {"vae", "cvae"}}``; each model holds ``"decoder"``
        (:func:`snippets.export.export_dense_decoder`, its default bits), ``"codes"``
        (base64 of ``2 n`` little-endian int16 ``round(scale * z)``, ``z_1, z_2`` per
        digit, clipped to the int16 range far outside the panel) and ``"labels"``
        (``n`` characters). Two bytes a coordinate make the size independent of
        where the codes lie: with two ``784-128-2`` decoders and ``n = 2000`` the
        element stays under 500 kB.
    """
    for name, model, conditional in (("vae", vae, False), ("cvae", cvae, True)):
        if (
            not isinstance(model, VAE)
            or model.latent_dim != 2
            or model.conditional != conditional
        ):
            kind = "a conditional" if conditional else "an unconditional"
            raise ValueError(
                f"{name} must be {kind} VAE with a two-dimensional latent space"
            )
    extent = check_number(extent, "extent", low=0.0, low_open=True)
    scale = check_positive_int(scale, "scale")
    models = {
        name: {
            "decoder": export_dense_decoder(model.decoder),
            **_explorer_codes(model, x, labels, scale),
        }
        for name, model in (("vae", vae), ("cvae", cvae))
    }
    return {
        "format": "latent-explorer",
        "version": 2,
        "extent": extent,
        "scale": scale,
        "models": models,
    }


def explorer_error_levels(
    payload: Mapping[str, Any], vae: VAE, cvae: VAE, n_per_side: int = 121
) -> float:
    """How far the explorer's decoders stray from Keras, in grey levels of ``1/255``.

    The largest absolute difference between the Bernoulli means that the payload's
    exported decoders give (:func:`snippets.export.exported_decoder_logits`, the
    arithmetic of the page) and ``decode`` of the models they were exported from,
    over an ``n_per_side x n_per_side`` grid spanning the panel, the CVAE with every
    one of its ten labels; times ``255``.
    """
    if payload.get("format") != "latent-explorer":
        raise ValueError("payload must come from explorer_payload")
    side = np.linspace(
        -payload["extent"],
        payload["extent"],
        check_positive_int(n_per_side, "n_per_side"),
    )
    grid = np.stack(np.meshgrid(side, side), axis=-1).reshape(-1, 2)
    cases = [("vae", vae, None)] + [
        ("cvae", cvae, one_hot_labels(np.full(len(grid), label))) for label in range(10)
    ]
    worst = 0.0
    for name, model, condition in cases:
        logits = exported_decoder_logits(
            payload["models"][name]["decoder"], grid, condition
        )
        page = special.expit(logits)
        worst = max(worst, float(np.max(np.abs(page - model.decode(grid, condition)))))
    return 255.0 * worst


def explorer_html(payload: Mapping[str, Any]) -> str:
    """The explorer's element: an empty ``div.latent-explorer`` with the payload JSON.

    ``book/_static/latent-explorer.js`` finds the element, reads the JSON and builds
    the panel; inline data loads from a downloaded copy of the book too (``file://``),
    where a browser refuses to fetch a separate file.
    """
    if payload.get("format") != "latent-explorer":
        raise ValueError("payload must come from explorer_payload")
    # "</" would end the script element early; JSON allows the escaped form.
    text = json.dumps(payload, separators=(",", ":")).replace("</", "<\\/")
    return (
        '<div class="latent-explorer">'
        '<script type="application/json" class="latent-explorer-data">'
        f"{text}</script></div>"
    )
