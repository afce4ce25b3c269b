"""Two VAE architectures trained with the same seeds, data and step budget, scored on
held-out digits.

For each seed ``s`` and each architecture, ``keras.utils.set_random_seed(s)``
runs before the networks are built, the digits are binarised afresh every epoch
from ``s`` (``DynamicBinarization``), and the model is scored on the same fixed
binarised test digits. Each architecture gets the digits in the shape its encoder
takes (``(n, 28, 28, 1)`` for a convolutional one, ``(n, 784)`` for a dense
one), so both see the same pixels in the same order of batches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import math
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from snippets.chapters.cache import cached_training
from snippets.chapters.diagnostics import check_iwae_setting, held_out_iwae
from snippets.chapters.timing import EpochTimer, seconds_per_epoch
from snippets.evaluation import mean_and_standard_error
from snippets.data import DynamicBinarization
from snippets.models import VAE
from snippets.validation import check_images, check_number, check_positive_int

NetworkBuilder = Callable[..., keras.Model]
"""A function ``builder(latent_dim=...)`` returning an encoder or a decoder."""

SCORES = {
    "loss": "held-out -ELBO (nats)",
    "neg_iwae": "-IWAE_k (nats)",
    "neg_elbo_k": "-ELBO_k, same codes (nats)",
    "reconstruction": "reconstruction (nats)",
    "kl": "KL (nats)",
    "first_epoch_seconds": "first epoch (s)",
    "seconds_per_epoch": "later epochs (s/epoch)",
}
"""The per-run numbers of :class:`ArchitectureRun` and their column labels in
:func:`summary_table` (which leaves out ``neg_iwae`` and ``neg_elbo_k`` where the runs
did not compute them)."""


@dataclass(frozen=True)
class ArchitectureRun:
    """One architecture trained with one seed.

    ``loss`` is the held-out ``-ELBO`` in nats per digit, the sum of ``reconstruction``
    (``-E_q log p(x|z)``) and ``kl`` (``KL(q(z|x) || p(z))``); ``first_epoch_seconds``
    includes tracing the training step and ``seconds_per_epoch`` is the median of the
    later epochs (``EpochTimer``), as measured when the model was trained (also where
    the model cache loaded it). ``neg_iwae`` is the held-out ``-IWAE_k`` in nats per
    digit and ``neg_elbo_k`` the ``-ELBO`` of the same digits and codes
    (:func:`snippets.chapters.diagnostics.held_out_iwae`), NaN where they were not
    computed.
    """

    vae: VAE
    loss: float
    reconstruction: float
    kl: float
    first_epoch_seconds: float
    seconds_per_epoch: float
    neg_iwae: float = math.nan
    neg_elbo_k: float = math.nan


def train_architecture(
    build_encoder: NetworkBuilder,
    build_decoder: NetworkBuilder,
    x_train: np.ndarray,
    x_test: np.ndarray,
    *,
    seed: int,
    epochs: int,
    batch_size: int,
    latent_dim: int = 2,
    learning_rate: float = 1e-3,
    iwae_k: int | None = None,
    iwae_examples: int | None = None,
) -> ArchitectureRun:
    """Build, train (Adam) and score one VAE; ``x_train`` ``(n, ...)`` grey levels in
    ``[0, 1]``, ``x_test`` ``(m, ...)`` the binarised held-out digits, both reshaped to
    the encoder's input.

    With ``iwae_k`` the run's ``neg_iwae`` (and ``neg_elbo_k``) is the bound with
    ``iwae_k`` samples on the first ``iwae_examples`` test digits (all when ``None``),
    with the same noise for every run, so architectures are ranked on bounds that
    approach ``-log p(x)``.
    """
    x_train, x_test = check_images(x_train, "x_train"), check_images(x_test, "x_test")
    iwae_k, iwae_examples = check_iwae_setting(iwae_k, iwae_examples)
    vae, history = _train_vae(
        build_encoder,
        build_decoder,
        x_train,
        seed=seed,
        epochs=epochs,
        batch_size=batch_size,
        latent_dim=latent_dim,
        learning_rate=learning_rate,
    )
    shape = (-1, *vae.encoder.input_shape[1:])
    scores = vae.evaluate(
        x_test.reshape(shape), batch_size=100, verbose=0, return_dict=True
    )
    bounds = {}
    if iwae_k is not None:
        measured = held_out_iwae(
            vae, x_test.reshape(shape), iwae_k, examples=iwae_examples
        )
        bounds = {name: measured[name] for name in ("neg_iwae", "neg_elbo_k")}
    epoch_seconds = history.history["seconds"]
    return ArchitectureRun(
        vae,
        float(scores["loss"]),
        float(scores["reconstruction"]),
        float(scores["kl"]),
        float(epoch_seconds[0]),
        seconds_per_epoch(epoch_seconds),
        **bounds,
    )


@cached_training
def _train_vae(
    build_encoder: NetworkBuilder,
    build_decoder: NetworkBuilder,
    x_train: np.ndarray,
    *,
    seed: int,
    epochs: int,
    batch_size: int,
    latent_dim: int,
    learning_rate: float,
) -> tuple[VAE, keras.callbacks.History]:
    """The VAE of :func:`train_architecture`, built after ``set_random_seed(seed)`` and
    trained on fresh binarisations of ``x_train``; its history holds each epoch's
    ``"seconds"`` (:class:`EpochTimer`)."""
    keras.utils.set_random_seed(seed)
    encoder, decoder = (
        build_encoder(latent_dim=latent_dim),
        build_decoder(latent_dim=latent_dim),
    )
    vae = VAE(encoder, decoder, seed=seed)
    vae.compile(
        optimizer=keras.optimizers.Adam(
            learning_rate=check_number(
                learning_rate, "learning_rate", low=0.0, low_open=True
            )
        )
    )
    batches = DynamicBinarization(
        x_train.reshape((-1, *encoder.input_shape[1:])),
        batch_size=batch_size,
        seed=seed,
    )
    history = vae.fit(
        batches,
        epochs=check_positive_int(epochs, "epochs"),
        verbose=0,
        callbacks=[EpochTimer()],
    )
    return vae, history


def compare_architectures(
    architectures: Mapping[str, tuple[NetworkBuilder, NetworkBuilder]],
    x_train: np.ndarray,
    x_test: np.ndarray,
    *,
    seeds: Sequence[int],
    **training,
) -> dict[str, list[ArchitectureRun]]:
    """``{name: [run for each seed]}`` from :func:`train_architecture` of every
    ``(encoder, decoder)`` builder pair; ``training`` (``epochs``, ``batch_size``, ...)
    is the same for all, so the runs of one seed are paired.
    """
    if not architectures or not seeds:
        raise ValueError(
            f"architectures and seeds must not be empty, got {len(architectures)} and "
            f"{len(seeds)}"
        )
    return {
        name: [
            train_architecture(*builders, x_train, x_test, seed=seed, **training)
            for seed in seeds
        ]
        for name, builders in architectures.items()
    }


def scores(runs: Sequence[ArchitectureRun], name: str) -> np.ndarray:
    """The score ``name`` (one of :data:`SCORES`) of every run, ``(n_runs,)`` float64,
    in seed order."""
    if name not in SCORES:
        raise ValueError(f"name must be one of {tuple(SCORES)}, got {name!r}")
    return np.array([getattr(run, name) for run in runs], dtype=np.float64)


def summary_table(runs: Mapping[str, Sequence[ArchitectureRun]]) -> pd.DataFrame:
    """One row per architecture: its weight count and, for every score the runs have,
    ``mean ± standard error`` over seeds."""
    rows = {}
    for architecture, seed_runs in runs.items():
        model = seed_runs[0].vae
        weights = model.encoder.count_params() + model.decoder.count_params()
        row = {"weights": f"{weights:,}"}
        for name, label in SCORES.items():
            values = scores(seed_runs, name)
            if np.isnan(values).all():
                continue
            estimate = mean_and_standard_error(values)
            row[label] = f"{estimate.mean:,.2f} ± {estimate.standard_error:,.2f}"
        rows[architecture] = row
    return pd.DataFrame(rows).T
