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

import inspect
from collections.abc import Sequence

import keras
import numpy as np
from keras import layers, ops

from snippets.callbacks import NonFiniteLossGuard
from snippets.layers import Sampling
from snippets.likelihoods import Bernoulli, Likelihood
from snippets.losses import gaussian_kl_to_standard_normal
from snippets.training import check_monitors
from snippets.validation import (
    DataSpec,
    check_array,
    check_number,
    check_optional_positive_int,
    check_positive_int,
    check_same_length,
    check_seed,
)


def _dense_stack(x, hidden_units: Sequence[int], prefix: str, activation: str = "relu"):
    for index, units in enumerate(hidden_units):
        units = check_positive_int(units, f"hidden_units[{index}]")
        x = layers.Dense(units, activation=activation, name=f"{prefix}_hidden_{index}")(
            x
        )
    return x


def _inputs_with_condition(shape: tuple, name: str, condition_dim: int):
    """``(model inputs, tensor to feed the layers)``: the input alone, or it
    concatenated with a condition."""
    inputs = keras.Input(shape=shape, name=name)
    if not condition_dim:
        return inputs, inputs
    condition = keras.Input(
        shape=(check_positive_int(condition_dim, "condition_dim"),), name="condition"
    )
    return [inputs, condition], layers.Concatenate(name="with_condition")(
        [inputs, condition]
    )


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
    inputs, x = _inputs_with_condition(
        (check_positive_int(input_dim, "input_dim"),), "x", condition_dim
    )
    hidden = _dense_stack(x, hidden_units, name, activation)
    if not variational:
        return keras.Model(
            inputs, layers.Dense(latent_dim, name="z")(hidden), name=name
        )
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
    """A multilayer-perceptron decoder: ``(batch, latent_dim)`` to logits
    ``(batch, output_dim)``.

    With ``condition_dim > 0`` it takes ``[z, condition]``. The logits are the
    parameters of the model's likelihood, e.g. ``p(x_i = 1 | z) = sigmoid(l_i)``.
    """
    latent_dim = check_positive_int(latent_dim, "latent_dim")
    inputs, z = _inputs_with_condition((latent_dim,), "z", condition_dim)
    hidden = _dense_stack(z, hidden_units, name, activation)
    logits = layers.Dense(check_positive_int(output_dim, "output_dim"), name="logits")(
        hidden
    )
    return keras.Model(inputs, logits, name=name)


