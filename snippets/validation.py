"""Input checks that fail early with a message naming the argument.

Keras reports a wrong input deep inside a traced graph, and some mistakes
(pixels in 0-255, a NaN in the data) raise nothing at all: training just
diverges. These checks run on the NumPy side before any of that happens; every
entry point of the package that takes data or a number with a range uses them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import numpy as np

MNIST_LAYOUTS = {(784,), (28, 28, 1)}


def check_positive_int(value: object, name: str) -> int:
    """Return ``value`` as an ``int`` if it is an integer >= 1, else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer >= 1, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value}")
    return int(value)


def check_seed(
    value: object, name: str = "seed", *, allow_none: bool = False
) -> int | None:
    """Return ``value`` as an ``int`` if it is a non-negative integer (or ``None`` when
    allowed), else raise."""
    if value is None and allow_none:
        return None
    expected = "a non-negative integer" + (" or None" if allow_none else "")
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be {expected}, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be {expected}, got {value}")
    return int(value)


def check_optional_positive_int(value: object, name: str) -> int | None:
    """``None``, or ``value`` checked by :func:`check_positive_int` (a ``batch_size``
    Keras may choose)."""
    return None if value is None else check_positive_int(value, name)


def check_number(
    value: object,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a ``float`` if it is a finite number in the given interval,
    else raise.

    ``low``/``high`` bound the interval (``None``: unbounded); ``low_open``
    and ``high_open`` exclude the bound itself. The message states the
    interval, e.g. ``beta must be a finite number in [0, inf), got -1``.
    """
    if isinstance(value, bool) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{name} must be a number, got {value!r}")
    number = float(value)
    too_low = low is not None and (number <= low if low_open else number < low)
    too_high = high is not None and (number >= high if high_open else number > high)
    if not math.isfinite(number) or too_low or too_high:
        interval = _interval(
            low, high, low_open or low is None, high_open or high is None
        )
        raise ValueError(f"{name} must be a finite number in {interval}, got {value!r}")
    return number


def _interval(
    low: float | None,
    high: float | None,
    low_open: bool = False,
    high_open: bool = False,
) -> str:
    """``[0, 1)``-style text for an interval; a missing bound is written as infinity."""
    left = f"{'(' if low_open else '['}{'-inf' if low is None else f'{low:g}'}"
    return (
        f"{left}, {'inf' if high is None else f'{high:g}'}{')' if high_open else ']'}"
    )


def check_array(
    x: object,
    name: str = "x",
    expected_shape: Sequence[int | None] | None = None,
    *,
    low: float | None = None,
    high: float | None = None,
    integer: bool = False,
) -> np.ndarray:
    """Check a batch of examples: numeric, non-empty, finite, of the right shape and
    range.

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
        raise ValueError(
            f"{name} is empty (shape {array.shape}); expected at least one example"
        )
    if expected_shape is not None:
        expected = tuple(expected_shape)
        actual = array.shape[1:]
        if len(actual) != len(expected) or any(
            e is not None and a != e for a, e in zip(actual, expected)
        ):
            hint = ""
            if {actual, expected} <= MNIST_LAYOUTS:
                hint = (
                    "; load_mnist(layout='flat') gives (784,), layout='image' gives "
                    "(28, 28, 1)"
                )
            raise ValueError(
                f"{name} has per-example shape {actual}, but the model expects "
                f"{expected}{hint}"
            )
    finite = np.isfinite(array)
    if not finite.all():
        raise ValueError(
            f"{name} contains {int((~finite).sum())} NaN or infinite values; clean "
            "the data first"
        )
    if integer and not np.array_equal(array, np.round(array)):
        raise ValueError(
            f"{name} must hold whole numbers (class indices), got dtype {array.dtype}"
        )
    smallest, largest = float(array.min()), float(array.max())
    if (low is not None and smallest < low) or (high is not None and largest > high):
        raise ValueError(
            f"{name} must hold values in {_interval(low, high)}, got values in "
            f"[{smallest:g}, {largest:g}]"
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
            f"{name} must hold pixel intensities in [0, 1], got values in "
            f"[{smallest:g}, {largest:g}]{hint}"
        )
    return array


def check_same_length(arrays: dict[str, np.ndarray]) -> int:
    """The common number of examples of named arrays; raises naming each length when
    they differ."""
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name} has {length}" for name, length in lengths.items())
        raise ValueError(f"every array needs one row per example, but {listed}")
    return next(iter(lengths.values()))


def is_array_like(data: object) -> bool:
    """Whether ``data`` is held in memory as arrays: a NumPy array, a tensor, a list, a
    tuple or a dict of them."""
    return isinstance(data, (np.ndarray, list, tuple, dict)) or hasattr(
        data, "__array__"
    )


