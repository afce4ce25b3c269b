"""Diagnosing a trained VAE: held-out numbers, active units, rate and distortion.

A VAE's loss hides two quantities worth watching separately (Alemi et al.,
2018): the *distortion* ``D = -E_q[log p(x|z)]`` (the reconstruction term) and
the *rate* ``R = KL(q(z|x) || p(z))`` (the KL term), both in nats per example.
The functions here measure them on held-out data, split the rate over latent
dimensions, and count the dimensions the encoder actually uses (Burda et al.,
2016); the figures show them across a family of models.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import NamedTuple

import keras
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from snippets.chapters.cache import cached_training
from snippets.chapters.plotting import page_figure
from snippets.chapters.stopping import StoppingRule, fit_until_stopped
from snippets.data import DynamicBinarization
from snippets.evaluation import log_weight_statistics, mean_and_standard_error
from snippets.likelihoods import Bernoulli, ContinuousBernoulli, Gaussian
from snippets.losses import gaussian_kl_to_standard_normal
from snippets.models import (
    VAE,
    build_dense_decoder,
    build_dense_encoder,
    predict_in_batches,
)
from snippets.validation import check_number, check_positive_int


# The likelihoods fit_dense_vae trains by name; the Gaussian's variance is calibrated
# per batch.
LIKELIHOODS = {
    "bernoulli": Bernoulli,
    "continuous_bernoulli": ContinuousBernoulli,
    "gaussian": Gaussian,
}
# The held-out numbers of held_out_summary that seed_table averages by default.
SUMMARY_KEYS = ("neg_elbo", "reconstruction", "kl", "active_units")


def fit_dense_vae(
    x_train: np.ndarray,
    latent_dim: int = 8,
    hidden_units: Sequence[int] = (256,),
    beta: float = 1.0,
    likelihood: str = "bernoulli",
    epochs: int = 5,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    seed: int = 0,
    validation_data: np.ndarray | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    *,
    dynamic_binarization: bool = False,
    stopping: StoppingRule | None = None,
) -> tuple[VAE, keras.callbacks.History]:
    """Build a dense VAE and train it with Adam; return the model and its history.

    ``x_train`` is ``(n, 784)``; ``likelihood`` names one of ``LIKELIHOODS``.
    With ``dynamic_binarization`` the model trains on fresh binary draws of
    ``x_train`` every epoch (:class:`snippets.DynamicBinarization`), which makes
    a Bernoulli loss a real negative log-likelihood; ``validation_data`` is
    then expected binary already (:func:`snippets.binarize`, once).
    With ``stopping``, training stops early by that rule on ``validation_data``
    (:func:`snippets.chapters.stopping.fit_until_stopped`), within ``epochs``.
    ``keras.utils.set_random_seed(seed)`` is called
    first, so two calls with the same arguments train the same model; models
    that differ in one argument only (``beta``, ``likelihood``, ...) start from
    the same initial weights whenever their shapes agree.
    """
    epochs = check_positive_int(epochs, "epochs")
    keras.utils.set_random_seed(seed)
    vae = VAE(
        build_dense_encoder(latent_dim, hidden_units=hidden_units),
        build_dense_decoder(latent_dim, hidden_units=hidden_units),
        beta=beta,
        likelihood=LIKELIHOODS[likelihood](),
        seed=seed,
    )
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate))
    batch_size = check_positive_int(batch_size, "batch_size")
    data = dict(x=x_train, batch_size=batch_size)
    if dynamic_binarization:
        data = dict(x=DynamicBinarization(x_train, batch_size=batch_size, seed=seed))
    history = fit_until_stopped(
        vae,
        **data,
        stopping=stopping,
        epochs=epochs,
        validation_data=validation_data,
        callbacks=callbacks,
    )
    return vae, history


# Applied here rather than as a decorator, so the recipes chapter, which shows the
# function, shows what trains the model: an unchanged call without ``callbacks`` (a
# stopping rule is a setting, keyed like the others) loads its model from the model
# cache, and every call leaves the random state of ``set_random_seed(seed)``
# (snippets.chapters.cache).
fit_dense_vae = cached_training(fit_dense_vae)


def _posterior(vae: VAE, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(z_mean, z_log_var)`` of ``q(z|x)``, each ``(n, latent_dim)``, after checking
    ``x``."""
    vae.check_examples(x)
    return predict_in_batches(vae.encoder, x)


