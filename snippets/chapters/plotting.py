"""Figures the chapters show. Each function returns a ``matplotlib.figure.Figure``.

Figures are built without ``pyplot``, so nothing is shown twice in Jupyter and
nothing leaks between calls: display the returned figure, or ``glue`` it. Each is
:data:`PAGE_WIDTH` wide (:func:`page_figure`), so that in the rendered book, where an
image is scaled to the text column, it fills the column and its text keeps its size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from snippets.evaluation import mean_and_standard_error
from snippets.validation import check_positive_int

IMAGE_SIDE = 28
# Inches at Matplotlib's 100 dpi: 720 pixels, a little wider than the book's text column
# (688 pixels in a 1,280-pixel window), so a figure is shrunk by at most 5 % and its
# 10-point text reads at about 9.5 points.
PAGE_WIDTH = 7.2


def page_figure(height: float) -> Figure:
    """An empty figure :data:`PAGE_WIDTH` by ``height`` inches, constrained layout."""
    return Figure(figsize=(PAGE_WIDTH, height), layout="constrained")


def _as_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    return images.reshape(len(images), IMAGE_SIDE, IMAGE_SIDE)


def plot_image_rows(rows: Mapping[str, np.ndarray], n: int = 10) -> Figure:
    """One labelled row per entry, e.g. ``{"input": x, "reconstruction": x_hat}``.

    Each value holds images of shape ``(m, 784)`` or ``(m, 28, 28[, 1])``;
    the first ``n`` of every row are shown in the same column order.
    """
    n = check_positive_int(n, "n")
    if not rows:
        raise ValueError("rows must name at least one set of images")
    fig = page_figure((PAGE_WIDTH / n + 0.3) * len(rows))
    axes = fig.subplots(len(rows), n, squeeze=False)
    for row, (label, images) in zip(axes, rows.items()):
        images = _as_images(images)
        for col, ax in enumerate(row):
            ax.set_axis_off()
            if col < len(images):
                ax.imshow(images[col], cmap="gray_r", vmin=0.0, vmax=1.0)
        row[0].set_title(label, loc="left", fontsize=10)
    return fig


def plot_image_grid(
    images: np.ndarray, ncols: int = 10, title: str | None = None
) -> Figure:
    """Images of shape ``(m, 784)`` or ``(m, 28, 28[, 1])`` tiled in a grid."""
    ncols = check_positive_int(ncols, "ncols")
    images = _as_images(images)
    if len(images) == 0:
        raise ValueError("images is empty; expected at least one image")
    nrows = -(-len(images) // ncols)
    tiles = np.ones((nrows * ncols, IMAGE_SIDE, IMAGE_SIDE))
    tiles[: len(images)] = 1.0 - images
    mosaic = tiles.reshape(nrows, ncols, IMAGE_SIDE, IMAGE_SIDE).swapaxes(1, 2)
    fig = page_figure(PAGE_WIDTH * nrows / ncols + (0.4 if title else 0.0))
    ax = fig.subplots()
    ax.imshow(
        mosaic.reshape(nrows * IMAGE_SIDE, ncols * IMAGE_SIDE),
        cmap="gray",
        vmin=0.0,
        vmax=1.0,
    )
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig


def plot_latent_scatter(
    codes: np.ndarray,
    labels: np.ndarray,
    title: str | None = None,
    points: np.ndarray | None = None,
    points_label: str = "random points",
) -> Figure:
    """2-D latent codes ``(n, 2)`` coloured by their digit label ``(n,)``.

    ``points``, if given, are extra ``(m, 2)`` locations drawn as black crosses
    (for instance random points that the decoder will be asked to decode).
    """
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] != 2:
        raise ValueError(f"codes must have shape (n, 2) to be drawn, got {codes.shape}")
    labels = np.asarray(labels)
    if labels.shape != (len(codes),):
        raise ValueError(f"labels must have shape ({len(codes)},), got {labels.shape}")
    fig = page_figure(5.6)
    ax = fig.subplots()
    scatter = ax.scatter(
        codes[:, 0], codes[:, 1], c=labels, cmap="tab10", s=4, vmin=-0.5, vmax=9.5
    )
    fig.colorbar(scatter, ax=ax, ticks=range(10), label="digit")
    if points is not None:
        points = np.asarray(points)
        ax.scatter(
            points[:, 0], points[:, 1], marker="x", c="black", s=30, label=points_label
        )
        ax.legend(loc="upper right")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title)
    return fig


def plot_history(
    history: Mapping[str, Sequence[float]],
    keys: Sequence[str],
    ylabel: str = "nats per digit",
) -> Figure:
    """Training curves: one panel per key, with its ``val_`` twin when present.

    ``history`` is ``keras.callbacks.History.history``.
    """
    missing = [key for key in keys if key not in history]
    if missing:
        raise KeyError(f"history has no {missing}; it holds {sorted(history)}")
    fig = page_figure(3.2)
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    for ax, key in zip(axes, keys):
        epochs = np.arange(1, len(history[key]) + 1)
        ax.plot(epochs, history[key], marker="o", label="training")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], marker="o", label="held out")
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.legend()
    return fig


def plot_bounds_by_k(
    ks: Sequence[int],
    iwae: Sequence[Sequence[float]],
    elbo: Sequence[float] | None = None,
) -> Figure:
    """The IWAE bound against ``k`` (log axis): its level and gain over the first ``k``.

    ``iwae[j]`` holds the per-example bounds ``(n,)`` for ``ks[j]``, on the same
    examples for every ``k``; ``elbo``, if given, the per-example multi-sample
    ELBO, drawn as a dashed line. Left: the mean of ``-iwae`` (an upper bound on
    ``-log p(x)`` in nats, lower is better) with standard errors across
    examples. Right: the mean of ``iwae[j] - iwae[0]`` with its paired standard
    error, which leaves out how much the examples differ from each other.
    """
    if len(ks) == 0 or len(ks) != len(iwae):
        raise ValueError("ks and iwae must be non-empty and of equal length")
    iwae = [np.asarray(values, dtype=np.float64) for values in iwae]
    levels = [mean_and_standard_error(-values) for values in iwae]
    gains = [mean_and_standard_error(values - iwae[0]) for values in iwae]
    fig = page_figure(3.8)
    left, right = fig.subplots(1, 2)
    left.errorbar(
        ks,
        [level.mean for level in levels],
        yerr=[level.standard_error for level in levels],
        marker="o",
        capsize=4,
        label="−IWAE bound",
    )
    if elbo is not None:
        neg_elbo = mean_and_standard_error(-np.asarray(elbo))
        left.axhline(
            neg_elbo.mean,
            ls="--",
            color="C1",
            label=f"−ELBO ({neg_elbo.mean:.1f} ± {neg_elbo.standard_error:.1f})",
        )
    left.set_ylabel("bound on −log p(x) (nats per digit)")
    left.legend()
    right.errorbar(
        ks,
        [gain.mean for gain in gains],
        yerr=[gain.standard_error for gain in gains],
        marker="o",
        capsize=4,
        color="C2",
    )
    right.set_ylabel(f"gain over k = {ks[0]} (nats, paired s.e.)")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel("k (importance samples per digit)")
    return fig
