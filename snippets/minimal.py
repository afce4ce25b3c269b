"""A first VAE in Keras 3: dense encoder, sampling step, dense decoder and the loss.

The encoder maps an image ``x`` to the Gaussian ``q(z|x) = N(z_mean, exp(z_log_var))``;
``Sampling`` draws ``z`` from it; the decoder maps ``z`` to one logit per pixel,
``p(x_i = 1 | z) = sigmoid(logit_i)``. The loss is the negative evidence lower bound
per example, in nats, estimated with one draw of ``z``:

    -ELBO(x) = -log p(x | z) + KL(q(z | x) || N(0, I)).

:class:`snippets.VAE` is this model with other likelihoods, conditions, input checks
and a KL weight. The module needs Keras only, and no blank line falls inside a class or
function, so it also pastes into the interactive Python prompt.
"""

from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="snippets.minimal")
class Sampling(keras.layers.Layer):
    """``z = z_mean + exp(z_log_var / 2) * eps``, ``eps ~ N(0, I)``: reparameterization.

    Inputs ``[z_mean, z_log_var]`` and the output are ``(batch, latent_dim)``. The
    noise comes from a seeded generator; a saved model keeps the seed, not its state.
    """
    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed, self.seed_generator = seed, keras.random.SeedGenerator(seed)
    def call(self, inputs):
        z_mean, z_log_var = inputs
        shape, dtype = ops.shape(z_mean), z_mean.dtype
        epsilon = keras.random.normal(shape, dtype=dtype, seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon
    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed}


def build_encoder(latent_dim: int = 2, input_dim: int = 784, units: int = 256):
    """A model from images ``(batch, input_dim)`` to ``[z_mean, z_log_var]``, each
    ``(batch, latent_dim)``."""
    x = keras.Input(shape=(input_dim,), name="x")
    hidden = layers.Dense(units, activation="relu", name="encoder_hidden")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(hidden)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(hidden)
    return keras.Model(x, [z_mean, z_log_var], name="encoder")


def build_decoder(latent_dim: int = 2, output_dim: int = 784, units: int = 256):
    """A model from codes ``(batch, latent_dim)`` to logits ``(batch, output_dim)``."""
    z = keras.Input(shape=(latent_dim,), name="z")
    hidden = layers.Dense(units, activation="relu", name="decoder_hidden")(z)
    logits = layers.Dense(output_dim, name="logits")(hidden)
    return keras.Model(z, logits, name="decoder")


@keras.saving.register_keras_serializable(package="snippets.minimal")
class VAE(keras.Model):
    """A VAE of binary images whose loss is the negative ELBO, in nats per example.

    ``call`` returns ``z_mean``, ``z_log_var``, ``z`` (each ``(batch, latent_dim)``)
    and ``logits`` (``(batch, output_dim)``); ``fit`` and ``evaluate`` report the
    loss and its two terms, ``reconstruction`` and ``kl``.
    """
    def __init__(self, encoder, decoder, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder, self.seed = encoder, decoder, seed
        self.sampling = Sampling(seed=seed, name="sampling")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
    def call(self, x, training: bool = False) -> dict:
        z_mean, z_log_var = self.encoder(x, training=training)
        z = self.sampling([z_mean, z_log_var])
        logits = self.decoder(z, training=training)
        return {"z_mean": z_mean, "z_log_var": z_log_var, "z": z, "logits": logits}
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, **kwargs):
        """The batch mean of ``-log p(x|z) + KL``, each term a sum: ``(batch,)``.

        ``log p(x|z) = sum_i x_i l_i - log(1 + exp(l_i))`` for logits ``l``, and
        ``KL = 0.5 * sum_j (mu_j^2 + sigma_j^2 - log sigma_j^2 - 1)``. The input is its
        own target, unweighted (``snippets.VAE`` takes targets and sample weights).
        """
        logits, mean, log_var = y_pred["logits"], y_pred["z_mean"], y_pred["z_log_var"]
        x = ops.cast(x, logits.dtype)  # a tensor like the logits, even from NumPy
        # softplus(l) = log(1 + exp(l)) without overflow: no log(0) for any logit.
        reconstruction = -ops.sum(x * logits - ops.softplus(logits), axis=-1)
        kl = 0.5 * ops.sum(ops.square(mean) + ops.exp(log_var) - log_var - 1.0, axis=-1)
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        return ops.mean(reconstruction + kl)
    def get_config(self) -> dict:
        serialize = keras.saving.serialize_keras_object
        encoder, decoder = serialize(self.encoder), serialize(self.decoder)
        config = {"encoder": encoder, "decoder": decoder, "seed": self.seed}
        return {**super().get_config(), **config}
    @classmethod
    def from_config(cls, config: dict) -> keras.Model:
        config, deserialize = dict(config), keras.saving.deserialize_keras_object
        encoder = deserialize(config.pop("encoder"))
        return cls(encoder, deserialize(config.pop("decoder")), **config)
