"""Input checks that fail early with a message naming the argument.

Keras reports a wrong input deep inside a traced graph, and some mistakes
(pixels in 0-255, a NaN in the data) raise nothing at all: training just
diverges. These checks run on the NumPy side before any of that happens; every
entry point of the package that takes data or a number with a range uses them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

MNIST_LAYOUTS = {(784,), (28, 28, 1)}


def check_positive_int(value: object, name: str) -> int:
    """Return ``value`` as an ``int`` if it is an integer >= 1, else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer >= 1, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value}")
    return int(value)


def check_number(
    value: object,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a ``float`` if it is a finite number in the given interval, else raise.

    ``low``/``high`` bound the interval (``None``: unbounded); ``low_open``
    and ``high_open`` exclude the bound itself. The message states the
    interval, e.g. ``beta must be a finite number in [0, inf), got -1``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    number = float(value)
    too_low = low is not None and (number <= low if low_open else number < low)
    too_high = high is not None and (number >= high if high_open else number > high)
    if not math.isfinite(number) or too_low or too_high:
        interval = _interval(low, high, low_open or low is None, high_open or high is None)
        raise ValueError(f"{name} must be a finite number in {interval}, got {value!r}")
    return number


def _interval(low: float | None, high: float | None, low_open: bool = False, high_open: bool = False) -> str:
    """``[0, 1)``-style text for an interval; a missing bound is written as infinity."""
    left = f"{'(' if low_open else '['}{'-inf' if low is None else f'{low:g}'}"
    return f"{left}, {'inf' if high is None else f'{high:g}'}{')' if high_open else ']'}"


def check_array(
    x: object,
    name: str = "x",
    expected_shape: Sequence[int | None] | None = None,
    *,
    low: float | None = None,
    high: float | None = None,
    integer: bool = False,
) -> np.ndarray:
    """Check a batch of examples: numeric, non-empty, finite, of the right shape and range.

    Args:
        x: array-like of shape ``(n, *expected_shape)``.
        name: the argument's name, used in error messages.
        expected_shape: the per-example shape, e.g. ``(784,)`` or
            ``(28, 28, 1)``; ``None`` entries match any size.
        low, high: the smallest and largest allowed value (``None``: no bound).
        integer: the values must be whole numbers (class indices).

    Returns:
        ``x`` as a NumPy array.

    Raises:
        TypeError: ``x`` is not numeric.
        ValueError: ``x`` is empty, holds NaN or infinity, has the wrong
            per-example shape, or has values outside ``[low, high]``.
    """
    array = np.asarray(x)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {array.dtype}")
    if array.ndim == 0 or array.shape[0] == 0 or array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}); expected at least one example")
    if expected_shape is not None:
        expected = tuple(expected_shape)
        actual = array.shape[1:]
        if len(actual) != len(expected) or any(e is not None and a != e for a, e in zip(actual, expected)):
            hint = ""
            if {actual, expected} <= MNIST_LAYOUTS:
                hint = "; load_mnist(layout='flat') gives (784,), layout='image' gives (28, 28, 1)"
            raise ValueError(f"{name} has per-example shape {actual}, but the model expects {expected}{hint}")
    finite = np.isfinite(array)
    if not finite.all():
        raise ValueError(f"{name} contains {int((~finite).sum())} NaN or infinite values; clean the data first")
    if integer and not np.array_equal(array, np.round(array)):
        raise ValueError(f"{name} must hold whole numbers (class indices), got dtype {array.dtype}")
    smallest, largest = float(array.min()), float(array.max())
    if (low is not None and smallest < low) or (high is not None and largest > high):
        raise ValueError(
            f"{name} must hold values in {_interval(low, high)}, got values in [{smallest:g}, {largest:g}]"
        )
    return array


def check_images(
    x: object,
    name: str = "x",
    expected_shape: Sequence[int | None] | None = None,
) -> np.ndarray:
    """Check a batch of images or pixel vectors with intensities in ``[0, 1]``.

    :func:`check_array`, then the range, with a hint for the usual mistake of
    0-255 pixels. Returns ``x`` as a NumPy array.
    """
    array = check_array(x, name, expected_shape)
    smallest, largest = float(array.min()), float(array.max())
    if smallest < 0.0 or largest > 1.0:
        hint = " (looks like 0-255 pixels: divide by 255)" if largest > 1.0 else ""
        raise ValueError(
            f"{name} must hold pixel intensities in [0, 1], got values in [{smallest:g}, {largest:g}]{hint}"
        )
    return array
