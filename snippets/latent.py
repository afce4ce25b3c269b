"""Drawing points in a latent space and measuring where the data is not.

A plain autoencoder places its codes wherever reconstruction is easiest, so the
region they occupy has no known shape: a point drawn from its bounding box can
land far from every training code (a "hole"), where the decoder was never
trained. A VAE's KL term pulls the codes towards ``N(0, I)``, so draws from the
prior stay near data. These functions make that difference measurable.
"""

from __future__ import annotations

import numpy as np

from snippets.validation import check_positive_int


def _check_codes(codes: np.ndarray, name: str) -> np.ndarray:
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or len(codes) == 0:
        raise ValueError(f"{name} must have shape (n, latent_dim) with n >= 1, got {codes.shape}")
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


def nearest_code_distance(codes: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Euclidean distance from each point to its nearest training code: ``(n,)``."""
    codes = _check_codes(codes, "codes")
    points = _check_codes(points, "points")
    if points.shape[1] != codes.shape[1]:
        raise ValueError(
            f"points have latent_dim {points.shape[1]} but codes have {codes.shape[1]}"
        )
    squared = (
        np.sum(points**2, axis=1)[:, None]
        - 2.0 * points @ codes.T
        + np.sum(codes**2, axis=1)[None, :]
    )
    return np.sqrt(np.maximum(squared.min(axis=1), 0.0))


def hole_fraction(codes: np.ndarray, points: np.ndarray, quantile: float = 0.99) -> float:
    """Fraction of ``points`` that fall in holes between the training codes.

    A point is in a hole when its nearest training code is farther away than
    the ``quantile`` of the codes' own nearest-neighbour distances, i.e.
    farther from the data than almost any training code is from another one.
    The measure is scale-free, so two latent spaces of different size compare.
    """
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must lie in (0, 1), got {quantile}")
    codes = _check_codes(codes, "codes")
    if len(codes) < 2:
        raise ValueError("codes must hold at least two points to measure spacing")
    squared = np.sum((codes[:, None, :] - codes[None, :, :]) ** 2, axis=-1)
    np.fill_diagonal(squared, np.inf)
    spacing = np.quantile(np.sqrt(squared.min(axis=1)), quantile)
    return float(np.mean(nearest_code_distance(codes, points) > spacing))
