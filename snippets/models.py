"""Dense encoders and decoders, a plain autoencoder and the VAE.

Both models define their loss by overriding ``compute_loss`` with ``keras.ops``
only, so ``fit``, ``evaluate`` and distribution strategies work unchanged on
the TensorFlow, JAX and PyTorch backends. Decoders return logits: the sigmoid
is applied inside the Bernoulli log-likelihood, which keeps it finite on
pixels that are exactly 0 or 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import numpy as np
from keras import layers, ops

from snippets.callbacks import NonFiniteLossGuard
from snippets.layers import Sampling
from snippets.losses import (
    bernoulli_log_likelihood,
    continuous_bernoulli_log_likelihood,
    continuous_bernoulli_mean,
    gaussian_kl_to_standard_normal,
    gaussian_log_likelihood,
)
from snippets.validation import check_images, check_positive_int


def _dense_stack(x, hidden_units: Sequence[int], prefix: str, activation: str = "relu"):
    for index, units in enumerate(hidden_units):
        units = check_positive_int(units, f"hidden_units[{index}]")
        x = layers.Dense(units, activation=activation, name=f"{prefix}_hidden_{index}")(x)
    return x


def build_dense_encoder(
    input_dim: int = 784,
    hidden_units: Sequence[int] = (256,),
    latent_dim: int = 2,
    variational: bool = True,
    name: str = "encoder",
) -> keras.Model:
    """A multilayer-perceptron encoder.

    Maps ``(batch, input_dim)`` through ReLU layers of ``hidden_units`` to
    ``[z_mean, z_log_var]``, each ``(batch, latent_dim)``, the parameters of
    the Gaussian ``q(z|x)``; with ``variational=False`` to a single code
    ``z`` of shape ``(batch, latent_dim)``, as a plain autoencoder uses.
    The defaults give the 784-256-2 model of the classic Keras example.
    """
    input_dim = check_positive_int(input_dim, "input_dim")
    latent_dim = check_positive_int(latent_dim, "latent_dim")
    inputs = keras.Input(shape=(input_dim,), name="x")
    hidden = _dense_stack(inputs, hidden_units, name)
    if not variational:
        return keras.Model(inputs, layers.Dense(latent_dim, name="z")(hidden), name=name)
    z_mean = layers.Dense(latent_dim, name="z_mean")(hidden)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(hidden)
    return keras.Model(inputs, [z_mean, z_log_var], name=name)


def build_dense_decoder(
    output_dim: int = 784,
    hidden_units: Sequence[int] = (256,),
    latent_dim: int = 2,
    name: str = "decoder",
) -> keras.Model:
    """A multilayer-perceptron decoder: ``(batch, latent_dim)`` to logits ``(batch, output_dim)``.

    The logits parameterise independent Bernoulli pixels,
    ``p(x_i = 1 | z) = sigmoid(logit_i)``.
    """
    output_dim = check_positive_int(output_dim, "output_dim")
    latent_dim = check_positive_int(latent_dim, "latent_dim")
    inputs = keras.Input(shape=(latent_dim,), name="z")
    hidden = _dense_stack(inputs, hidden_units, name)
    logits = layers.Dense(output_dim, name="logits")(hidden)
    return keras.Model(inputs, logits, name=name)


def predict_in_batches(model: keras.Model, x, batch_size: int = 512):
    """Run ``model`` on ``x`` batch by batch, outside ``fit``, and return NumPy arrays.

    Direct calls avoid ``Model.predict``'s compiled function, which is traced
    anew for every model and input size: for the small, one-off inference the
    chapters do, that tracing costs more than it saves. A model with several
    outputs gives a list of arrays.
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    x = np.asarray(x, np.float32)
    batches = [model(x[i : i + batch_size], training=False) for i in range(0, len(x), batch_size)]
    if isinstance(batches[0], (list, tuple)):
        return [np.concatenate([ops.convert_to_numpy(b[k]) for b in batches]) for k in range(len(batches[0]))]
    return np.concatenate([ops.convert_to_numpy(b) for b in batches])


LIKELIHOODS = ("bernoulli", "continuous_bernoulli", "gaussian")


