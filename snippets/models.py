"""Dense encoders and decoders, the VAE and the plain autoencoder.

Both models define their loss by overriding ``compute_loss`` with ``keras.ops``
only, so ``fit``, ``evaluate`` and distribution strategies work unchanged on the
TensorFlow, JAX and PyTorch backends. Decoders return logits; a likelihood from
:mod:`snippets.likelihoods` says what they mean.

A model is *conditional* when its encoder takes ``[x, condition]`` and its
decoder ``[z, condition]`` (the builders' ``condition_dim``); it is then given
``{"x": x, "condition": c}`` wherever it takes data, and every method that
encodes, decodes or generates takes the same ``condition`` argument.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import layers, ops

from snippets.layers import Sampling
from snippets.likelihoods import Bernoulli, Likelihood
from snippets.losses import gaussian_kl_to_standard_normal
from snippets.validation import check_array, check_number, check_positive_int


def _dense_stack(x, hidden_units: Sequence[int], prefix: str, activation: str = "relu"):
    for index, units in enumerate(hidden_units):
        units = check_positive_int(units, f"hidden_units[{index}]")
        x = layers.Dense(units, activation=activation, name=f"{prefix}_hidden_{index}")(x)
    return x


def _inputs_with_condition(shape: tuple, name: str, condition_dim: int):
    """``(model inputs, tensor to feed the layers)``: the input alone, or it concatenated with a condition."""
    inputs = keras.Input(shape=shape, name=name)
    if not condition_dim:
        return inputs, inputs
    condition = keras.Input(shape=(check_positive_int(condition_dim, "condition_dim"),), name="condition")
    return [inputs, condition], layers.Concatenate(name="with_condition")([inputs, condition])


def build_dense_encoder(
    latent_dim: int = 2,
    *,
    input_dim: int = 784,
    hidden_units: Sequence[int] = (256,),
    condition_dim: int = 0,
    variational: bool = True,
    activation: str = "relu",
    name: str = "encoder",
) -> keras.Model:
    """A multilayer-perceptron encoder.

    Maps ``(batch, input_dim)`` (and, with ``condition_dim > 0``, a condition
    ``(batch, condition_dim)`` concatenated to it) through ``hidden_units`` to
    ``[z_mean, z_log_var]``, each ``(batch, latent_dim)``: the parameters of
    the Gaussian ``q(z|x)``. With ``variational=False`` it returns one code
    ``z`` of shape ``(batch, latent_dim)``, as a plain autoencoder uses. The
    defaults give the 784-256-2 model of the classic Keras example.
    """
    latent_dim = check_positive_int(latent_dim, "latent_dim")
    inputs, x = _inputs_with_condition((check_positive_int(input_dim, "input_dim"),), "x", condition_dim)
    hidden = _dense_stack(x, hidden_units, name, activation)
    if not variational:
        return keras.Model(inputs, layers.Dense(latent_dim, name="z")(hidden), name=name)
    z_mean = layers.Dense(latent_dim, name="z_mean")(hidden)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(hidden)
    return keras.Model(inputs, [z_mean, z_log_var], name=name)


def build_dense_decoder(
    latent_dim: int = 2,
    *,
    output_dim: int = 784,
    hidden_units: Sequence[int] = (256,),
    condition_dim: int = 0,
    activation: str = "relu",
    name: str = "decoder",
) -> keras.Model:
    """A multilayer-perceptron decoder: ``(batch, latent_dim)`` to logits ``(batch, output_dim)``.

    With ``condition_dim > 0`` it takes ``[z, condition]``. The logits are the
    parameters of the model's likelihood, e.g. ``p(x_i = 1 | z) = sigmoid(l_i)``.
    """
    latent_dim = check_positive_int(latent_dim, "latent_dim")
    inputs, z = _inputs_with_condition((latent_dim,), "z", condition_dim)
    hidden = _dense_stack(z, hidden_units, name, activation)
    logits = layers.Dense(check_positive_int(output_dim, "output_dim"), name="logits")(hidden)
    return keras.Model(inputs, logits, name=name)


def predict_in_batches(model: keras.Model, inputs, *, batch_size: int = 512):
    """Run ``model`` on ``inputs`` batch by batch, outside ``fit``, and return NumPy arrays.

    ``inputs`` is an array ``(n, ...)`` or a list of such arrays (a model with
    several inputs). Outputs computed in 16 bits (a mixed-precision policy) come back
    as float32. Direct calls avoid ``Model.predict``'s compiled function,
    which is traced anew for every model and input size: for small, one-off
    inference that tracing costs more than it saves. A model with several
    outputs gives a list of arrays.
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    arrays = [np.asarray(a) for a in inputs] if isinstance(inputs, (list, tuple)) else [np.asarray(inputs)]
    arrays = [a.astype(np.float32) if a.dtype == np.float64 else a for a in arrays]
    as_numpy = lambda tensor: ops.convert_to_numpy(  # noqa: E731
        ops.cast(tensor, "float32") if keras.backend.standardize_dtype(tensor.dtype) in ("float16", "bfloat16") else tensor
    )
    n = len(arrays[0])
    batches = []
    for start in range(0, n, batch_size):
        batch = [a[start : start + batch_size] for a in arrays]
        batches.append(model(batch if len(batch) > 1 else batch[0], training=False))
    if isinstance(batches[0], (list, tuple)):
        return [np.concatenate([as_numpy(b[k]) for b in batches]) for k in range(len(batches[0]))]
    return np.concatenate([as_numpy(b) for b in batches])


