"""Anomaly detection with a VAE: the one-digit-held-out protocol on MNIST.

A model trained on "normal" data only gives every new input ``x`` a score; a
high score flags ``x`` as anomalous. The protocol: for a digit ``d``, fit the
detectors on the training digits of the nine other classes, then score the
validation and test digits of all ten classes; the digits ``d`` are the
anomalies. Every choice (the threshold, which detector is "best") is made on
the validation digits, which are carved from the training split; the test
digits only measure.

Seven scores are compared, all per example and all "higher = more anomalous".
Four come from one VAE:

- ``neg_elbo``: ``-ELBO``, estimated from ``k`` codes ``z_i ~ q(z|x)`` as
  ``-(1/k) sum_i log w_i`` with ``log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x)``;
  nats, an upper bound on ``-log p(x)`` in expectation;
- ``neg_iwae``: ``-IWAE_k = -log (1/k) sum_i w_i`` from the *same* draws, a
  tighter upper bound on ``-log p(x)`` (Burda et al., 2016); never above
  ``neg_elbo`` for the same draws;
- ``neg_recon_prob``: minus the log of An & Cho's (2015) reconstruction
  probability ``(1/L) sum_l p(x|z_l)``, ``z_l ~ q(z|x)``, with ``L = k`` and
  the same draws: how well the codes the encoder proposes explain ``x``,
  without the prior;
- ``squared_error``: ``||x - x_hat||^2`` summed over pixels, with ``x_hat``
  the decoder's mean image for the posterior mean code.

Four do without a VAE: ``ae_squared_error``, the squared error of a
deterministic autoencoder of the VAE's size, trained on the same digits with
the same optimiser and the same stopping rule; ``pca_error``, the squared
distance of ``x`` to the principal subspace of the normal training digits,
with as many components as the VAE has latent dimensions;
``isolation_forest`` (Liu et al., 2008), minus scikit-learn's
``score_samples``: how few random axis-aligned splits isolate ``x``; and
``knn_distance``, the mean Euclidean distance of ``x`` to its nearest normal
training digits.

The two networks train until their loss on held-back normal training digits
(a share of them carved off per seed, never fitted) has not improved by
``min_delta`` nats for ``patience`` epochs, and keep the weights of their
best epoch (:class:`snippets.chapters.stopping.StoppingRule`), under a cap of
``max_epochs``; a :class:`snippets.chapters.stopping.TrainingRecord` says where each
stopped. Both train through the model cache (:mod:`snippets.chapters.cache`).

Each (seed, held-out digit, score) gets the ROC-AUC and the AUPRC (average
precision; chance is the share of anomalies) on the test digits, and, at a
threshold set to the 95th percentile of the score on the *normal validation*
digits, the precision, recall and false-alarm rate on the test digits.

Likelihood scores are computed on binary pixels (the Bernoulli likelihood
then gives a probability), so the protocol binarises the digits: the
validation and test digits once (:func:`snippets.data.binarize`, seed 0), the
training digits once per seed.

The VAE scores and the threshold are :mod:`snippets.applications.anomaly`'s,
for reuse; this module holds the protocol, the baselines and the metrics on
labels.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import keras
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import (
    average_precision_score,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

from snippets.applications.anomaly import (
    THRESHOLD_QUANTILE,
    anomaly_scores,
    log_likelihood_of_draws,
    log_mean_exp,
    log_reconstruction_probability,
    log_weight_terms,
    standard_normal_draws,
    validation_threshold,
)
from snippets.chapters import stopping as stopping_rules
from snippets.chapters.cache import cached_training
from snippets.chapters.comparison import detectable_difference, direction
from snippets.chapters.diagnostics import fit_dense_vae
from snippets.chapters.plotting import page_figure
from snippets.chapters.stopping import (
    StoppingRule,
    TrainingRecord,
    fit_until_stopped,
    hold_back,
    training_record,
)
from snippets.data import MnistData, binarize
from snippets.evaluation import MeanWithError, mean_and_standard_error
from snippets.models import (
    VAE,
    Autoencoder,
    build_dense_decoder,
    build_dense_encoder,
)
from snippets.validation import (
    check_array,
    check_images,
    check_number,
    check_positive_int,
)

VAE_SCORES = ("neg_elbo", "neg_iwae", "neg_recon_prob", "squared_error")
NETWORK_FREE_SCORES = ("pca_error", "isolation_forest", "knn_distance")
BASELINE_SCORES = ("ae_squared_error", *NETWORK_FREE_SCORES)
SCORE_NAMES = VAE_SCORES + BASELINE_SCORES
SCORE_LABELS = {
    "neg_elbo": "VAE −ELBO",
    "neg_iwae": "VAE −IWAE",
    "neg_recon_prob": "VAE −log recon. prob.",
    "squared_error": "VAE squared error",
    "ae_squared_error": "autoencoder squared error",
    "pca_error": "PCA error",
    "isolation_forest": "Isolation Forest",
    "knn_distance": "nearest-neighbour distance",
}
METRICS = (
    "valid_roc_auc",
    "roc_auc",
    "auprc",
    "precision",
    "recall",
    "false_alarm_rate",
)
METRIC_LABELS = {
    "valid_roc_auc": "ROC-AUC (validation)",
    "roc_auc": "ROC-AUC",
    "auprc": "AUPRC",
    "precision": "precision",
    "recall": "recall",
    "false_alarm_rate": "false alarms",
}
NUM_DIGITS = 10
N_NEIGHBOURS = 5
# A random subset beyond this: the search costs (references x queries x 784).
MAX_NEIGHBOUR_REFERENCES = 10_000
LEARNED_MODELS = ("VAE", "autoencoder")


class HeldOutSplit(NamedTuple):
    """One digit held out: fit on the others, validate and test on all.

    ``x_train`` ``(n_train, 784)`` holds no digit ``digit``; ``x_valid``
    ``(n_valid, 784)`` and ``x_test`` ``(n_test, 784)`` hold all ten classes,
    and ``valid_is_anomaly`` / ``is_anomaly`` mark their digits ``digit``.
    ``y_test`` ``(n_test,)`` are the test labels.
    """

    x_train: np.ndarray
    x_valid: np.ndarray
    valid_is_anomaly: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    is_anomaly: np.ndarray
    digit: int


class ThresholdRates(NamedTuple):
    """What a fixed threshold does on labelled examples: flagged =
    ``score > threshold``.

    ``precision``: the share of anomalies among the flagged (0 when nothing is
    flagged); ``recall``: the share of anomalies flagged; ``false_alarm_rate``:
    the share of normal examples flagged.
    """

    precision: float
    recall: float
    false_alarm_rate: float


class DetectionRow(NamedTuple):
    """How one score did for one seed and held-out digit: one row of the protocol.

    ``valid_roc_auc`` is measured on the validation digits, every other
    metric on the test digits; see :data:`METRICS`.
    """

    seed: int
    digit: int
    score: str
    valid_roc_auc: float
    roc_auc: float
    auprc: float
    precision: float
    recall: float
    false_alarm_rate: float


def check_digit(digit: object, name: str = "digit") -> int:
    """``digit`` as an ``int`` if it is an integer class ``0..9``, else raise naming
    ``name``."""
    if isinstance(digit, bool) or not isinstance(digit, (int, np.integer)):
        raise TypeError(
            f"{name} must be an integer in [0, {NUM_DIGITS}), got {digit!r}"
        )
    if not 0 <= digit < NUM_DIGITS:
        raise ValueError(f"{name} must be an integer in [0, {NUM_DIGITS}), got {digit}")
    return int(digit)


def _check_choice(value: object, name: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return str(value)


def split_out_digit(data: MnistData, digit: int) -> HeldOutSplit:
    """Hold out one digit: training digits of the other nine classes, all validation
    and test digits.

    Args:
        data: flat MNIST, ``x_train`` ``(n, 784)`` with labels ``y_train``,
            and likewise the validation and test splits.
        digit: the class to hold out, ``0..9``.

    Returns:
        A :class:`HeldOutSplit` whose ``valid_is_anomaly`` and ``is_anomaly``
        mark the validation and test digits ``digit``.

    Raises:
        ValueError: ``digit`` is out of range, absent from the validation or
            test set (no anomaly to find), or is every training digit.
    """
    digit = check_digit(digit)
    normal = data.y_train != digit
    for split in ("valid", "test"):
        if not np.any(getattr(data, f"y_{split}") == digit):
            raise ValueError(
                f"digit {digit} does not occur in data.y_{split}; "
                "there is no anomaly to score"
            )
    if not normal.any():
        raise ValueError(
            f"digit {digit} is every training digit; nothing is left to train on"
        )
    return HeldOutSplit(
        data.x_train[normal],
        data.x_valid,
        data.y_valid == digit,
        data.x_test,
        data.y_test,
        data.y_test == digit,
        digit,
    )


# --- the scores ----------------------------------------------------------------


def fit_baselines(
    x_train, n_components: int, *, seed: int = 0
) -> tuple[PCA, IsolationForest, NearestNeighbors]:
    """The three detectors without a network, fitted on normal examples ``x_train``
    ``(n, d)``.

    ``sklearn.decomposition.PCA`` with ``n_components`` components,
    ``sklearn.ensemble.IsolationForest`` (``100`` trees), both seeded by ``seed``,
    and ``sklearn.neighbors.NearestNeighbors`` (``N_NEIGHBOURS`` neighbours) on
    at most ``MAX_NEIGHBOUR_REFERENCES`` of the examples, drawn with ``seed``.
    The PCA runs on one BLAS thread (``threadpoolctl``): the eigendecomposition
    of its small ``(d, d)`` covariance gains nothing from more, and on a machine
    whose cores are busy, threads that wait for each other make it many times
    slower.
    """
    x_train = check_array(x_train, "x_train", (None,))
    n_components = check_positive_int(n_components, "n_components")
    if n_components > min(x_train.shape):
        raise ValueError(
            f"n_components must be at most min(n, d) = {min(x_train.shape)}, "
            f"got {n_components}"
        )
    with threadpool_limits(limits=1, user_api="blas"):
        pca = PCA(n_components, random_state=seed).fit(x_train)
    references = x_train
    if len(x_train) > MAX_NEIGHBOUR_REFERENCES:
        references = x_train[
            np.random.default_rng(seed).choice(
                len(x_train), MAX_NEIGHBOUR_REFERENCES, replace=False
            )
        ]
    neighbours = NearestNeighbors(n_neighbors=min(N_NEIGHBOURS, len(references))).fit(
        references
    )
    return pca, IsolationForest(random_state=seed).fit(x_train), neighbours


def baseline_scores(
    pca: PCA, forest: IsolationForest, neighbours: NearestNeighbors, x
) -> dict[str, np.ndarray]:
    """The three scores without a network of each example ``x`` ``(n, d)``, higher =
    more anomalous.

    ``pca_error``: ``||x - x_hat||^2`` with ``x_hat = mean + W W^T (x - mean)``,
    the projection onto the principal subspace; ``isolation_forest``: minus
    ``IsolationForest.score_samples``, so short isolation paths score high;
    ``knn_distance``: the mean Euclidean distance to the nearest normal
    training examples, far from every one of them scoring high.
    """
    x = check_array(x, "x", (pca.n_features_in_,))
    error = np.sum((x - pca.inverse_transform(pca.transform(x))) ** 2, axis=1)
    distances, _ = neighbours.kneighbors(x)
    return {
        "pca_error": error.astype(np.float64),
        "isolation_forest": -forest.score_samples(x).astype(np.float64),
        "knn_distance": distances.mean(axis=1).astype(np.float64),
    }


@cached_training
def fit_autoencoder(
    x_train: np.ndarray,
    *,
    latent_dim: int,
    hidden_units: Sequence[int] = (256,),
    epochs: int,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    seed: int = 0,
    validation_data: np.ndarray | None = None,
    stopping: StoppingRule | None = None,
) -> tuple[Autoencoder, keras.callbacks.History]:
    """A deterministic dense autoencoder of the VAE's size, trained with Adam.

    Encoder ``784 -> hidden_units -> latent_dim`` (one head where the VAE's has
    two) and the VAE's decoder; the loss is the Bernoulli ``-log p(x|x_hat)``
    of ``x_train`` ``(n, 784)``, the VAE's reconstruction term without its KL
    term; with ``stopping``, training stops early by that rule on
    ``validation_data`` (:func:`snippets.chapters.stopping.fit_until_stopped`).
    ``keras.utils.set_random_seed(seed)`` is called first, as
    :func:`snippets.chapters.diagnostics.fit_dense_vae` does, and the model cache
    (:mod:`snippets.chapters.cache`) loads an unchanged call's model.
    """
    keras.utils.set_random_seed(seed)
    autoencoder = Autoencoder(
        build_dense_encoder(latent_dim, hidden_units=hidden_units, variational=False),
        build_dense_decoder(latent_dim, hidden_units=hidden_units),
    )
    autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate))
    history = fit_until_stopped(
        autoencoder,
        x_train,
        batch_size=check_positive_int(batch_size, "batch_size"),
        epochs=epochs,
        validation_data=validation_data,
        stopping=stopping,
    )
    return autoencoder, history


def autoencoder_scores(autoencoder: Autoencoder, x) -> dict[str, np.ndarray]:
    """``{"ae_squared_error": (n,)}``: ``||x - x_hat||^2`` summed over the pixels of
    each example ``x`` ``(n, 784)``, ``x_hat`` the decoder's mean image."""
    x = autoencoder.check_examples(x)
    error = np.sum(
        (x.reshape(len(x), -1) - autoencoder.reconstruct(x).reshape(len(x), -1)) ** 2,
        axis=1,
    )
    return {"ae_squared_error": error.astype(np.float64)}