def share_per_replica(loss):
    """``loss`` divided by the number of ``tf.distribute`` replicas (TensorFlow only).

    Under a ``tf.distribute`` strategy Keras adds the replicas' gradients and
    multiplies the loss it reports by their number, so each replica's loss must
    be its share: its mean divided by the number of replicas. Keras's built-in
    losses do this; a ``compute_loss`` override must do it itself. On JAX and
    PyTorch, and outside a strategy, the loss is returned unchanged.
    """
    if keras.backend.backend() != "tensorflow":
        return loss
    import tensorflow as tf  # only reached on the TensorFlow backend

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss / replicas if replicas > 1 else loss


class _EncoderDecoderModel(keras.Model):
    """A model built from an ``encoder`` and a ``decoder`` sub-model, saved with both.

    Subclasses take ``(encoder, decoder, **their_own_arguments)`` and add their
    own arguments to :meth:`get_config`; reloading rebuilds both sub-models.
    """

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
        }

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        encoder = keras.saving.deserialize_keras_object(config.pop("encoder"))
        decoder = keras.saving.deserialize_keras_object(config.pop("decoder"))
        return cls(encoder, decoder, **config)


class _LatentVariableModel(_EncoderDecoderModel):
    """What the autoencoder and the VAE share: the decoder's likelihood, checked
    ``fit`` and decoding helpers.

    The decoder outputs one logit per pixel; ``likelihood`` says what
    distribution they parameterise:

    - ``"bernoulli"``: binary pixels, ``p(x_i = 1) = sigmoid(logit_i)``;
    - ``"continuous_bernoulli"``: the normalised version for grey levels in
      ``[0, 1]``;
    - ``"gaussian"``: ``N(sigmoid(logit_i), sigma^2)`` with one variance
      ``sigma^2`` for all pixels: ``observation_variance`` if given, else the
      calibrated choice ``sigma^2 = mean squared error`` of the batch, the
      variance that maximises the likelihood (Rybkin et al., 2021). With a
      fixed variance, ``-log p(x|z)`` is the squared error scaled by
      ``1 / (2 sigma^2)`` plus a constant: "MSE" is this likelihood.
    """

    def __init__(
        self,
        encoder: keras.Model,
        decoder: keras.Model,
        likelihood: str = "bernoulli",
        observation_variance: float | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        if observation_variance is not None and not observation_variance > 0:
            raise ValueError(
                f"observation_variance must be > 0 or None, got {observation_variance}"
            )
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = likelihood
        self.observation_variance = observation_variance

    def log_likelihood(self, x, logits):
        """``log p(x | z)`` per example, from the decoder's ``logits`` for ``z``: ``(batch,)``."""
        if self.likelihood == "bernoulli":
            return bernoulli_log_likelihood(x, logits)
        if self.likelihood == "continuous_bernoulli":
            return continuous_bernoulli_log_likelihood(x, logits)
        mean = ops.sigmoid(logits)
        if self.observation_variance is None:
            variance = ops.stop_gradient(ops.mean(ops.square(ops.cast(x, mean.dtype) - mean)))
            return gaussian_log_likelihood(x, mean, ops.log(variance + 1e-6))
        return gaussian_log_likelihood(x, mean, math.log(self.observation_variance))

    @property
    def latent_dim(self) -> int:
        return int(self.decoder.input_shape[-1])

    def _check(self, x, name: str) -> None:
        if isinstance(x, (tuple, list)) and x:
            x = x[0]
        if isinstance(x, np.ndarray):
            check_images(x, name, self.encoder.input_shape[1:])

    def fit(self, x=None, y=None, *args, validation_data=None, callbacks=None, **kwargs):
        """``keras.Model.fit`` after checking array inputs, with a NaN guard added."""
        self._check(x, "x")
        if validation_data is not None:
            self._check(validation_data, "validation_data")
        callbacks = [*(callbacks or []), NonFiniteLossGuard()]
        return super().fit(
            x, y, *args, validation_data=validation_data, callbacks=callbacks, **kwargs
        )

    def encode(self, x) -> np.ndarray:
        """Latent codes of ``x``: ``(n, latent_dim)``."""
        raise NotImplementedError

    def decode(self, z) -> np.ndarray:
        """The decoder's mean image for codes ``z`` of shape ``(n, latent_dim)``.

        ``sigmoid(logits)`` (pixel probabilities) except for the continuous
        Bernoulli, whose mean is not its parameter.
        """
        logits = predict_in_batches(self.decoder, z)
        if self.likelihood == "continuous_bernoulli":
            return ops.convert_to_numpy(continuous_bernoulli_mean(logits))
        return 1.0 / (1.0 + np.exp(-logits))

    def reconstruct(self, x) -> np.ndarray:
        """Decode the code of each input: mean images of ``x``'s shape."""
        check_images(x, "x", self.encoder.input_shape[1:])
        return self.decode(self.encode(x))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "likelihood": self.likelihood,
            "observation_variance": self.observation_variance,
        }


