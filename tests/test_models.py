"""The autoencoder and the VAE: shapes, training, determinism, saving, errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from snippets.callbacks import KLWarmup, NonFiniteLossGuard
from snippets.likelihoods import Bernoulli, ContinuousBernoulli, Gaussian
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
    with pytest.raises(ValueError, match=r"beta must be a finite number in \[0, inf\)"):
        VAE(build_dense_encoder(), build_dense_decoder(), beta=-1.0)


def test_non_finite_loss_stops_training_with_an_error():
    with pytest.raises(FloatingPointError, match="non-finite loss"):
        NonFiniteLossGuard().on_epoch_end(0, {"loss": float("nan")})


def test_the_nan_guard_stops_diverging_training_instead_of_returning_nan(mnist_small):
    vae = small_vae()
    vae.compile(optimizer=keras.optimizers.SGD(learning_rate=1e12))
    with pytest.raises(FloatingPointError, match="non-finite"):
        vae.fit(mnist_small.x_train, epochs=3, batch_size=50, verbose=0, callbacks=[NonFiniteLossGuard()])


@pytest.mark.parametrize("likelihood", [Bernoulli, ContinuousBernoulli, Gaussian])
def test_every_likelihood_trains_to_a_lower_finite_loss(mnist_small, likelihood):
    vae = small_vae(likelihood=likelihood())
    history = vae.fit(mnist_small.x_train, epochs=3, batch_size=50, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    images = vae.generate(4)
    assert images.min() >= 0.0 and images.max() <= 1.0


def test_calibrated_gaussian_reconstruction_is_half_d_log_two_pi_e_mse(mnist_small):
    """With sigma^2 set to the batch MSE, -log p(x|z) averages to (d/2) log(2 pi e MSE)."""
    vae = small_vae(likelihood=Gaussian(None))
    x = mnist_small.x_test[:100]
    out = vae(x)
    reconstruction = -keras.ops.convert_to_numpy(vae.likelihood.log_prob(x, out["logits"]))
    mse = np.mean((x - keras.ops.convert_to_numpy(keras.ops.sigmoid(out["logits"]))) ** 2)
    assert np.isclose(reconstruction.mean(), 392 * np.log(2 * np.pi * np.e * (mse + 1e-6)), rtol=1e-4)


def test_fixed_variance_gaussian_is_scaled_squared_error_plus_a_constant(mnist_small, tmp_path):
    vae = small_vae(likelihood=Gaussian(0.1))
    x = mnist_small.x_test[:10]
    out = vae(x)
    mean = keras.ops.convert_to_numpy(keras.ops.sigmoid(out["logits"]))
    expected = ((x - mean) ** 2).sum(axis=1) / 0.2 + 392 * np.log(2 * np.pi * 0.1)
    got = -keras.ops.convert_to_numpy(vae.likelihood.log_prob(x, out["logits"]))
    assert np.allclose(got, expected, rtol=1e-4)
    vae.save(tmp_path / "gaussian.keras")
    restored = keras.saving.load_model(tmp_path / "gaussian.keras", safe_mode=True)
    assert isinstance(restored.likelihood, Gaussian) and restored.likelihood.variance == 0.1


def test_unknown_likelihood_is_rejected():
    with pytest.raises(TypeError, match="likelihood must be a snippets Likelihood such as Bernoulli"):
        small_vae(likelihood="poisson")


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
                        likelihood=Gaussian(0.5))
    model.compile(optimizer="adam")
    x = mnist_small.x_test[:50]
    loss = model.evaluate(x, batch_size=50, verbose=0)
    mse_sum = ((x - model.reconstruct(x)) ** 2).sum(axis=1).mean()
    assert np.isclose(loss, mse_sum / (2 * 0.5) + 392 * np.log(2 * np.pi * 0.5), rtol=1e-4)


def test_outside_a_strategy_the_loss_is_not_divided():
    """On every backend. Inside a two-replica tf.distribute strategy it is halved: test_scaling.py checks that."""
    loss = keras.ops.convert_to_tensor(3.5)
    assert float(share_per_replica(loss)) == 3.5


def test_compute_loss_adds_the_models_own_losses():
    """An activity regulariser on the encoder appears in the loss, exactly once (Keras's contract)."""
    x = np.random.default_rng(0).random((32, 784)).astype(np.float32)
    plain = small_vae(seed=1)
    encoder = build_dense_encoder(2, hidden_units=(64,))
    regularised_encoder = keras.Model(
        encoder.inputs,
        [keras.layers.ActivityRegularization(l2=10.0, name="penalty")(encoder.outputs[0]), encoder.outputs[1]],
    )
    regularised = VAE(regularised_encoder, build_dense_decoder(2, hidden_units=(64,)), seed=1)
    regularised.set_weights(plain.get_weights())
    regularised.compile(optimizer="adam")
    out = regularised(x)
    # Keras divides an activity regulariser by the batch size, making it a per-example mean like the ELBO.
    penalty = 10.0 * float(np.sum(keras.ops.convert_to_numpy(out["z_mean"]) ** 2)) / len(x)
    with_losses = float(regularised.compute_loss(x, None, out))
    without = float(plain.compute_loss(x, None, plain(x)))
    assert penalty > 0 and np.isclose(with_losses - without, penalty, rtol=1e-3)


def test_sample_weights_weight_each_examples_loss():
    vae = small_vae()
    x = np.random.default_rng(1).random((4, 784)).astype(np.float32)
    out = vae(x)
    per_example = [float(vae.compute_loss(x[i : i + 1], None, {k: v[i : i + 1] for k, v in out.items()})) for i in range(4)]
    weights = np.array([1.0, 0.0, 2.0, 0.0], np.float32)
    weighted = float(vae.compute_loss(x, None, out, sample_weight=weights))
    assert np.isclose(weighted, np.dot(weights, per_example) / 4, rtol=1e-5)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.full((4, 784), 255.0), r"x must hold pixel intensities in \[0, 1\].*divide by 255"),
        (np.full((4, 784), np.nan), r"x contains 3136 NaN or infinite values"),
        (np.zeros((4, 28, 28, 1)), r"x has per-example shape \(28, 28, 1\), but the model expects \(784,\)"),
        (np.zeros((0, 784)), r"x is empty"),
        ([[255.0] * 784] * 2, r"divide by 255"),
    ],
)
def test_every_data_entry_point_rejects_bad_images_by_name(data, message):
    vae = small_vae()
    for entry_point in (vae.fit, vae.evaluate, vae.encode, vae.reconstruct):
        with pytest.raises(ValueError, match=message):
            entry_point(data)


