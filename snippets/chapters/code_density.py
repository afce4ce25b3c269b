"""A density fitted to an autoencoder's codes after training, to sample new codes from.

An autoencoder has no distribution over its codes, so it has no recipe for a new code.
Ghosh et al. (2020, "From variational to deterministic autoencoders") supply one after
training ("ex-post density estimation"): fit a Gaussian mixture to the training codes,
draw from it, and decode. The draws follow the codes' own shape, where the bounding box
of the codes or a standard normal do not. Serves the chapter on autoencoders.
"""

from __future__ import annotations

import numpy as np
from sklearn.mixture import GaussianMixture

from snippets.validation import check_positive_int


def sample_fitted_code_density(
    codes: np.ndarray, n: int, n_components: int = 10, seed: int = 0
) -> np.ndarray:
    """Fit a full-covariance Gaussian mixture to ``codes``; draw ``n`` codes from it.

    Args:
        codes: ``(m, latent_dim)`` codes of training examples, finite, with
            ``m >= n_components``.
        n: how many codes to draw.
        n_components: mixture components (Ghosh et al. use ten).
        seed: fixes the mixture's initialisation and the draws.

    Returns:
        ``(n, latent_dim)`` float64 codes, in random order.
    """
    codes = np.asarray(codes, dtype=np.float64)
    n = check_positive_int(n, "n")
    n_components = check_positive_int(n_components, "n_components")
    if codes.ndim != 2 or len(codes) < n_components:
        raise ValueError(
            "codes must have shape (m, latent_dim) with m >= n_components = "
            f"{n_components}, got {codes.shape}"
        )
    if not np.all(np.isfinite(codes)):
        raise ValueError(
            "codes must be finite to fit a density; found NaN or infinite values"
        )
    mixture = GaussianMixture(
        n_components=n_components, covariance_type="full", random_state=seed
    ).fit(codes)
    draws, _ = mixture.sample(n)  # grouped by component, so shuffle
    return np.random.default_rng(seed).permutation(draws)