def share_per_replica(loss):
    """``loss`` divided by the number of ``tf.distribute`` replicas (TensorFlow only).

    Under a ``tf.distribute`` strategy Keras adds the replicas' gradients and
    multiplies the loss it reports by their number, so each replica's loss must
    be its share. Keras's built-in losses do this; a ``compute_loss`` override
    must do it itself. On JAX and PyTorch, whose distribution API averages over
    the global batch, and outside a strategy, the loss is returned unchanged.
    """
    if keras.backend.backend() != "tensorflow":
        return loss
    import tensorflow as tf  # only reached on the TensorFlow backend

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss / replicas if replicas > 1 else loss


class LatentVariableModel(keras.Model):
    """What the VAE and the autoencoder share: an encoder, a decoder and a likelihood.

    ``likelihood`` says what the decoder's logits mean: a
    :class:`snippets.likelihoods.Likelihood` such as ``Gaussian(variance=0.1)``;
    ``None`` means ``Bernoulli()``. ``fit`` and
    ``evaluate`` check array inputs first (shape, NaN, the likelihood's
    support), so 0-255 pixels or a wrong layout fail with a message naming
    the argument instead of a NaN loss. The reconstruction target is ``x``
    itself, or ``y`` when ``fit(x, y)`` is given one: ``fit(corrupted, clean)``
    trains a denoising model (Vincent et al., 2008). Subclasses implement
    ``call`` and ``compute_loss``; ``call`` returns a dict with at least ``z``
    and ``logits``.
    """

    def __init__(
        self, encoder: keras.Model, decoder: keras.Model, *, likelihood: Likelihood | None = None, **kwargs
    ):
        super().__init__(**kwargs)
        if likelihood is not None and not isinstance(likelihood, Likelihood):
            raise TypeError(
                f"likelihood must be a snippets Likelihood such as Bernoulli() or Gaussian(variance=0.1), "
                f"got {likelihood!r}"
            )
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = Bernoulli() if likelihood is None else likelihood
        code_sizes = {int(shape[-1]) for shape in self._encoder_output_shapes()}
        if code_sizes != {self.latent_dim}:
            raise ValueError(
                f"the encoder's codes have size {sorted(code_sizes)} but the decoder takes "
                f"latent_dim={self.latent_dim}; build both with the same latent_dim"
            )

    def _encoder_output_shapes(self) -> list[tuple]:
        shapes = self.encoder.output_shape
        return list(shapes) if isinstance(shapes, list) else [shapes]

    @property
    def latent_dim(self) -> int:
        return int(self.decoder.inputs[0].shape[-1])

    @property
    def conditional(self) -> bool:
        """Whether the networks take a condition next to ``x`` and ``z``."""
        return len(self.encoder.inputs) > 1

    def _split(self, inputs):
        """``(x, condition)`` from ``x`` or ``{"x": x, "condition": c}``."""
        if isinstance(inputs, dict):
            return inputs["x"], inputs.get("condition")
        return inputs, None

    def _with_condition(self, values, condition):
        return values if condition is None else [values, condition]

    # -- checked entry points -------------------------------------------------------------

    def _check_condition(self, condition, n: int, name: str):
        if not self.conditional:
            if condition is not None:
                raise ValueError(f"{name} was given but this model is not conditional")
            return None
        if condition is None:
            raise ValueError(f"this model is conditional: pass {name} of shape ({n}, {self.encoder.inputs[1].shape[-1]})")
        condition = check_array(condition, name, tuple(self.encoder.inputs[1].shape[1:])).astype(np.float32)
        if len(condition) != n:
            raise ValueError(f"{name} has {len(condition)} rows, expected one per example ({n})")
        return condition

    def check_examples(self, x, name: str = "x") -> np.ndarray:
        """``x`` as an array after checking it fits the encoder's input and the likelihood's support."""
        x = self.likelihood.check(x, name, logits_shape=tuple(self.decoder.output_shape[1:]))
        return check_array(x, name, tuple(self.encoder.inputs[0].shape[1:]))

    def _check_data(self, data, name: str):
        """Checked arrays for ``fit``/``evaluate``; datasets and generators pass through unchecked."""
        if isinstance(data, dict):
            unknown = set(data) - {"x", "condition"}
            if "x" not in data or unknown:
                raise ValueError(f"{name} must be x or a dict with keys 'x' and 'condition', got keys {sorted(data)}")
            x = self.check_examples(data["x"], f"{name}['x']")
            return {"x": x, "condition": self._check_condition(data.get("condition"), len(x), f"{name}['condition']")}
        if isinstance(data, (np.ndarray, list)) or hasattr(data, "__array__"):
            x = self.check_examples(data, name)
            self._check_condition(None, len(x), f"{name}['condition']")
            return x
        return data

    def _checked_targets(self, x, y, sample_weight):
        """``(y, sample_weight)``: Keras drops sample weights given without targets, so ``x`` stands in.

        Array targets are checked like ``x``: the likelihood's support, the
        encoder's input shape, and one target per example.
        """
        if isinstance(y, (np.ndarray, list)) or hasattr(y, "__array__"):
            y = self.check_examples(y, "y")
            if isinstance(x, (np.ndarray, dict)) and len(y) != len(x["x"] if isinstance(x, dict) else x):
                raise ValueError(f"y has {len(y)} targets, expected one per example of x, the target of each")
        if sample_weight is None:
            return y, None
        sample_weight = check_array(sample_weight, "sample_weight", low=0.0).astype(np.float32)
        if isinstance(x, (np.ndarray, dict)) and len(sample_weight) != len(x["x"] if isinstance(x, dict) else x):
            raise ValueError(f"sample_weight has {len(sample_weight)} entries, expected one per example")
        return (x if y is None else y), sample_weight

    def fit(self, x=None, y=None, *args, validation_data=None, sample_weight=None, **kwargs):
        """``keras.Model.fit`` after checking array inputs (see the class docstring)."""
        x = self._check_data(x, "x")
        y, sample_weight = self._checked_targets(x, y, sample_weight)
        if validation_data is not None and not isinstance(validation_data, tuple):
            validation_data = self._check_data(validation_data, "validation_data")
        return super().fit(x, y, *args, validation_data=validation_data, sample_weight=sample_weight, **kwargs)

    def evaluate(self, x=None, y=None, *args, sample_weight=None, **kwargs):
        """``keras.Model.evaluate`` after checking array inputs."""
        x = self._check_data(x, "x")
        y, sample_weight = self._checked_targets(x, y, sample_weight)
        return super().evaluate(x, y, *args, sample_weight=sample_weight, **kwargs)

    def encode(self, x, condition=None) -> np.ndarray:
        """The code of each example (the posterior mean ``E[z|x]`` for a VAE): ``(n, latent_dim)``."""
        x = self.check_examples(x)
        codes = predict_in_batches(self.encoder, self._with_condition(x, self._check_condition(condition, len(x), "condition")))
        return codes[0] if isinstance(codes, list) else codes

    def decode(self, z, condition=None) -> np.ndarray:
        """The likelihood's mean for codes ``z`` of shape ``(n, latent_dim)``: images for pixels."""
        z = check_array(z, "z", (self.latent_dim,)).astype(np.float32)
        condition = self._check_condition(condition, len(z), "condition")
        logits = predict_in_batches(self.decoder, self._with_condition(z, condition))
        return ops.convert_to_numpy(self.likelihood.mean(logits))

    def reconstruct(self, x, condition=None) -> np.ndarray:
        """Decode the code of each example: the likelihood's mean, of ``x``'s shape."""
        return self.decode(self.encode(x, condition), condition)

    @staticmethod
    def _weighted(values, sample_weight):
        """``values * sample_weight`` per example (Keras's convention: the batch mean of weighted losses)."""
        if sample_weight is None:
            return values
        return values * ops.cast(ops.reshape(sample_weight, (-1,)), values.dtype)

    def _target(self, x, y):
        """What the likelihood scores: ``y`` when ``fit``/``evaluate`` got one, else the input ``x``."""
        return self._split(x if y is None else y)[0]

    def _reduce(self, per_example, x, y, y_pred, sample_weight, training):
        """The batch loss: the mean of the (weighted) ``per_example`` losses, plus ``self.losses``."""
        if getattr(self, "_compile_loss", None) is not None:
            # (compile itself is not overridden: Keras would then skip it when reloading a model.)
            raise ValueError(
                f"{type(self).__name__} computes its own loss; compile it without loss= "
                f"(add terms with add_loss or regularisers instead)"
            )
        loss = share_per_replica(ops.mean(self._weighted(per_example, sample_weight)))
        if self.losses:  # regularisers and add_loss terms, aggregated as Keras does
            loss = loss + super().compute_loss(x, y, y_pred, sample_weight, training)
        return loss

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
            "likelihood": keras.saving.serialize_keras_object(self.likelihood),
        }

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        for key in ("encoder", "decoder", "likelihood"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(config.pop("encoder"), config.pop("decoder"), **config)


@keras.saving.register_keras_serializable(package="snippets")
class Autoencoder(LatentVariableModel):
    """A deterministic autoencoder trained to maximise the decoder's likelihood.

    The loss is ``-log p(x | decoder(encoder(x)))`` in nats per example, the
    same reconstruction term the VAE uses, so the two models' reconstruction
    numbers are directly comparable; ``likelihood=Gaussian(variance=...)`` is
    the familiar MSE autoencoder. The encoder returns one code
    (``build_dense_encoder(variational=False)``); ``call`` returns
    ``{"z": (batch, latent_dim), "logits": x-shaped}``.
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, **kwargs):
        super().__init__(encoder, decoder, **kwargs)
        if len(self._encoder_output_shapes()) != 1:
            raise ValueError(
                "an Autoencoder's encoder returns one code z; this one has "
                f"{len(self._encoder_output_shapes())} outputs (build it with variational=False)"
            )

    def call(self, inputs, training=False):
        x, condition = self._split(inputs)
        z = self.encoder(self._with_condition(x, condition), training=training)
        return {"z": z, "logits": self.decoder(self._with_condition(z, condition), training=training)}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        target = self._target(x, y)
        # Under a mixed-precision policy the decoder computes in 16 bits; sum the pixels in float32.
        reconstruction = -self.likelihood.log_prob(target, ops.cast(y_pred["logits"], "float32"))
        return self._reduce(reconstruction, x, y, y_pred, sample_weight, training)


@keras.saving.register_keras_serializable(package="snippets")
class VAE(LatentVariableModel):
    """A variational autoencoder with a Gaussian encoder and a pluggable likelihood.

    Training minimises the negative evidence lower bound per example, in nats:

    ``loss = -E_q(z|x)[log p(x|z)] + beta * KL(q(z|x) || N(0, I))``

    estimated with one reparameterised sample ``z`` per example. ``fit`` and
    ``evaluate`` report ``loss`` together with its two parts,
    ``reconstruction`` (``-log p(x|z)``) and ``kl``. With ``beta = 1`` the
    loss is ``-ELBO``, an upper bound on ``-log p(x)`` when ``p(x|z)`` is a
    normalised distribution of the data (a Bernoulli of binary pixels, a
    continuous Bernoulli of grey levels). ``beta`` is a non-trainable variable,
    so :class:`snippets.KLWarmup` can change it between epochs.

    ``call`` returns a dict with ``z_mean``, ``z_log_var``, ``z`` (each
    ``(batch, latent_dim)``) and ``logits`` (the decoder's output).
    """

    def __init__(
        self,
        encoder: keras.Model,
        decoder: keras.Model,
        *,
        likelihood: Likelihood | None = None,
        beta: float = 1.0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(encoder, decoder, likelihood=likelihood, **kwargs)
        if len(self._encoder_output_shapes()) != 2:
            raise ValueError(
                "a VAE's encoder returns [z_mean, z_log_var]; this one has "
                f"{len(self._encoder_output_shapes())} output(s) (build it with variational=True)"
            )
        self.beta = keras.Variable(check_number(beta, "beta", low=0.0), trainable=False, name="beta")
        self.seed = seed
        self.sampling = Sampling(seed=seed, name="sampling")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")

    def decoder_inputs(self, z, x, condition, training: bool = False):
        """What the decoder reads while training: ``z``, or ``[z, condition]``.

        An autoregressive decoder also reads the data's prefix (teacher
        forcing); a subclass adds it here and keeps every other method.
        """
        return self._with_condition(z, condition)

    def call(self, inputs, training=False):
        x, condition = self._split(inputs)
        z_mean, z_log_var = self.encoder(self._with_condition(x, condition), training=training)
        z = self.sampling([z_mean, z_log_var])
        logits = self.decoder(self.decoder_inputs(z, x, condition, training), training=training)
        return {"z_mean": z_mean, "z_log_var": z_log_var, "z": z, "logits": logits}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        target = self._target(x, y)
        # Under a mixed-precision policy the networks compute in 16 bits; sum in float32.
        y_pred = {name: ops.cast(value, "float32") for name, value in y_pred.items()}
        reconstruction = -self.likelihood.log_prob(target, y_pred["logits"])
        kl = gaussian_kl_to_standard_normal(y_pred["z_mean"], y_pred["z_log_var"])
        # Weighted like the loss, so that loss = reconstruction + beta * kl holds for the reports too.
        self.reconstruction_tracker.update_state(self._weighted(reconstruction, sample_weight))
        self.kl_tracker.update_state(self._weighted(kl, sample_weight))
        per_example = reconstruction + ops.cast(self.beta, kl.dtype) * kl
        return self._reduce(per_example, x, y, y_pred, sample_weight, training)

    def generate(self, n: int, condition=None, *, seed: int = 0) -> np.ndarray:
        """Decode ``n`` draws from the prior ``N(0, I)``: the likelihood's means, ``(n, ...)``."""
        z = np.random.default_rng(seed).standard_normal((check_positive_int(n, "n"), self.latent_dim))
        return self.decode(z, condition)

    def get_config(self) -> dict:
        return {**super().get_config(), "beta": float(ops.convert_to_numpy(self.beta)), "seed": self.seed}
