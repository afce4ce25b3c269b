"""Dense configurations and their training over seeds (snippets.chapters.training_runs)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from snippets.chapters.diagnostics import HELD_OUT_TERMS, held_out_iwae
from snippets.chapters.training_runs import CLASSIC, STRONGER, DenseConfiguration, train_over_seeds

TINY = DenseConfiguration(hidden_units=8, latent_dim=2, optimizer="adam")


def weights(model: keras.Model) -> list[np.ndarray]:
    return [np.asarray(w) for w in model.get_weights()]


def test_a_seed_fixes_the_initial_weights_and_the_configuration_fixes_shapes_and_optimizer():
    """Same seed, same weights; another seed, other weights; the code size and optimizer are the configured ones."""
    a, b, c = TINY.build(seed=3), TINY.build(seed=3), TINY.build(seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(weights(a), weights(b)))
    assert not all(np.array_equal(x, y) for x, y in zip(weights(a), weights(c)))
    assert isinstance(CLASSIC.build(seed=0).optimizer, keras.optimizers.RMSprop)
    stronger = STRONGER.build(seed=0)
    assert isinstance(stronger.optimizer, keras.optimizers.Adam)
    assert stronger.encoder.count_params() > CLASSIC.build(seed=0).encoder.count_params()
    assert stronger.encode(np.zeros((2, 784), dtype="float32")).shape == (2, 20)


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((64, 784)).astype("float32"), (rng.random((32, 784)) < 0.3).astype("float32")


def test_every_configuration_is_scored_once_per_seed_and_runs_of_a_seed_repeat(digits):
    """Scores are (n_seeds,) in seed order, loss = reconstruction + kl, and a seed run again scores the same."""
    other = DenseConfiguration(hidden_units=4, latent_dim=1, optimizer="rmsprop")
    runs = train_over_seeds({"tiny": TINY, "other": other}, *digits, seeds=[0, 1], epochs=1, batch_size=32)
    assert set(runs.scores) == {"tiny", "other"} and set(runs.models) == {"tiny", "other"}
    for scores in runs.scores.values():
        assert set(scores) == set(HELD_OUT_TERMS) and all(values.shape == (2,) for values in scores.values())
        np.testing.assert_allclose(scores["loss"], scores["reconstruction"] + scores["kl"], rtol=1e-4)
    again = train_over_seeds({"tiny": TINY}, *digits, seeds=[1], epochs=1, batch_size=32)
    np.testing.assert_allclose(again.scores["tiny"]["loss"], runs.scores["tiny"]["loss"][1:], rtol=1e-4)
    first = train_over_seeds({"tiny": TINY}, *digits, seeds=[0], epochs=1, batch_size=32).models["tiny"]
    assert all(np.allclose(x, y, rtol=1e-4) for x, y in zip(weights(first), weights(runs.models["tiny"])))


def test_with_iwae_each_run_also_has_the_importance_weighted_bound_of_the_first_test_digits(digits):
    runs = train_over_seeds({"tiny": TINY}, *digits, seeds=[0], epochs=1, batch_size=32, iwae_k=10, iwae_examples=5)
    scores, model = runs.scores["tiny"], runs.models["tiny"]
    assert set(scores) == {*HELD_OUT_TERMS, "neg_iwae", "neg_iwae_se", "neg_elbo_k"}
    assert scores["neg_iwae"][0] == pytest.approx(held_out_iwae(model, digits[1][:5], 10)["neg_iwae"], rel=1e-6)
    assert scores["neg_iwae_se"][0] > 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [(dict(hidden_units=0, latent_dim=2, optimizer="adam"), "hidden_units"),
     (dict(hidden_units=8, latent_dim=2, optimizer="sgd"), "optimizer"),
     (dict(hidden_units=8, latent_dim=2, optimizer="adam", learning_rate=0.0), "learning_rate")],
)
def test_a_bad_configuration_is_refused_by_name(arguments, message):
    with pytest.raises(ValueError, match=message):
        DenseConfiguration(**arguments)


def test_empty_seeds_or_bad_images_are_refused_by_name(digits):
    with pytest.raises(ValueError, match="seeds"):
        train_over_seeds({"tiny": TINY}, *digits, seeds=[], epochs=1, batch_size=32)
    with pytest.raises(ValueError, match="x_train"):
        train_over_seeds({"tiny": TINY}, digits[0][:, :10], digits[1], seeds=[0], epochs=1, batch_size=32)
    with pytest.raises(ValueError, match="iwae_examples"):
        train_over_seeds({"tiny": TINY}, *digits, seeds=[0], epochs=1, batch_size=32, iwae_k=10, iwae_examples=0)
