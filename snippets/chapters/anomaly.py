"""Anomaly detection with a VAE: the one-digit-held-out protocol on MNIST.

A VAE trained on "normal" data only gives every new input ``x`` a score; a
high score flags ``x`` as anomalous. The protocol: for a digit ``d``, train on
the training digits of the nine other classes, then score the test digits of
all ten classes; the test digits ``d`` are the anomalies. How well a score
separates them is its ROC-AUC: the probability that a random anomaly scores
higher than a random normal digit (1 is perfect, 0.5 is chance, 0 is perfectly
reversed).

Three scores are compared, all per example and all "higher = more anomalous":

- ``neg_elbo``: ``-ELBO``, estimated from ``k`` codes ``z_i ~ q(z|x)`` as
  ``-(1/k) sum_i log w_i`` with ``log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x)``;
  nats, an upper bound on ``-log p(x)`` in expectation;
- ``neg_iwae``: ``-IWAE_k = -log (1/k) sum_i w_i`` from the *same* draws, a
  tighter upper bound on ``-log p(x)`` (Burda et al., 2016); nats, and never
  above ``neg_elbo`` for the same draws;
- ``squared_error``: ``||x - x_hat||^2`` summed over pixels, with ``x_hat``
  the decoder's mean image for the posterior mean code: the reconstruction
  error alone, no likelihood and no KL term.

Likelihood scores are computed on binary pixels (the Bernoulli likelihood
then gives a probability), so the protocol binarises the digits once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score

from snippets.chapters.diagnostics import fit_dense_vae
from snippets.data import MnistData, binarize
from snippets.evaluation import DEFAULT_BATCH_SIZE, log_weight_statistics
from snippets.models import VAE
from snippets.validation import check_images, check_positive_int

SCORE_NAMES = ("neg_elbo", "neg_iwae", "squared_error")
SCORE_LABELS = {"neg_elbo": "−ELBO", "neg_iwae": "−IWAE$_k$", "squared_error": "squared error"}
NUM_DIGITS = 10


class HeldOutSplit(NamedTuple):
    """One digit held out: train on the others, test on all.

    ``x_train`` ``(n_train, 784)`` holds no digit ``digit``; ``x_test``
    ``(n_test, 784)`` and ``y_test`` ``(n_test,)`` are the whole test set, and
    ``is_anomaly`` ``(n_test,)`` is ``y_test == digit``.
    """

    x_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    is_anomaly: np.ndarray
    digit: int


class AucRow(NamedTuple):
    """One entry of the protocol's tidy result: the ROC-AUC of ``score`` for held-out ``digit``."""

    latent_dim: int
    digit: int
    score: str
    auc: float


@dataclasses.dataclass(frozen=True)
class ProtocolResult:
    """What :func:`held_out_protocol` measured.

    ``aucs``: one :class:`AucRow` per (latent size, held-out digit, score),
    ready for ``pandas.DataFrame(result.aucs)``. ``scores[(latent_dim, digit)]``
    maps each score name to its ``(n_test,)`` values on the binarised test
    digits ``x_test``, whose labels are ``y_test``.
    """

    aucs: list[AucRow]
    scores: dict[tuple[int, int], dict[str, np.ndarray]]
    x_test: np.ndarray
    y_test: np.ndarray

    def auc(self, latent_dim: int, digit: int, score: str) -> float:
        """The ROC-AUC of one (latent size, held-out digit, score)."""
        for row in self.aucs:
            if (row.latent_dim, row.digit, row.score) == (latent_dim, digit, score):
                return row.auc
        raise KeyError(f"no AUC for latent_dim={latent_dim}, digit={digit}, score={score!r}")

    def mean_auc(self, latent_dim: int, score: str) -> float:
        """The ROC-AUC of ``score`` averaged over the held-out digits, for one latent size."""
        values = [row.auc for row in self.aucs if (row.latent_dim, row.score) == (latent_dim, score)]
        if not values:
            raise KeyError(f"no AUC for latent_dim={latent_dim}, score={score!r}")
        return float(np.mean(values))


def check_digit(digit: object, name: str = "digit") -> int:
    """Return ``digit`` as an ``int`` if it is an integer class ``0..9``, else raise naming ``name``."""
    if isinstance(digit, bool) or not isinstance(digit, (int, np.integer)):
        raise TypeError(f"{name} must be an integer in [0, {NUM_DIGITS}), got {digit!r}")
    if not 0 <= digit < NUM_DIGITS:
        raise ValueError(f"{name} must be an integer in [0, {NUM_DIGITS}), got {digit}")
    return int(digit)


