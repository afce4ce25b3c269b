"""Corruptions, the denoising models and their baselines, and the augmentation helpers."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from snippets.chapters.augmentation import (
    REGULARIZATION_GRID,
    DENOISERS,
    AugmentationTrial,
    FILTER_CANDIDATES,
    FILTERS,
    DenoisingTrial,
    add_gaussian_noise,
    build_denoiser,
    augmentation_trial,
    choose_filter_parameters,
    classifier_accuracy,
    code_classifier_accuracy,
    fit_classifier,
    corrupt,
    denoising_pairs,
    denoising_trial,
    error_summary,
    few_labelled,
    generate_per_class,
    mask_pixels,
    gaussian_filter_images,
    median_filter_images,
    mse_per_noise_level,
    nl_means_images,
    plot_accuracy_per_seed,
    plot_mse_per_noise_level,
)
from snippets.chapters.stopping import StoppingRule, TrainingRecord
from snippets.chapters.conditional import build_conditional_vae
from snippets.models import VAE, Autoencoder, build_dense_decoder, build_dense_encoder


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


def test_fit_with_a_target_scores_the_clean_target_not_the_corrupted_input(mnist_small):
    """Same weights, same sampled code: the loss of (corrupted, clean) is the loss of clean alone."""
    clean = mnist_small.x_test[:50]
    corrupted = mask_pixels(clean, 0.5, seed=3)
    model = small(VAE, seed=5)
    # Logits far from 0, so that the loss depends on the target's pixels.
    model.decoder.get_layer("logits").bias.assign(np.full(784, -2.0, dtype=np.float32))
    out = model(corrupted)
    target_loss = float(model.compute_loss(corrupted, clean, out))
    assert np.isclose(target_loss, float(model.compute_loss(clean, None, out)), rtol=1e-6)
    # Masking removed ink, which the negative logits score as likely: a lower loss on the input.
    assert float(model.compute_loss(corrupted, None, out)) < target_loss - 10.0


@pytest.mark.parametrize("kind", [VAE, Autoencoder])
def test_a_model_trained_on_pairs_denoises_and_reloads(mnist_small, tmp_path, kind):
    """fit(corrupted, clean) lowers the error to the clean digits below a model trained on clean ones."""
    corrupted, clean = denoising_pairs(mnist_small.x_train, noise_stds=(0.5,), mask_fractions=(), seed=1)
    variational = kind is VAE
    model = kind(build_dense_encoder(hidden_units=(64,), latent_dim=8, variational=variational),
                 build_dense_decoder(hidden_units=(64,), latent_dim=8))
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(corrupted, clean, epochs=4, batch_size=50, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    noisy = add_gaussian_noise(mnist_small.x_test, 0.5, seed=2)
    assert np.mean((model.reconstruct(noisy) - mnist_small.x_test) ** 2) < np.mean((noisy - mnist_small.x_test) ** 2)
    model.save(tmp_path / "denoiser.keras")
    restored = keras.saving.load_model(tmp_path / "denoiser.keras", safe_mode=True)
    assert np.array_equal(restored.reconstruct(corrupted[:8]), model.reconstruct(corrupted[:8]))


def test_median_filter_removes_isolated_specks_and_keeps_flat_regions():
    """A lone bright pixel on black is the median's textbook case: it vanishes; a flat image is unchanged."""
    specks = np.zeros((2, 784), np.float32)
    specks[0, 28 * 14 + 14] = 1.0
    specks[1] = 0.4
    filtered = median_filter_images(specks)
    assert np.array_equal(filtered[0], np.zeros(784)) and np.allclose(filtered[1], 0.4)
    assert median_filter_images(specks.reshape(2, 28, 28, 1)).shape == (2, 28, 28, 1)


def test_gaussian_filter_averages_noise_within_each_image_and_keeps_flat_regions():
    rng = np.random.default_rng(0)
    flat = np.full((2, 784), 0.4, np.float32)
    noisy = flat + rng.uniform(-0.3, 0.3, flat.shape).astype(np.float32)
    filtered = gaussian_filter_images(noisy)
    assert np.allclose(gaussian_filter_images(flat), 0.4)
    assert np.mean((filtered - flat) ** 2) < 0.25 * np.mean((noisy - flat) ** 2)
    one_speck = np.zeros((2, 784), np.float32)
    one_speck[0, 28 * 14 + 14] = 1.0
    assert np.array_equal(gaussian_filter_images(one_speck)[1], np.zeros(784))  # never across images
    with pytest.raises(ValueError, match="sigma"):
        gaussian_filter_images(flat, sigma=0.0)


