"""VAE configurations trained over seeds, for the chapter on the dense VAE in depth.

A configuration is a VAE (dense ``784-hidden-latent`` or keras.io's convolutional one)
together with the optimizer it trains with. :func:`train_over_seeds` trains every
configuration once per seed on the same digits for the same number of epochs (so the
same number of gradient steps), and scores each run on held-out digits, so the runs of
one seed can be compared pairwise
(:class:`snippets.chapters.comparison.SeedComparison`).
:func:`race_recipes` does the same for published recipes, choosing the winner on
validation digits and reporting it on test digits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import keras
import numpy as np
import pandas as pd

from snippets.chapters.cache import cached_training
from snippets.chapters.comparison import SeedComparison, compare_over_seeds
from snippets.chapters.diagnostics import (
    check_iwae_setting,
    held_out_iwae,
    held_out_terms,
)
from snippets.chapters.timing import EpochTimer
from snippets.conv import build_conv_decoder, build_conv_encoder
from snippets.data import DynamicBinarization
from snippets.evaluation import mean_and_standard_error
from snippets.models import VAE, build_dense_decoder, build_dense_encoder
from snippets.validation import check_images, check_number, check_positive_int

OPTIMIZERS = {"rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam}


@dataclass(frozen=True)
class DenseConfiguration:
    """A VAE with ``hidden_units`` in one hidden layer and a ``latent_dim`` code.

    It trains with ``optimizer``, one of :data:`OPTIMIZERS`, at ``learning_rate``.
    """

    hidden_units: int
    latent_dim: int
    optimizer: str
    learning_rate: float = 1e-3

    input_shape = (784,)

    @property
    def network(self) -> str:
        """The layer sizes, ``"784-hidden-latent"``."""
        return f"784-{self.hidden_units}-{self.latent_dim}"

    def __post_init__(self) -> None:
        check_positive_int(self.hidden_units, "hidden_units")
        _check_training(self.latent_dim, self.optimizer, self.learning_rate)

    def build(self, seed: int) -> VAE:
        """The compiled VAE, its weights drawn after ``set_random_seed(seed)``.

        The same seed gives the same initial weights; the VAE's sampling uses ``seed``
        too.
        """
        keras.utils.set_random_seed(seed)
        units = (self.hidden_units,)
        return _compiled(
            VAE(
                build_dense_encoder(self.latent_dim, hidden_units=units),
                build_dense_decoder(self.latent_dim, hidden_units=units),
                seed=seed,
            ),
            self.optimizer,
            self.learning_rate,
        )


@dataclass(frozen=True)
class ConvConfiguration:
    """keras.io's convolutional VAE (:func:`snippets.build_conv_encoder`, 32-64 filters,
    a dense layer of 16) with a ``latent_dim`` code, trained by ``optimizer``.

    It reads digits as ``(28, 28, 1)`` images.
    """

    latent_dim: int
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    input_shape = (28, 28, 1)

    @property
    def network(self) -> str:
        """The layers: two convolutions, a dense layer of 16 and the code."""
        return f"conv 32-64, 16-{self.latent_dim}"

    def __post_init__(self) -> None:
        _check_training(self.latent_dim, self.optimizer, self.learning_rate)

    def build(self, seed: int) -> VAE:
        """The compiled VAE, its weights drawn after ``set_random_seed(seed)``."""
        keras.utils.set_random_seed(seed)
        vae = VAE(
            build_conv_encoder(self.latent_dim),
            build_conv_decoder(self.latent_dim),
            seed=seed,
        )
        return _compiled(vae, self.optimizer, self.learning_rate)


def _check_training(latent_dim: int, optimizer: str, learning_rate: float) -> None:
    check_positive_int(latent_dim, "latent_dim")
    if optimizer not in OPTIMIZERS:
        raise ValueError(
            f"optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}"
        )
    check_number(learning_rate, "learning_rate", low=0.0, low_open=True)


def _compiled(vae: VAE, optimizer: str, learning_rate: float) -> VAE:
    vae.compile(optimizer=OPTIMIZERS[optimizer](learning_rate=learning_rate))
    return vae


class Configuration(Protocol):
    """What training needs of a configuration: one digit's shape and a seeded build."""

    input_shape: tuple[int, ...]
    latent_dim: int

    @property
    def network(self) -> str: ...

    def build(self, seed: int) -> VAE: ...


