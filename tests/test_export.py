"""An exported decoder decodes what the Keras decoder decodes; one the format cannot hold is refused by name."""

from __future__ import annotations

import base64
import json

import keras
import numpy as np
import pytest

from snippets import VAE, build_dense_decoder, build_dense_encoder
from snippets.export import (
    DEFAULT_BITS,
    export_dense_decoder,
    exported_decoder_logits,
    pack_unsigned,
    unpack_unsigned,
)

GREY_LEVEL = 1 / 255


def sigmoid(logits):
    return 1.0 / (1.0 + np.exp(-logits))


def trained_vae(condition_dim: int = 0) -> VAE:
    """A small VAE fitted for a few steps, so that its weights are not the initial ones."""
    rng = np.random.default_rng(0)
    x = (rng.random((256, 784)) < 0.2).astype("float32")
    sizes = dict(hidden_units=(64,), condition_dim=condition_dim)
    vae = VAE(build_dense_encoder(2, **sizes), build_dense_decoder(2, **sizes), seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(1e-2))
    labels = rng.integers(0, max(condition_dim, 1), 256)
    inputs = {"x": x, "condition": np.eye(condition_dim, dtype="float32")[labels]} if condition_dim else x
    vae.fit(inputs, epochs=2, batch_size=64, verbose=0)
    return vae


def codes_far_and_near(n: int = 64) -> np.ndarray:
    return np.random.default_rng(1).normal(scale=3.0, size=(n, 2)).astype("float32")


@pytest.mark.parametrize("bits, tolerance", [(DEFAULT_BITS, GREY_LEVEL / 2), (16, GREY_LEVEL / 20)])
def test_exported_decoder_gives_the_keras_bernoulli_means(bits, tolerance):
    vae = trained_vae()
    z = codes_far_and_near()
    exported = json.loads(json.dumps(export_dense_decoder(vae.decoder, bits=bits)))
    means = sigmoid(exported_decoder_logits(exported, z))
    assert means.shape == (len(z), 784)
    assert np.max(np.abs(means - vae.decode(z))) <= tolerance


def test_conditional_decoder_exports_with_its_one_hot_condition():
    vae = trained_vae(condition_dim=10)
    z = codes_far_and_near(30)
    condition = np.eye(10, dtype="float32")[np.arange(30) % 10]
    exported = export_dense_decoder(vae.decoder)
    assert (exported["latent_dim"], exported["condition_dim"]) == (2, 10)
    assert exported["layers"][0]["input_dim"] == 12
    means = sigmoid(exported_decoder_logits(exported, z, condition))
    assert np.max(np.abs(means - vae.decode(z, condition=condition))) <= GREY_LEVEL / 2
    with pytest.raises(ValueError, match="needs a condition"):
        exported_decoder_logits(exported, z)


