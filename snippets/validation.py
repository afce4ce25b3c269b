"""Input checks that fail early with a message naming the argument.

Keras reports a wrong input deep inside a traced graph, and some mistakes
(pixels in 0-255, a NaN in the data) raise nothing at all: training just
diverges. These checks run on the NumPy side before any of that happens.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def check_positive_int(value: object, name: str) -> int:
    """Return ``value`` as an ``int`` if it is an integer >= 1, else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer >= 1, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value}")
    return int(value)


def check_images(
    x: object,
    name: str = "x",
    expected_shape: Sequence[int | None] | None = None,
) -> np.ndarray:
    """Check a batch of images or pixel vectors meant for a model.

    Args:
        x: array of shape ``(n, *expected_shape)`` with pixel intensities
            in ``[0, 1]``.
        name: the argument's name, used in error messages.
        expected_shape: the per-example shape the model takes, e.g.
            ``(784,)`` or ``(28, 28, 1)``; ``None`` entries match any size.

    Returns:
        ``x`` as a NumPy array.

    Raises:
        ValueError: ``x`` is empty, holds NaN or infinity, has the wrong
            per-example shape, or has values outside ``[0, 1]``.
        TypeError: ``x`` is not numeric.
    """
    array = np.asarray(x)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {array.dtype}")
    if array.ndim == 0 or array.shape[0] == 0 or array.size == 0:
        raise ValueError(
            f"{name} is empty (shape {array.shape}); expected at least one example"
        )
    if expected_shape is not None:
        expected = tuple(expected_shape)
        actual = array.shape[1:]
        if len(actual) != len(expected) or any(
            e is not None and a != e for a, e in zip(actual, expected)
        ):
            raise ValueError(
                f"{name} has per-example shape {actual}, but the model expects "
                f"{expected}; load the data with the matching layout "
                f"(layout='flat' gives (784,), layout='image' gives (28, 28, 1))"
            )
    finite = np.isfinite(array)
    if not finite.all():
        raise ValueError(
            f"{name} contains {int((~finite).sum())} NaN or infinite values; "
            f"clean the data before training"
        )
    low, high = float(array.min()), float(array.max())
    if low < 0.0 or high > 1.0:
        hint = " (looks like 0-255 pixels: divide by 255)" if high > 1.0 else ""
        raise ValueError(
            f"{name} must hold pixel intensities in [0, 1], got values in "
            f"[{low:g}, {high:g}]{hint}"
        )
    return array
