"""Figures of the theory chapters. Each function returns a ``matplotlib.figure.Figure``.

Built without ``pyplot`` (see :mod:`snippets.plotting`): display the returned
figure, or ``glue`` it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from snippets.chapters.theory import gaussian_kl, gaussian_log_density


def plot_gaussian_pair(
    mean_p: float, var_p: float, mean_q: float, var_q: float
) -> Figure:
    """Two 1-D Gaussian densities p and q, titled with KL in both directions."""
    kl_pq = float(gaussian_kl([mean_p], [var_p], [mean_q], [var_q]))
    kl_qp = float(gaussian_kl([mean_q], [var_q], [mean_p], [var_p]))
    spread = 4.0 * np.sqrt(max(var_p, var_q))
    z = np.linspace(min(mean_p, mean_q) - spread, max(mean_p, mean_q) + spread, 600)[
        :, None
    ]
    fig = Figure(figsize=(6.0, 3.4), layout="constrained")
    ax = fig.subplots()
    for mean, var, label in ((mean_p, var_p, "p"), (mean_q, var_q, "q")):
        density = np.exp(gaussian_log_density(z, mean, var))
        ax.plot(z[:, 0], density, label=f"{label} = N({mean:g}, {var:g})")
        ax.fill_between(z[:, 0], density, alpha=0.15)
    ax.set_title(f"KL(p || q) = {kl_pq:.3f} nats,  KL(q || p) = {kl_qp:.3f} nats")
    ax.set_xlabel("$z$")
    ax.set_ylabel("density")
    ax.legend()
    return fig


def plot_curse_of_dimensionality(
    dims: Sequence[int],
    occupied: Sequence[float],
    contrast: Sequence[np.ndarray],
    n_samples: int,
    bins_per_axis: int,
) -> Figure:
    """Two panels against dimension: occupied histogram cells, and nearest/farthest
    distance ratio.

    ``contrast[i]`` holds the ratio for each query point in dimension ``dims[i]``;
    the right panel draws their mean and a band of one standard deviation.
    """
    if not len(dims) == len(occupied) == len(contrast):
        raise ValueError("dims, occupied and contrast must have the same length")
    mean = np.array([np.mean(ratios) for ratios in contrast])
    spread = np.array([np.std(ratios) for ratios in contrast])
    fig = Figure(figsize=(9.0, 3.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.semilogy(dims, occupied, marker="o")
    left.set_xlabel("dimension")
    left.set_ylabel("fraction of cells with a sample")
    left.set_title(f"{n_samples:,} samples, {bins_per_axis} bins per axis")
    right.plot(dims, mean, marker="o", color="C1", label="mean over query points")
    right.fill_between(
        dims,
        mean - spread,
        mean + spread,
        color="C1",
        alpha=0.2,
        label="± one standard deviation",
    )
    right.set_ylim(0.0, 1.0)
    right.set_xlabel("dimension")
    right.set_ylabel("nearest / farthest distance")
    right.set_title("distances concentrate")
    right.legend(loc="lower right")
    return fig


def plot_elbo_trace(elbo: np.ndarray, log_marginal: float) -> Figure:
    """ELBO per gradient step against the exact log p(x), and the gap on a log scale."""
    elbo = np.asarray(elbo, dtype=np.float64)
    steps = np.arange(len(elbo))
    fig = Figure(figsize=(9.0, 3.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.plot(steps, elbo, label="ELBO of q")
    left.axhline(log_marginal, color="black", linestyle="--", label="exact log p(x)")
    left.set_xlabel("gradient step")
    left.set_ylabel("nats")
    left.legend()
    # Below float64 rounding of log p(x) the gap is noise (even negative): draw it at
    # that floor.
    rounding = 4.0 * np.finfo(float).eps * max(1.0, abs(log_marginal))
    right.semilogy(steps, np.maximum(log_marginal - elbo, rounding), color="C2")
    right.axhline(rounding, color="gray", linestyle=":", label="float64 rounding")
    right.legend()
    right.set_xlabel("gradient step")
    right.set_ylabel("log p(x) - ELBO  (nats)")
    right.set_title("gap = KL(q || p(z | x))")
    return fig


def plot_estimator_variance(
    sample_sizes: Sequence[int], variances: Mapping[str, np.ndarray], parameter: str
) -> Figure:
    """Variance of n-sample gradient estimates against n, log-log, one line per
    estimator.

    ``variances`` maps an estimator's name to an array of shape
    ``(len(sample_sizes),)``.
    """
    fig = Figure(figsize=(5.5, 3.6), layout="constrained")
    ax = fig.subplots()
    for name, values in variances.items():
        values = np.asarray(values)
        if values.shape != (len(sample_sizes),):
            raise ValueError(
                f"variances[{name!r}] must have shape ({len(sample_sizes)},), got "
                f"{values.shape}"
            )
        ax.loglog(sample_sizes, values, marker="o", label=name)
    ax.set_xlabel("samples per estimate $n$")
    ax.set_ylabel(f"variance of the estimate of {parameter}")
    ax.legend()
    return fig