def unit_activity(z_mean: np.ndarray) -> np.ndarray:
    """Activity of each latent unit: ``A_u = Var_x(E_q(z|x)[z_u])``, shape
    ``(latent_dim,)``.

    ``z_mean`` holds the posterior means of ``n`` data points, ``(n, latent_dim)``.
    A unit whose posterior mean does not change with ``x`` carries no
    information about ``x``, whatever its value (Burda et al., 2016).
    """
    z_mean = np.asarray(z_mean, dtype=np.float64)
    if z_mean.ndim != 2 or len(z_mean) == 0:
        raise ValueError(
            f"z_mean must have shape (n, latent_dim) with n >= 1, got {z_mean.shape}"
        )
    return z_mean.var(axis=0)


class ActiveUnits(NamedTuple):
    """Per-unit activity ``(latent_dim,)`` and how many units exceed the threshold."""

    activity: np.ndarray
    count: int


def active_units(vae: VAE, x: np.ndarray, threshold: float = 0.01) -> ActiveUnits:
    """Count the latent units a VAE uses on data ``x`` (Burda et al., 2016).

    Unit ``u`` is active when ``Var_x(E_q(z|x)[z_u]) > threshold``: its
    posterior mean moves with the input. ``x`` is ``(n, 784)``; the variance is
    taken over its ``n`` examples.
    """
    threshold = check_number(threshold, "threshold", low=0.0)
    activity = unit_activity(_posterior(vae, x)[0])
    return ActiveUnits(activity, int(np.sum(activity > threshold)))


def kl_per_dimension(vae: VAE, x: np.ndarray) -> np.ndarray:
    """Mean over ``x`` of each latent dimension's KL to the prior, ``(latent_dim,)`` in
    nats.

    ``0.5 * mean_x(mu_u^2 + sigma_u^2 - log sigma_u^2 - 1)``. The posterior is
    diagonal, so the dimensions' KLs add up to the total KL, the rate.
    """
    z_mean, z_log_var = _posterior(vae, x)
    n, latent_dim = z_mean.shape
    # Each (example, unit) pair as a 1-D Gaussian, so the package's KL applies
    # unchanged.
    per_unit = gaussian_kl_to_standard_normal(
        z_mean.reshape(-1, 1), z_log_var.reshape(-1, 1)
    )
    return keras.ops.convert_to_numpy(per_unit).reshape(n, latent_dim).mean(axis=0)


def reconstruction_mse(vae: VAE, x: np.ndarray) -> float:
    """Mean squared error per pixel between ``x`` and its mean reconstruction through
    ``E[z|x]``.

    It ignores the likelihood the model was trained with, so it compares
    models whose log-likelihoods are not comparable.
    """
    x = vae.check_examples(x)
    return float(np.mean((x - vae.reconstruct(x)) ** 2))


def gaussian_held_out_reconstruction(
    vae: VAE, x_fit: np.ndarray, x_score: np.ndarray, *, seed: int = 0
) -> tuple[float, float]:
    """``(sigma^2, -E_q log N(x | mean, sigma^2 I))``: the variance fitted on ``x_fit``,
    the term scored on ``x_score``.

    ``x_fit`` and ``x_score`` are ``(n, 784)`` grey levels, ``vae`` a model with a
    Gaussian likelihood. Each digit is decoded from one code ``z ~ q(z|x)``
    (noise from ``np.random.default_rng(seed)``); ``sigma^2`` is the mean squared
    error of those decoded means on ``x_fit``, the maximum-likelihood shared
    variance that the calibrated Gaussian computes per training batch (Rybkin et
    al., 2021). Fitting it on validation digits keeps the scored digits out of the
    fit. The second number is the reconstruction term in nats per digit of
    ``x_score`` under that fixed variance.
    """
    if not isinstance(vae.likelihood, Gaussian):
        raise TypeError(
            f"vae must have a Gaussian likelihood, got {type(vae.likelihood).__name__}"
        )
    rng = np.random.default_rng(seed)

    def sampled_logits(x: np.ndarray) -> np.ndarray:
        z_mean, z_log_var = _posterior(vae, x)
        z = z_mean + np.exp(0.5 * z_log_var) * rng.standard_normal(z_mean.shape)
        return predict_in_batches(vae.decoder, z.astype(np.float32))

    x_fit, x_score = (
        vae.check_examples(x_fit, "x_fit"),
        vae.check_examples(x_score, "x_score"),
    )
    fit_means = keras.ops.convert_to_numpy(vae.likelihood.mean(sampled_logits(x_fit)))
    variance = float(np.mean((x_fit - fit_means) ** 2))
    log_prob = Gaussian(variance=variance).log_prob(x_score, sampled_logits(x_score))
    return variance, -float(np.mean(keras.ops.convert_to_numpy(log_prob)))