def split_out_digit(data: MnistData, digit: int) -> HeldOutSplit:
    """Hold out one digit: training digits of the other nine classes, all test digits.

    Args:
        data: flat MNIST, ``x_train`` ``(n, 784)`` with labels ``y_train``.
        digit: the class to hold out, ``0..9``.

    Returns:
        A :class:`HeldOutSplit` whose ``is_anomaly`` marks the test digits ``digit``.

    Raises:
        ValueError: ``digit`` is out of range, absent from the test set (no
            anomaly to find), or is every training digit (nothing to train on).
    """
    digit = check_digit(digit)
    normal = data.y_train != digit
    is_anomaly = data.y_test == digit
    if not is_anomaly.any():
        raise ValueError(f"digit {digit} does not occur in data.y_test; there is no anomaly to score")
    if not normal.any():
        raise ValueError(f"digit {digit} is every training digit; nothing is left to train on")
    return HeldOutSplit(data.x_train[normal], data.x_test, data.y_test, is_anomaly, digit)


def anomaly_scores(
    vae: VAE, x, k: int = 100, seed: int = 0, batch_size: int = DEFAULT_BATCH_SIZE
) -> dict[str, np.ndarray]:
    """Three anomaly scores of each example, higher = more anomalous: ``{name: (n,)}``.

    ``neg_elbo`` and ``neg_iwae`` (nats) come from the same ``k`` codes per
    example (:func:`snippets.evaluation.log_weight_statistics`, seeded per
    example by ``seed``), so ``neg_iwae <= neg_elbo`` element by element;
    ``squared_error`` is ``sum_j (x_j - x_hat_j)^2`` over the pixels of the
    reconstruction of the posterior mean. See the module docstring.
    """
    x = vae.check_examples(x)
    stats = log_weight_statistics(vae, x, check_positive_int(k, "k"), seed=seed, batch_size=batch_size)
    error = np.sum((x.reshape(len(x), -1) - vae.reconstruct(x).reshape(len(x), -1)) ** 2, axis=1)
    scores = {"neg_elbo": -stats.elbo, "neg_iwae": -stats.iwae, "squared_error": error.astype(np.float64)}
    for name, values in scores.items():
        if not np.all(np.isfinite(values)):
            raise FloatingPointError(f"score {name} is not finite for {int(np.sum(~np.isfinite(values)))} examples")
    return scores


