"""Export a dense decoder to JSON, so that a web page can decode codes without Keras.

A decoder built from ``Dense`` layers is a chain of affine maps and pointwise
activations, ``h_{l+1} = f_l(h_l W_l + b_l)`` with ``h_0 = [z, y]`` (the code, then
the one-hot condition of a conditional decoder), so a few lines of any language
evaluate it once its weights are written down. :func:`export_dense_decoder` writes
them in a small, versioned format (below); :func:`exported_decoder_logits` is the
reference evaluation of that format in NumPy, which a page's own implementation
(``book/_static/latent-explorer.js``) must match.

Format ``"dense-decoder"``, version 2, a JSON object::

    {"format": "dense-decoder", "version": 2, "bits": n,
     "latent_dim": d, "condition_dim": c,
     "layers": [{"name": str, "activation": "relu" | "sigmoid" | "linear",
                 "input_dim": r, "units": m,
                 "low": base64 of m little-endian float32,
                 "step": base64 of m little-endian float32,
                 "kernel": base64 of r * m unsigned n-bit integers q, row-major (r, m),
                 "bias": base64 of m little-endian float32}, ...]}

Each column ``j`` of a kernel is quantised on its own range: ``W_ij ≈ low_j +
step_j q_ij`` with ``low_j = min_i W_ij``, ``step_j = (max_i W_ij - low_j) /
(2^n - 1)`` and ``q_ij`` the nearest of ``0, ..., 2^n - 1``, so no weight moves by
more than ``step_j / 2``. The integers are packed into one stream of bits, least
significant bit first, integer after integer, and the stream into bytes from each
byte's lowest bit up (``numpy.packbits(..., bitorder="little")``); integer ``k``
starts at bit ``k n``, in byte ``floor(k n / 8)``, and ``n = 1, ..., 16``.

The last layer's outputs are the decoder's outputs (for a Bernoulli decoder, the
logits ``l``, whose mean image is ``sigmoid(l)``). The default ``n = 13`` was
measured on the latent-space chapter's 2-D VAE and CVAE decoders, ``784-128-2``,
trained on all of MNIST: it is the smallest ``n`` that keeps every Bernoulli mean
on a ``121 x 121`` grid over ``[-4, 4]^2`` (each of the ten labels for the CVAE)
within half a grey level of ``255`` of the Keras decoder's (``0.23 / 255`` at most;
``n = 12`` gave ``0.56 / 255``), so that a canvas rounding the mean to a grey level
stays within one. One such decoder then takes about 230 kB of JSON.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from snippets.validation import check_array

FORMAT = "dense-decoder"
VERSION = 2
# The widths a weight's integer may have, and the default (see the docstring above).
BITS_RANGE = (1, 16)
DEFAULT_BITS = 13
# The activations the format names, as NumPy functions of the pre-activation.
ACTIVATIONS = {
    "relu": lambda a: np.maximum(a, 0.0),
    "sigmoid": lambda a: 1.0 / (1.0 + np.exp(-a)),
    "linear": lambda a: a,
}


def _check_bits(bits) -> int:
    low, high = BITS_RANGE
    if (
        isinstance(bits, bool)
        or not isinstance(bits, (int, np.integer))
        or not (low <= bits <= high)
    ):
        raise ValueError(f"bits must be an integer from {low} to {high}, got {bits!r}")
    return int(bits)


def _float32_text(array: np.ndarray) -> str:
    return base64.b64encode(np.asarray(array, dtype="<f4").tobytes()).decode("ascii")


def _float32_array(text: str, shape: tuple[int, ...]) -> np.ndarray:
    return (
        np.frombuffer(base64.b64decode(text), dtype="<f4")
        .astype(np.float64)
        .reshape(shape)
    )


def quantise_columns(
    kernel: np.ndarray, bits: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``kernel`` ``(r, m)`` as ``low + step * q``: float32 ``low`` and ``step``
    ``(m,)`` per column and unsigned ``bits``-bit integers ``q`` ``(r, m)``.

    ``low_j`` is column ``j``'s minimum and ``step_j`` its range over ``2^bits - 1``,
    so ``|W_ij - (low_j + step_j q_ij)| <= step_j / 2`` (a constant column has step
    ``0`` and ``q = 0``).
    """
    bits = _check_bits(bits)
    kernel = np.asarray(kernel, dtype=np.float64)
    top = 2**bits - 1
    low = kernel.min(axis=0).astype(np.float32)
    step = ((kernel.max(axis=0) - low) / top).astype(np.float32)
    # q is computed from the float32 low and step the file holds, so the reader's
    # low + step * q is the nearest point of the grid it actually sees.
    divisor = np.where(step > 0, step, 1.0).astype(np.float64)
    q = np.clip(np.rint((kernel - low) / divisor), 0, top).astype(np.uint32)
    return low, step, q


