"""Published recipes raced over seeds (snippets.chapters.training_runs.race_recipes)."""

from __future__ import annotations

import numpy as np
import pytest

from snippets.chapters.diagnostics import held_out_iwae
from snippets.chapters.training_runs import (
    RACE,
    ConvConfiguration,
    DenseConfiguration,
    race_recipes,
    race_table,
)

TINY_RECIPES = {
    "dense": DenseConfiguration(hidden_units=8, latent_dim=2, optimizer="adam"),
    "wide": DenseConfiguration(hidden_units=16, latent_dim=3, optimizer="adam"),
    "conv": ConvConfiguration(latent_dim=2),
}
RACE_SETTINGS = {
    "seeds": [0, 1],
    "epochs": 2,
    "batch_size": 32,
    "iwae_k": 5,
    "iwae_examples": 6,
}


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x_train = rng.random((64, 784)).astype("float32")
    binary = (rng.random((2, 8, 784)) < 0.3).astype("float32")
    return x_train, binary[0], binary[1]


@pytest.fixture(scope="module")
def race(digits):
    return race_recipes(TINY_RECIPES, *digits, **RACE_SETTINGS)


def test_every_recipe_trains_once_per_seed_for_the_same_epochs_and_scores_finite(race):
    runs = race.runs
    assert runs.seeds == (0, 1) and set(runs.scores) == set(TINY_RECIPES)
    for name, scores in runs.scores.items():
        assert all(values.shape == (2,) for values in scores.values())
        assert all(np.isfinite(values).all() for values in scores.values())
        assert (scores["seconds_per_epoch"] > 0).all()
        # Same batch and epochs for all: 64 digits in batches of 32, 2 epochs each.
        assert len(runs.histories[name]["loss"]) == RACE_SETTINGS["epochs"]
        assert runs.models[name].optimizer.iterations == 2 * 2


def test_the_chosen_recipe_has_the_lowest_mean_validation_bound(race):
    means = {
        name: scores["valid_neg_iwae"].mean()
        for name, scores in race.runs.scores.items()
    }
    assert race.chosen == min(means, key=means.get)


def test_a_run_is_scored_by_the_importance_weighted_bound_of_its_first_digits(
    race, digits
):
    """The first seed's kept model reproduces its scores; conv recipes see images."""
    _, x_valid, x_test = digits
    for name, configuration in TINY_RECIPES.items():
        model, shape = race.runs.models[name], (-1, *configuration.input_shape)
        valid = held_out_iwae(model, x_valid.reshape(shape), 5, examples=6)
        test = held_out_iwae(model, x_test.reshape(shape), 5, examples=6)
        scores = race.runs.scores[name]
        assert scores["valid_neg_iwae"][0] == pytest.approx(valid["neg_iwae"], rel=1e-5)
        assert scores["test_neg_iwae"][0] == pytest.approx(test["neg_iwae"], rel=1e-5)


def test_a_seed_run_again_gives_the_same_scores(race, digits):
    again = race_recipes(
        {"dense": TINY_RECIPES["dense"]}, *digits, **{**RACE_SETTINGS, "seeds": [1]}
    )
    np.testing.assert_allclose(
        again.runs.scores["dense"]["test_neg_iwae"],
        race.runs.scores["dense"]["test_neg_iwae"][1:],
        rtol=1e-4,
    )


def test_a_costly_recipe_can_race_on_fewer_seeds_with_the_same_runs(race, digits):
    fewer = race_recipes(
        TINY_RECIPES, *digits, **RACE_SETTINGS, recipe_seeds={"conv": [0]}
    )
    assert fewer.runs.seeds_of("conv") == (0,) and fewer.runs.seeds_of("dense") == (0, 1)
    np.testing.assert_allclose(
        fewer.runs.scores["conv"]["test_neg_iwae"],
        race.runs.scores["conv"]["test_neg_iwae"][:1],
        rtol=1e-4,
    )
    assert fewer.runs.difference("conv", "dense", "test_neg_iwae").n == 1
    table = race_table(fewer, TINY_RECIPES)
    assert table.loc["conv", "seeds"] == 1 and table.loc["dense", "seeds"] == 2


def test_the_table_has_one_row_per_recipe_with_its_network_and_means(race):
    table = race_table(race, TINY_RECIPES)
    assert list(table.index) == list(TINY_RECIPES)
    assert table.loc["wide", "network"] == "784-16-3"
    assert table.loc["conv", "latent"] == 2
    assert table.loc["dense", "test -IWAE"] == pytest.approx(
        race.runs.scores["dense"]["test_neg_iwae"].mean()
    )


def test_the_race_isolates_width_and_code_size_against_published_recipes():
    """pytorch/examples differs from the stronger recipe in width only, the latent-16
    arm in code size only; keras.io's recipe is convolutional with a 2-D code."""
    stronger, pytorch = RACE["stronger"], RACE["pytorch_examples"]
    latent16 = RACE["stronger_latent16"]
    assert (pytorch.latent_dim, pytorch.hidden_units) == (20, 400)
    assert (stronger.latent_dim, stronger.hidden_units) == (20, 512)
    assert (latent16.latent_dim, latent16.hidden_units) == (16, 512)
    assert isinstance(RACE["keras_io"], ConvConfiguration)
    assert RACE["keras_io"].latent_dim == 2
    assert {(c.optimizer, c.learning_rate) for c in RACE.values()} == {("adam", 1e-3)}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"seeds": []}, "seeds"),
        ({"iwae_k": None}, "iwae_k"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_settings_are_refused_by_name(digits, changes, message):
    with pytest.raises(ValueError, match=message):
        race_recipes(TINY_RECIPES, *digits, **{**RACE_SETTINGS, **changes})


def test_bad_images_or_no_recipes_are_refused_by_name(digits):
    x_train, x_valid, x_test = digits
    with pytest.raises(ValueError, match="x_valid"):
        race_recipes(TINY_RECIPES, x_train, x_valid[:, :10], x_test, **RACE_SETTINGS)
    with pytest.raises(ValueError, match="recipes"):
        race_recipes({}, *digits, **RACE_SETTINGS)
    with pytest.raises(ValueError, match="latent_dim"):
        ConvConfiguration(latent_dim=0)
