"""The first VAE (snippets.minimal): the full VAE's loss on the same weights, training, reloading, sampling."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import snippets
from snippets import DynamicBinarization, binarize
from snippets.minimal import VAE, build_decoder, build_encoder


def _binary_images(n: int = 16, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((n, 784)) < 0.2).astype("float32")


def _as_numpy(outputs: dict) -> dict:
    return {name: keras.ops.convert_to_numpy(value) for name, value in outputs.items()}


def _minimal_and_full_with_the_same_weights(seed: int = 3):
    full = snippets.VAE(snippets.build_dense_encoder(latent_dim=2), snippets.build_dense_decoder(latent_dim=2), seed=seed)
    minimal = VAE(build_encoder(latent_dim=2), build_decoder(latent_dim=2), seed=seed)
    minimal.encoder.set_weights(full.encoder.get_weights())
    minimal.decoder.set_weights(full.decoder.get_weights())
    return minimal, full


def test_minimal_vae_computes_the_full_vaes_outputs_and_loss_on_the_same_weights():
    minimal, full = _minimal_and_full_with_the_same_weights()
    x = _binary_images()
    minimal_outputs, full_outputs = minimal(x), full(x)
    # The same seed gives the same first draw of epsilon, so even the sampled codes agree.
    for name in ("z_mean", "z_log_var", "z", "logits"):
        np.testing.assert_allclose(_as_numpy(minimal_outputs)[name], _as_numpy(full_outputs)[name], rtol=1e-6, atol=1e-6)
    minimal_loss = float(minimal.compute_loss(x=x, y_pred=minimal_outputs))
    full_loss = float(full.compute_loss(x=x, y_pred=full_outputs))
    assert minimal_loss == pytest.approx(full_loss, rel=1e-6)
    # On one fixed draw (the same y_pred), the two loss functions agree term by term.
    assert float(full.compute_loss(x=x, y_pred=minimal_outputs)) == pytest.approx(minimal_loss, rel=1e-6)
    for name in ("reconstruction", "kl"):
        minimal_term = float(getattr(minimal, f"{name}_tracker").result())
        assert minimal_term == pytest.approx(float(getattr(full, f"{name}_tracker").result()), rel=1e-6)


def test_minimal_vae_loss_decreases_on_binarised_digits_and_is_reconstruction_plus_kl(mnist_small):
    vae = VAE(build_encoder(latent_dim=2), build_decoder(latent_dim=2), seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = vae.fit(DynamicBinarization(mnist_small.x_train, batch_size=50, seed=0), epochs=4, verbose=0).history
    assert history["loss"][-1] < history["loss"][0] - 10.0, history["loss"]
    scores = vae.evaluate(binarize(mnist_small.x_test), batch_size=100, verbose=0, return_dict=True)
    assert scores["loss"] == pytest.approx(scores["reconstruction"] + scores["kl"], rel=1e-4)
    assert 0.0 < scores["kl"] < scores["reconstruction"]


def test_minimal_vae_reloads_with_safe_mode_and_keeps_weights_and_seed(tmp_path):
    vae = VAE(build_encoder(latent_dim=3, units=32), build_decoder(latent_dim=3, units=32), seed=5)
    x = _binary_images()
    vae(x)
    vae.save(tmp_path / "vae.keras")
    restored = keras.saving.load_model(tmp_path / "vae.keras", safe_mode=True)
    assert type(restored) is VAE and restored.seed == 5
    np.testing.assert_array_equal(_as_numpy(restored(x))["z_mean"], _as_numpy(vae(x))["z_mean"])


@pytest.mark.parametrize("model_class", ["minimal", "full"])
def test_a_reloaded_model_draws_its_seeds_first_codes_again_not_the_saved_models_next(model_class, tmp_path):
    """A ``.keras`` file keeps the seed, not the seed generator's position in its sequence."""
    if model_class == "minimal":
        vae = VAE(build_encoder(), build_decoder(), seed=7)
    else:
        vae = snippets.VAE(snippets.build_dense_encoder(), snippets.build_dense_decoder(), seed=7)
    x = _binary_images(4)
    first_three = [_as_numpy(vae(x))["z"] for _ in range(3)]
    vae.save(tmp_path / "vae.keras")
    restored = keras.saving.load_model(tmp_path / "vae.keras", safe_mode=True)
    fourth = _as_numpy(vae(x))["z"]
    restored_first = _as_numpy(restored(x))["z"]
    np.testing.assert_array_equal(restored_first, first_three[0])
    assert not np.allclose(restored_first, fourth)
    # The deterministic path is unchanged: the same posterior means.
    np.testing.assert_array_equal(_as_numpy(restored(x))["z_mean"], _as_numpy(vae(x))["z_mean"])
