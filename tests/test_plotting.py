"""Figures have the panels and data the chapters rely on."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from snippets.chapters.plotting import (
    plot_bounds_by_k,
    plot_history,
    plot_image_grid,
    plot_image_rows,
    plot_latent_scatter,
)

pytestmark = pytest.mark.backend_independent


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


# The book's text column in a 1,280-pixel window, in CSS pixels; 9 points are 12 of them.
TEXT_COLUMN_PX = 688
NINE_POINTS_PX = 12


def rendered_width_and_smallest_text(fig: Figure) -> tuple[int, float]:
    """Width in pixels of ``fig`` as Jupyter and the book render it (PNG at its dpi, tight
    bounding box), and the height in CSS pixels of its smallest text once that PNG is
    shrunk to fit the text column."""
    from io import BytesIO

    from matplotlib.image import imread
    from matplotlib.text import Text

    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi, bbox_inches="tight")
    width = imread(BytesIO(buffer.getvalue())).shape[1]
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return width, min(sizes) * fig.dpi / 72 * min(1.0, TEXT_COLUMN_PX / width)


FIGURES = {
    "image_rows": lambda: plot_image_rows({"input": np.zeros((10, 784)), "reconstruction": np.zeros((10, 784))}),
    "image_grid": lambda: plot_image_grid(np.zeros((40, 784)), ncols=10, title="decoded draws"),
    "latent_scatter": lambda: plot_latent_scatter(np.random.default_rng(0).normal(size=(50, 2)), np.arange(50) % 10,
                                                  title="codes", points=np.zeros((3, 2))),
    "history": lambda: plot_history({"loss": [3, 2], "val_loss": [4, 3], "reconstruction": [2, 1], "kl": [1, 1]},
                                    ["loss", "reconstruction", "kl"]),
    "bounds_by_k": lambda: plot_bounds_by_k([1, 10, 100], [np.full(5, -100.0), np.full(5, -99.0), np.full(5, -98.5)],
                                            elbo=np.full(5, -101.0)),
}


@pytest.mark.parametrize("name", FIGURES)
def test_figures_fill_the_text_column_with_text_of_at_least_nine_points(name):
    width, smallest_text = rendered_width_and_smallest_text(FIGURES[name]())
    assert width >= TEXT_COLUMN_PX, f"{name}: {width} px wide, narrower than the {TEXT_COLUMN_PX} px column"
    assert smallest_text >= NINE_POINTS_PX, f"{name}: text {smallest_text:.1f} px high at the column's width"
