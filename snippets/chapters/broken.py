"""Code that is wrong on purpose: patterns still found in Keras 2 tutorials, rebuilt
so that a chapter can measure what goes wrong instead of describing it. Never copy
from here; every function names the fix.

Keras 2 tutorials sample the code with ``keras.layers.Lambda(sampling)``. This
module rebuilds that pattern -- the only place in the package where a
``Lambda`` layer exists -- so that a chapter can save such a model and show
that ``keras.saving.load_model(path, safe_mode=True)`` cannot reload it. Never
use it for real models: :class:`snippets.layers.Sampling` is the fix.

A ``Lambda`` layer saves its function in one of two ways, and both break:

- a Python ``lambda`` expression is stored as bytecode, which ``safe_mode``
  refuses to execute (``ValueError``);
- a function defined with ``def`` is stored by its *name* only, so loading
  fails (``TypeError``) unless the function was registered with
  ``keras.saving.register_keras_serializable`` or the caller hands it back
  through ``custom_objects``; the tutorials do neither.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from snippets.conv import PADDINGS
from snippets.validation import check_positive_int


def legacy_sampling(args):
    """``z = z_mean + exp(z_log_var / 2) * eps``, written as a bare function for a
    ``Lambda``."""
    z_mean, z_log_var = args
    # ops.add rather than ``+``: called directly on NumPy arrays under the
    # PyTorch backend, ``ndarray + torch.Tensor`` is not defined.
    return ops.add(
        z_mean, ops.exp(0.5 * z_log_var) * keras.random.normal(ops.shape(z_mean))
    )


def broken_lambda_sampling_encoder(
    input_dim: int = 784,
    hidden_units: int = 16,
    latent_dim: int = 2,
    python_lambda: bool = False,
) -> keras.Model:
    """A small encoder sampling in a ``Lambda`` layer. Deliberately unsafe to reload.

    ``(batch, input_dim)`` -> ReLU layer -> ``z_mean``, ``z_log_var`` ->
    ``Lambda`` -> ``z`` of shape ``(batch, latent_dim)``. The ``Lambda`` wraps
    :func:`legacy_sampling` itself (the tutorials' ``def sampling``), or with
    ``python_lambda=True`` a ``lambda`` expression calling it.
    """
    input_dim = check_positive_int(input_dim, "input_dim")
    hidden_units = check_positive_int(hidden_units, "hidden_units")
    latent_dim = check_positive_int(latent_dim, "latent_dim")
    function = (
        (lambda args: legacy_sampling(args)) if python_lambda else legacy_sampling
    )
    inputs = keras.Input(shape=(input_dim,), name="x")
    hidden = keras.layers.Dense(hidden_units, activation="relu", name="hidden")(inputs)
    z_mean = keras.layers.Dense(latent_dim, name="z_mean")(hidden)
    z_log_var = keras.layers.Dense(latent_dim, name="z_log_var")(hidden)
    z = keras.layers.Lambda(
        function, output_shape=(latent_dim,), name="lambda_sampling"
    )([z_mean, z_log_var])
    return keras.Model(inputs, z, name="lambda_encoder")


def broken_transposed_conv_decoder(
    latent_dim: int = 2, padding: str = "valid", name: str = "broken_decoder"
) -> keras.Model:
    """A widely copied convolutional decoder, reproduced with its shape bug.
    Deliberately wrong.

    ``Dense(7 * 7 * 64)`` -> ``Reshape((7, 7, 64))`` -> three
    ``Conv2DTranspose`` layers (64, 32 and 1 filters, kernel 3, ``strides=2``)
    with Keras's default ``padding="valid"``. A valid transposed convolution
    gives ``(size - 1) * stride + kernel`` pixels, so the sides grow
    7 -> 15 -> 31 -> 63 and the output is ``(batch, 63, 63, 1)``, not the
    ``(batch, 28, 28, 1)`` of an MNIST digit. With ``padding="same"`` each
    layer doubles the sides exactly, 7 -> 14 -> 28 -> 56: still wrong, because
    there is one upsampling too many.

    The fix (:func:`build_conv_decoder`): two stride-2 layers with
    ``padding="same"`` (7 -> 14 -> 28), then a stride-1 output layer.
    The last layer is linear (logits), as in :func:`build_conv_decoder`.
    """
    latent_dim = check_positive_int(latent_dim, "latent_dim")
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    inputs = keras.Input(shape=(latent_dim,), name="z")
    x = layers.Dense(7 * 7 * 64, activation="relu", name=f"{name}_dense")(inputs)
    x = layers.Reshape((7, 7, 64), name=f"{name}_reshape")(x)
    for index, count in enumerate((64, 32)):
        x = layers.Conv2DTranspose(
            count,
            3,
            strides=2,
            padding=padding,
            activation="relu",
            name=f"{name}_deconv_{index}",
        )(x)
    logits = layers.Conv2DTranspose(1, 3, strides=2, padding=padding, name="logits")(x)
    return keras.Model(inputs, logits, name=name)
