"""The conditional VAE: generate the digit you ask for.

A conditional VAE (CVAE) gives the label ``y`` to both networks: the encoder
models ``q(z | x, y)`` and the decoder ``p(x | z, y)``, with the prior
``p(z) = N(0, I)`` left unconditional. Training maximises a bound on
``log p(x | y)``:

``log p(x | y) >= E_q(z|x,y)[log p(x | z, y)] - KL(q(z | x, y) || N(0, I))``.

Because the decoder is told the digit, the code ``z`` need not carry it: it is
free to hold what the label does not say (slant, thickness, the style of a
stroke), so decoding one ``z`` with every label writes the same "hand" in ten
digits.

The label enters as a one-hot vector concatenated with the network's input:
``[x, y]`` for the encoder, ``[z, y]`` for the decoder. The networks are the
package's dense encoder and decoder with ``num_classes`` more inputs, so the
likelihoods, the loss, the checked ``fit`` and the batched encoding and
decoding are the VAE's own.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from snippets.models import VAE, build_dense_decoder, build_dense_encoder
from snippets.validation import check_images, check_positive_int

NUM_CLASSES = 10


def one_hot_labels(labels, num_classes: int = NUM_CLASSES, n: int | None = None) -> np.ndarray:
    """Check integer class labels and one-hot encode them.

    Args:
        labels: ``(m,)`` integers in ``[0, num_classes)``.
        num_classes: the number of classes.
        n: if given, the number of labels expected (one per image or code).

    Returns:
        ``(m, num_classes)`` float32 array with a single 1 per row.

    Raises:
        TypeError: the labels are not integers.
        ValueError: wrong shape or length, or a label out of range.
    """
    num_classes = check_positive_int(num_classes, "num_classes")
    array = np.asarray(labels)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D array of class indices, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"labels must be integers in [0, {num_classes}), got dtype {array.dtype}")
    if n is not None and len(array) != n:
        raise ValueError(f"labels has {len(array)} entries, expected one per example ({n})")
    if array.min() < 0 or array.max() >= num_classes:
        raise ValueError(
            f"labels must lie in [0, {num_classes}), got values from {array.min()} to {array.max()}"
        )
    return np.eye(num_classes, dtype=np.float32)[array]


def conditional_inputs(x, labels, num_classes: int = NUM_CLASSES) -> dict[str, np.ndarray]:
    """What :class:`ConditionalVAE` takes: ``{"x": (n, d) images, "label": (n, num_classes) one-hot}``.

    ``labels`` are integer classes, one per image; pass the dict to ``fit``,
    ``evaluate`` or as ``validation_data``.
    """
    x = check_images(x, "x").astype(np.float32)
    return {"x": x, "label": one_hot_labels(labels, num_classes, n=len(x))}


@keras.saving.register_keras_serializable(package="snippets")
class ConditionalVAE(VAE):
    """A VAE whose encoder sees ``[x, y]`` and whose decoder sees ``[z, y]``.

    Inputs are a dict ``{"x": (batch, d), "label": (batch, num_classes)}`` with
    one-hot labels (build it with :func:`conditional_inputs`). The loss is the
    VAE's, ``-E_q(z|x,y)[log p(x|z,y)] + beta * KL(q(z|x,y) || N(0, I))`` in
    nats per example: with ``beta = 1``, an upper bound on ``-log p(x | y)``.
    ``encoder`` maps ``(batch, d + num_classes)`` to ``[z_mean, z_log_var]`` and
    ``decoder`` maps ``(batch, latent_dim + num_classes)`` to logits, as
    :func:`build_conditional_vae` builds them. Methods taking ``labels`` take
    integer classes, one per image or code.
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, num_classes: int = NUM_CLASSES, **kwargs):
        super().__init__(encoder, decoder, **kwargs)
        self.num_classes = check_positive_int(num_classes, "num_classes")
        for network, name in ((encoder, "encoder"), (decoder, "decoder")):
            if network.input_shape[-1] <= self.num_classes:
                raise ValueError(
                    f"the {name} takes {network.input_shape[-1]} inputs; a conditional {name} "
                    f"needs its input size plus num_classes={self.num_classes}"
                )

    @property
    def latent_dim(self) -> int:
        return int(self.decoder.input_shape[-1]) - self.num_classes

    @property
    def input_dim(self) -> int:
        return int(self.encoder.input_shape[-1]) - self.num_classes

    def call(self, inputs, training=False):
        label = ops.cast(inputs["label"], "float32")
        z_mean, z_log_var = self.encoder(ops.concatenate([inputs["x"], label], axis=-1), training=training)
        z = self.sampling([z_mean, z_log_var])
        logits = self.decoder(ops.concatenate([z, label], axis=-1), training=training)
        return {"z_mean": z_mean, "z_log_var": z_log_var, "z": z, "logits": logits}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        # The reconstruction target is the image; the label only conditions.
        return super().compute_loss(x["x"], y, y_pred, sample_weight, training)

    def _check(self, data, name: str) -> None:
        if isinstance(data, (np.ndarray, tuple, list)):
            raise TypeError(
                f"{name} must be a dict {{'x': images, 'label': one-hot labels}} "
                f"(build it with conditional_inputs(x, labels)), got {type(data).__name__}"
            )
        if isinstance(data, dict):
            if set(data) != {"x", "label"}:
                raise ValueError(f"{name} must have exactly the keys 'x' and 'label', got {sorted(data)}")
            x = check_images(data["x"], f"{name}['x']", (self.input_dim,))
            label = np.asarray(data["label"])
            if label.shape != (len(x), self.num_classes) or not np.array_equal(
                label, np.eye(self.num_classes)[label.argmax(axis=1)]
            ):
                raise ValueError(
                    f"{name}['label'] must be one-hot of shape ({len(x)}, {self.num_classes}), "
                    f"got shape {label.shape}; build it with conditional_inputs(x, labels)"
                )

    def _joint(self, values, labels, name: str) -> np.ndarray:
        """``[values, one_hot(labels)]``: ``(n, width + num_classes)``."""
        values = np.asarray(values, np.float32)
        if values.ndim != 2:
            raise ValueError(f"{name} must have shape (n, features), got {values.shape}")
        return np.concatenate([values, one_hot_labels(labels, self.num_classes, n=len(values))], axis=1)

    def encode(self, x, labels) -> np.ndarray:
        """Posterior means ``E[z | x, y]``: ``(n, latent_dim)``."""
        check_images(x, "x", (self.input_dim,))
        return super().encode(self._joint(x, labels, "x"))

    def decode(self, z, labels) -> np.ndarray:
        """Mean images of ``p(x | z, y)`` for codes ``(n, latent_dim)`` and ``n`` labels."""
        z = np.asarray(z, np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (n, {self.latent_dim}), got {z.shape}")
        return super().decode(self._joint(z, labels, "z"))

    def reconstruct(self, x, labels) -> np.ndarray:
        """Decode each image's posterior mean with its own label: ``x``'s shape."""
        return self.decode(self.encode(x, labels), labels)

    def generate(self, labels, seed: int = 0) -> np.ndarray:
        """One image per requested label, decoded from a prior draw: ``(len(labels), d)``."""
        labels = np.asarray(labels)
        one_hot_labels(labels, self.num_classes)
        z = np.random.default_rng(seed).standard_normal((len(labels), self.latent_dim))
        return self.decode(z, labels)

    def decode_every_label(self, z) -> np.ndarray:
        """Decode each code with every label, to separate style (``z``) from content (``y``).

        Returns ``(num_classes * n, d)`` images in row-major order: row ``k``
        holds digit ``k`` written with codes ``z[0], ..., z[n-1]``, so a grid with
        ``n`` columns has one code per column and one digit per row.
        """
        z = np.asarray(z, np.float32)
        labels = np.repeat(np.arange(self.num_classes), len(z))
        return self.decode(np.tile(z, (self.num_classes, 1)), labels)

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes}


