"""The autoencoder and the VAE: shapes, training, determinism, saving, errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from snippets.callbacks import NonFiniteLossGuard
from snippets.models import VAE, Autoencoder, build_dense_decoder, build_dense_encoder, share_per_replica


def small_vae(latent_dim: int = 2, seed: int = 0, **kwargs) -> VAE:
    vae = VAE(
        build_dense_encoder(hidden_units=(64,), latent_dim=latent_dim),
        build_dense_decoder(hidden_units=(64,), latent_dim=latent_dim),
        seed=seed,
        **kwargs,
    )
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    return vae


def test_encoder_and_decoder_shapes_follow_the_classic_design():
    encoder, decoder = build_dense_encoder(), build_dense_decoder()
    assert [tuple(o.shape) for o in encoder.outputs] == [(None, 2), (None, 2)]
    assert tuple(decoder.output.shape) == (None, 784)
    # 784-256-2: 784*256+256 + 2*(256*2+2) weights in the encoder.
    assert encoder.count_params() == 784 * 256 + 256 + 2 * (256 * 2 + 2)


def test_vae_call_returns_the_latent_parameters_and_logits(mnist_small):
    out = small_vae(latent_dim=3)(mnist_small.x_test[:5])
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "z_mean": (5, 3), "z_log_var": (5, 3), "z": (5, 3), "logits": (5, 784),
    }


def test_training_a_few_epochs_lowers_the_held_out_loss(mnist_small):
    vae = small_vae()
    before = vae.evaluate(mnist_small.x_test, verbose=0, return_dict=True)["loss"]
    history = vae.fit(mnist_small.x_train, epochs=3, batch_size=50, verbose=0,
                      validation_data=mnist_small.x_test)
    assert history.history["val_loss"][-1] < before - 50.0
    assert set(history.history) >= {"loss", "reconstruction", "kl", "val_loss", "val_reconstruction", "val_kl"}


def test_loss_is_reconstruction_plus_kl_in_nats(mnist_small):
    vae = small_vae()
    result = vae.evaluate(mnist_small.x_test, verbose=0, return_dict=True)
    assert np.isclose(result["loss"], result["reconstruction"] + result["kl"], rtol=1e-5)
    # An untrained decoder outputs logits near 0: about 784 * log 2 = 543 nats per digit.
    assert 300.0 < result["reconstruction"] < 800.0


def test_the_same_seed_gives_the_same_training_run(mnist_small):
    histories = []
    for _ in range(2):
        keras.utils.set_random_seed(42)
        vae = small_vae(seed=42)
        histories.append(vae.fit(mnist_small.x_train, epochs=2, batch_size=50, verbose=0).history["loss"])
    assert np.allclose(histories[0], histories[1], rtol=1e-6)


def test_saved_vae_reloads_safely_and_gives_identical_outputs(mnist_small, tmp_path):
    vae = small_vae(seed=3)
    vae.fit(mnist_small.x_train, epochs=1, batch_size=50, verbose=0)
    path = tmp_path / "vae.keras"
    vae.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(restored, VAE)
    assert float(restored.beta.numpy()) == float(vae.beta.numpy()) == 1.0
    x = mnist_small.x_test[:16]
    assert np.array_equal(restored.encode(x), vae.encode(x))
    assert np.array_equal(restored.reconstruct(x), vae.reconstruct(x))
    z = np.random.default_rng(0).standard_normal((4, 2))
    assert np.array_equal(restored.decode(z), vae.decode(z))


def test_autoencoder_trains_and_reloads(mnist_small, tmp_path):
    model = Autoencoder(build_dense_encoder(hidden_units=(64,), variational=False),
                        build_dense_decoder(hidden_units=(64,)))
    model.compile(optimizer="adam")
    history = model.fit(mnist_small.x_train, epochs=3, batch_size=50, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "ae.keras")
    restored = keras.saving.load_model(tmp_path / "ae.keras", safe_mode=True)
    x = mnist_small.x_test[:8]
    assert np.array_equal(restored.reconstruct(x), model.reconstruct(x))
    assert model.encode(x).shape == (8, 2)


def test_generated_digits_are_pixel_probabilities():
    images = small_vae(latent_dim=4).generate(6, seed=1)
    assert images.shape == (6, 784) and images.min() >= 0.0 and images.max() <= 1.0


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.zeros((4, 28, 28)), r"x has per-example shape \(28, 28\)"),
        (np.full((4, 784), 255.0), r"divide by 255"),
        (np.zeros((0, 784)), r"x is empty"),
        (np.full((4, 784), np.nan), r"NaN"),
    ],
)
def test_fit_rejects_bad_input_with_a_clear_error(x, message):
    with pytest.raises(ValueError, match=message):
        small_vae().fit(x, epochs=1, verbose=0)


def test_fit_checks_validation_data_too(mnist_small):
    with pytest.raises(ValueError, match=r"validation_data must hold pixel intensities"):
        small_vae().fit(mnist_small.x_train, epochs=1, verbose=0,
                        validation_data=mnist_small.x_test * 255.0)


@pytest.mark.parametrize("latent_dim", [0, -1])
def test_latent_dim_below_one_is_rejected(latent_dim):
    with pytest.raises(ValueError, match="latent_dim must be an integer >= 1"):
        build_dense_encoder(latent_dim=latent_dim)
    with pytest.raises(ValueError, match="latent_dim must be an integer >= 1"):
        build_dense_decoder(latent_dim=latent_dim)


def test_negative_beta_is_rejected():
    with pytest.raises(ValueError, match="beta must be a finite number >= 0"):
        VAE(build_dense_encoder(), build_dense_decoder(), beta=-1.0)


def test_non_finite_loss_stops_training_with_an_error():
    with pytest.raises(FloatingPointError, match="non-finite loss"):
        NonFiniteLossGuard().on_epoch_end(0, {"loss": float("nan")})


def test_diverging_training_raises_instead_of_returning_nan(mnist_small):
    vae = small_vae()
    vae.compile(optimizer=keras.optimizers.SGD(learning_rate=1e12))
    with pytest.raises(FloatingPointError, match="non-finite"):
        vae.fit(mnist_small.x_train, epochs=3, batch_size=50, verbose=0)


@pytest.mark.parametrize("likelihood", ["bernoulli", "continuous_bernoulli", "gaussian"])
def test_every_likelihood_trains_to_a_lower_finite_loss(mnist_small, likelihood):
    vae = small_vae(likelihood=likelihood)
    history = vae.fit(mnist_small.x_train, epochs=3, batch_size=50, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    images = vae.generate(4)
    assert images.min() >= 0.0 and images.max() <= 1.0


def test_calibrated_gaussian_reconstruction_is_half_d_log_two_pi_e_mse(mnist_small):
    """With sigma^2 set to the batch MSE, -log p(x|z) averages to (d/2) log(2 pi e MSE)."""
    vae = small_vae(likelihood="gaussian")
    x = mnist_small.x_test[:100]
    out = vae(x)
    reconstruction = -keras.ops.convert_to_numpy(vae.log_likelihood(x, out["logits"]))
    mse = np.mean((x - keras.ops.convert_to_numpy(keras.ops.sigmoid(out["logits"]))) ** 2)
    assert np.isclose(reconstruction.mean(), 392 * np.log(2 * np.pi * np.e * (mse + 1e-6)), rtol=1e-4)


def test_fixed_variance_gaussian_is_scaled_squared_error_plus_a_constant(mnist_small, tmp_path):
    vae = small_vae(likelihood="gaussian", observation_variance=0.1)
    x = mnist_small.x_test[:10]
    out = vae(x)
    mean = keras.ops.convert_to_numpy(keras.ops.sigmoid(out["logits"]))
    expected = ((x - mean) ** 2).sum(axis=1) / 0.2 + 392 * np.log(2 * np.pi * 0.1)
    got = -keras.ops.convert_to_numpy(vae.log_likelihood(x, out["logits"]))
    assert np.allclose(got, expected, rtol=1e-4)
    vae.save(tmp_path / "gaussian.keras")
    restored = keras.saving.load_model(tmp_path / "gaussian.keras", safe_mode=True)
    assert restored.likelihood == "gaussian" and restored.observation_variance == 0.1


def test_unknown_likelihood_and_bad_variance_are_rejected():
    with pytest.raises(ValueError, match="likelihood must be one of"):
        small_vae(likelihood="poisson")
    with pytest.raises(ValueError, match="observation_variance must be > 0"):
        small_vae(likelihood="gaussian", observation_variance=0.0)


def test_beta_zero_leaves_only_the_reconstruction_term(mnist_small):
    """With beta = 0 the loss is an autoencoder's (noisy-code) reconstruction loss."""
    vae = small_vae(beta=0.0)
    result = vae.evaluate(mnist_small.x_test, verbose=0, return_dict=True)
    assert np.isclose(result["loss"], result["reconstruction"], rtol=1e-6)
    assert result["kl"] > 0.0


def test_mse_autoencoder_loss_is_scaled_squared_error_plus_a_constant(mnist_small):
    """An autoencoder with a fixed-variance Gaussian likelihood is the MSE autoencoder."""
    model = Autoencoder(build_dense_encoder(hidden_units=(32,), variational=False),
                        build_dense_decoder(hidden_units=(32,)),
                        likelihood="gaussian", observation_variance=0.5)
    model.compile(optimizer="adam")
    x = mnist_small.x_test[:50]
    loss = model.evaluate(x, batch_size=50, verbose=0)
    mse_sum = ((x - model.reconstruct(x)) ** 2).sum(axis=1).mean()
    assert np.isclose(loss, mse_sum / (2 * 0.5) + 392 * np.log(2 * np.pi * 0.5), rtol=1e-4)


def test_outside_a_strategy_the_loss_is_not_divided():
    """On every backend. Inside a two-replica tf.distribute strategy it is halved: test_scaling.py checks that."""
    loss = keras.ops.convert_to_tensor(3.5)
    assert float(share_per_replica(loss)) == 3.5