def check_iwae_setting(
    k: int | None, examples: int | None
) -> tuple[int | None, int | None]:
    """``(k, examples)`` of :func:`held_out_iwae` checked: each ``None`` or an integer
    ``>= 1``."""
    return (
        None if k is None else check_positive_int(k, "iwae_k"),
        None if examples is None else check_positive_int(examples, "iwae_examples"),
    )


def held_out_iwae(
    vae: VAE, x: np.ndarray, k: int, *, examples: int | None = None, seed: int = 0
) -> dict[str, float]:
    """The held-out ``-IWAE_k`` (Burda et al., 2016) and the ``-ELBO`` of the same
    draws, nats per example.

    ``x`` is ``(n, *input_shape)``; both are computed on its first ``examples``
    (all when ``None``) from ``k`` codes ``z_i ~ q(z|x)`` per example. Returns
    ``neg_iwae``, the mean of ``-log (1/k) sum_i p(x, z_i) / q(z_i|x)``, with
    ``neg_iwae_se``, its standard error across the examples, and ``neg_elbo_k``,
    the mean of ``-(1/k) sum_i log p(x, z_i) / q(z_i|x)``, the ``k``-sample
    ``-ELBO``, never below ``neg_iwae``. With the same ``seed`` every model draws
    the same noise for each example, so two models' numbers pair up example by
    example. Unlike the ``-ELBO``, whose gap to ``-log p(x)`` is
    ``KL(q(z|x) || p(z|x))`` and differs from model to model, the bound approaches
    ``-log p(x)`` as ``k`` grows.
    """
    k, examples = check_iwae_setting(k, examples)
    weights = log_weight_statistics(vae, x[:examples], k, seed=seed)
    bound = mean_and_standard_error(-weights.iwae)
    return {
        "neg_iwae": bound.mean,
        "neg_iwae_se": bound.standard_error,
        "neg_elbo_k": float(-weights.elbo.mean()),
    }


def held_out_summary(
    vae: VAE, x: np.ndarray, threshold: float = 0.01, batch_size: int = 500
) -> dict:
    """Held-out numbers of a VAE, per example in nats.

    Returns a dict with ``neg_elbo`` (reconstruction + KL, the ``beta = 1``
    loss whatever ``beta`` the model trained with), ``reconstruction``
    (distortion), ``kl`` (rate), ``active_units`` and ``latent_dim``. Each
    evaluation samples one code per example.
    """
    vae.check_examples(x)
    result = vae.evaluate(x, batch_size=batch_size, verbose=0, return_dict=True)
    reconstruction, kl = float(result["reconstruction"]), float(result["kl"])
    return {
        "latent_dim": vae.latent_dim,
        "neg_elbo": reconstruction + kl,
        "reconstruction": reconstruction,
        "kl": kl,
        "active_units": active_units(vae, x, threshold).count,
    }


class SeedRuns(NamedTuple):
    """One configuration trained once per seed: a :func:`held_out_summary` row per seed,
    and the first run.

    ``rows[i]`` belongs to the ``i``-th seed and holds its ``seed``; ``model`` and
    ``history`` are those of the first seed, for figures of a single run.
    """

    rows: list[dict]
    model: VAE
    history: keras.callbacks.History

    def values(self, key: str) -> np.ndarray:
        """``key`` of every seed's row, ``(n_seeds,)`` in the order of the seeds."""
        return np.array([row[key] for row in self.rows], dtype=np.float64)


HELD_OUT_TERMS = ("loss", "reconstruction", "kl")


def held_out_terms(model: keras.Model, inputs) -> dict[str, float]:
    """A VAE's held-out ``-ELBO`` (``"loss"``) and its two terms, nats per example, from
    ``model.evaluate``."""
    result = model.evaluate(inputs, batch_size=500, verbose=0, return_dict=True)
    return {name: float(result[name]) for name in HELD_OUT_TERMS}


