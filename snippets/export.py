"""Export a dense decoder to JSON, so that a web page can decode codes without Keras.

A decoder built from ``Dense`` layers is a chain of affine maps and pointwise
activations, ``h_{l+1} = f_l(h_l W_l + b_l)`` with ``h_0 = [z, y]`` (the code, then
the one-hot condition of a conditional decoder), so a few lines of any language
evaluate it once its weights are written down. :func:`export_dense_decoder` writes
them in a small, versioned format (below); :func:`exported_decoder_logits` is the
reference evaluation of that format in NumPy, which a page's own implementation
(``book/_static/latent-explorer.js``) must match.

Format ``"dense-decoder"``, version 1, a JSON object::

    {"format": "dense-decoder", "version": 1, "dtype": "float16",
     "latent_dim": d, "condition_dim": c,
     "layers": [{"name": str, "activation": "relu" | "sigmoid" | "linear",
                 "input_dim": n, "units": m,
                 "kernel": base64 of n * m little-endian floats, row-major (n, m),
                 "bias": base64 of m little-endian floats}, ...]}

The last layer's outputs are the decoder's outputs (for a Bernoulli decoder, the
logits ``l``, whose mean image is ``sigmoid(l)``). Half precision halves the file;
its relative rounding of ``2^-11`` per weight moves a trained MNIST decoder's
Bernoulli means by far less than one grey level in ``255``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from snippets.validation import check_array

FORMAT = "dense-decoder"
VERSION = 1
# The activations the format names, as NumPy functions of the pre-activation.
ACTIVATIONS = {
    "relu": lambda a: np.maximum(a, 0.0),
    "sigmoid": lambda a: 1.0 / (1.0 + np.exp(-a)),
    "linear": lambda a: a,
}
DTYPES = {"float16": "<f2", "float32": "<f4"}


def _encode(array: np.ndarray, dtype: str) -> str:
    return base64.b64encode(
        np.ascontiguousarray(array, dtype=DTYPES[dtype]).tobytes()
    ).decode("ascii")


def _decode(text: str, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    return (
        np.frombuffer(base64.b64decode(text), dtype=DTYPES[dtype])
        .astype(np.float64)
        .reshape(shape)
    )


def _check_chain(decoder: keras.Model, dense_layers: list) -> None:
    """Each Dense layer reads the previous one's output, the first ``[z, y]``; the last
    is the output."""
    first_input = decoder.inputs[0] if len(decoder.inputs) == 1 else None
    concatenations = [
        layer for layer in decoder.layers if isinstance(layer, keras.layers.Concatenate)
    ]
    if concatenations:
        (joined,) = concatenations
        first_input = joined.output
    expected = first_input
    for layer in dense_layers:
        if layer.input is not expected:
            raise ValueError(
                f"layer {layer.name!r} does not read the output of the layer before "
                "it; the format holds a plain chain of Dense layers only"
            )
        expected = layer.output
    if expected is not decoder.outputs[0]:
        raise ValueError(
            f"decoder {decoder.name!r}: its output is not the last Dense layer's output"
        )


def _check_concatenation(decoder: keras.Model, layer) -> None:
    """The one Concatenate allowed joins the model's two inputs, code first, on the last
    axis."""
    inputs = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
    joins_the_inputs = [id(t) for t in inputs] == [id(t) for t in decoder.inputs]
    if len(decoder.inputs) != 2 or not joins_the_inputs or layer.axis != -1:
        raise ValueError(
            f"layer {layer.name!r}: the format concatenates only the decoder's inputs "
            "[z, condition], in that order, on the last axis"
        )


def export_dense_decoder(
    decoder: keras.Model, *, dtype: str = "float16"
) -> dict[str, Any]:
    """The weights of a dense decoder as a JSON-ready dict (format ``"dense-decoder"``,
    version 1).

    Args:
        decoder: a functional Keras model ``z -> outputs`` or
            ``[z, condition] -> outputs`` (e.g. :func:`snippets.build_dense_decoder`,
            with or without ``condition_dim``) made of Dense layers in a chain, each
            with activation relu, sigmoid or linear; a conditional decoder joins its
            inputs with one Concatenate.
        dtype: ``"float16"`` (half the size) or ``"float32"`` (exact).

    Returns:
        The dict described in the module docstring; ``json.dumps`` writes it.

    Raises:
        TypeError: ``decoder`` is not a Keras model.
        ValueError: ``dtype`` is unknown, or a layer cannot be expressed in the
            format (any other layer or activation, or another wiring); the message
            names the layer.
    """
    if not isinstance(decoder, keras.Model):
        raise TypeError(f"decoder must be a keras.Model, got {type(decoder).__name__}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    if len(decoder.inputs) not in (1, 2) or len(decoder.outputs) != 1:
        raise ValueError(
            f"decoder {decoder.name!r} must take z or [z, condition] and give one "
            f"output, got {len(decoder.inputs)} inputs and {len(decoder.outputs)} "
            "outputs"
        )
    dense_layers = []
    for layer in decoder.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.layers.Concatenate):
            _check_concatenation(decoder, layer)
            continue
        if type(layer) is not keras.layers.Dense:
            raise ValueError(
                f"layer {layer.name!r} is a {type(layer).__name__}; the format holds "
                "Dense layers only"
            )
        activation = layer.get_config()["activation"]
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"layer {layer.name!r} has activation {activation!r}; the format "
                f"holds {sorted(ACTIVATIONS)}"
            )
        dense_layers.append(layer)
    if not dense_layers:
        raise ValueError(f"decoder {decoder.name!r} has no Dense layer to export")
    _check_chain(decoder, dense_layers)
    latent_dim = int(decoder.inputs[0].shape[-1])
    condition_dim = int(decoder.inputs[1].shape[-1]) if len(decoder.inputs) == 2 else 0
    layers = []
    for layer in dense_layers:
        kernel = keras.ops.convert_to_numpy(layer.kernel)
        bias = (
            keras.ops.convert_to_numpy(layer.bias)
            if layer.use_bias
            else np.zeros(kernel.shape[1])
        )
        layers.append(
            {
                "name": layer.name,
                "activation": layer.get_config()["activation"],
                "input_dim": int(kernel.shape[0]),
                "units": int(kernel.shape[1]),
                "kernel": _encode(kernel, dtype),
                "bias": _encode(bias, dtype),
            }
        )
    return {
        "format": FORMAT,
        "version": VERSION,
        "dtype": dtype,
        "latent_dim": latent_dim,
        "condition_dim": condition_dim,
        "layers": layers,
    }


def exported_decoder_logits(
    exported: Mapping[str, Any], z, condition=None
) -> np.ndarray:
    """Evaluate an exported decoder in NumPy (float64): ``(n, latent_dim)`` codes to
    ``(n, units)`` outputs.

    ``condition`` is ``(n, condition_dim)`` (a one-hot label per code) for a
    conditional decoder and ``None`` otherwise. This is the arithmetic a page
    implementing the format repeats: ``h <- f(h W + b)``, layer by layer.
    """
    if not isinstance(exported, Mapping) or exported.get("format") != FORMAT:
        raise ValueError(
            f"exported must be a {FORMAT!r} dict from export_dense_decoder"
        )
    if exported.get("version") != VERSION:
        version = exported.get("version")
        raise ValueError(
            f"exported has format version {version!r}; this reads version {VERSION}"
        )
    z = check_array(z, "z", (exported["latent_dim"],)).astype(np.float64)
    if exported["condition_dim"]:
        if condition is None:
            raise ValueError(
                "this decoder needs a condition of shape (n, "
                f"{exported['condition_dim']})"
            )
        condition = check_array(condition, "condition", (exported["condition_dim"],))
        if len(condition) != len(z):
            raise ValueError(
                f"condition has {len(condition)} rows, expected one per code ({len(z)})"
            )
        h = np.concatenate([z, condition.astype(np.float64)], axis=1)
    elif condition is not None:
        raise ValueError("this decoder takes no condition; pass condition=None")
    else:
        h = z
    for layer in exported["layers"]:
        kernel = _decode(
            layer["kernel"], exported["dtype"], (layer["input_dim"], layer["units"])
        )
        bias = _decode(layer["bias"], exported["dtype"], (layer["units"],))
        h = ACTIVATIONS[layer["activation"]](h @ kernel + bias)
    return h