@dataclasses.dataclass(frozen=True)
class Detectors:
    """Every detector fitted on the same normal digits; :meth:`scores` gives every
    score.

    ``training`` says where each network (``"VAE"``, ``"autoencoder"``) stopped.
    """

    vae: VAE
    autoencoder: Autoencoder
    pca: PCA
    forest: IsolationForest
    neighbours: NearestNeighbors
    k: int
    seed: int
    training: dict[str, TrainingRecord]

    def scores(self, x) -> dict[str, np.ndarray]:
        """``{name: (n,)}`` for every name in :data:`SCORE_NAMES`."""
        return {
            **anomaly_scores(self.vae, x, k=self.k, seed=self.seed),
            **autoencoder_scores(self.autoencoder, x),
            **baseline_scores(self.pca, self.forest, self.neighbours, x),
        }


def fit_detectors(
    x_train: np.ndarray,
    *,
    latent_dim: int,
    stopping: StoppingRule,
    seed: int,
    k: int = 100,
    hidden_units: Sequence[int] = (256,),
    batch_size: int = 128,
    learning_rate: float = 1e-3,
) -> Detectors:
    """Fit every detector on the binary normal digits ``x_train`` ``(n, 784)``.

    :func:`hold_back` keeps ``stopping.held_back`` of them out (seeded by
    ``seed``); on the rest, a dense VAE
    (:func:`snippets.chapters.diagnostics.fit_dense_vae`) and an autoencoder of
    the same size (:func:`fit_autoencoder`) train with Adam, same batches and
    learning rate, each stopped by ``stopping`` on the held-back digits, and the
    baselines of :func:`fit_baselines` are fitted, the PCA with ``latent_dim``
    components, as many as the VAE's code has dimensions.
    """
    if not isinstance(stopping, StoppingRule):
        raise TypeError(
            f"stopping must be a StoppingRule, got {type(stopping).__name__}"
        )
    x_fit, x_stop = hold_back(x_train, stopping.held_back, seed=seed)
    options = {
        "latent_dim": latent_dim,
        "hidden_units": hidden_units,
        "epochs": stopping.max_epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "seed": seed,
        "validation_data": x_stop,
    }
    networks, training = {}, {}
    for name, fit in (("VAE", fit_dense_vae), ("autoencoder", fit_autoencoder)):
        networks[name], history = fit(x_fit, stopping=stopping, **options)
        training[name] = training_record(history)
    return Detectors(
        networks["VAE"],
        networks["autoencoder"],
        *fit_baselines(x_fit, latent_dim, seed=seed),
        check_positive_int(k, "k"),
        seed,
        training,
    )