def fit_over_seeds(
    x_train: np.ndarray,
    x_test: np.ndarray,
    seeds: Sequence[int],
    *,
    x_valid: np.ndarray | None = None,
    iwae_k: int | None = None,
    iwae_examples: int | None = None,
    **settings,
) -> SeedRuns:
    """Train ``fit_dense_vae(x_train, seed=s, **settings)`` for each seed ``s``;
    summarise each on ``x_test``.

    Runs that differ only in one setting and share a seed start from the same
    weights and see the same binarisations, so their rows can be compared seed
    by seed (:func:`snippets.chapters.comparison.paired_difference`). With
    ``x_valid`` (``(n_valid, 784)``, binary for a binarised model) every row also
    holds ``valid_neg_elbo``, the ``-ELBO`` on ``x_valid``, for choosing among
    configurations without looking at ``x_test``; the first seed's run is then
    also validated on ``x_valid`` after every epoch, so its history can be drawn
    (:func:`plot_warmup`), and the other seeds skip that cost.

    With ``iwae_k`` every row also holds ``neg_iwae``, ``neg_iwae_se`` and
    ``neg_elbo_k``, the :func:`held_out_iwae` bound with ``iwae_k`` samples on the first
    ``iwae_examples`` digits of ``x_test`` (all when ``None``), and, with ``x_valid``,
    ``valid_neg_iwae`` on as many digits of ``x_valid``.
    """
    seeds = list(seeds)
    iwae_k, iwae_examples = check_iwae_setting(iwae_k, iwae_examples)
    valid = all(
        isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0
        for seed in seeds
    )
    if not seeds or not valid or len(set(seeds)) != len(seeds):
        raise ValueError(
            f"seeds must be a non-empty sequence of distinct integers >= 0, got {seeds}"
        )
    rows, first = [], None
    for seed in map(int, seeds):
        tracked = x_valid if first is None else None
        vae, history = fit_dense_vae(
            x_train, seed=seed, validation_data=tracked, **settings
        )
        row = {"seed": seed, **held_out_summary(vae, x_test)}
        if x_valid is not None:
            row["valid_neg_elbo"] = held_out_summary(vae, x_valid)["neg_elbo"]
        if iwae_k is not None:
            row.update(held_out_iwae(vae, x_test, iwae_k, examples=iwae_examples))
            if x_valid is not None:
                row["valid_neg_iwae"] = held_out_iwae(
                    vae, x_valid, iwae_k, examples=iwae_examples
                )["neg_iwae"]
        rows.append(row)
        first = first or (vae, history)
    return SeedRuns(rows, *first)


def seed_table(
    runs: Mapping[Hashable, SeedRuns], keys: Sequence[str] = SUMMARY_KEYS
) -> pd.DataFrame:
    """Mean over seeds of each of ``keys`` and its standard error (column
    ``"<key> s.e."``), one row per run."""
    table = {}
    for name, run in runs.items():
        estimates = {key: mean_and_standard_error(run.values(key)) for key in keys}
        table[name] = {
            column: value
            for key, estimate in estimates.items()
            for column, value in (
                (key, estimate.mean),
                (f"{key} s.e.", estimate.standard_error),
            )
        }
    return pd.DataFrame.from_dict(table, orient="index")


def lowest(runs: Mapping[Hashable, SeedRuns], key: str) -> Hashable:
    """The name of the run whose mean ``key`` over seeds is lowest (the first such, on
    ties)."""
    if not runs:
        raise ValueError("runs must hold at least one configuration")
    means = {name: float(run.values(key).mean()) for name, run in runs.items()}
    return min(means, key=means.get)


