"""An exported decoder decodes what the Keras decoder decodes; one the format cannot hold is refused by name."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from snippets import VAE, build_dense_decoder, build_dense_encoder
from snippets.export import export_dense_decoder, exported_decoder_logits

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


@pytest.mark.parametrize("dtype, tolerance", [("float16", GREY_LEVEL), ("float32", 1e-5)])
def test_exported_decoder_gives_the_keras_bernoulli_means(dtype, tolerance):
    vae = trained_vae()
    z = codes_far_and_near()
    exported = json.loads(json.dumps(export_dense_decoder(vae.decoder, dtype=dtype)))
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
    assert np.max(np.abs(means - vae.decode(z, condition=condition))) <= GREY_LEVEL
    with pytest.raises(ValueError, match="needs a condition"):
        exported_decoder_logits(exported, z)


def test_half_precision_halves_the_size_of_the_weights():
    decoder = build_dense_decoder(2, hidden_units=(64,))
    half, full = (len(json.dumps(export_dense_decoder(decoder, dtype=d))) for d in ("float16", "float32"))
    assert 0.45 < half / full < 0.55


def test_the_format_names_itself_and_its_version():
    exported = export_dense_decoder(build_dense_decoder(2, hidden_units=(8, 8)))
    assert (exported["format"], exported["version"]) == ("dense-decoder", 1)
    assert [(layer["activation"], layer["units"]) for layer in exported["layers"]] == [
        ("relu", 8), ("relu", 8), ("linear", 784)]
    with pytest.raises(ValueError, match="version 2"):
        exported_decoder_logits({**exported, "version": 2}, np.zeros((1, 2)))


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
    with pytest.raises(ValueError, match="dtype must be one of"):
        export_dense_decoder(build_dense_decoder(2), dtype="int8")
    exported = export_dense_decoder(build_dense_decoder(2, hidden_units=(8,)))
    with pytest.raises(ValueError, match="z"):
        exported_decoder_logits(exported, np.zeros((3, 5)))
    with pytest.raises(ValueError, match="takes no condition"):
        exported_decoder_logits(exported, np.zeros((3, 2)), np.zeros((3, 10)))
