"""Dense VAE configurations and their training over seeds, for the chapter on the dense VAE in depth.

A configuration is a dense ``784-hidden-latent`` VAE together with the optimizer it
trains with. :func:`train_over_seeds` trains every configuration once per seed on the
same digits for the same number of epochs (so the same number of gradient steps), and
scores each run on held-out digits, so the runs of one seed can be compared pairwise
(:class:`snippets.chapters.comparison.SeedComparison`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import keras
import numpy as np

from snippets.chapters.comparison import SeedComparison, compare_over_seeds
from snippets.chapters.diagnostics import (
    check_iwae_setting,
    held_out_iwae,
    held_out_terms,
)
from snippets.data import DynamicBinarization
from snippets.models import VAE, build_dense_decoder, build_dense_encoder
from snippets.validation import check_images, check_number, check_positive_int

OPTIMIZERS = {"rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam}


@dataclass(frozen=True)
class DenseConfiguration:
    """A VAE with one hidden layer of ``hidden_units`` and a ``latent_dim`` code, trained by ``optimizer``.

    ``optimizer`` names one of :data:`OPTIMIZERS`; it runs at ``learning_rate``.
    """

    hidden_units: int
    latent_dim: int
    optimizer: str
    learning_rate: float = 1e-3

    def __post_init__(self) -> None:
        check_positive_int(self.hidden_units, "hidden_units")
        check_positive_int(self.latent_dim, "latent_dim")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {sorted(OPTIMIZERS)}, got {self.optimizer!r}"
            )
        check_number(self.learning_rate, "learning_rate", low=0.0, low_open=True)

    def build(self, seed: int) -> VAE:
        """The compiled VAE, its weights drawn after ``keras.utils.set_random_seed(seed)``.

        The same seed gives the same initial weights; the VAE's sampling uses ``seed`` too.
        """
        keras.utils.set_random_seed(seed)
        units = (self.hidden_units,)
        vae = VAE(
            build_dense_encoder(self.latent_dim, hidden_units=units),
            build_dense_decoder(self.latent_dim, hidden_units=units),
            seed=seed,
        )
        vae.compile(
            optimizer=OPTIMIZERS[self.optimizer](learning_rate=self.learning_rate)
        )
        return vae


# The classic Keras example (784-256-2, RMSprop) and the chapter's stronger configuration.
CLASSIC = DenseConfiguration(hidden_units=256, latent_dim=2, optimizer="rmsprop")
STRONGER = DenseConfiguration(hidden_units=512, latent_dim=16, optimizer="adam")


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
    """Train every configuration once per seed; score each run on ``x_test`` (binary, ``(n_test, 784)``).

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
        vae = configurations[name].build(seed)
        return vae, vae.fit(
            DynamicBinarization(x_train, batch_size=batch_size, seed=seed),
            epochs=epochs,
            verbose=0,
        )

    return compare_over_seeds(
        fit, lambda _, vae: score(vae), list(configurations), seeds
    )
