"""The conditional VAE is the VAE with conditional networks: the label steers the decoder, saving, errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from snippets import VAE, binarize
from snippets.chapters.conditional import (
    build_conditional_vae,
    compare_cvae_with_vae,
    conditional_inputs,
    decode_every_label,
    conditional_iwae,
    label_from_code_percent,
    marginal_iwae,
    one_hot_labels,
    train_conditional_vae,
)
from snippets.evaluation import log_weight_statistics


def small_cvae(latent_dim: int = 2, seed: int = 0) -> VAE:
    model = build_conditional_vae(latent_dim, hidden_units=(32,), seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


def test_networks_take_the_one_hot_label_as_a_second_input():
    model = small_cvae(latent_dim=3)
    assert model.conditional and isinstance(model, VAE)
    assert [tuple(t.shape) for t in model.encoder.inputs] == [(None, 784), (None, 10)]
    assert [tuple(t.shape) for t in model.decoder.inputs] == [(None, 3), (None, 10)]


def test_call_returns_latent_parameters_and_logits(mnist_small):
    out = small_cvae(latent_dim=3)(conditional_inputs(mnist_small.x_test[:5], mnist_small.y_test[:5]))
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "z_mean": (5, 3), "z_log_var": (5, 3), "z": (5, 3), "logits": (5, 784),
    }


def test_the_same_code_with_different_labels_decodes_to_different_images():
    images = small_cvae().decode(np.zeros((10, 2)), condition=one_hot_labels(np.arange(10)))
    distances = np.abs(images[:, None, :] - images[None, :, :]).sum(axis=-1)
    assert np.all(distances[~np.eye(10, dtype=bool)] > 1e-3)


def test_decode_every_label_puts_one_digit_per_row_and_one_code_per_column():
    model = small_cvae()
    z = np.random.default_rng(0).standard_normal((3, 2))
    grid = decode_every_label(model, z)
    assert grid.shape == (30, 784)
    assert np.allclose(grid[4 * 3 + 2], model.decode(z[2:3], condition=one_hot_labels([4]))[0])


@pytest.mark.parametrize("dynamic_binarization", [False, True])
def test_trained_cvae_generates_the_requested_digit_far_more_often_than_chance(mnist_small, dynamic_binarization):
    """A classifier trained on real digits recognises the CVAE's digit k as k well above 10%,
    whether it trained on grey levels or on fresh binary draws beside their labels."""
    x, y = np.tile(mnist_small.x_train, (4, 1)), np.tile(mnist_small.y_train, 4)
    model, _ = train_conditional_vae(x, y, hidden_units=(64,), epochs=5, batch_size=50, learning_rate=3e-3,
                                     dynamic_binarization=dynamic_binarization)
    classifier = LogisticRegression(max_iter=300).fit(mnist_small.x_train, mnist_small.y_train)
    labels = np.repeat(np.arange(10), 20)
    generated = model.generate(len(labels), condition=one_hot_labels(labels), seed=1)
    assert classifier.score(generated, labels) > 0.5


def test_loss_is_reconstruction_plus_kl_of_the_image_given_its_label(mnist_small):
    result = small_cvae().evaluate(conditional_inputs(mnist_small.x_test, mnist_small.y_test), batch_size=100,
                                   verbose=0, return_dict=True)
    assert np.isclose(result["loss"], result["reconstruction"] + result["kl"], rtol=1e-5)
    # An untrained decoder outputs logits near 0: about 784 log 2 = 543 nats per digit.
    assert 300.0 < result["reconstruction"] < 800.0


def test_training_lowers_the_held_out_loss(mnist_small):
    model = small_cvae()
    held_out = conditional_inputs(mnist_small.x_test, mnist_small.y_test)
    before = model.evaluate(held_out, verbose=0, return_dict=True)["loss"]
    history = model.fit(conditional_inputs(mnist_small.x_train, mnist_small.y_train), epochs=3,
                        batch_size=50, validation_data=held_out, verbose=0)
    assert history.history["val_loss"][-1] < before - 50.0


def test_saved_cvae_reloads_safely_and_gives_identical_outputs(mnist_small, tmp_path):
    model = small_cvae(seed=3)
    model.fit(conditional_inputs(mnist_small.x_train, mnist_small.y_train), epochs=1, batch_size=50, verbose=0)
    model.save(tmp_path / "cvae.keras")
    restored = keras.saving.load_model(tmp_path / "cvae.keras", safe_mode=True)
    assert isinstance(restored, VAE) and restored.conditional
    x, condition = mnist_small.x_test[:16], one_hot_labels(mnist_small.y_test[:16])
    assert np.array_equal(restored.encode(x, condition), model.encode(x, condition))
    assert np.array_equal(restored.reconstruct(x, condition), model.reconstruct(x, condition))
    digits = one_hot_labels(np.arange(10))
    assert np.array_equal(restored.generate(10, digits, seed=2), model.generate(10, digits, seed=2))


def test_one_hot_labels_has_a_single_one_in_the_labels_column():
    assert np.array_equal(one_hot_labels([2, 0], num_classes=3), [[0, 0, 1], [1, 0, 0]])


@pytest.mark.parametrize(
    ("labels", "error", "message"),
    [
        ([0, 10], ValueError, r"labels must lie in \[0, 10\), got values from 0 to 10"),
        ([-1, 3], ValueError, r"labels must lie in \[0, 10\)"),
        ([0.5, 1.0], TypeError, r"labels must be integers"),
        ([[0, 1]], ValueError, r"labels must be a non-empty 1-D array"),
    ],
)
def test_bad_labels_are_rejected_by_name(labels, error, message):
    with pytest.raises(error, match=message):
        one_hot_labels(labels)


def test_conditions_of_the_wrong_shape_or_length_are_rejected():
    model = small_cvae()
    with pytest.raises(ValueError, match=r"condition has 3 rows, expected one per example \(2\)"):
        model.decode(np.zeros((2, 2)), condition=one_hot_labels([1, 2, 3]))
    with pytest.raises(ValueError, match=r"this model is conditional: pass condition of shape \(2, 10\)"):
        model.decode(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"labels has 1 entries, expected one per example \(4\)"):
        conditional_inputs(np.zeros((4, 784)), [1])


def test_fit_requires_the_condition(mnist_small):
    model = small_cvae()
    with pytest.raises(ValueError, match=r"this model is conditional: pass x\['condition'\]"):
        model.fit(mnist_small.x_train, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"dict with keys 'x' and 'condition', got keys \['label', 'x'\]"):
        model.fit({"x": mnist_small.x_train, "label": mnist_small.y_train}, epochs=1, verbose=0)
    bad = {"x": mnist_small.x_train, "condition": mnist_small.y_train}
    with pytest.raises(ValueError, match=r"x\['condition'\] has per-example shape \(\), but the model expects \(10,\)"):
        model.fit(bad, epochs=1, verbose=0)


def test_fit_checks_the_images_in_validation_data(mnist_small):
    held_out = conditional_inputs(mnist_small.x_test, mnist_small.y_test)
    held_out["x"] = held_out["x"] * 255.0
    with pytest.raises(ValueError, match=r"validation_data\['x'\] must hold pixel intensities"):
        small_cvae().fit(conditional_inputs(mnist_small.x_train, mnist_small.y_train), epochs=1,
                         verbose=0, validation_data=held_out)


def test_both_arms_run_with_every_seed_and_score_the_bound_of_their_own_quantity(mnist_small):
    x_test = binarize(mnist_small.x_test)
    test = (x_test, mnist_small.y_test)
    comparison = compare_cvae_with_vae(
        (mnist_small.x_train, mnist_small.y_train), test, test, seeds=[0, 1], epochs=1, batch_size=100,
        learning_rate=1e-3, hidden_units=(16,), code_train=(binarize(mnist_small.x_train), mnist_small.y_train), k=5,
    )
    assert comparison.models["cvae"].conditional and not comparison.models["vae"].conditional
    for arm in ("vae", "cvae"):
        scores = comparison.scores[arm]
        assert scores["loss"].shape == (2,) and np.allclose(scores["loss"], scores["reconstruction"] + scores["kl"], rtol=1e-4)
        assert np.all((scores["label_percent"] >= 0) & (scores["label_percent"] <= 100))
        assert len(comparison.histories[arm]["val_loss"]) == 1
        assert np.all(scores["neg_marginal_iwae"] > 0)
    bound = comparison.models["cvae"].evaluate(conditional_inputs(*test), batch_size=500, verbose=0, return_dict=True)
    assert comparison.scores["cvae"]["loss"][0] == pytest.approx(bound["loss"], rel=2e-3)  # z is drawn afresh per evaluation


def test_the_marginal_bounds_score_the_first_test_images_from_as_many_codes_per_image(mnist_small):
    """The CVAE decodes k codes for each of the ten labels, the VAE k * 10 codes."""
    x_test, y_train = binarize(mnist_small.x_test), mnist_small.y_train
    test = (x_test, mnist_small.y_test)
    comparison = compare_cvae_with_vae(
        (mnist_small.x_train, y_train), test, test, seeds=[0], epochs=1, batch_size=100,
        learning_rate=1e-3, hidden_units=(16,), k=3, iwae_examples=40,
    )
    label_prior = np.bincount(y_train, minlength=10) / len(y_train)
    cvae_bound = marginal_iwae(comparison.models["cvae"], x_test[:40], label_prior, 3)
    vae_bound = log_weight_statistics(comparison.models["vae"], x_test[:40], 30).iwae
    assert comparison.scores["cvae"]["neg_marginal_iwae"][0] == pytest.approx(-np.mean(cvae_bound), rel=1e-5)
    assert comparison.scores["vae"]["neg_marginal_iwae"][0] == pytest.approx(-np.mean(vae_bound), rel=1e-5)


@pytest.mark.parametrize("iwae_examples", [0, 2.5])
def test_a_bad_number_of_bound_examples_is_refused_by_name_before_training(mnist_small, iwae_examples):
    test = (binarize(mnist_small.x_test), mnist_small.y_test)
    with pytest.raises((TypeError, ValueError), match="iwae_examples"):
        compare_cvae_with_vae((mnist_small.x_train, mnist_small.y_train), test, test, seeds=[0], epochs=1,
                              batch_size=100, learning_rate=1e-3, k=3, iwae_examples=iwae_examples)


def test_the_conditional_iwae_bound_is_above_the_elbo_and_tightens_with_more_codes(mnist_small):
    model = small_cvae()
    model.fit(conditional_inputs(mnist_small.x_train, mnist_small.y_train), epochs=2, batch_size=50, verbose=0)
    x, y = binarize(mnist_small.x_test[:60]), mnist_small.y_test[:60]
    elbo = -model.evaluate(conditional_inputs(x, y), batch_size=60, verbose=0, return_dict=True)["loss"]
    one, many = (conditional_iwae(model, x, y, k, batch_size=64) for k in (1, 200))
    assert one.shape == many.shape == (60,)
    one_code = np.mean([conditional_iwae(model, x, y, 1, seed=seed) for seed in range(5)])
    assert one_code == pytest.approx(elbo, rel=0.02)  # one code: a one-sample ELBO
    assert np.mean(many) > np.mean(one)
    assert np.allclose(conditional_iwae(model, x, y, 20, batch_size=7), conditional_iwae(model, x, y, 20, batch_size=500))


def test_the_marginal_bound_sums_the_labels_by_their_prior(mnist_small):
    model = small_cvae()
    x = binarize(mnist_small.x_test[:20])
    certain_three = np.eye(10)[3]
    assert np.allclose(marginal_iwae(model, x, certain_three, 10), conditional_iwae(model, x, np.full(20, 3), 10))
    per_label = np.stack([conditional_iwae(model, x, np.full(20, label), 10) for label in range(10)], axis=1)
    uniform = marginal_iwae(model, x, np.full(10, 0.1), 10)
    assert np.all(uniform <= per_label.max(axis=1) + 1e-9) and np.all(uniform >= per_label.max(axis=1) - np.log(10) - 1e-9)
    with pytest.raises(ValueError, match="label_prior"):
        marginal_iwae(model, x, np.full(10, 0.2), 10)


def test_codes_that_are_the_label_give_it_back_and_codes_without_it_give_chance():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 40)

    class Encoder:
        conditional = False

        def __init__(self, informative):
            self.informative = informative

        def encode(self, x):
            noise = rng.standard_normal((len(x), 2))
            return noise + (50.0 * x[:, :2] if self.informative else 0.0)

    x = np.zeros((len(labels), 784))
    x[:, 0], x[:, 1] = labels, labels % 3
    data = (x, labels)
    assert label_from_code_percent(Encoder(True), data, data) == pytest.approx(100.0)
    assert label_from_code_percent(Encoder(False), data, data) < 30.0