@keras.saving.register_keras_serializable(package="snippets")
class Autoencoder(_LatentVariableModel):
    """A deterministic autoencoder trained to maximise the decoder's likelihood.

    The loss is ``-log p(x | decoder(encoder(x)))`` summed over pixels (nats per
    example), the same reconstruction term the VAE uses, so the two models'
    reconstruction numbers are directly comparable; ``likelihood="gaussian"``
    with a fixed ``observation_variance`` is the familiar MSE autoencoder.
    ``call`` returns logits.
    """

    def call(self, x, training=False):
        return self.decoder(self.encoder(x, training=training), training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        # Under a mixed-precision policy the decoder computes in 16 bits; sum the
        # 784 per-pixel terms in float32.
        logits = ops.cast(y_pred, "float32")
        return share_per_replica(-ops.mean(self.log_likelihood(x, logits)))

    def encode(self, x) -> np.ndarray:
        return predict_in_batches(self.encoder, x)


@keras.saving.register_keras_serializable(package="snippets")
class VAE(_LatentVariableModel):
    """A variational autoencoder with a Gaussian encoder.

    Training minimises the negative evidence lower bound per example, in nats:

    ``loss = -E_q(z|x)[log p(x|z)] + beta * KL(q(z|x) || N(0, I))``

    estimated with one reparameterised sample ``z`` per example. ``fit`` and
    ``evaluate`` report ``loss`` together with its two parts,
    ``reconstruction`` (``-log p(x|z)``) and ``kl``. With ``beta = 1`` the
    loss is ``-ELBO``, an upper bound on ``-log p(x)``.

    ``likelihood`` and ``observation_variance`` choose ``p(x|z)`` as for the
    autoencoder (see ``_LatentVariableModel``). ``beta`` is a non-trainable
    variable, so a callback such as :class:`snippets.callbacks.KLWarmup` can
    change it between epochs.
    ``call(x)`` returns a dict with ``z_mean``, ``z_log_var``, ``z`` (all
    ``(batch, latent_dim)``) and ``logits`` (the input's shape).
    """

    def __init__(
        self,
        encoder: keras.Model,
        decoder: keras.Model,
        beta: float = 1.0,
        likelihood: str = "bernoulli",
        observation_variance: float | None = None,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(encoder, decoder, likelihood, observation_variance, **kwargs)
        if not np.isfinite(beta) or beta < 0:
            raise ValueError(f"beta must be a finite number >= 0, got {beta}")
        self.beta = keras.Variable(float(beta), trainable=False, name="beta")
        self.seed = seed
        self.sampling = Sampling(seed=seed, name="sampling")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")

    def call(self, x, training=False):
        z_mean, z_log_var = self.encoder(x, training=training)
        z = self.sampling([z_mean, z_log_var])
        logits = self.decoder(z, training=training)
        return {"z_mean": z_mean, "z_log_var": z_log_var, "z": z, "logits": logits}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        # Under a mixed-precision policy the networks compute in 16 bits; sum the
        # per-pixel and per-dimension terms in float32.
        y_pred = {name: ops.cast(value, "float32") for name, value in y_pred.items()}
        reconstruction = -self.log_likelihood(x, y_pred["logits"])
        kl = gaussian_kl_to_standard_normal(y_pred["z_mean"], y_pred["z_log_var"])
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        return share_per_replica(ops.mean(reconstruction + ops.cast(self.beta, kl.dtype) * kl))

    def encode(self, x) -> np.ndarray:
        """The posterior means ``E[z|x]``: ``(n, latent_dim)``."""
        z_mean, _ = predict_in_batches(self.encoder, x)
        return z_mean

    def generate(self, n: int, seed: int = 0) -> np.ndarray:
        """Decode ``n`` draws from the prior ``N(0, I)``: mean images."""
        n = check_positive_int(n, "n")
        z = np.random.default_rng(seed).standard_normal((n, self.latent_dim))
        return self.decode(z)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "beta": float(ops.convert_to_numpy(self.beta)),
            "seed": self.seed,
        }