def first_batch(data: object) -> object | None:
    """The first batch of a ``keras.utils.PyDataset`` or a ``tf.data.Dataset`` as NumPy
    arrays; ``None`` otherwise.

    A ``PyDataset`` is indexed (``data[0]``); a ``tf.data`` pipeline is read
    through a fresh iterator (``data.take(1)``), which leaves the iterator of
    ``fit`` untouched. Generators cannot be read twice and give ``None``.
    """
    if isinstance(data, keras.utils.PyDataset):
        batch = data[0]
    elif hasattr(data, "element_spec") and hasattr(
        data, "take"
    ):  # tf.data, without importing TensorFlow
        batch = next(iter(data.take(1)), None)
    else:
        return None
    return keras.tree.map_structure(np.asarray, batch)


@dataclass(frozen=True)
class DataSpec:
    """What a model reads, derived from its networks and likelihood, and the one check
    of data against it.

    Attributes:
        x_shape: the per-example shape of the encoder's input ``x``, e.g. ``(784,)``.
        check_values: the likelihood's support check ``(x, name) -> array``
            (pixels in ``[0, 1]``, whole class indices, counts ``>= 0``).
        condition_shape: the per-example shape of the condition, ``None`` for
            an unconditional model.

    Every way data reaches a model goes through :meth:`check`: arrays, lists
    and ``{"x": x, "condition": c}`` dicts are checked whole; of a
    ``keras.utils.PyDataset`` or a ``tf.data.Dataset`` the first batch is
    checked, so a wrong layout, 0-255 pixels or a NaN fail before the first
    training step with a message naming the argument.
    """

    x_shape: tuple
    check_values: Callable[[object, str], np.ndarray]
    condition_shape: tuple | None = None

    def check_x(self, x: object, name: str = "x") -> np.ndarray:
        """``x`` as an array ``(n, *x_shape)`` in the likelihood's support."""
        return check_array(self.check_values(x, name), name, self.x_shape)

    def check_condition(
        self, condition: object, n: int, name: str = "condition"
    ) -> np.ndarray | None:
        """The condition as float32 ``(n, *condition_shape)``; ``None`` for an
        unconditional model."""
        if self.condition_shape is None:
            if condition is not None:
                raise ValueError(f"{name} was given but this model is not conditional")
            return None
        if condition is None:
            raise ValueError(
                f"this model is conditional: pass {name} of shape "
                f"{(n, *self.condition_shape)}"
            )
        condition = check_array(condition, name, self.condition_shape).astype(
            np.float32
        )
        if len(condition) != n:
            raise ValueError(
                f"{name} has {len(condition)} rows, expected one per example ({n})"
            )
        return condition

    def check_inputs(
        self, data: object, name: str = "x"
    ) -> np.ndarray | dict[str, np.ndarray]:
        """Checked model inputs: ``x``, or ``{"x": x, "condition": c}`` for a
        conditional model."""
        if isinstance(data, dict):
            unknown = set(data) - {"x", "condition"}
            if "x" not in data or unknown:
                raise ValueError(
                    f"{name} must be x or a dict with keys 'x' and 'condition', got "
                    f"keys {sorted(data)}"
                )
            x = self.check_x(data["x"], f"{name}['x']")
            return {
                "x": x,
                "condition": self.check_condition(
                    data.get("condition"), len(x), f"{name}['condition']"
                ),
            }
        x = self.check_x(data, name)
        self.check_condition(None, len(x), f"{name}['condition']")
        return x

    def check(
        self,
        x: object,
        y: object = None,
        sample_weight: object = None,
        *,
        name: str = "x",
    ):
        """``(x, y, sample_weight)`` checked against the spec; a dataset is returned as
        it is after its first batch.

        ``y`` (reconstruction targets) is checked like ``x``, ``sample_weight``
        must be ``(n,)`` and non-negative, and all hold one row per example.
        ``name`` names ``x`` in messages (``"validation_data"``); a dataset's
        batch is named ``"<name> (first batch)"``.
        """
        names = (
            (name, "y", "sample_weight")
            if name == "x"
            else (name, f"{name} y", f"{name} sample_weight")
        )
        if not is_array_like(x):
            batch = first_batch(x)
            if batch is not None:
                names = tuple(f"{part} (first batch)" for part in names)
                self._check_arrays(*keras.utils.unpack_x_y_sample_weight(batch), names)
            return x, y, sample_weight
        return self._check_arrays(x, y, sample_weight, names)

    def _check_arrays(self, x, y, sample_weight, names: tuple[str, str, str]):
        x = self.check_inputs(x, names[0])
        lengths = {names[0]: x["x"] if isinstance(x, dict) else x}
        if y is not None:
            y = lengths[names[1]] = self.check_x(y, names[1])
        if sample_weight is not None:
            if np.ndim(sample_weight) != 1:
                raise ValueError(
                    f"{names[2]} must hold one weight per example, shape (n,), got "
                    f"shape {np.shape(sample_weight)}"
                )
            sample_weight = check_array(sample_weight, names[2], (), low=0.0).astype(
                np.float32
            )
            lengths[names[2]] = sample_weight
        check_same_length(lengths)
        return x, y, sample_weight