def pack_unsigned(values: np.ndarray, bits: int) -> bytes:
    """Unsigned integers below ``2^bits`` as one stream of ``bits`` bits each, least
    significant first, packed into bytes from each byte's lowest bit up."""
    bits = _check_bits(bits)
    values = np.asarray(values).ravel()
    if values.size and (values.min() < 0 or values.max() >= 2**bits):
        raise ValueError(f"values must lie in 0, ..., {2**bits - 1} to fit {bits} bits")
    places = np.arange(bits, dtype=np.uint32)
    stream = (values.astype(np.uint32)[:, None] >> places) & 1
    return np.packbits(stream.astype(np.uint8).ravel(), bitorder="little").tobytes()


def unpack_unsigned(data: bytes, count: int, bits: int) -> np.ndarray:
    """The first ``count`` integers of ``bits`` bits each in ``data``
    (:func:`pack_unsigned`'s layout), as ``(count,)`` ``uint32``."""
    bits = _check_bits(bits)
    if 8 * len(data) < count * bits:
        raise ValueError(
            f"data holds {8 * len(data)} bits, fewer than {count} integers of "
            f"{bits} bits"
        )
    stream = np.unpackbits(
        np.frombuffer(data, dtype=np.uint8), count=count * bits, bitorder="little"
    )
    weights = np.left_shift(np.uint32(1), np.arange(bits, dtype=np.uint32))
    return stream.reshape(count, bits).astype(np.uint32) @ weights


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
    decoder: keras.Model, *, bits: int = DEFAULT_BITS
) -> dict[str, Any]:
    """The weights of a dense decoder as a JSON-ready dict (format ``"dense-decoder"``,
    version 2).

    Args:
        decoder: a functional Keras model ``z -> outputs`` or
            ``[z, condition] -> outputs`` (e.g. :func:`snippets.build_dense_decoder`,
            with or without ``condition_dim``) made of Dense layers in a chain, each
            with activation relu, sigmoid or linear; a conditional decoder joins its
            inputs with one Concatenate.
        bits: the width ``n`` of each kernel weight's integer, ``1`` to ``16``; each
            column keeps its weights to within half of its range over ``2^n - 1``.

    Returns:
        The dict described in the module docstring; ``json.dumps`` writes it.

    Raises:
        TypeError: ``decoder`` is not a Keras model.
        ValueError: ``bits`` is not an integer from 1 to 16, or a layer cannot be
            expressed in the format (any other layer or activation, or another
            wiring); the message names the layer.
    """
    if not isinstance(decoder, keras.Model):
        raise TypeError(f"decoder must be a keras.Model, got {type(decoder).__name__}")
    bits = _check_bits(bits)
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
        low, step, q = quantise_columns(kernel, bits)
        layers.append(
            {
                "name": layer.name,
                "activation": layer.get_config()["activation"],
                "input_dim": int(kernel.shape[0]),
                "units": int(kernel.shape[1]),
                "low": _float32_text(low),
                "step": _float32_text(step),
                "kernel": base64.b64encode(pack_unsigned(q, bits)).decode("ascii"),
                "bias": _float32_text(bias),
            }
        )
    return {
        "format": FORMAT,
        "version": VERSION,
        "bits": bits,
        "latent_dim": latent_dim,
        "condition_dim": condition_dim,
        "layers": layers,
    }


def _kernel(layer: Mapping[str, Any], bits: int) -> np.ndarray:
    """An exported kernel ``(input_dim, units)``: ``low + step * q``, in float64."""
    shape = (layer["input_dim"], layer["units"])
    q = unpack_unsigned(base64.b64decode(layer["kernel"]), shape[0] * shape[1], bits)
    low = _float32_array(layer["low"], (shape[1],))
    step = _float32_array(layer["step"], (shape[1],))
    return low + step * q.reshape(shape)


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
            f"exported has format version {version!r}; this reads version {VERSION} "
            "(export the decoder again with export_dense_decoder)"
        )
    bits = _check_bits(exported.get("bits"))
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
        bias = _float32_array(layer["bias"], (layer["units"],))
        h = ACTIVATIONS[layer["activation"]](h @ _kernel(layer, bits) + bias)
    return h
