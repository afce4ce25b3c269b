"""The book's glue glues exactly as myst_nb's, and the summary shows what was glued since the last one."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import myst_nb
import numpy as np
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.pylabtools import select_figure_formats
from IPython.utils.capture import capture_output
from matplotlib.figure import Figure

from snippets.chapters import glued
from snippets.chapters.glued import format_value, glue, show_glued

pytestmark = pytest.mark.backend_independent


@pytest.fixture(autouse=True)
def shell():
    """An IPython shell to display into, and no values left over from another test."""
    glued._pending.clear()
    yield InteractiveShell.instance()
    glued._pending.clear()


def displayed(function, *args, **kwargs) -> list[tuple[dict, dict]]:
    """``(data, metadata)`` of every display ``function(*args, **kwargs)`` makes."""
    with capture_output() as captured:
        function(*args, **kwargs)
    return [(output.data, output.metadata) for output in captured.outputs]


@pytest.mark.parametrize("value", [3.25, 60000, "a word"])
@pytest.mark.parametrize("display", [False, True])
def test_glue_makes_the_same_mime_bundle_and_metadata_as_myst_nb(value, display):
    assert displayed(glue, "name", value, display=display) == displayed(myst_nb.glue, "name", value,
                                                                        display=display)


@pytest.mark.parametrize("value, number", [(np.float64(72.125), 72.125), (np.int64(7), 7),
                                           (np.float32(0.5), 0.5)])
def test_a_numpy_scalar_is_glued_as_the_number_a_format_spec_can_read(value, number):
    assert displayed(glue, "name", value) == displayed(myst_nb.glue, "name", number)
    (data, _), = displayed(glue, "name", value)
    assert float(data["text/plain"]) == number


def test_summary_shows_each_value_glued_since_the_last_summary_once():
    with capture_output():
        glue("loss", 98.37251, display=False)
        glue("epochs", 60000, display=False)
    [(first, _)] = displayed(show_glued)
    assert "loss" in first["text/plain"] and "98.373" in first["text/plain"]
    assert "60,000" in first["text/plain"] and "60,000" in first["text/html"]
    with capture_output():
        glue("verdict", "better", display=False)
    [(second, _)] = displayed(show_glued)
    assert "better" in second["text/plain"] and "loss" not in second["text/plain"]


def test_summary_shows_nothing_when_nothing_was_glued():
    assert displayed(show_glued) == []


def test_summary_displays_a_figure_glued_without_display_after_the_table(shell):
    select_figure_formats(shell, {"png"})  # as `%matplotlib inline` does in the chapters
    figure = Figure()
    figure.add_subplot().plot([0, 1])
    with capture_output():
        glue("kl", 0.5, display=False)
        glue("fig_curve", figure, display=False)
    outputs = displayed(show_glued)
    assert len(outputs) == 2 and "kl" in outputs[0][0]["text/plain"] and "image/png" in outputs[1][0]


def test_summary_does_not_repeat_a_figure_already_displayed():
    figure = Figure()
    figure.add_subplot().plot([0, 1])
    with capture_output():
        glue("fig_curve", figure, display=True)
    assert displayed(show_glued) == []


@pytest.mark.parametrize(("value", "text"), [(60000, "60,000"), (np.int64(7), "7"), (98.37251, "98.373"),
                                             (1.23456e-5, "1.2346e-05"), (True, "True"), ("up", "up")])
def test_values_read_as_integers_with_separators_and_reals_to_five_digits(value, text):
    assert format_value(value) == text


def test_summary_returns_nothing_so_a_cell_shows_only_the_table():
    with capture_output():
        glue("loss", 1.0, display=False)
    with capture_output() as captured:
        assert show_glued() is None
    assert len(captured.outputs) == 1
