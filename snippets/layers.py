"""Custom layers, registered so that saved models reload with ``safe_mode=True``."""

from __future__ import annotations

import keras
from keras import ops

from snippets.validation import check_seed


@keras.saving.register_keras_serializable(package="snippets")
class Sampling(keras.layers.Layer):
    """Draw ``z ~ N(z_mean, exp(z_log_var))`` with the reparameterization trick.

    ``z = z_mean + exp(z_log_var / 2) * eps`` with ``eps ~ N(0, I)``: the
    randomness enters through ``eps`` only, so gradients flow to ``z_mean`` and
    ``z_log_var``. Inputs are ``[z_mean, z_log_var]``, both of shape
    ``(batch, latent_dim)``; the output has the same shape.

    A ``keras.random.SeedGenerator`` holds the random state, so a seeded layer
    gives the same sequence of draws in every run. The seed, not the current
    state, is saved with the model: a reloaded layer starts its sequence afresh.
    """

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = check_seed(seed, allow_none=True)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(
            ops.shape(z_mean), dtype=z_mean.dtype, seed=self.seed_generator
        )
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed}
