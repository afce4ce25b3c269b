"""Glued values that a reader of the executed notebook sees too (every chapter).

The book's prose quotes results through ``{glue:text}`` roles, which the rendered book
fills in but Jupyter and Colab show as raw text, and the chapters glue with
``display=False``, so an executed notebook would show the numbers nowhere. :func:`glue`
glues exactly as :func:`myst_nb.glue` does and also remembers the value;
:func:`show_glued`, in a cell the rendered book hides (tag ``remove-cell``), displays
the values glued since its previous call as one compact table, and the glued figures or
tables that were not displayed where they were glued.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import myst_nb
import numpy as np
import pandas as pd
from IPython.display import display


@dataclass(frozen=True)
class Glued:
    """One glued value: its glue ``name``, the ``value`` and whether it was displayed in
    place."""

    name: str
    value: Any
    displayed: bool


_pending: list[Glued] = []


def glue(name: str, variable: Any, display: bool = True) -> None:
    """:func:`myst_nb.glue` (same arguments, same output), remembering the value for
    :func:`show_glued`.

    A NumPy scalar is glued as the Python number it holds: its text form under NumPy 2,
    ``np.float64(72.1)``, is not a number that a ``{glue:text}`name:.1f``` role can
    format.
    """
    if isinstance(variable, np.generic):
        variable = variable.item()
    myst_nb.glue(name, variable, display=display)
    _pending.append(Glued(name, variable, display))


def is_scalar(value: Any) -> bool:
    """Whether ``value`` reads as one table cell: a number, a string or a bool (NumPy's
    too)."""
    return isinstance(value, (numbers.Number, str, bool))


def format_value(value: Any) -> str:
    """``value`` as it reads in the summary: integers with thousands separators, other
    real numbers to five significant digits, anything else as ``str``."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        return f"{float(value):.5g}"
    return str(value)


def glued_table(entries: list[Glued]) -> pd.DataFrame:
    """The scalar ``entries`` as a one-column table of formatted values, indexed by glue
    name."""
    scalars = [entry for entry in entries if is_scalar(entry.value)]
    return pd.DataFrame(
        {"value": [format_value(entry.value) for entry in scalars]},
        index=pd.Index([entry.name for entry in scalars], name="glued"),
    )


def show_glued() -> None:
    """Display what was glued since the previous call, and forget it.

    The numbers, strings and flags go into one table (``glued`` name, ``value``); every
    other value glued with ``display=False`` (a figure, a table) is displayed after it.
    Nothing is displayed when nothing was glued. Returns nothing, so that a cell ending
    with the call shows the summary alone.
    """
    entries = list(_pending)
    _pending.clear()
    table = glued_table(entries)
    if len(table):
        with pd.option_context("display.max_rows", None, "display.max_colwidth", None):
            display(table)
    for entry in entries:
        if not is_scalar(entry.value) and not entry.displayed:
            display(entry.value)