# --- the metrics ---------------------------------------------------------------


def _checked_scores_and_labels(scores, is_anomaly) -> tuple[np.ndarray, np.ndarray]:
    """``scores`` as float64 ``(n,)`` and ``is_anomaly`` as bool ``(n,)``, both
    classes present."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(is_anomaly)
    if scores.ndim != 1 or len(scores) == 0:
        raise ValueError(f"scores must have shape (n,) with n >= 1, got {scores.shape}")
    if labels.shape != scores.shape:
        raise ValueError(
            f"is_anomaly must have the shape of scores {scores.shape}, "
            f"got {labels.shape}"
        )
    if not np.all(np.isfinite(scores)):
        raise ValueError(
            f"scores contains {int(np.sum(~np.isfinite(scores)))} NaN or infinite "
            "values"
        )
    if labels.dtype != bool:
        if not np.all(np.isin(labels, (0, 1))):
            raise ValueError("is_anomaly must be boolean (or 0/1), one label per score")
        labels = labels.astype(bool)
    if labels.all() or not labels.any():
        raise ValueError(
            "is_anomaly must contain both anomalies (True) and normal examples (False)"
        )
    return scores, labels


def roc_auc(scores, is_anomaly) -> float:
    """ROC-AUC of ``scores`` ``(n,)`` (higher = more anomalous) against boolean
    labels ``(n,)``.

    ``sklearn.metrics.roc_auc_score``: the probability that a random anomaly
    scores above a random normal example, ties counting one half. 1 is a
    perfect detector, 0.5 chance (or a constant score), 0 a perfectly reversed one.

    Raises:
        ValueError: shapes differ, scores are not finite, labels are not
            boolean (or 0/1), or only one class is present.
    """
    return float(
        roc_auc_score(*reversed(_checked_scores_and_labels(scores, is_anomaly)))
    )


def average_precision(scores, is_anomaly) -> float:
    """AUPRC of ``scores`` ``(n,)`` against boolean labels ``(n,)``:
    ``sklearn.metrics.average_precision_score``.

    ``sum_j (R_j - R_{j-1}) P_j`` over the thresholds, the precision ``P_j``
    weighted by the gain in recall ``R_j``. 1 is a perfect detector; a score
    that carries no information gets the share of anomalies, ``mean(is_anomaly)``,
    the chance level, which is small when anomalies are rare. Same checks as
    :func:`roc_auc`.
    """
    return float(
        average_precision_score(
            *reversed(_checked_scores_and_labels(scores, is_anomaly))
        )
    )


def rates_at_threshold(scores, is_anomaly, threshold: float) -> ThresholdRates:
    """Precision, recall and false-alarm rate of flagging ``scores > threshold``:
    ``sklearn.metrics``.

    ``scores`` and ``is_anomaly`` are ``(n,)``; precision is 0 when nothing is flagged.
    """
    scores, labels = _checked_scores_and_labels(scores, is_anomaly)
    flagged = scores > check_number(threshold, "threshold")
    return ThresholdRates(
        precision=float(precision_score(labels, flagged, zero_division=0.0)),
        recall=float(recall_score(labels, flagged)),
        false_alarm_rate=float(np.mean(flagged[~labels])),
    )


def evaluate_score(
    valid_scores,
    valid_is_anomaly,
    test_scores,
    is_anomaly,
    *,
    quantile: float = THRESHOLD_QUANTILE,
) -> dict[str, float]:
    """Every metric of one score, ``{metric: value}`` for the names in :data:`METRICS`.

    ``valid_roc_auc`` on the validation digits; the ROC-AUC, the AUPRC and the
    :func:`rates_at_threshold` of the :func:`validation_threshold` set on the
    *normal* validation scores, on the test digits.
    """
    valid_scores, valid_labels = _checked_scores_and_labels(
        valid_scores, valid_is_anomaly
    )
    threshold = validation_threshold(valid_scores[~valid_labels], quantile)
    return {
        "valid_roc_auc": roc_auc(valid_scores, valid_labels),
        "roc_auc": roc_auc(test_scores, is_anomaly),
        "auprc": average_precision(test_scores, is_anomaly),
        **rates_at_threshold(test_scores, is_anomaly, threshold)._asdict(),
    }


# --- the protocol --------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ProtocolResult:
    """What :func:`held_out_protocol` measured.

    ``rows``: one :class:`DetectionRow` per (seed, held-out digit, score),
    ready for ``pandas.DataFrame(result.rows)``. ``scores[(seed, digit)]``
    maps each score name to its ``(n_test,)`` values on the binarised test
    digits ``x_test``, whose labels are ``y_test``. ``training[(seed, digit)]``
    maps each network of :data:`LEARNED_MODELS` to its :class:`TrainingRecord`,
    and ``stopping`` is the rule they trained under.
    """

    rows: list[DetectionRow]
    scores: dict[tuple[int, int], dict[str, np.ndarray]]
    x_test: np.ndarray
    y_test: np.ndarray
    training: dict[tuple[int, int], dict[str, TrainingRecord]]
    stopping: StoppingRule

    def training_records(self, model: str) -> list[TrainingRecord]:
        """The :class:`TrainingRecord` of ``model`` (``"VAE"`` or ``"autoencoder"``)
        for every seed and held-out digit, in the order of ``training``."""
        model = _check_choice(model, "model", LEARNED_MODELS)
        return [records[model] for records in self.training.values()]

    def stopping_summary(self, model: str) -> dict[str, float | int]:
        """How ``model``'s runs ended
        (:func:`snippets.chapters.stopping.stopping_summary` of its
        :meth:`training_records`): ``median``, ``low`` and ``high`` of the epochs
        they ran, ``median_best`` of the epochs whose weights they kept, ``capped``
        (how many ran ``stopping.max_epochs`` without stopping) and ``runs``."""
        records = {model: self.training_records(model)}
        return stopping_rules.stopping_summary(records)[model]

    @property
    def seeds(self) -> list[int]:
        """The seeds, in increasing order."""
        return sorted({row.seed for row in self.rows})

    @property
    def digits(self) -> list[int]:
        """The held-out digits, in increasing order."""
        return sorted({row.digit for row in self.rows})

    def per_seed(
        self, score: str, metric: str = "roc_auc", digit: int | None = None
    ) -> np.ndarray:
        """``metric`` of ``score``, one value per seed ``(n_seeds,)``: averaged over
        the held-out digits, or of ``digit``."""
        score, metric = (
            _check_choice(score, "score", SCORE_NAMES),
            _check_choice(metric, "metric", METRICS),
        )
        digits = self.digits if digit is None else [check_digit(digit)]
        if not set(digits) <= set(self.digits):
            raise KeyError(
                f"digit {digit} was not held out; the held-out digits are {self.digits}"
            )
        table = {
            (row.seed, row.digit): getattr(row, metric)
            for row in self.rows
            if row.score == score
        }
        return np.array(
            [np.mean([table[(seed, d)] for d in digits]) for seed in self.seeds]
        )

    def summary(
        self, score: str, metric: str = "roc_auc", digit: int | None = None
    ) -> MeanWithError:
        """Mean and standard error over seeds of :meth:`per_seed`."""
        return mean_and_standard_error(self.per_seed(score, metric, digit))

    def paired_difference(
        self, score: str, other: str, metric: str = "roc_auc"
    ) -> MeanWithError:
        """Mean and standard error over seeds of ``metric(score) - metric(other)``,
        each averaged over the digits.

        Pairing by seed removes what the two share in a seed (the binarised
        training digits), so the error is that of the difference itself.
        """
        return mean_and_standard_error(
            self.per_seed(score, metric) - self.per_seed(other, metric)
        )

    def best(self, scores: Sequence[str]) -> str:
        """Of ``scores``, the one with the highest validation ROC-AUC, averaged over
        seeds and digits."""
        if len(scores) == 0:
            raise ValueError("scores must name at least one score")
        return max(
            scores, key=lambda score: self.per_seed(score, "valid_roc_auc").mean()
        )

    def anomaly_share(self, digit: int | None = None) -> float:
        """The share of test digits that are anomalies: of ``digit``, or averaged over
        the held-out digits.

        This is the AUPRC of a detector that carries no information.
        """
        digits = self.digits if digit is None else [check_digit(digit)]
        return float(np.mean([np.mean(self.y_test == d) for d in digits]))


def held_out_protocol(
    data: MnistData,
    digits: Sequence[int],
    *,
    seeds: Sequence[int],
    latent_dim: int,
    stopping: StoppingRule,
    k: int = 100,
    hidden_units: Sequence[int] = (256,),
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    quantile: float = THRESHOLD_QUANTILE,
) -> ProtocolResult:
    """Run the one-digit-held-out protocol for every held-out digit and seed.

    The validation and test digits are binarised once
    (:func:`snippets.data.binarize`, seed 0), the training digits once per
    seed. For each seed and ``digit``, :func:`fit_detectors` fits the VAE,
    the autoencoder (``latent_dim``, each trained under ``stopping``, ...) and
    the baselines on the binary training digits without ``digit``; the
    validation and test digits of all classes get every score of
    :data:`SCORE_NAMES` (``k`` codes each for the VAE), and every score its
    :func:`evaluate_score`, with the threshold at ``quantile`` of the normal
    validation scores.

    Returns:
        A :class:`ProtocolResult`: ``len(seeds) * len(digits) * len(SCORE_NAMES)``
        rows, and where each network stopped.
    """
    if len(digits) == 0 or len(seeds) == 0:
        raise ValueError("digits and seeds must each name at least one value")
    digits = [check_digit(digit, f"digits[{i}]") for i, digit in enumerate(digits)]
    check_positive_int(latent_dim, "latent_dim")
    check_images(data.x_train, "data.x_train", (None,))
    binary = dataclasses.replace(
        data, x_valid=binarize(data.x_valid, seed=1), x_test=binarize(data.x_test)
    )
    rows, scores, training = [], {}, {}
    for seed in seeds:
        seeded = dataclasses.replace(binary, x_train=binarize(data.x_train, seed=seed))
        for digit in digits:
            split = split_out_digit(seeded, digit)
            detectors = fit_detectors(
                split.x_train,
                latent_dim=latent_dim,
                stopping=stopping,
                seed=seed,
                k=k,
                hidden_units=hidden_units,
                batch_size=batch_size,
                learning_rate=learning_rate,
            )
            valid, scores[(seed, digit)] = (
                detectors.scores(split.x_valid),
                detectors.scores(split.x_test),
            )
            training[(seed, digit)] = detectors.training
            rows += [
                DetectionRow(
                    seed,
                    digit,
                    name,
                    **evaluate_score(
                        valid[name],
                        split.valid_is_anomaly,
                        scores[(seed, digit)][name],
                        split.is_anomaly,
                        quantile=quantile,
                    ),
                )
                for name in SCORE_NAMES
            ]
    return ProtocolResult(
        rows=rows,
        scores=scores,
        x_test=binary.x_test,
        y_test=binary.y_test,
        training=training,
        stopping=stopping,
    )


def verdict(value: MeanWithError, reference: float = 0.0) -> str:
    """``"clearly above"``, ``"clearly below"`` or ``"not clearly different from"``
    ``reference``: :func:`snippets.chapters.comparison.direction`, whose 95 %
    interval must exclude ``reference``."""
    return direction(
        value,
        below="clearly below",
        above="clearly above",
        level="not clearly different from",
        reference=reference,
    )


def verdict_phrase(
    value: MeanWithError, reference: float = 0.0, *, against: str = "zero"
) -> str:
    """Markdown: the :func:`verdict` of ``value`` against ``reference`` (named
    ``against``) and, when it is "not clearly different", the smallest
    difference the seeds could have resolved
    (:func:`snippets.chapters.comparison.detectable_difference`), so that a null
    result says how large an effect it rules out."""
    word = verdict(value, reference)
    if word != "not clearly different from":
        return f"{word} {against}"
    return (
        f"{word} {against}: the seeds resolve only a difference larger than about "
        f"{detectable_difference(value):.3f}"
    )


def compare_scores(
    result: ProtocolResult, score: str, other: str, metric: str = "roc_auc"
) -> dict[str, float | int | str]:
    """How ``score`` does against ``other`` in ``metric``, over seeds, each averaged
    over the held-out digits.

    Returns plain Python values, ready to glue into a sentence: ``mean``,
    ``se`` and ``other_mean``, ``other_se`` (mean and standard error over
    seeds), ``difference`` and ``difference_se`` (the paired difference
    ``score - other``), ``verdict`` (:func:`verdict` of that difference
    against zero), ``detectable`` (the smallest difference the seeds resolve),
    ``finding`` (:func:`verdict_phrase`), ``ahead`` (on how many seeds
    ``score`` is higher) and ``seeds``.
    """
    mine, theirs = result.summary(score, metric), result.summary(other, metric)
    difference = result.paired_difference(score, other, metric)
    ahead = int(np.sum(result.per_seed(score, metric) > result.per_seed(other, metric)))
    return {
        "mean": mine.mean,
        "se": mine.standard_error,
        "other_mean": theirs.mean,
        "other_se": theirs.standard_error,
        "difference": difference.mean,
        "difference_se": difference.standard_error,
        "verdict": verdict(difference),
        "detectable": detectable_difference(difference),
        "finding": verdict_phrase(difference),
        "ahead": ahead,
        "seeds": len(result.seeds),
    }


def summary_table(
    result: ProtocolResult, metrics: Sequence[str] = METRICS[1:]
) -> pd.DataFrame:
    """One row per score, one column per metric: ``"mean ± s.e."`` over seeds,
    averaged over the held-out digits.

    Two last columns test each score's mean ROC-AUC against chance, ``0.5``:
    ``"ROC-AUC against chance"`` is its :func:`verdict`, and ``"resolves"`` the
    smallest distance from chance the seeds could have called clear
    (:func:`snippets.chapters.comparison.detectable_difference`).
    """
    cells = {
        METRIC_LABELS[metric]: [
            _format(result.summary(score, metric)) for score in SCORE_NAMES
        ]
        for metric in metrics
    }
    cells["ROC-AUC against chance"] = [
        verdict(result.summary(score), reference=0.5) for score in SCORE_NAMES
    ]
    cells["resolves"] = [
        f"{detectable_difference(result.summary(score)):.3f}" for score in SCORE_NAMES
    ]
    return pd.DataFrame(
        cells,
        index=pd.Index([SCORE_LABELS[score] for score in SCORE_NAMES], name="score"),
    )


def not_above_chance(result: ProtocolResult) -> list[str]:
    """The labels of the scores whose mean ROC-AUC is not clearly above ``0.5``
    (:func:`verdict`), in the order of :data:`SCORE_NAMES`."""
    return [
        SCORE_LABELS[score]
        for score in SCORE_NAMES
        if verdict(result.summary(score), reference=0.5) != "clearly above"
    ]


def stopping_statement(result: ProtocolResult) -> str:
    """Markdown: how many network runs reached the epoch cap before the stopping
    rule ended them, and what that means for their numbers
    (:func:`snippets.chapters.stopping.stopping_statement`)."""
    summary = {model: result.stopping_summary(model) for model in LEARNED_MODELS}
    return stopping_rules.stopping_statement(summary, result.stopping.max_epochs)


def false_alarm_spread(
    n_valid_normal: int, n_test_normal: int, quantile: float = THRESHOLD_QUANTILE
) -> float:
    """How far a false-alarm rate measured at a threshold set on normal validation
    digits may stray from ``1 - quantile``.

    The standard error, for a score whose normal validation and test values are
    draws from one distribution: the threshold's own share of exceedances among
    ``n_valid_normal`` values and the measured share among ``n_test_normal``
    are each binomial, so
    ``sqrt(r (1 - r) (1 / n_valid_normal + 1 / n_test_normal))`` with
    ``r = 1 - quantile``. Seeds that share the validation digits share the
    first part, so averaging over them does not shrink it.
    """
    n_valid_normal = check_positive_int(n_valid_normal, "n_valid_normal")
    n_test_normal = check_positive_int(n_test_normal, "n_test_normal")
    rate = 1.0 - check_number(quantile, "quantile", low=0.0, high=1.0)
    return math.sqrt(rate * (1.0 - rate) * (1.0 / n_valid_normal + 1.0 / n_test_normal))


def unseen_digit_finding(word: str, digit: int) -> str:
    """Markdown stating what a verdict (:func:`verdict` of the ROC-AUC of a score
    that is minus a likelihood bound, against 0.5) says about the held-out
    ``digit``: given a larger bound on its likelihood than the trained digits, one
    not told apart, or a smaller one. The scores are bounds, so the finding is
    worded as one."""
    finding = {
        "clearly below": "the VAE gives the unseen ${d}$s a *larger* bound on their "
        "likelihood than normal digits of the classes it was trained on, so the "
        "phenomenon appears here, inside MNIST",
        "not clearly different from": "the VAE does not tell the unseen ${d}$s from "
        "normal digits of the classes it was trained on, a weaker form of the "
        "phenomenon",
        "clearly above": "the VAE gives the unseen ${d}$s a smaller bound on their "
        "likelihood than normal digits of the classes it was trained on, as a "
        "detector should, so the phenomenon does not appear for them here",
    }
    return finding[_check_choice(word, "word", tuple(finding))].replace(
        "{d}", str(check_digit(digit))
    )


def simple_input_conclusion(words: Sequence[str]) -> str:
    """Markdown concluding from the verdicts (:func:`verdict` against 0.5) of several
    scores' ROC-AUC for a held-out digit: whether any of them rated the unseen digit
    as normal, or all flagged it."""
    words = [
        _check_choice(
            word,
            "words",
            ("clearly below", "not clearly different from", "clearly above"),
        )
        for word in words
    ]
    if not words:
        raise ValueError("words must hold at least one verdict")
    if "clearly below" in words:
        return (
            "a score of how much there is to explain rated a simple input as normal "
            "although it was never seen"
        )
    if all(word == "clearly above" for word in words):
        return (
            "each still flagged the unseen digit more often than chance, though the "
            "ink correlations show how much of each score is how much there is to "
            "explain"
        )
    return "at least one of them could not tell the unseen digit from the normal ones"


def _format(value: MeanWithError) -> str:
    return f"{value.mean:.3f} ± {value.standard_error:.3f}"


# --- figures -------------------------------------------------------------------


def plot_metrics_per_digit(
    result: ProtocolResult, scores: Sequence[str] = SCORE_NAMES
) -> Figure:
    """ROC-AUC (left) and AUPRC (right) per held-out digit: mean ± s.e. over seeds,
    one marker per score.

    Chance is dashed: ``0.5`` for the ROC-AUC, the digit's share of the test
    digits for the AUPRC. A marker below it means the score rates that unseen
    digit as *more* normal than the digits it was fitted on.
    """
    scores = [_check_choice(score, "scores", SCORE_NAMES) for score in scores]
    digits = np.arange(len(result.digits))
    offsets = np.linspace(-0.35, 0.35, len(scores)) if len(scores) > 1 else np.zeros(1)
    fig = Figure(figsize=(10.0, 3.8), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, metric in zip(axes, ("roc_auc", "auprc")):
        for offset, score in zip(offsets, scores):
            values = [result.summary(score, metric, digit) for digit in result.digits]
            ax.errorbar(
                digits + offset,
                [v.mean for v in values],
                yerr=[v.standard_error for v in values],
                fmt="o",
                ms=4,
                capsize=2,
                label=SCORE_LABELS[score],
            )
        ax.set_xticks(digits, [str(d) for d in result.digits])
        ax.set_ylim(0.0, 1.0)
        ax.set_xlabel("held-out digit (the anomaly)")
        ax.set_ylabel(METRIC_LABELS[metric])
    axes[0].axhline(0.5, ls="--", color="gray")
    axes[1].hlines(
        [result.anomaly_share(d) for d in result.digits],
        digits - 0.45,
        digits + 0.45,
        ls="--",
        color="gray",
        label="chance",
    )
    axes[1].legend(fontsize=7, loc="upper right")
    return fig


def plot_score_histograms(
    scores: Mapping[str, np.ndarray], is_anomaly, bins: int = 40
) -> Figure:
    """Histograms of scores, normal test digits against held-out ones: one panel per
    named score.

    ``scores`` maps a name of :data:`SCORE_NAMES` to its values ``(n,)``;
    ``is_anomaly`` ``(n,)`` marks the held-out digits. Densities are normalised
    per group, so the two groups' sizes do not matter.
    """
    if not scores:
        raise ValueError("scores must name at least one score")
    is_anomaly = np.asarray(is_anomaly, dtype=bool)
    bins = check_positive_int(bins, "bins")
    fig = Figure(figsize=(3.3 * len(scores), 3.0), layout="constrained")
    axes = fig.subplots(1, len(scores), squeeze=False)[0]
    for ax, (name, values) in zip(axes, scores.items()):
        _check_choice(name, "scores", SCORE_NAMES)
        values = np.asarray(values)
        if values.shape != is_anomaly.shape:
            raise ValueError(
                f"is_anomaly has shape {is_anomaly.shape}, "
                f"scores[{name!r}] {values.shape}"
            )
        edges = np.histogram_bin_edges(values, bins=bins)
        ax.hist(
            values[~is_anomaly],
            edges,
            density=True,
            alpha=0.6,
            label="normal (classes seen in training)",
        )
        ax.hist(
            values[is_anomaly], edges, density=True, alpha=0.6, label="held-out digit"
        )
        ax.set_title(
            f"{SCORE_LABELS[name]}: AUC {roc_auc(values, is_anomaly):.2f}", fontsize=9
        )
        ax.set_xlabel("score (higher = more anomalous)")
    axes[0].set_ylabel("density")
    axes[0].legend(fontsize=7)
    return fig


def plot_validation_curves(result: ProtocolResult) -> Figure:
    """The held-back loss per epoch of every network run: the VAE's ``-ELBO`` (left)
    and the autoencoder's ``-log p(x|x_hat)`` (right), nats per digit.

    One line per seed and held-out digit; a dot marks the epoch whose weights were
    kept, and a dotted line the epoch cap.
    """
    fig = page_figure(3.2)
    axes = fig.subplots(1, len(LEARNED_MODELS))
    for ax, model in zip(axes, LEARNED_MODELS):
        for record in result.training_records(model):
            epochs = np.arange(1, record.epochs + 1)
            (line,) = ax.plot(epochs, record.val_loss, lw=1, alpha=0.7)
            ax.plot(
                record.best_epoch,
                record.val_loss[record.best_epoch - 1],
                "o",
                ms=4,
                color=line.get_color(),
            )
        ax.axvline(result.stopping.max_epochs, ls=":", color="gray", label="epoch cap")
        ax.set_xlabel("epoch")
        ax.set_title(model, fontsize=9)
    axes[0].set_ylabel("held-back loss (nats per digit)")
    axes[0].legend(fontsize=7)
    return fig