# The classic Keras example (784-256-2, RMSprop) and the chapter's stronger
# configuration, the winner of :data:`RACE` on validation digits.
CLASSIC = DenseConfiguration(hidden_units=256, latent_dim=2, optimizer="rmsprop")
STRONGER = DenseConfiguration(hidden_units=512, latent_dim=20, optimizer="adam")

# Published recipes (all Adam at 1e-3): pytorch/examples' VAE and keras.io's
# convolutional one; the width and code size of the stronger configuration each
# changed alone, so a difference can be put down to one of them.
PYTORCH_EXAMPLES = DenseConfiguration(hidden_units=400, latent_dim=20, optimizer="adam")
KERAS_IO = ConvConfiguration(latent_dim=2)
RACE = {
    "stronger": STRONGER,
    "pytorch_examples": PYTORCH_EXAMPLES,
    "stronger_latent16": DenseConfiguration(
        hidden_units=512, latent_dim=16, optimizer="adam"
    ),
    "keras_io": KERAS_IO,
}


def train_over_seeds(
    configurations: Mapping[str, DenseConfiguration],
    x_train: np.ndarray,
    x_test: np.ndarray,
    *,
    seeds: Sequence[int],
    epochs: int,
    batch_size: int,
    iwae_k: int | None = None,
    iwae_examples: int | None = None,
) -> SeedComparison:
    """Train every configuration once per seed; score each run on ``x_test``.

    ``x_test`` is binary, ``(n_test, 784)``.

    Each run trains for ``epochs`` on fresh binarisations of ``x_train`` (``(n, 784)``,
    :class:`snippets.DynamicBinarization` with the run's seed) in batches of
    ``batch_size``, so all runs take the same ``epochs * ceil(n / batch_size)``
    gradient steps and the configurations of one seed see the same binary digits.
    Scores are :func:`snippets.chapters.diagnostics.held_out_terms`: the one-sample
    ``-ELBO`` (``"loss"``) and its two terms, in nats per digit. With ``iwae_k``
    they also hold ``"neg_iwae"``, ``"neg_iwae_se"`` and ``"neg_elbo_k"``, the
    :func:`snippets.chapters.diagnostics.held_out_iwae` bound with ``iwae_k``
    samples on the first ``iwae_examples`` test digits (all when ``None``), drawn
    with the same noise for every run, so runs differing in their code size or
    architecture are compared on bounds that approach ``-log p(x)``.
    """
    x_train, x_test = (
        check_images(x_train, "x_train", (784,)),
        check_images(x_test, "x_test", (784,)),
    )
    epochs, batch_size = (
        check_positive_int(epochs, "epochs"),
        check_positive_int(batch_size, "batch_size"),
    )
    if not configurations:
        raise ValueError("configurations must name at least one model to train")
    iwae_k, iwae_examples = check_iwae_setting(iwae_k, iwae_examples)

    def score(vae: VAE) -> dict[str, float]:
        terms = held_out_terms(vae, x_test)
        if iwae_k is None:
            return terms
        return {**terms, **held_out_iwae(vae, x_test, iwae_k, examples=iwae_examples)}

    def fit(name: str, seed: int, first: bool) -> tuple[VAE, keras.callbacks.History]:
        return _fit(configurations[name], x_train, seed, epochs, batch_size)

    return compare_over_seeds(
        fit, lambda _, vae: score(vae), list(configurations), seeds
    )


@cached_training
def _fit(
    configuration: Configuration,
    x_train: np.ndarray,
    seed: int,
    epochs: int,
    batch_size: int,
) -> tuple[VAE, keras.callbacks.History]:
    """``configuration`` built with ``seed``, trained on binary draws of ``x_train``.

    The history holds each epoch's wall-clock ``"seconds"`` (:class:`EpochTimer`), the
    time the model took when it was trained, also where the model cache loads it.
    """
    vae = configuration.build(seed)
    images = x_train.reshape((-1, *configuration.input_shape))
    return vae, vae.fit(
        DynamicBinarization(images, batch_size=batch_size, seed=seed),
        epochs=epochs,
        verbose=0,
        callbacks=[EpochTimer()],
    )


class Race(NamedTuple):
    """The runs of :func:`race_recipes` and the recipe they choose.

    ``runs.scores[recipe]`` holds, per seed, ``valid_neg_iwae`` (which chooses),
    ``test_neg_iwae`` with ``test_neg_iwae_se`` and ``test_neg_elbo_k`` (which
    report), and ``seconds_per_epoch``. ``chosen`` is the recipe with the lowest mean
    ``valid_neg_iwae`` over its own seeds (``runs.seeds_of(recipe)``).
    """

    runs: SeedComparison
    chosen: str


