"""Corruptions, the denoising VAE's clean target, and the augmentation helpers."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from snippets.chapters.augmentation import (
    AugmentationTrial,
    DenoisingVAE,
    add_gaussian_noise,
    augmentation_trial,
    classifier_accuracy,
    corrupt,
    denoising_pairs,
    few_labelled,
    generate_per_class,
    mask_pixels,
    mse_per_noise_level,
    plot_accuracy_per_seed,
    plot_mse_per_noise_level,
)
from snippets.chapters.conditional import build_conditional_vae
from snippets.models import VAE, build_dense_decoder, build_dense_encoder


def small(cls, seed: int = 0):
    model = cls(build_dense_encoder(hidden_units=(32,), latent_dim=2),
                build_dense_decoder(hidden_units=(32,), latent_dim=2), seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


@pytest.mark.parametrize("std", [0.1, 0.5, 2.0])
def test_gaussian_noise_keeps_pixels_in_the_unit_interval(mnist_small, std):
    noisy = add_gaussian_noise(mnist_small.x_test, std, seed=1)
    assert noisy.shape == mnist_small.x_test.shape and noisy.min() >= 0.0 and noisy.max() <= 1.0
    assert not np.array_equal(noisy, mnist_small.x_test)


def test_noise_of_standard_deviation_zero_is_the_identity(mnist_small):
    assert np.array_equal(add_gaussian_noise(mnist_small.x_test, 0.0), mnist_small.x_test)
    assert np.array_equal(mask_pixels(mnist_small.x_test, 0.0), mnist_small.x_test)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_masking_zeroes_the_requested_fraction_of_pixels_on_average(fraction):
    x = np.full((200, 784), 0.7, dtype=np.float32)
    masked = mask_pixels(x, fraction, seed=2)
    assert set(np.unique(masked)) <= {np.float32(0.0), np.float32(0.7)}
    assert abs(np.mean(masked == 0.0) - fraction) < 0.01


def test_corruptions_are_reproducible_with_a_seed_and_stay_in_range(mnist_small):
    a = corrupt(mnist_small.x_test, noise_std=0.3, mask_fraction=0.3, seed=4)
    assert np.array_equal(a, corrupt(mnist_small.x_test, noise_std=0.3, mask_fraction=0.3, seed=4))
    assert a.min() >= 0.0 and a.max() <= 1.0


def test_denoising_pairs_line_up_each_corrupted_copy_with_its_clean_original(mnist_small):
    x = mnist_small.x_test[:20]
    corrupted, clean = denoising_pairs(x, noise_stds=(0.0, 0.5), mask_fractions=(0.5,))
    assert corrupted.shape == clean.shape == (60, 784)
    assert np.array_equal(clean[40:], x) and np.array_equal(corrupted[:20], x)
    assert np.all(corrupted[40:] <= x)  # masking only removes ink


def test_denoising_loss_scores_the_clean_target_not_the_corrupted_input(mnist_small):
    """Same weights, same sampled code: the loss equals a VAE's loss on the clean target."""
    clean = mnist_small.x_test[:50]
    corrupted = mask_pixels(clean, 0.5, seed=3)
    denoising, plain = small(DenoisingVAE, seed=5), small(VAE, seed=5)
    # Logits far from 0, so that the loss depends on the target's pixels.
    denoising.decoder.get_layer("logits").bias.assign(np.full(784, -2.0, dtype=np.float32))
    plain.set_weights(denoising.get_weights())
    out = denoising(corrupted)
    target_loss = float(denoising.compute_loss(corrupted, clean, out))
    assert np.isclose(target_loss, float(plain.compute_loss(clean, None, out)), rtol=1e-6)
    # Masking removed ink, which the negative logits score as likely: a lower loss on the input.
    assert float(plain.compute_loss(corrupted, None, out)) < target_loss - 10.0
    # Without a target the denoising VAE is a plain VAE.
    assert np.isclose(float(denoising.compute_loss(corrupted, None, out)),
                      float(plain.compute_loss(corrupted, None, out)), rtol=1e-6)


def test_denoising_vae_trains_on_pairs_and_reloads(mnist_small, tmp_path):
    corrupted, clean = denoising_pairs(mnist_small.x_train, noise_stds=(0.3,), mask_fractions=(0.3,))
    model = small(DenoisingVAE)
    history = model.fit(corrupted, clean, epochs=2, batch_size=50, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "dvae.keras")
    restored = keras.saving.load_model(tmp_path / "dvae.keras", safe_mode=True)
    assert isinstance(restored, DenoisingVAE)
    assert np.array_equal(restored.reconstruct(corrupted[:8]), model.reconstruct(corrupted[:8]))


