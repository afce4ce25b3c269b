"""Floating-point operations of a forward pass and of a training step, counted from the
layers.

A benchmark that reports samples per second says how fast a model trains; one
that also knows the FLOPs per sample can say how close that comes to what the
hardware can do (see ``benchmarks/vae_throughput.py``). The counts here are the
usual analytic ones: one multiply-add is two FLOPs, and only the layers that do
the multiply-adds -- ``Dense`` and the (transposed) convolutions -- are counted.
Biases, activations, reshapes, the sampling step and the loss are elementwise,
``O(size of a tensor)`` rather than ``O(size of a tensor x fan-in)``, and are
ignored. The code is ``keras`` only and works on every backend.
"""

from __future__ import annotations

import math

import keras
from keras import layers

_CONVOLUTIONS = (layers.Conv1D, layers.Conv2D, layers.Conv3D)
_TRANSPOSED_CONVOLUTIONS = (
    layers.Conv1DTranspose,
    layers.Conv2DTranspose,
    layers.Conv3DTranspose,
)
_COUNTED = (layers.Dense, *_CONVOLUTIONS, *_TRANSPOSED_CONVOLUTIONS)

#: The forward+backward rule of thumb: a training step costs about three forward passes.
TRAINING_TO_FORWARD_RATIO = 3


def _recorded_shape(layer: keras.layers.Layer, which: str, model_name: str) -> tuple:
    """The per-example shape of ``layer``'s first recorded input or output (batch axis
    dropped)."""
    try:
        tensor = getattr(layer, which)
    except (AttributeError, ValueError) as error:
        raise ValueError(
            f"model {model_name!r}: layer {layer.name!r} has no recorded {which} "
            f"shape ({error}); forward_flops needs a functional or Sequential model "
            "built on a keras.Input, or a model whose counted layers were called on "
            "one"
        ) from None
    if isinstance(tensor, (list, tuple)):
        raise ValueError(
            f"model {model_name!r}: layer {layer.name!r} has several {which}s"
        )
    shape = tuple(tensor.shape[1:])
    if any(size is None for size in shape):
        raise ValueError(
            f"model {model_name!r}: layer {layer.name!r} has an unknown size in its "
            f"{which} shape {tuple(tensor.shape)}; FLOPs per sample need every "
            "non-batch size"
        )
    return shape


def layer_flops(layer: keras.layers.Layer, model_name: str = "model") -> int:
    """FLOPs of one forward pass of ``layer`` for one example (multiply-adds x 2).

    - ``Dense`` with kernel ``(n_in, n_out)``: ``2 * n_in * n_out`` per output
      position, times the product of the output's middle axes when it is
      applied to a sequence or image (``(batch, ..., n_out)``).
    - ``Conv1D/2D/3D`` with kernel ``(k_1, ..., c_in / groups, c_out)``:
      ``2 * k_1 * ... * (c_in / groups) * c_out * H_out * W_out * ...``, one
      kernel-sized dot product per output pixel and output channel; for
      ``Conv2D``, ``2 * k_h * k_w * c_in * c_out * H_out * W_out``.
    - ``Conv1D/2D/3DTranspose`` with kernel ``(k_1, ..., c_out, c_in)``: every
      input pixel scatters ``k_1 * ... * c_out`` products per input channel:
      ``2 * k_h * k_w * c_in * c_out * H_in * W_in`` for ``Conv2DTranspose``.
    - Any other layer: 0 (biases, activations, reshapes, sampling and other
      elementwise work are ignored). A nested model is *not* entered here;
      :func:`forward_flops` does that.

    Spatial sizes come from the shapes recorded when the layer was called on a
    ``keras.Input`` (its first call, if it was called several times).

    Raises:
        ValueError: ``layer`` is a counted layer that is not built, or its
            input/output shape is unknown (``model_name`` names its model).
        TypeError: ``layer`` is not a Keras layer.
    """
    if not isinstance(layer, keras.layers.Layer):
        raise TypeError(
            f"layer must be a keras.layers.Layer, got {type(layer).__name__}"
        )
    if not isinstance(layer, _COUNTED):
        return 0
    if not layer.built:
        raise ValueError(
            f"model {model_name!r}: layer {layer.name!r} is not built; call it on a "
            "keras.Input first"
        )
    kernel = math.prod(int(size) for size in layer.kernel.shape)
    if isinstance(layer, layers.Dense):
        positions = math.prod(_recorded_shape(layer, "output", model_name)[:-1])
    elif isinstance(layer, _TRANSPOSED_CONVOLUTIONS):
        positions = math.prod(
            _spatial(_recorded_shape(layer, "input", model_name), layer)
        )
    else:
        positions = math.prod(
            _spatial(_recorded_shape(layer, "output", model_name), layer)
        )
    return 2 * kernel * positions