def build_conditional_vae(
    input_dim: int = 784,
    num_classes: int = NUM_CLASSES,
    hidden_units: Sequence[int] = (256,),
    latent_dim: int = 2,
    **vae_kwargs,
) -> ConditionalVAE:
    """A dense CVAE: encoder ``[x, y] -> hidden_units -> (z_mean, z_log_var)``, decoder ``[z, y] -> hidden_units -> logits``.

    The networks are :func:`build_dense_encoder` and :func:`build_dense_decoder`
    with ``num_classes`` extra inputs for the one-hot label, so a CVAE and a VAE
    with the same ``hidden_units`` and ``latent_dim`` differ only by those
    inputs' weights. ``vae_kwargs`` (``beta``, ``likelihood``, ``seed``, ...) go
    to :class:`ConditionalVAE`; the model is returned uncompiled.
    """
    input_dim = check_positive_int(input_dim, "input_dim")
    num_classes = check_positive_int(num_classes, "num_classes")
    latent_dim = check_positive_int(latent_dim, "latent_dim")
    encoder = build_dense_encoder(input_dim + num_classes, hidden_units, latent_dim, name="encoder")
    decoder = build_dense_decoder(input_dim, hidden_units, latent_dim + num_classes, name="decoder")
    return ConditionalVAE(encoder, decoder, num_classes=num_classes, **vae_kwargs)


def train_conditional_vae(
    x: np.ndarray,
    labels: np.ndarray,
    hidden_units: Sequence[int] = (256,),
    latent_dim: int = 2,
    epochs: int = 10,
    batch_size: int = 100,
    learning_rate: float = 1e-3,
    seed: int = 0,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[ConditionalVAE, keras.callbacks.History]:
    """Build a dense CVAE with :func:`build_conditional_vae` and train it with Adam.

    ``x`` is ``(n, 784)`` in ``[0, 1]``, ``labels`` ``(n,)`` integer classes;
    ``validation`` is an optional ``(x, labels)`` pair of held-out digits.
    ``keras.utils.set_random_seed(seed)`` runs first, so equal arguments give
    the same model.
    """
    keras.utils.set_random_seed(seed)
    model = build_conditional_vae(x.shape[1], NUM_CLASSES, hidden_units, latent_dim, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    history = model.fit(
        conditional_inputs(x, labels),
        epochs=check_positive_int(epochs, "epochs"),
        batch_size=batch_size,
        validation_data=None if validation is None else conditional_inputs(*validation),
        verbose=0,
    )
    return model, history