def test_non_local_means_averages_noise_within_each_image_and_keeps_flat_regions():
    rng = np.random.default_rng(0)
    flat = np.full((2, 784), 0.4, np.float32)
    noisy = flat + rng.uniform(-0.2, 0.2, flat.shape).astype(np.float32)
    filtered = nl_means_images(noisy, h=0.3)
    assert filtered.shape == noisy.shape and filtered.dtype == np.float32
    assert np.allclose(nl_means_images(flat), 0.4, atol=1e-6)
    assert np.mean((filtered - flat) ** 2) < 0.25 * np.mean((noisy - flat) ** 2)
    one_speck = np.zeros((2, 784), np.float32)
    one_speck[0, 28 * 14 + 14] = 1.0
    assert np.array_equal(nl_means_images(one_speck)[1], np.zeros(784))  # never across images
    assert nl_means_images(one_speck.reshape(2, 28, 28, 1)).shape == (2, 28, 28, 1)


def test_filter_parameters_are_the_candidates_with_the_lowest_validation_error(mnist_small):
    x_valid = mnist_small.x_valid[:20]
    candidates = {"median filter": ({"size": 1}, {"size": 3}), "Gaussian filter": ({"sigma": 0.1}, {"sigma": 1.0})}
    chosen = choose_filter_parameters(x_valid, noise_std=0.5, mask_fraction=0.5, seed=3, candidates=candidates)
    assert set(chosen) == {"noise", "mask"} and all(set(c) == set(candidates) for c in chosen.values())
    noisy = add_gaussian_noise(x_valid, 0.5, seed=3)
    for name, options in candidates.items():
        errors = [np.mean((FILTERS[name](noisy, **kw) - x_valid) ** 2) for kw in options]
        assert chosen["noise"][name] == options[int(np.argmin(errors))]
    assert chosen["noise"]["median filter"] == {"size": 3}  # a 1 x 1 median leaves the noise
    assert set(FILTER_CANDIDATES) == set(FILTERS)
    with pytest.raises(ValueError, match="candidates must map names of"):
        choose_filter_parameters(x_valid, candidates={"box filter": ({"size": 3},)})


def test_denoisers_share_sizes_and_the_vaes_share_their_initial_weights():
    models = {name: build_denoiser(name, (16,), 3, seed=4) for name in DENOISERS}
    assert isinstance(models["denoising autoencoder"], Autoencoder)
    plain, denoising = models["plain VAE"], models["denoising VAE"]
    assert all(np.array_equal(a, b) for a, b in zip(plain.get_weights(), denoising.get_weights()))
    extra_head = 3 * (16 + 1)
    ae = models["denoising autoencoder"]
    assert plain.encoder.count_params() - ae.encoder.count_params() == extra_head
    assert plain.decoder.count_params() == ae.decoder.count_params()
    with pytest.raises(ValueError, match="name must be one of"):
        build_denoiser("median filter", (16,), 3, seed=4)


def test_denoising_trial_scores_every_method_under_both_corruptions(mnist_small):
    filters = {"noise": {"median filter": {"size": 5}}}
    trial = denoising_trial(mnist_small.x_train[:200], mnist_small.x_test[:50], seed=0,
                            stopping=StoppingRule(max_epochs=2, min_delta=0.0), filters=filters,
                            hidden_units=(16,), latent_dim=2)
    assert isinstance(trial, DenoisingTrial) and set(trial.errors) == {"noise", "mask"}
    methods = {"corrupted input", "median filter", "Gaussian filter", "non-local means", "plain VAE",
               "denoising VAE", "denoising autoencoder"}
    assert all(set(errors) == methods for errors in trial.errors.values())
    assert all(0.0 < value < 1.0 for errors in trial.errors.values() for value in errors.values())
    noisy = add_gaussian_noise(mnist_small.x_test[:50], 0.5, seed=10_000)
    size_5 = np.mean((median_filter_images(noisy, size=5) - mnist_small.x_test[:50]) ** 2)
    assert trial.errors["noise"]["median filter"] == pytest.approx(size_5)  # the chosen size, not the default
    assert set(trial.training) == set(trial.models)
    for record in trial.training.values():
        assert isinstance(record, TrainingRecord) and 1 <= record.best_epoch <= record.epochs <= 2
        assert len(record.val_loss) == record.epochs and all(np.isfinite(record.val_loss))
    summary = error_summary([trial, trial])
    assert summary["noise"]["median filter"].mean == trial.errors["noise"]["median filter"]
    assert summary["noise"]["median filter"].standard_error == 0.0


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


