"""The Sampling layer draws from N(mean, exp(log_var)) and survives saving."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from snippets.layers import Sampling


def test_samples_have_the_requested_mean_and_variance():
    n = 200_000
    mean = np.tile(np.array([[1.5, -2.0]], np.float32), (n, 1))
    log_var = np.tile(np.log(np.array([[0.25, 4.0]], np.float32)), (n, 1))
    z = ops.convert_to_numpy(Sampling(seed=3)([mean, log_var]))
    assert z.shape == (n, 2)
    # Standard errors: sd / sqrt(n) for the mean, about sd^2 * sqrt(2 / n) for the variance.
    assert np.allclose(z.mean(axis=0), [1.5, -2.0], atol=4 * np.sqrt(np.array([0.25, 4.0]) / n))
    assert np.allclose(z.var(axis=0), [0.25, 4.0], atol=4 * np.array([0.25, 4.0]) * np.sqrt(2 / n))


def test_same_seed_gives_the_same_draws_and_different_seeds_differ():
    mean, log_var = np.zeros((4, 3), np.float32), np.zeros((4, 3), np.float32)
    first = ops.convert_to_numpy(Sampling(seed=7)([mean, log_var]))
    again = ops.convert_to_numpy(Sampling(seed=7)([mean, log_var]))
    other = ops.convert_to_numpy(Sampling(seed=8)([mean, log_var]))
    assert np.array_equal(first, again)
    assert not np.allclose(first, other)


def test_zero_variance_returns_the_mean():
    mean = np.array([[0.3, -0.4]], np.float32)
    log_var = np.full((1, 2), -80.0, np.float32)
    assert np.allclose(ops.convert_to_numpy(Sampling(seed=0)([mean, log_var])), mean, atol=1e-12)


def test_layer_round_trips_through_its_config():
    layer = Sampling(seed=11, name="z")
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(clone, Sampling) and clone.seed == 11 and clone.name == "z"