def _spatial(shape: tuple, layer: keras.layers.Layer) -> tuple:
    """The spatial sizes of a per-example shape, for either data format."""
    return (
        shape[1:]
        if getattr(layer, "data_format", "channels_last") == "channels_first"
        else shape[:-1]
    )


def forward_flops(model: keras.Model) -> int:
    """FLOPs of one forward pass of ``model`` for one example.

    Walks ``model.layers`` and adds :func:`layer_flops` of each, recursing into
    nested models (a functional model used as a layer, the encoder and decoder
    of a subclassed VAE):

    ``F(model) = sum over layers l of (F(l) if l is a Model else layer_flops(l))``

    so only ``Dense`` (``2 * n_in * n_out``) and convolutions
    (``2 * k_h * k_w * c_in * c_out * H_out * W_out``; transposed:
    ``... * H_in * W_in``) count, and cheap elementwise operations --
    biases, activations, sampling, the loss -- are ignored. Each layer is
    counted once, at its first call: a layer shared by several branches, or
    a custom (non-``Model``) layer wrapping other layers, is under-counted.

    Args:
        model: a built Keras model whose counted layers were called on a
            ``keras.Input`` (any functional or Sequential model built on an
            ``Input``; a subclassed model made of such models).

    Returns:
        The FLOPs per example, an ``int``.

    Raises:
        TypeError: ``model`` is not a ``keras.Model``.
        ValueError: ``model`` is not built (a Sequential model without an
            ``Input``), or a counted layer's shape is unknown.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
    # A subclassed model (the VAE) is unbuilt until called, yet countable when the
    # layers that do the work are built; a Sequential model without an Input is not.
    working = [
        layer for layer in model.layers if isinstance(layer, (keras.Model, *_COUNTED))
    ]
    if not model.built and not (working and all(layer.built for layer in working)):
        raise ValueError(
            f"model {model.name!r} is not built: give it a keras.Input (or call it on "
            "data) before counting FLOPs"
        )
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += forward_flops(layer)
        else:
            total += layer_flops(layer, model.name)
    return total


def training_flops_per_sample(vae: keras.Model) -> int:
    """FLOPs of one training step of a VAE, per example:
    ``3 x (encoder + decoder forward)``.

    The rule of thumb for a training step: the backward pass costs about two
    forward passes (one product for the gradient with respect to each layer's
    input, one for the gradient with respect to its weights), so

    ``training FLOPs = 3 * (forward_flops(vae.encoder) + forward_flops(vae.decoder))``.

    The optimizer update (``O(weights)`` per batch, not per example), the
    sampling step and the loss are elementwise and ignored.

    Args:
        vae: a model with ``encoder`` and ``decoder`` attributes that are
            built Keras models, such as :class:`snippets.models.VAE`.

    Raises:
        ValueError: ``vae`` has no ``encoder`` or ``decoder`` model, or one of
            them is not built (as :func:`forward_flops`).
    """
    parts = []
    for name in ("encoder", "decoder"):
        part = getattr(vae, name, None)
        if not isinstance(part, keras.Model):
            raise ValueError(
                f"vae.{name} must be a keras.Model (vae should be a model like "
                f"snippets.models.VAE), got a {type(vae).__name__} whose {name} is "
                f"{type(part).__name__}"
            )
        parts.append(part)
    return TRAINING_TO_FORWARD_RATIO * sum(forward_flops(part) for part in parts)
