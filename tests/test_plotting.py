"""Figures have the panels and data the chapters rely on."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from snippets.chapters.plotting import plot_history, plot_image_grid, plot_image_rows, plot_latent_scatter


def test_image_rows_draw_one_row_per_entry_and_n_columns():
    x = np.random.default_rng(0).random((12, 784))
    fig = plot_image_rows({"input": x, "reconstruction": x}, n=6)
    assert isinstance(fig, Figure) and len(fig.axes) == 12
    assert fig.axes[0].get_title(loc="left") == "input"


def test_image_grid_tiles_every_image():
    fig = plot_image_grid(np.zeros((25, 28, 28, 1)), ncols=10)
    assert fig.axes[0].images[0].get_array().shape == (3 * 28, 10 * 28)


def test_latent_scatter_plots_every_code_and_the_extra_points():
    codes = np.random.default_rng(0).normal(size=(40, 2))
    fig = plot_latent_scatter(codes, np.arange(40) % 10, points=np.zeros((3, 2)))
    offsets = [c.get_offsets().shape[0] for c in fig.axes[0].collections]
    assert offsets == [40, 3]


def test_latent_scatter_needs_two_dimensions():
    with pytest.raises(ValueError, match=r"codes must have shape \(n, 2\)"):
        plot_latent_scatter(np.zeros((5, 3)), np.zeros(5))


def test_history_plots_training_and_held_out_curves():
    fig = plot_history({"loss": [3, 2, 1], "val_loss": [4, 3, 2], "kl": [1, 1, 1]}, ["loss", "kl"])
    assert [len(ax.lines) for ax in fig.axes] == [2, 1]


def test_history_names_missing_keys():
    with pytest.raises(KeyError, match="history has no"):
        plot_history({"loss": [1.0]}, ["kl"])
