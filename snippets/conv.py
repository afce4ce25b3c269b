"""Convolutional encoders and decoders for 28 x 28 images.

The builders follow the Keras example of a convolutional VAE: two stride-2
convolutions with ``padding="same"`` halve the image twice (28 -> 14 -> 7), and
the decoder mirrors them with stride-2 transposed convolutions (7 -> 14 -> 28)
before a stride-1 output layer that returns one logit per pixel. The models
plug into :class:`snippets.models.VAE` unchanged: its losses sum over every
non-batch axis, so an image-shaped ``(batch, 28, 28, 1)`` output is scored in
the same nats per digit as the dense decoder's ``(batch, 784)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from snippets.validation import check_positive_int

PADDINGS = ("valid", "same")


def _check_image_shape(shape: object, name: str, factor: int) -> tuple[int, int, int]:
    """``shape`` as ``(height, width, channels)`` with sides divisible by ``factor``."""
    if not isinstance(shape, (tuple, list)) or len(shape) != 3:
        raise ValueError(f"{name} must be (height, width, channels), got {shape!r}")
    height, width, channels = (
        check_positive_int(value, f"{name}[{index}]")
        for index, value in enumerate(shape)
    )
    if height % factor or width % factor:
        raise ValueError(
            f"{name} must have height and width divisible by {factor} (each stride-2 "
            f"layer halves or doubles them exactly), got {tuple(shape)}"
        )
    return height, width, channels


def _check_filters(filters: object, name: str) -> tuple[int, ...]:
    if (
        not isinstance(filters, Sequence)
        or isinstance(filters, str)
        or len(filters) == 0
    ):
        raise ValueError(
            f"{name} must be a non-empty sequence of integers, got {filters!r}"
        )
    return tuple(
        check_positive_int(value, f"{name}[{index}]")
        for index, value in enumerate(filters)
    )


def transposed_conv_output_size(
    size: int, kernel_size: int, stride: int, padding: str
) -> int:
    """Side length after a ``Conv2DTranspose`` (no ``output_padding``, dilation 1).

    ``"valid"``: ``(size - 1) * stride + max(kernel_size, stride)`` -- the
    kernel's full footprint around every input pixel spread ``stride`` apart; a
    kernel smaller than the stride leaves gaps, and Keras pads the last one, so
    the output is then ``size * stride``.
    ``"same"``: ``size * stride`` -- exactly ``stride`` times larger.
    """
    size = check_positive_int(size, "size")
    kernel_size = check_positive_int(kernel_size, "kernel_size")
    stride = check_positive_int(stride, "stride")
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    if padding == "same":
        return size * stride
    return (size - 1) * stride + max(kernel_size, stride)


def build_conv_encoder(
    latent_dim: int = 2,
    *,
    input_shape: Sequence[int] = (28, 28, 1),
    filters: Sequence[int] = (32, 64),
    kernel_size: int = 3,
    dense_units: int = 16,
    name: str = "conv_encoder",
) -> keras.Model:
    """A convolutional Gaussian encoder.

    Maps images ``(batch, height, width, channels)`` through one ReLU
    ``Conv2D`` per entry of ``filters`` (stride 2, ``padding="same"``: each
    halves the sides, 28 -> 14 -> 7 by default), a ReLU ``Dense`` layer of
    ``dense_units`` and two linear heads to ``[z_mean, z_log_var]``, each
    ``(batch, latent_dim)``, the parameters of ``q(z|x)``.

    Raises:
        ValueError: ``latent_dim`` (or another size) is below 1, ``filters``
            is empty, or ``input_shape`` is not ``(height, width, channels)``
            with sides divisible by ``2 ** len(filters)``.
    """
    latent_dim = check_positive_int(latent_dim, "latent_dim")
    kernel_size = check_positive_int(kernel_size, "kernel_size")
    dense_units = check_positive_int(dense_units, "dense_units")
    filters = _check_filters(filters, "filters")
    input_shape = _check_image_shape(input_shape, "input_shape", 2 ** len(filters))
    inputs = keras.Input(shape=input_shape, name="x")
    x = inputs
    for index, count in enumerate(filters):
        x = layers.Conv2D(
            count,
            kernel_size,
            strides=2,
            padding="same",
            activation="relu",
            name=f"{name}_conv_{index}",
        )(x)
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dense(dense_units, activation="relu", name=f"{name}_dense")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    return keras.Model(inputs, [z_mean, z_log_var], name=name)


def build_conv_decoder(
    latent_dim: int = 2,
    *,
    output_shape: Sequence[int] = (28, 28, 1),
    filters: Sequence[int] = (64, 32),
    kernel_size: int = 3,
    name: str = "conv_decoder",
) -> keras.Model:
    """Convolutional decoder: codes ``(batch, latent_dim)`` to ``output_shape`` logits.

    A ReLU ``Dense`` layer fills a ``(height / s, width / s, filters[0])``
    block, ``s = 2 ** len(filters)`` (7 x 7 x 64 by default); one ReLU
    ``Conv2DTranspose`` per entry of ``filters`` (stride 2,
    ``padding="same"``) doubles the sides, 7 -> 14 -> 28; a final stride-1
    ``Conv2DTranspose`` with ``channels`` filters and no activation returns
    logits ``(batch, height, width, channels)``, one Bernoulli logit per pixel.

    Raises:
        ValueError: as :func:`build_conv_encoder`, for ``output_shape``.
    """
    latent_dim = check_positive_int(latent_dim, "latent_dim")
    kernel_size = check_positive_int(kernel_size, "kernel_size")
    filters = _check_filters(filters, "filters")
    factor = 2 ** len(filters)
    height, width, channels = _check_image_shape(output_shape, "output_shape", factor)
    inputs = keras.Input(shape=(latent_dim,), name="z")
    start = (height // factor, width // factor, filters[0])
    x = layers.Dense(
        start[0] * start[1] * start[2], activation="relu", name=f"{name}_dense"
    )(inputs)
    x = layers.Reshape(start, name=f"{name}_reshape")(x)
    for index, count in enumerate(filters):
        x = layers.Conv2DTranspose(
            count,
            kernel_size,
            strides=2,
            padding="same",
            activation="relu",
            name=f"{name}_deconv_{index}",
        )(x)
    logits = layers.Conv2DTranspose(
        channels, kernel_size, padding="same", name="logits"
    )(x)
    return keras.Model(inputs, logits, name=name)