def race_recipes(
    recipes: Mapping[str, Configuration],
    x_train: np.ndarray,
    x_valid: np.ndarray,
    x_test: np.ndarray,
    *,
    seeds: Sequence[int],
    epochs: int,
    batch_size: int,
    iwae_k: int,
    iwae_examples: int | None = None,
    recipe_seeds: Mapping[str, Sequence[int]] | None = None,
) -> Race:
    """Train every recipe once per seed, same epochs and batch; choose on validation.

    ``x_train`` is ``(n, 784)`` in ``[0, 1]``, binarised afresh every epoch with the
    run's seed; ``x_valid`` and ``x_test`` are binary ``(n_valid, 784)`` and
    ``(n_test, 784)``, reshaped to each recipe's ``input_shape``. Every run takes
    ``epochs * ceil(n / batch_size)`` gradient steps, and its mean wall time per
    epoch is kept (as measured when the model was trained), because equal steps are
    not equal time: a convolution costs more per step than a dense layer. Each run is
    scored by :func:`snippets.chapters.diagnostics.held_out_iwae` (``iwae_k`` codes,
    the first ``iwae_examples`` digits of each set, the same noise for every run); the
    recipe is chosen by its mean validation bound alone, so its test bound is an
    unbiased report. ``recipe_seeds`` gives a costly recipe a subset of ``seeds``;
    differences then pair on the seeds both recipes ran with.
    """
    x_train, x_valid, x_test = (
        check_images(x_train, "x_train", (784,)),
        check_images(x_valid, "x_valid", (784,)),
        check_images(x_test, "x_test", (784,)),
    )
    epochs, batch_size = (
        check_positive_int(epochs, "epochs"),
        check_positive_int(batch_size, "batch_size"),
    )
    if not recipes:
        raise ValueError("recipes must name at least one recipe to train")
    iwae_k, iwae_examples = check_iwae_setting(iwae_k, iwae_examples)
    if iwae_k is None:
        raise ValueError("iwae_k must be an integer >= 1, got None")
    seconds: dict[str, float] = {}

    def fit(name: str, seed: int, first: bool) -> tuple[VAE, keras.callbacks.History]:
        vae, history = _fit(recipes[name], x_train, seed, epochs, batch_size)
        seconds[name] = float(np.mean(history.history["seconds"]))
        return vae, history

    def score(name: str, vae: VAE) -> dict[str, float]:
        shape = (-1, *recipes[name].input_shape)
        valid, test = (
            held_out_iwae(vae, x.reshape(shape), iwae_k, examples=iwae_examples)
            for x in (x_valid, x_test)
        )
        return {
            "valid_neg_iwae": valid["neg_iwae"],
            "test_neg_iwae": test["neg_iwae"],
            "test_neg_iwae_se": test["neg_iwae_se"],
            "test_neg_elbo_k": test["neg_elbo_k"],
            "seconds_per_epoch": seconds[name],
        }

    runs = compare_over_seeds(fit, score, list(recipes), seeds, recipe_seeds)
    means = {
        name: float(np.mean(runs.scores[name]["valid_neg_iwae"])) for name in recipes
    }
    return Race(runs, min(means, key=means.get))


def race_table(race: Race, recipes: Mapping[str, Configuration]) -> pd.DataFrame:
    """One row per recipe of ``race``: its network and code size, its number of seeds,
    the mean over them of the validation and test ``-IWAE`` (nats per digit) with their
    standard errors (columns ending ``s.e.``), and the mean seconds per epoch."""
    rows = {}
    for name, scores in race.runs.scores.items():
        valid, test = (
            mean_and_standard_error(scores[key])
            for key in ("valid_neg_iwae", "test_neg_iwae")
        )
        rows[name] = {
            "network": recipes[name].network,
            "latent": recipes[name].latent_dim,
            "seeds": len(race.runs.seeds_of(name)),
            "valid -IWAE": valid.mean,
            "valid s.e.": valid.standard_error,
            "test -IWAE": test.mean,
            "test s.e.": test.standard_error,
            "seconds/epoch": float(np.mean(scores["seconds_per_epoch"])),
        }
    return pd.DataFrame.from_dict(rows, orient="index")