def test_mse_per_noise_level_reports_the_input_and_every_model(mnist_small):
    errors = mse_per_noise_level({"vae": small(VAE)}, mnist_small.x_test[:40], [0.0, 0.5])
    assert set(errors) == {"corrupted input", "vae"} and errors["vae"].shape == (2,)
    assert errors["corrupted input"][0] == 0.0 < errors["corrupted input"][1]


def test_few_labelled_draws_exactly_n_of_every_class(mnist_small):
    x, y = few_labelled(mnist_small.x_train, mnist_small.y_train, 3, seed=1)
    assert x.shape == (30, 784) and np.array_equal(np.bincount(y), np.full(10, 3))
    assert np.array_equal(np.sort(y), y)


def test_generate_per_class_returns_n_images_per_class_with_their_labels():
    model = build_conditional_vae(hidden_units=(16,))
    images, labels = generate_per_class(model, 4, seed=0)
    assert images.shape == (40, 784) and np.array_equal(labels, np.repeat(np.arange(10), 4))
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert np.array_equal(images, generate_per_class(model, 4, seed=0)[0])


def test_augmentation_trial_reports_both_arms_and_the_digits_they_trained_on(mnist_small):
    trial = augmentation_trial(mnist_small.x_train, mnist_small.y_train, mnist_small.x_test,
                               mnist_small.y_test, n_per_class=3, n_generated_per_class=2,
                               repeats=2, epochs=1, hidden_units=(16,))
    assert isinstance(trial, AugmentationTrial)
    assert set(trial.accuracy) == {"real only", "real + generated"}
    assert all(0.1 < value <= 1.0 for value in trial.accuracy.values())
    assert trial.x_labelled.shape == (30, 784) and trial.x_generated.shape == (20, 784)
    assert np.array_equal(trial.y_generated, np.repeat(np.arange(10), 2))


def test_classifier_beats_chance_on_real_digits(mnist_small):
    assert classifier_accuracy(mnist_small.x_train, mnist_small.y_train, mnist_small.x_test, mnist_small.y_test) > 0.6


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda x, y: add_gaussian_noise(x, -0.1), ValueError, r"std must be a finite number in \[0, inf\)"),
        (lambda x, y: mask_pixels(x, 1.5), ValueError, r"fraction must be a finite number in \[0, 1\]"),
        (lambda x, y: add_gaussian_noise(x * 255.0, 0.1), ValueError, r"divide by 255"),
        (lambda x, y: denoising_pairs(x, (), ()), ValueError, r"at least one corruption"),
        (lambda x, y: few_labelled(x, y, 0), ValueError, r"n_per_class must be an integer >= 1"),
        (lambda x, y: few_labelled(x, y, 400), ValueError, r"class 0 has \d+ examples, fewer than n_per_class=400"),
        (lambda x, y: few_labelled(x, y[:5], 2), ValueError, r"labels has 5 entries"),
        (lambda x, y: small(DenoisingVAE).fit(x, x[:10], epochs=1, verbose=0), ValueError,
         r"x has 500 images but y has 10"),
        (lambda x, y: small(DenoisingVAE).fit(x, x * 255.0, epochs=1, verbose=0), ValueError,
         r"y must hold pixel intensities"),
    ],
)
def test_bad_arguments_raise_named_errors(mnist_small, call, error, message):
    with pytest.raises(error, match=message):
        call(mnist_small.x_train, mnist_small.y_train)


def test_noise_level_figure_draws_one_line_per_model_through_its_errors():
    errors = {"corrupted input": np.array([0.0, 0.2]), "vae": np.array([0.05, 0.07])}
    (ax,) = plot_mse_per_noise_level([0.0, 0.5], errors).axes
    assert [line.get_label() for line in ax.lines] == list(errors)
    assert np.array_equal(ax.lines[1].get_ydata(), errors["vae"])


def test_accuracy_figure_marks_every_seed_and_each_arm_mean():
    results = {"real only": [0.6, 0.7], "real + generated": [0.65, 0.69]}
    (ax,) = plot_accuracy_per_seed([0, 1], results).axes
    markers = [line for line in ax.lines if line.get_label() in results]
    means = sorted(line.get_ydata()[0] for line in ax.lines if line.get_linestyle() == "--")
    assert len(markers) == 2 and means == pytest.approx(sorted(np.mean(v) for v in results.values()))