def test_augmentation_trial_reports_every_arm_and_the_digits_they_trained_on(mnist_small):
    unlabelled = small(VAE)
    trial = augmentation_trial(mnist_small.x_train, mnist_small.y_train, mnist_small.x_test,
                               mnist_small.y_test, n_per_class=3, n_generated_per_class=2,
                               repeats=2, epochs=1, hidden_units=(16,), unlabelled_vae=unlabelled,
                               validation=(mnist_small.x_valid, mnist_small.y_valid))
    assert isinstance(trial, AugmentationTrial)
    assert set(trial.accuracy) == {"real only", "real + generated means", "real + generated samples",
                                   "codes of a VAE of all digits (M1)"}
    # The arms trained on real digits beat chance; the untrained stand-in VAE's codes need not
    # (M1 with a trained VAE is the next test).
    assert all(0.1 < trial.accuracy[arm] <= 1.0 for arm in ("real only", "real + generated means"))
    assert all(0.0 <= value <= 1.0 for value in trial.accuracy.values())
    assert trial.x_labelled.shape == (30, 784) and trial.x_generated.shape == (20, 784)
    assert np.array_equal(trial.y_generated, np.repeat(np.arange(10), 2))


def test_codes_of_a_vae_trained_without_labels_classify_well_above_chance(mnist_small):
    """M1: a VAE fitted to unlabelled digits gives codes on which few labels already classify."""
    keras.utils.set_random_seed(0)
    vae = VAE(build_dense_encoder(hidden_units=(128,), latent_dim=8), build_dense_decoder(hidden_units=(128,), latent_dim=8),
              seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(3e-3))
    vae.fit(np.tile(mnist_small.x_train, (4, 1)), epochs=3, batch_size=100, verbose=0)
    x_few, y_few = few_labelled(mnist_small.x_train, mnist_small.y_train, 10, seed=0)
    assert code_classifier_accuracy(vae, x_few, y_few, mnist_small.x_test, mnist_small.y_test) > 0.4


def test_the_classifier_penalty_is_the_one_that_scores_best_on_validation_digits(mnist_small):
    x_few, y_few = few_labelled(mnist_small.x_train, mnist_small.y_train, 5, seed=0)
    validation = (mnist_small.x_valid, mnist_small.y_valid)
    chosen = fit_classifier(x_few, y_few, validation)
    scores = {c: LogisticRegression(C=c, max_iter=1000).fit(x_few, y_few).score(*validation)
              for c in REGULARIZATION_GRID}
    assert chosen.C in REGULARIZATION_GRID
    assert chosen.score(*validation) == pytest.approx(max(scores.values()))
    # ties go to the strongest penalty
    assert chosen.C == min(c for c, score in scores.items() if score == max(scores.values()))
    assert fit_classifier(x_few, y_few).C == 1.0
    with pytest.raises(ValueError, match=r"validation must hold as many images as labels, got images of shape \(\d+, 784\)"):
        fit_classifier(x_few, y_few, (mnist_small.x_valid, mnist_small.y_valid[:-1]))
    with pytest.raises(ValueError, match="validation must be a pair"):
        fit_classifier(x_few, y_few, mnist_small.x_valid)


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
        (lambda x, y: small(VAE).fit(x, x[:10], epochs=1, verbose=0), ValueError,
         r"\by has 10\b"),  # names the argument and its length
        (lambda x, y: small(VAE).fit(x, x * 255.0, epochs=1, verbose=0), ValueError,
         r"y must hold pixel intensities"),
        (lambda x, y: median_filter_images(x, size=0), ValueError, r"size must be an integer >= 1"),
        (lambda x, y: nl_means_images(x[:2], h=0.0), ValueError, r"h must be a finite number in \(0, inf\)"),
        (lambda x, y: nl_means_images(x[:2], patch_size=0), ValueError, r"patch_size must be an integer >= 1"),
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
    results = {"real only": [0.6, 0.7], "real + generated means": [0.65, 0.69]}
    (ax,) = plot_accuracy_per_seed([0, 1], results).axes
    markers = [line for line in ax.lines if line.get_label() in results]
    means = sorted(line.get_ydata()[0] for line in ax.lines if line.get_linestyle() == "--")
    assert len(markers) == 2 and means == pytest.approx(sorted(np.mean(v) for v in results.values()))