def plot_rate_distortion(
    rates: Sequence[float], distortions: Sequence[float], betas: Sequence[float]
) -> Figure:
    """Distortion against rate, one labelled point per ``beta``.

    Dotted lines mark a constant ``-ELBO = D + R`` through the lowest-``D + R``
    point: every model on a line of slope ``-1`` has the same ELBO.
    """
    rates, distortions = np.asarray(rates, float), np.asarray(distortions, float)
    if not len(rates) == len(distortions) == len(betas) or len(rates) == 0:
        raise ValueError(
            "rates, distortions and betas must be non-empty and of equal length"
        )
    fig = page_figure(4.0)
    ax = fig.subplots()
    ax.plot(rates, distortions, marker="o")
    for rate, distortion, beta in zip(rates, distortions, betas):
        ax.annotate(
            f"β = {beta:g}",
            (rate, distortion),
            textcoords="offset points",
            xytext=(6, 4),
        )
    best = np.argmin(rates + distortions)
    span = np.linspace(0.0, rates.max() * 1.25, 2)
    ax.plot(
        span,
        rates[best] + distortions[best] - span,
        ls=":",
        color="grey",
        label="constant −ELBO",
    )
    ax.set_ylim(
        distortions.min() - 0.1 * np.ptp(distortions) - 1.0,
        distortions.max() + 0.1 * np.ptp(distortions) + 1.0,
    )
    ax.set_xlabel("rate R = KL (nats per digit)")
    ax.set_ylabel("distortion D = reconstruction (nats)")
    ax.legend()
    return fig


def plot_unit_activity(
    activities: Mapping[str, np.ndarray],
    kls: Mapping[str, np.ndarray],
    threshold: float = 0.01,
) -> Figure:
    """Per-unit activity (top, log scale) and KL (bottom) of several models, one column
    each.

    Units are sorted by activity, most active first, in both rows; the dashed
    line is the activity ``threshold``. ``activities[name]`` and ``kls[name]``
    are ``(latent_dim,)`` arrays for the same model.
    """
    threshold = check_number(threshold, "threshold", low=0.0)
    if not activities or set(activities) != set(kls):
        raise ValueError(
            "activities and kls must name the same, non-empty set of models"
        )
    fig = Figure(figsize=(3.4 * len(activities), 4.6), layout="constrained")
    axes = fig.subplots(2, len(activities), squeeze=False)
    for column, name in enumerate(activities):
        activity, kl = np.asarray(activities[name]), np.asarray(kls[name])
        order = np.argsort(activity)[::-1]
        units = np.arange(1, len(order) + 1)
        top, bottom = axes[0, column], axes[1, column]
        top.bar(
            units,
            np.maximum(activity[order], 1e-6),
            color=np.where(activity[order] > threshold, "C0", "C3"),
        )
        top.axhline(threshold, ls="--", color="grey")
        top.set_yscale("log")
        top.set_title(f"{name}: {int(np.sum(activity > threshold))} active")
        bottom.bar(units, kl[order], color="C1")
        bottom.set_xlabel("unit (sorted by activity)")
    axes[0, 0].set_ylabel("Var$_x$ E[$z_u$|x]")
    axes[1, 0].set_ylabel("KL per unit (nats)")
    return fig


def plot_warmup(
    histories: Mapping[str, Mapping[str, Sequence[float]]], default_beta: float = 1.0
) -> Figure:
    """KL warm-up at a glance: ``beta``, training KL and held-out ``-ELBO`` per epoch.

    ``histories`` maps a label to ``keras.callbacks.History.history``; a history
    without a ``beta`` entry (no warm-up callback) is drawn at ``default_beta``.
    The held-out ``-ELBO`` is ``val_reconstruction + val_kl``, which does not
    depend on ``beta``, so runs with different schedules compare.
    """
    if not histories:
        raise ValueError("histories must hold at least one training history")
    fig = Figure(figsize=(11.0, 3.2), layout="constrained")
    axes = fig.subplots(1, 3)
    for label, history in histories.items():
        missing = [
            key for key in ("kl", "val_reconstruction", "val_kl") if key not in history
        ]
        if missing:
            raise KeyError(
                f"history {label!r} has no {missing}; train with validation_data"
            )
        epochs = np.arange(1, len(history["kl"]) + 1)
        beta = history.get("beta", [default_beta] * len(epochs))
        axes[0].plot(epochs, beta, marker="o", label=label)
        axes[1].plot(epochs, history["kl"], marker="o", label=label)
        neg_elbo = np.add(history["val_reconstruction"], history["val_kl"])
        axes[2].plot(epochs, neg_elbo, marker="o", label=label)
    for ax, title in zip(
        axes, ("β (KL weight)", "KL, training (nats)", "held-out −ELBO (nats)")
    ):
        ax.set_title(title)
        ax.set_xlabel("epoch")
    axes[0].legend()
    return fig