@pytest.mark.parametrize("bits", [1, 3, 8, 13, 16])
def test_packed_integers_unpack_to_themselves(bits):
    values = np.random.default_rng(bits).integers(0, 2**bits, size=1001)
    packed = pack_unsigned(values, bits)
    assert len(packed) == -(-1001 * bits // 8)
    assert np.array_equal(unpack_unsigned(packed, 1001, bits), values)


def test_bits_are_packed_least_significant_first_from_each_bytes_lowest_bit():
    # 1, 2, 3 in three bits: the stream 100 010 110, so byte 0 holds bits 0-7 = 0b11010001.
    assert pack_unsigned([1, 2, 3], 3) == bytes([0b11010001, 0])
    assert pack_unsigned([0x1FFF, 0], 13) == bytes([0xFF, 0x1F, 0, 0])


def test_exported_kernel_integers_are_the_columns_quantised_on_their_own_range():
    decoder = build_dense_decoder(2, hidden_units=(8,))
    kernel = keras.ops.convert_to_numpy(decoder.layers[-1].kernel)
    layer = export_dense_decoder(decoder, bits=5)["layers"][-1]
    low = np.frombuffer(base64.b64decode(layer["low"]), "<f4")
    step = np.frombuffer(base64.b64decode(layer["step"]), "<f4")
    q = unpack_unsigned(base64.b64decode(layer["kernel"]), kernel.size, 5).reshape(kernel.shape)
    assert np.array_equal(low, kernel.min(axis=0))
    assert q.min() == 0 and q.max() == 31
    assert np.array_equal(q.min(axis=0), np.zeros(784)) and np.array_equal(q.max(axis=0), np.full(784, 31))
    assert np.max(np.abs(low + step.astype(np.float64) * q - kernel) / step) <= 0.5 + 1e-4


def test_fewer_bits_make_a_smaller_file():
    decoder = build_dense_decoder(2, hidden_units=(64,))
    eight, sixteen = (len(json.dumps(export_dense_decoder(decoder, bits=b))) for b in (8, 16))
    assert 0.45 < eight / sixteen < 0.55


def test_the_format_names_itself_and_its_version():
    exported = export_dense_decoder(build_dense_decoder(2, hidden_units=(8, 8)))
    assert (exported["format"], exported["version"], exported["bits"]) == ("dense-decoder", 2, DEFAULT_BITS)
    assert [(layer["activation"], layer["units"]) for layer in exported["layers"]] == [
        ("relu", 8), ("relu", 8), ("linear", 784)]
    for version in (1, 3, None):
        with pytest.raises(ValueError, match=f"version {version!r}; this reads version 2"):
            exported_decoder_logits({**exported, "version": version}, np.zeros((1, 2)))
    with pytest.raises(ValueError, match="bits must be an integer"):
        exported_decoder_logits({**exported, "bits": 0}, np.zeros((1, 2)))


def chain(*layers, latent_dim: int = 2) -> keras.Model:
    z = keras.Input((latent_dim,), name="z")
    h = z
    for layer in layers:
        h = layer(h)
    return keras.Model(z, h, name="decoder")


@pytest.mark.parametrize("layer, message", [
    (keras.layers.Dense(784, activation="tanh", name="odd"), "'odd' has activation 'tanh'"),
    (keras.layers.BatchNormalization(name="normalise"), "'normalise' is a BatchNormalization"),
    (keras.layers.Dropout(0.1, name="drop"), "'drop' is a Dropout"),
])
def test_a_layer_the_format_cannot_express_is_refused_by_name(layer, message):
    decoder = chain(keras.layers.Dense(16, activation="relu"), layer)
    with pytest.raises(ValueError, match=message):
        export_dense_decoder(decoder)


def test_a_skip_connection_is_refused_naming_its_layer():
    z = keras.Input((2,))
    hidden = keras.layers.Dense(2, activation="relu", name="hidden")(z)
    added = keras.layers.Dense(784, name="logits")(keras.layers.Add(name="skip")([z, hidden]))
    with pytest.raises(ValueError, match="'skip' is a Add"):
        export_dense_decoder(keras.Model(z, added))


def test_condition_before_the_code_is_refused():
    z, y = keras.Input((2,), name="z"), keras.Input((10,), name="condition")
    joined = keras.layers.Concatenate(name="label_first")([y, z])
    decoder = keras.Model([z, y], keras.layers.Dense(784)(joined))
    with pytest.raises(ValueError, match="'label_first'"):
        export_dense_decoder(decoder)


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="decoder must be a keras.Model"):
        export_dense_decoder("decoder")
    for bits in (0, 17, 8.0, True, "8"):
        with pytest.raises(ValueError, match=f"bits must be an integer from 1 to 16, got {bits!r}"):
            export_dense_decoder(build_dense_decoder(2, hidden_units=(8,)), bits=bits)
    with pytest.raises(ValueError, match="values must lie in 0, ..., 7"):
        pack_unsigned([8], 3)
    with pytest.raises(ValueError, match="fewer than 3 integers of 13 bits"):
        unpack_unsigned(bytes(4), 3, 13)
    exported = export_dense_decoder(build_dense_decoder(2, hidden_units=(8,)))
    with pytest.raises(ValueError, match="z"):
        exported_decoder_logits(exported, np.zeros((3, 5)))
    with pytest.raises(ValueError, match="takes no condition"):
        exported_decoder_logits(exported, np.zeros((3, 2)), np.zeros((3, 10)))