def test_decode_rejects_codes_of_the_wrong_size_or_nan():
    vae = small_vae(latent_dim=3)
    with pytest.raises(ValueError, match=r"z has per-example shape \(2,\), but the model expects \(3,\)"):
        vae.decode(np.zeros((5, 2)))
    with pytest.raises(ValueError, match=r"z contains 1 NaN"):
        vae.decode(np.array([[0.0, np.nan, 0.0]]))


def test_encoder_and_decoder_of_different_latent_sizes_are_rejected_at_construction():
    with pytest.raises(ValueError, match=r"codes have size \[4\] but the decoder takes latent_dim=2"):
        VAE(build_dense_encoder(4), build_dense_decoder(2))


def test_kl_warmup_names_the_model_it_cannot_warm_up(mnist_small):
    model = Autoencoder(build_dense_encoder(2, hidden_units=(8,), variational=False), build_dense_decoder(2, hidden_units=(8,)))
    model.compile(optimizer="adam")
    with pytest.raises(TypeError, match="KLWarmup needs a model with a KL weight `beta`.*got Autoencoder"):
        model.fit(mnist_small.x_train[:10], epochs=1, verbose=0, callbacks=[KLWarmup(2)])


def test_fit_and_evaluate_honour_sample_weights_without_targets_and_the_parts_still_add_up(mnist_small):
    vae = small_vae()
    x = mnist_small.x_test[:100]
    weights = np.r_[np.ones(50), np.zeros(50)].astype(np.float32)
    unweighted = vae.evaluate(x, batch_size=100, verbose=0, return_dict=True)
    weighted = vae.evaluate(x, batch_size=100, sample_weight=weights, verbose=0, return_dict=True)
    first_half = vae.evaluate(x[:50], batch_size=50, verbose=0, return_dict=True)
    # Keras's convention: the batch mean of the weighted per-example losses.
    assert weighted["loss"] == pytest.approx(first_half["loss"] / 2, rel=0.05)
    assert weighted["loss"] < 0.75 * unweighted["loss"]
    assert weighted["loss"] == pytest.approx(weighted["reconstruction"] + weighted["kl"], rel=1e-5)
    with pytest.raises(ValueError, match=r"sample_weight must hold values in \[0, inf\]"):
        vae.evaluate(x, sample_weight=-weights, verbose=0)
    history = vae.fit(x, sample_weight=weights, epochs=1, batch_size=50, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_encoders_of_the_wrong_kind_are_rejected_at_construction():
    with pytest.raises(ValueError, match=r"a VAE's encoder returns \[z_mean, z_log_var\]"):
        VAE(build_dense_encoder(2, variational=False), build_dense_decoder(2))
    with pytest.raises(ValueError, match="an Autoencoder's encoder returns one code z"):
        Autoencoder(build_dense_encoder(2), build_dense_decoder(2))


def test_a_compiled_loss_is_refused_because_the_model_defines_its_own(mnist_small):
    vae = small_vae()
    vae.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="VAE computes its own loss; compile it without loss="):
        vae.fit(mnist_small.x_train[:20], epochs=1, verbose=0)


def test_a_reloaded_model_is_compiled_and_evaluates_to_the_same_loss(mnist_small, tmp_path):
    vae = small_vae()
    vae.fit(mnist_small.x_train, epochs=1, batch_size=100, verbose=0)
    vae.save(tmp_path / "vae.keras")
    restored = keras.saving.load_model(tmp_path / "vae.keras", safe_mode=True)
    keras.utils.set_random_seed(1)
    before = vae.evaluate(mnist_small.x_test, batch_size=200, verbose=0, return_dict=True)
    keras.utils.set_random_seed(1)
    after = restored.evaluate(mnist_small.x_test, batch_size=200, verbose=0, return_dict=True)
    assert after["loss"] == pytest.approx(before["loss"], rel=0.02)


def test_outputs_are_float32_under_a_mixed_precision_policy(mnist_small):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        vae = VAE(build_dense_encoder(2, hidden_units=(16,)), build_dense_decoder(2, hidden_units=(16,)),
                  likelihood=ContinuousBernoulli(), seed=0)
        x = mnist_small.x_test[:8]
        assert vae.encode(x).dtype == np.float32 and vae.reconstruct(x).dtype == np.float32
    finally:
        keras.config.set_dtype_policy(previous)


def test_the_nan_guard_stops_within_the_first_diverging_batch():
    guard = NonFiniteLossGuard()
    guard.on_train_batch_end(0, {"loss": 3.0})
    with pytest.raises(FloatingPointError, match="non-finite loss .* in batch 2"):
        guard.on_train_batch_end(1, {"loss": float("inf")})