def roc_auc(scores, is_anomaly) -> float:
    """ROC-AUC of ``scores`` ``(n,)`` (higher = more anomalous) against boolean labels ``(n,)``.

    ``sklearn.metrics.roc_auc_score``: the probability that a random anomaly
    scores above a random normal example, ties counting one half. 1 is a
    perfect detector, 0.5 chance (or a constant score), 0 a perfectly reversed one.

    Raises:
        ValueError: shapes differ, scores are not finite, labels are not
            boolean (or 0/1), or only one class is present.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(is_anomaly)
    if scores.ndim != 1 or len(scores) == 0:
        raise ValueError(f"scores must have shape (n,) with n >= 1, got {scores.shape}")
    if labels.shape != scores.shape:
        raise ValueError(f"is_anomaly must have the shape of scores {scores.shape}, got {labels.shape}")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"scores contains {int(np.sum(~np.isfinite(scores)))} NaN or infinite values")
    if labels.dtype != bool:
        if not np.all(np.isin(labels, (0, 1))):
            raise ValueError("is_anomaly must be boolean (or 0/1), one label per score")
        labels = labels.astype(bool)
    if labels.all() or not labels.any():
        raise ValueError("is_anomaly must contain both anomalies (True) and normal examples (False)")
    return float(roc_auc_score(labels, scores))


def held_out_protocol(
    data: MnistData,
    digits: Sequence[int],
    latent_dims: Sequence[int],
    epochs: int,
    k: int = 100,
    hidden_units: Sequence[int] = (256,),
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    seed: int = 0,
) -> ProtocolResult:
    """Run the one-digit-held-out protocol for every held-out digit and latent size.

    The digits are binarised once (:func:`snippets.data.binarize`, ``seed``
    for training, ``seed + 1`` for test). For each ``latent_dim`` and ``digit``
    a dense VAE (:func:`snippets.diagnostics.fit_dense_vae`, seeded by ``seed``)
    trains for ``epochs`` on the binary training digits without ``digit``; the
    test digits of all classes get the three :func:`anomaly_scores` (``k``
    codes each), and every score its :func:`roc_auc` for "is ``digit``".

    Returns:
        A :class:`ProtocolResult`: ``len(latent_dims) * len(digits) * 3`` AUC rows.
    """
    if len(digits) == 0 or len(latent_dims) == 0:
        raise ValueError("digits and latent_dims must each name at least one value")
    digits = [check_digit(digit, f"digits[{i}]") for i, digit in enumerate(digits)]
    latent_dims = [check_positive_int(dim, f"latent_dims[{i}]") for i, dim in enumerate(latent_dims)]
    check_images(data.x_train, "data.x_train", (None,))
    binary = dataclasses.replace(data, x_train=binarize(data.x_train, seed=seed), x_test=binarize(data.x_test, seed=seed + 1))
    aucs, scores = [], {}
    for latent_dim in latent_dims:
        for digit in digits:
            split = split_out_digit(binary, digit)
            vae, _ = fit_dense_vae(split.x_train, latent_dim=latent_dim, hidden_units=hidden_units,
                                   epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed)
            scores[(latent_dim, digit)] = anomaly_scores(vae, split.x_test, k=k, seed=seed)
            aucs += [AucRow(latent_dim, digit, name, roc_auc(values, split.is_anomaly))
                     for name, values in scores[(latent_dim, digit)].items()]
    return ProtocolResult(aucs=aucs, scores=scores, x_test=binary.x_test, y_test=binary.y_test)


def plot_auc_per_digit(result: ProtocolResult, score: str = "neg_iwae") -> Figure:
    """ROC-AUC of one score per held-out digit: one bar per latent size, chance dashed at 0.5.

    A bar below 0.5 means the model rates that unseen digit as *more* normal
    than the digits it was trained on.
    """
    if score not in SCORE_NAMES:
        raise ValueError(f"score must be one of {SCORE_NAMES}, got {score!r}")
    latent_dims = sorted({row.latent_dim for row in result.aucs})
    digits = sorted({row.digit for row in result.aucs})
    width = 0.8 / len(latent_dims)
    fig = Figure(figsize=(7.5, 3.4), layout="constrained")
    ax = fig.subplots()
    for j, latent_dim in enumerate(latent_dims):
        values = [result.auc(latent_dim, digit, score) for digit in digits]
        ax.bar(np.arange(len(digits)) + (j - (len(latent_dims) - 1) / 2) * width, values, width,
               label=f"latent {latent_dim}")
    ax.axhline(0.5, ls="--", color="gray", label="chance")
    ax.set_xticks(np.arange(len(digits)), [str(d) for d in digits])
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("held-out digit (the anomaly)")
    ax.set_ylabel(f"ROC-AUC of {SCORE_LABELS[score]}")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def plot_score_histograms(
    scores: Mapping[str, Mapping[str, np.ndarray]], is_anomaly, score: str = "neg_iwae", bins: int = 40
) -> Figure:
    """Histograms of one score, normal test digits against held-out ones: one panel per model.

    ``scores`` maps a panel title (e.g. ``"latent 2"``) to an
    :func:`anomaly_scores` dict; ``is_anomaly`` ``(n,)`` marks the held-out
    digits. Densities are normalised per group, so the two groups' sizes do not matter.
    """
    if score not in SCORE_NAMES:
        raise ValueError(f"score must be one of {SCORE_NAMES}, got {score!r}")
    if not scores:
        raise ValueError("scores must name at least one model")
    is_anomaly = np.asarray(is_anomaly, dtype=bool)
    bins = check_positive_int(bins, "bins")
    fig = Figure(figsize=(4.2 * len(scores), 3.2), layout="constrained")
    axes = fig.subplots(1, len(scores), squeeze=False)[0]
    for ax, (title, values) in zip(axes, scores.items()):
        values = np.asarray(values[score])
        if values.shape != is_anomaly.shape:
            raise ValueError(f"is_anomaly has shape {is_anomaly.shape}, scores[{title!r}] {values.shape}")
        edges = np.histogram_bin_edges(values, bins=bins)
        ax.hist(values[~is_anomaly], edges, density=True, alpha=0.6, label="normal (classes seen in training)")
        ax.hist(values[is_anomaly], edges, density=True, alpha=0.6, label="held-out digit")
        ax.set_title(f"{title}: AUC {roc_auc(values, is_anomaly):.2f}")
        ax.set_xlabel(f"{SCORE_LABELS[score]} (higher = more anomalous)")
    axes[0].set_ylabel("density")
    axes[0].legend(fontsize=8)
    return fig