def predict_in_batches(model: keras.Model, inputs, *, batch_size: int = 512):
    """Run ``model`` on ``inputs`` batch by batch, outside ``fit``, and return NumPy
    arrays.

    ``inputs`` is an array ``(n, ...)`` or a list of such arrays (a model with
    several inputs). Outputs computed in 16 bits (a mixed-precision policy) come back
    as float32. Direct calls avoid ``Model.predict``'s compiled function,
    which is traced anew for every model and input size: for small, one-off
    inference that tracing costs more than it saves. A model with several
    outputs gives a list of arrays, one whose outputs are a dict (a
    :class:`LatentVariableModel`) a dict.

    The inputs are checked first: a :class:`LatentVariableModel` checks them
    against its :attr:`~LatentVariableModel.data_spec` (shape, the
    likelihood's range, the condition); any other model's inputs must be
    numeric, finite, of its input shapes, with one row per example in each.
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    if isinstance(model, LatentVariableModel):
        inputs = model.data_spec.check_inputs(inputs, "inputs")
        arrays = inputs if isinstance(inputs, dict) else [inputs]
    else:
        arrays = _checked_network_inputs(model, inputs)
    arrays = keras.tree.map_structure(
        lambda a: a.astype(np.float32) if a.dtype == np.float64 else a, arrays
    )
    as_numpy = lambda tensor: ops.convert_to_numpy(  # noqa: E731
        ops.cast(tensor, "float32")
        if keras.backend.standardize_dtype(tensor.dtype) in ("float16", "bfloat16")
        else tensor
    )
    n = len(keras.tree.flatten(arrays)[0])
    batches = []
    for start in range(0, n, batch_size):
        batch = keras.tree.map_structure(
            lambda a: a[start : start + batch_size], arrays
        )  # noqa: B023
        batches.append(
            model(
                batch[0] if isinstance(batch, list) and len(batch) == 1 else batch,
                training=False,
            )
        )
    if isinstance(batches[0], dict):
        return {
            key: np.concatenate([as_numpy(b[key]) for b in batches])
            for key in batches[0]
        }
    if isinstance(batches[0], (list, tuple)):
        return [
            np.concatenate([as_numpy(b[k]) for b in batches])
            for k in range(len(batches[0]))
        ]
    return np.concatenate([as_numpy(b) for b in batches])


def _checked_network_inputs(model: keras.Model, inputs) -> list[np.ndarray]:
    """A network's inputs as a list of numeric, finite arrays of its input shapes, one
    row per example in each."""
    several = isinstance(inputs, (list, tuple))
    arrays = list(inputs) if several else [inputs]
    names = (
        [f"inputs[{index}]" for index in range(len(arrays))] if several else ["inputs"]
    )
    declared = getattr(model, "inputs", None) or []
    if declared and len(declared) != len(arrays):
        raise ValueError(
            f"{model.name} takes {len(declared)} input(s), but inputs holds "
            f"{len(arrays)} array(s)"
        )
    shapes = [tuple(tensor.shape[1:]) for tensor in declared] or [None] * len(arrays)
    arrays = [
        check_array(a, name, shape) for a, name, shape in zip(arrays, names, shapes)
    ]
    check_same_length(dict(zip(names, arrays)))
    return arrays


def _shapes_match(actual: tuple, expected: tuple) -> bool:
    """Whether two per-example shapes agree, ``None`` on either side matching any
    size."""
    return len(actual) == len(expected) and all(
        a is None or e is None or a == e for a, e in zip(actual, expected)
    )


def _bound(method, *args, **kwargs) -> dict:
    """Every argument of a bound Keras method by name, defaults filled in, as
    ``method(**result)`` takes them."""
    arguments = inspect.signature(method).bind(*args, **kwargs)
    arguments.apply_defaults()
    options = dict(arguments.arguments)
    options.update(options.pop("kwargs", {}))
    return options


def share_per_replica(loss):
    """``loss`` divided by the number of ``tf.distribute`` replicas (TensorFlow only).

    Under a ``tf.distribute`` strategy Keras adds the replicas' gradients and
    multiplies the loss it reports by their number, so each replica's loss must
    be its share. Keras's built-in losses do this; a ``compute_loss`` override
    must do it itself. On JAX, whose ``keras.distribution`` API averages over the
    global batch, on the other backends, and outside a strategy, the loss is
    returned unchanged.
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
    ``None`` means ``Bernoulli()``. The networks are compared when the model
    is made (the code size, the decoder's output against the encoder's input
    for this likelihood, the condition), naming both shapes when they
    disagree. Every method that takes data (``fit`` with its
    ``validation_data``, ``evaluate``, ``predict``, ``train_on_batch``,
    ``test_on_batch``, ``encode``, :func:`predict_in_batches`) checks it
    against one :class:`snippets.validation.DataSpec` derived from the
    networks and the likelihood (:attr:`data_spec`) before the first step:
    arrays, lists and dicts whole, a ``PyDataset`` or ``tf.data`` pipeline by
    its first batch. ``fit`` and ``evaluate`` also check ``batch_size``,
    ``epochs`` and the monitored quantities of callbacks, and ``fit`` stops
    with ``FloatingPointError`` at the first non-finite loss
    (``nonfinite_guard=False`` turns that off). The reconstruction target is ``x``
    itself, or ``y`` when ``fit(x, y)`` is given one: ``fit(corrupted, clean)``
    trains a denoising model (Vincent et al., 2008). Subclasses implement
    ``call`` and ``compute_loss``; ``call`` returns a dict with at least ``z``
    and ``logits``.
    """

    def __init__(
        self,
        encoder: keras.Model,
        decoder: keras.Model,
        *,
        likelihood: Likelihood | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if likelihood is not None and not isinstance(likelihood, Likelihood):
            raise TypeError(
                "likelihood must be a snippets Likelihood such as Bernoulli() or "
                f"Gaussian(variance=0.1), got {likelihood!r}"
            )
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = Bernoulli() if likelihood is None else likelihood
        self._check_networks()

    def _check_networks(self) -> None:
        """Raise, naming both shapes, unless decoder and encoder fit each other."""
        code_sizes = {int(shape[-1]) for shape in self._encoder_output_shapes()}
        if code_sizes != {self.latent_dim}:
            raise ValueError(
                f"the encoder's codes have size {sorted(code_sizes)} but the decoder "
                f"takes latent_dim={self.latent_dim}; build both with the same "
                "latent_dim"
            )
        x_shape = tuple(self.encoder.inputs[0].shape[1:])
        logits_shape = (
            tuple(self.decoder.output_shape[1:])
            if not isinstance(self.decoder.output_shape, list)
            else None
        )
        expected = self.likelihood.logits_shape(x_shape)
        if logits_shape is None or not _shapes_match(logits_shape, expected):
            raise ValueError(
                f"the decoder returns logits of shape {logits_shape} per example, but "
                f"the encoder reads x of shape {x_shape}, which "
                f"{type(self.likelihood).__name__} scores with logits of shape "
                f"{expected}; build the decoder for the encoder's input (output_dim "
                "or output_shape)"
            )
        if type(self).decoder_inputs is not LatentVariableModel.decoder_inputs:
            # a subclass feeds its decoder more than z and the condition; it checks its
            # own plumbing
            return
        encoder_conditions = [
            tuple(tensor.shape[1:]) for tensor in self.encoder.inputs[1:]
        ]
        decoder_conditions = [
            tuple(tensor.shape[1:]) for tensor in self.decoder.inputs[1:]
        ]
        if encoder_conditions != decoder_conditions:
            describe = lambda shapes: (
                f"a condition of shape {shapes[0]}" if shapes else "no condition"
            )  # noqa: E731
            raise ValueError(
                f"the encoder takes {describe(encoder_conditions)} but the decoder "
                f"takes {describe(decoder_conditions)}; build both with the same "
                "condition_dim"
            )

    def _encoder_output_shapes(self) -> list[tuple]:
        shapes = self.encoder.output_shape
        return list(shapes) if isinstance(shapes, list) else [shapes]

    @property
    def data_spec(self) -> DataSpec:
        """What the model reads: encoder input shapes, likelihood support."""
        logits_shape = tuple(self.decoder.output_shape[1:])
        return DataSpec(
            x_shape=tuple(self.encoder.inputs[0].shape[1:]),
            check_values=lambda x, name: self.likelihood.check(
                x, name, logits_shape=logits_shape
            ),
            condition_shape=tuple(self.encoder.inputs[1].shape[1:])
            if self.conditional
            else None,
        )

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

    def decoder_inputs(self, z, x, condition, training: bool = False):
        """What the decoder reads while training: ``z``, or ``[z, condition]``.

        An autoregressive decoder also reads the data's prefix (teacher
        forcing); a subclass adds it here and keeps every other method.
        """
        return self._with_condition(z, condition)

    # -- checked entry points ----------------------------------------------------------

    def _check_condition(self, condition, n: int, name: str):
        return self.data_spec.check_condition(condition, n, name)

    def check_examples(self, x, name: str = "x") -> np.ndarray:
        """``x`` as an array, checked against the encoder input and the support."""
        return self.data_spec.check_x(x, name)

    def _checked(self, x, y, sample_weight, name: str = "x"):
        """``(x, y, sample_weight)`` checked by :attr:`data_spec`; Keras drops sample
        weights given without targets, so ``x`` stands in as the target then."""
        x, y, sample_weight = self.data_spec.check(x, y, sample_weight, name=name)
        if sample_weight is not None and y is None:
            y = x["x"] if isinstance(x, dict) else x
        return x, y, sample_weight

    def _checked_validation_data(self, validation_data):
        if validation_data is None:
            return None
        if isinstance(validation_data, tuple):
            x, y, sample_weight = self._checked(
                *keras.utils.unpack_x_y_sample_weight(validation_data),
                "validation_data",
            )
            return (
                (x, y, sample_weight)
                if sample_weight is not None
                else (x, y)
                if y is not None
                else (x,)
            )
        return self._checked(validation_data, None, None, "validation_data")[0]

    def fit(self, x=None, y=None, *args, nonfinite_guard: bool = True, **kwargs):
        """``keras.Model.fit`` after checking every input and option.

        ``nonfinite_guard`` (default ``True``) adds a
        :class:`snippets.NonFiniteLossGuard` unless ``callbacks`` holds one:
        the first NaN or infinite loss raises ``FloatingPointError`` instead
        of leaving broken weights; pass ``False`` to let such a run go on.
        """
        options = _bound(super().fit, x, y, *args, **kwargs)
        options["batch_size"] = check_optional_positive_int(
            options["batch_size"], "batch_size"
        )
        options["epochs"] = check_positive_int(options["epochs"], "epochs")
        for name in ("steps_per_epoch", "validation_steps", "validation_batch_size"):
            options[name] = check_optional_positive_int(options[name], name)
        options["x"], options["y"], options["sample_weight"] = self._checked(
            options["x"], options["y"], options["sample_weight"]
        )
        options["validation_data"] = self._checked_validation_data(
            options["validation_data"]
        )
        callbacks = list(options["callbacks"] or [])
        if nonfinite_guard and not any(
            isinstance(callback, NonFiniteLossGuard) for callback in callbacks
        ):
            callbacks.append(NonFiniteLossGuard())
        has_validation = options["validation_data"] is not None or bool(
            options["validation_split"]
        )
        check_monitors(
            callbacks,
            self._logged_names(callbacks, has_validation),
            has_validation=has_validation,
        )
        options["callbacks"] = callbacks
        return super().fit(**options)

    def _logged_names(self, callbacks, has_validation: bool) -> set[str] | None:
        """What ``fit`` will log; ``None`` if compiled metrics hide it until then.

        A callback that adds to the logs names what it adds in ``logged_names``
        (as :class:`snippets.KLWarmup` does), so that it can be monitored.
        """
        names = [metric.name for metric in self.metrics]
        if "compile_metrics" in names:
            return None
        for callback in callbacks:
            if hasattr(callback, "logged_names"):  # snippets.KLWarmup logs beta
                names += list(callback.logged_names)
            elif isinstance(
                callback,
                (
                    keras.callbacks.ReduceLROnPlateau,
                    keras.callbacks.LearningRateScheduler,
                ),
            ):
                names.append("learning_rate")
        return set(names) | (
            {f"val_{name}" for name in names} if has_validation else set()
        )

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.evaluate`` after checking inputs, ``batch_size``, ``steps``."""
        options = _bound(super().evaluate, x, y, *args, **kwargs)
        for name in ("batch_size", "steps"):
            options[name] = check_optional_positive_int(options[name], name)
        options["x"], options["y"], options["sample_weight"] = self._checked(
            options["x"], options["y"], options["sample_weight"]
        )
        return super().evaluate(**options)

    def predict(self, x, *args, **kwargs):
        """``keras.Model.predict`` after checking ``x``, ``batch_size``, ``steps``."""
        options = _bound(super().predict, x, *args, **kwargs)
        for name in ("batch_size", "steps"):
            options[name] = check_optional_positive_int(options[name], name)
        options["x"] = self._checked(options["x"], None, None)[0]
        return super().predict(**options)

    def train_on_batch(self, x, y=None, sample_weight=None, **kwargs):
        """``keras.Model.train_on_batch`` after checking the batch."""
        return super().train_on_batch(*self._checked(x, y, sample_weight), **kwargs)

    def test_on_batch(self, x, y=None, sample_weight=None, **kwargs):
        """``keras.Model.test_on_batch`` after checking the batch."""
        return super().test_on_batch(*self._checked(x, y, sample_weight), **kwargs)

    def predict_on_batch(self, x):
        """``keras.Model.predict_on_batch`` after checking the batch."""
        return super().predict_on_batch(self._checked(x, None, None)[0])

    def encode(self, x, condition=None) -> np.ndarray:
        """Each example's code (a VAE's posterior mean): ``(n, latent_dim)``."""
        x = self.check_examples(x)
        codes = predict_in_batches(
            self.encoder,
            self._with_condition(
                x, self._check_condition(condition, len(x), "condition")
            ),
        )
        return codes[0] if isinstance(codes, list) else codes

    def decode(self, z, condition=None) -> np.ndarray:
        """The likelihood's mean for codes ``z`` ``(n, latent_dim)``, e.g. images."""
        z = check_array(z, "z", (self.latent_dim,)).astype(np.float32)
        condition = self._check_condition(condition, len(z), "condition")
        logits = predict_in_batches(self.decoder, self._with_condition(z, condition))
        return ops.convert_to_numpy(self.likelihood.mean(logits))

    def reconstruct(self, x, condition=None) -> np.ndarray:
        """Decode the code of each example: the likelihood's mean, of ``x``'s shape."""
        return self.decode(self.encode(x, condition), condition)

    @staticmethod
    def _weighted(values, sample_weight):
        """``values * sample_weight`` per example (Keras averages weighted losses)."""
        if sample_weight is None:
            return values
        return values * ops.cast(ops.reshape(sample_weight, (-1,)), values.dtype)

    def _target(self, x, y):
        """What the likelihood scores: the target ``y`` when given, else ``x``."""
        return self._split(x if y is None else y)[0]

    def _reduce(self, per_example, x, y, y_pred, sample_weight, training):
        """The batch loss: mean (weighted) ``per_example`` plus ``self.losses``."""
        if getattr(self, "_compile_loss", None) is not None:
            # (compile itself is not overridden: Keras would then skip it when reloading
            # a model.)
            raise ValueError(
                f"{type(self).__name__} computes its own loss; compile it without "
                "loss= (add terms with add_loss or regularisers instead)"
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
                f"{len(self._encoder_output_shapes())} outputs (build it with "
                "variational=False)"
            )

    def call(self, inputs, training=False):
        x, condition = self._split(inputs)
        z = self.encoder(self._with_condition(x, condition), training=training)
        return {
            "z": z,
            "logits": self.decoder(
                self.decoder_inputs(z, x, condition, training), training=training
            ),
        }

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        target = self._target(x, y)
        # Under a mixed-precision policy the decoder computes in 16 bits; sum the pixels
        # in float32.
        reconstruction = -self.likelihood.log_prob(
            target, ops.cast(y_pred["logits"], "float32")
        )
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
                f"{len(self._encoder_output_shapes())} output(s) (build it with "
                "variational=True)"
            )
        self.beta = keras.Variable(
            check_number(beta, "beta", low=0.0), trainable=False, name="beta"
        )
        self.seed = check_seed(seed, allow_none=True)
        self.sampling = Sampling(seed=seed, name="sampling")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")

    def call(self, inputs, training=False):
        x, condition = self._split(inputs)
        z_mean, z_log_var = self.encoder(
            self._with_condition(x, condition), training=training
        )
        z = self.sampling([z_mean, z_log_var])
        logits = self.decoder(
            self.decoder_inputs(z, x, condition, training), training=training
        )
        return {"z_mean": z_mean, "z_log_var": z_log_var, "z": z, "logits": logits}

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        target = self._target(x, y)
        # Under a mixed-precision policy the networks compute in 16 bits; sum in
        # float32.
        y_pred = {name: ops.cast(value, "float32") for name, value in y_pred.items()}
        reconstruction = -self.likelihood.log_prob(target, y_pred["logits"])
        kl = gaussian_kl_to_standard_normal(y_pred["z_mean"], y_pred["z_log_var"])
        # Weighted like the loss, so that loss = reconstruction + beta * kl holds for
        # the reports too.
        self.reconstruction_tracker.update_state(
            self._weighted(reconstruction, sample_weight)
        )
        self.kl_tracker.update_state(self._weighted(kl, sample_weight))
        per_example = reconstruction + ops.cast(self.beta, kl.dtype) * kl
        return self._reduce(per_example, x, y, y_pred, sample_weight, training)

    def generate(self, n: int, condition=None, *, seed: int = 0) -> np.ndarray:
        """Decode ``n`` draws of the prior ``N(0, I)``: the likelihood's means."""
        z = np.random.default_rng(check_seed(seed)).standard_normal(
            (check_positive_int(n, "n"), self.latent_dim)
        )
        return self.decode(z, condition)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "beta": float(ops.convert_to_numpy(self.beta)),
            "seed": self.seed,
        }
