"""The full-size MNIST stand-in (scripts/make_fullsize_standin.py) is what it says it is.

Small sizes keep these tests to seconds; the full size differs only in the
numbers given to the same functions.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parents[1]
N_TRAIN, N_TEST = 900, 300


def load_script():
    spec = importlib.util.spec_from_file_location(
        "make_fullsize_standin", ROOT / "scripts" / "make_fullsize_standin.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


standin = load_script()


@pytest.fixture(scope="module")
def digits():
    return standin.source_digits()


@pytest.fixture(scope="module")
def arrays(digits):
    return standin.make_standin(*digits, n_train=N_TRAIN, n_test=N_TEST, seed=0)


def shifted(image, dy, dx):
    """The definition, written independently of the script: out[y, x] = image[y - dy, x - dx], else 0."""
    out = np.zeros_like(image)
    height, width = image.shape
    for y in range(height):
        for x in range(width):
            if 0 <= y - dy < height and 0 <= x - dx < width:
                out[y, x] = image[y - dy, x - dx]
    return out


def every_shift_of(images, sources):
    """Bytes of each shift by at most 2 pixels (zero included) of each source -> that source's index."""
    padded = np.pad(images[sources], ((0, 0), (2, 2), (2, 2)))
    found = {}
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            crops = padded[:, 2 - dy : 30 - dy, 2 - dx : 30 - dx]
            for source, crop in zip(sources, crops):
                found.setdefault(crop.tobytes(), set()).add(int(source))
    return found


def test_the_file_has_the_keras_datasets_layout_and_load_mnist_reads_it(tmp_path, capsys):
    output = tmp_path / "standin" / "mnist_standin.npz"
    assert standin.main(["--output", str(output), "--n-train", str(N_TRAIN), "--n-test", str(N_TEST)]) == 0
    printed = capsys.readouterr().out
    assert str(output) in printed and "STAND-IN" in printed and "5,000 real MNIST digits" in printed
    with np.load(output) as saved:
        assert saved["x_train"].dtype == np.uint8 and saved["x_train"].shape == (N_TRAIN, 28, 28)
        assert saved["x_test"].dtype == np.uint8 and saved["x_test"].shape == (N_TEST, 28, 28)
        assert saved["y_train"].shape == (N_TRAIN,) and saved["y_test"].shape == (N_TEST,)
        assert set(np.unique(saved["y_train"])) == set(range(10)) == set(np.unique(saved["y_test"]))

    from snippets.data import load_mnist

    data = load_mnist(str(output), verbose=False)
    assert data.x_test.shape == (N_TEST, 784) and data.x_train.shape[1:] == (784,)
    # All the training images, less any the loader sets aside for validation.
    assert len(data.x_train) + len(getattr(data, "x_valid", ())) == N_TRAIN


def test_labels_are_the_labels_of_the_source_digits(digits, arrays):
    _, labels = digits
    for split in ("train", "test"):
        assert np.array_equal(arrays[f"y_{split}"], labels[arrays[f"source_{split}"]])


def test_train_and_test_come_from_disjoint_source_digits(digits, arrays):
    images, labels = digits
    train, test = standin.split_sources(labels, standin.N_TEST_SOURCES, np.random.default_rng(0))
    assert len(train) == 4000 and len(test) == 1000 and not set(train) & set(test)
    assert np.array_equal(np.bincount(labels[test]), np.full(10, 100))
    assert set(arrays["source_train"]) <= set(train) and set(arrays["source_test"]) <= set(test)
    # Without the recorded provenance: no test image is a shift of a training source.
    shifts_of_train = every_shift_of(images, np.unique(arrays["source_train"]))
    assert not any(image.tobytes() in shifts_of_train for image in arrays["x_test"])


def test_every_image_is_a_shift_of_one_or_two_pixels_of_its_source(digits, arrays):
    images, _ = digits
    for split in ("train", "test"):
        x, sources, shifts = arrays[f"x_{split}"], arrays[f"source_{split}"], arrays[f"shift_{split}"]
        assert np.all(np.abs(shifts) <= 2) and np.all(np.abs(shifts).max(axis=1) >= 1)
        for image, source, (dy, dx) in zip(x[:200], sources[:200], shifts[:200]):
            assert np.array_equal(image, shifted(images[source], dy, dx))
        # No ink is cut off, and none wraps around: the shift only moves pixels.
        assert np.array_equal(
            x.reshape(len(x), -1).sum(axis=1, dtype=np.int64),
            images[sources].reshape(len(x), -1).sum(axis=1, dtype=np.int64),
        )
        # Without the recorded provenance: every image is a shift of a source of its split.
        candidates = every_shift_of(images, np.unique(sources))
        assert all(int(source) in candidates.get(image.tobytes(), ()) for image, source in zip(x, sources))


def test_sources_are_used_evenly_and_their_copies_take_different_shifts(digits):
    images, labels = digits
    # 8,000 images from 4,000 sources: every source twice, in two different positions.
    arrays = standin.make_standin(images, labels, n_train=8000, n_test=10, seed=1)
    counts = np.bincount(arrays["source_train"], minlength=len(labels))
    assert set(counts[np.unique(arrays["source_train"])]) == {2}
    pairs = {}
    for source, shift in zip(arrays["source_train"], map(tuple, arrays["shift_train"])):
        pairs.setdefault(int(source), set()).add(shift)
    assert all(len(shifts) == 2 for shifts in pairs.values())


def test_the_seed_fixes_the_stand_in(digits, arrays):
    again = standin.make_standin(*digits, n_train=N_TRAIN, n_test=N_TEST, seed=0)
    assert all(np.array_equal(arrays[key], again[key]) for key in arrays)
    other = standin.make_standin(*digits, n_train=N_TRAIN, n_test=N_TEST, seed=1)
    assert not np.array_equal(arrays["x_train"], other["x_train"])
    assert not np.array_equal(arrays["source_test"], other["source_test"])


@pytest.mark.parametrize("flag", ["--n-train", "--n-test"])
def test_a_size_below_one_is_refused(tmp_path, flag):
    with pytest.raises(SystemExit):
        standin.main(["--output", str(tmp_path / "x.npz"), flag, "0"])
