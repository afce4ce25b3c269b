"""Collaborative filtering with a VAE: Mult-VAE (Liang et al., 2018) on implicit
feedback.

Each user is a binary vector over the catalogue (1 = the user interacted with
the item). The model encodes a user's history into a Gaussian code and decodes
it into a multinomial distribution over items; ranking the items by that
distribution recommends. The data are MovieLens-1M ratings binarised at
``rating >= 4`` where they can be downloaded, and otherwise a clearly labelled
SYNTHETIC set with planted user tastes, so that the chapter runs offline; the
returned object and one printed line say which.

Evaluation follows Liang et al.: users never seen in training are held out,
half of them to choose hyperparameters (validation users) and half to report
(test users); each held-out user's interactions are split into a *fold-in*
part (given to the recommender) and a *held-out* part (to be found), and
fold-in items are excluded from the ranking. The rivals are popularity,
item-kNN (cosine item-item similarity), EASE^R (Steck, 2019; a closed-form
item-item model) and Mult-DAE (the same networks as a denoising autoencoder).
Both networks train until the validation users' NDCG@100 stops rising.

The models and the metrics are :mod:`snippets.applications.recommend`'s, for reuse;
this module holds the chapter's data, training runs and comparisons.
"""

from __future__ import annotations

import io
import textwrap
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import scipy.linalg
from matplotlib.figure import Figure
from threadpoolctl import threadpool_limits

from snippets.chapters.comparison import (
    detectable_difference,
    direction,
    independent_errors,
)
from snippets.callbacks import KLWarmup
from snippets.chapters import stopping as stopping_rules
from snippets.chapters.cache import cached_training
from snippets.chapters.plotting import page_figure
from snippets.data import DOWNLOAD_TIMEOUT_S, _socket_timeout
from snippets.evaluation import MeanWithError, mean_and_standard_error
from snippets.applications.recommend import (
    MULT_DAE_L2,
    RankingEarlyStopping,
    Recommender,
    _ranked_hits,
    _recall,
    build_mult_dae,
    build_mult_decoder,
    build_mult_encoder,
    build_mult_vae,
    ndcg_at_k,
    popularity_recommender,
    recall_at_k,
)
from snippets.models import VAE, Autoencoder
from snippets.validation import check_array, check_number, check_positive_int

MOVIELENS_URL = "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
MOVIELENS_RATINGS = "ml-1m/ratings.dat"
SOURCES = ("auto", "movielens", "synthetic")
POSITIVE_RATING = 4
MIN_INTERACTIONS = 5
RECALL_K, NDCG_K = 20, 100  # Liang et al.'s list lengths
RANKING_RECORD = "ranking_stopping"  # where fit_mult_model's History says how it ended


@dataclass(frozen=True)
class HeldOutUsers:
    """Users never trained on: the clicks a recommender reads and the ones it must find.

    ``fold_in`` and ``held_out`` are binary float32 ``(n_users, n_items)``
    matrices that split each user's interactions (no item is in both).
    """

    fold_in: np.ndarray
    held_out: np.ndarray

    def __len__(self) -> int:
        return len(self.fold_in)


@dataclass(frozen=True)
class InteractionData:
    """Binary user-item matrices: training users, and disjoint validation and test
    users.

    ``train`` is ``(n_train_users, n_items)`` float32 with values 0 or 1;
    ``validation`` (for choosing hyperparameters) and ``test`` (for the final
    report) hold other users, split into fold-in and held-out items.
    """

    train: np.ndarray
    validation: HeldOutUsers
    test: HeldOutUsers
    source: str
    description: str

    @property
    def n_items(self) -> int:
        return self.train.shape[1]


def parse_movielens_ratings(raw: bytes) -> np.ndarray:
    """Parse MovieLens-1M ``ratings.dat`` (``user::item::rating::timestamp`` lines).

    Returns:
        ``(n_ratings, 3)`` int64 array of user id, item id and rating.
    """
    lines = io.BytesIO(raw.replace(b"::", b"\t"))
    table = np.loadtxt(lines, dtype=np.int64, delimiter="\t", ndmin=2)
    if table.shape[1] != 4:
        raise ValueError(
            "raw must hold 4 fields per line (user::item::rating::timestamp), got "
            f"{table.shape[1]}"
        )
    return table[:, :3]


def binarize_ratings(
    ratings: np.ndarray, threshold: int = POSITIVE_RATING
) -> np.ndarray:
    """Keep ratings ``>= threshold`` as interactions and drop users with fewer than 5.

    Args:
        ratings: ``(n, 3)`` user id, item id, rating.

    Returns:
        A binary ``(n_users, n_items)`` float32 matrix, users and items
        renumbered in order of their ids.
    """
    positive = ratings[ratings[:, 2] >= threshold]
    users, user_index = np.unique(positive[:, 0], return_inverse=True)
    _, item_index = np.unique(positive[:, 1], return_inverse=True)
    matrix = np.zeros((len(users), item_index.max() + 1), np.float32)
    matrix[user_index, item_index] = 1.0
    return matrix[matrix.sum(axis=1) >= MIN_INTERACTIONS]


def _load_movielens(path: str | Path | None = None) -> np.ndarray:
    """The binarised MovieLens-1M matrix, from a local ``ml-1m.zip`` or downloaded."""
    if path is None:
        with _socket_timeout(DOWNLOAD_TIMEOUT_S):
            path = keras.utils.get_file("ml-1m.zip", MOVIELENS_URL)
    elif not Path(path).is_file():
        raise FileNotFoundError(
            f"source {str(path)!r} is not a file; expected MovieLens-1M's ml-1m.zip"
        )
    with zipfile.ZipFile(path) as archive:
        if MOVIELENS_RATINGS not in archive.namelist():
            raise KeyError(
                f"{path} holds no {MOVIELENS_RATINGS}; expected the ml-1m.zip of "
                "MovieLens-1M"
            )
        return binarize_ratings(
            parse_movielens_ratings(archive.read(MOVIELENS_RATINGS))
        )


def make_synthetic_interactions(
    n_users: int = 2000,
    n_items: int = 300,
    n_groups: int = 6,
    items_per_user: int = 15,
    noise: float = 0.2,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """SYNTHETIC implicit feedback with planted tastes and a popularity skew.

    Items have Zipf-like popularity ``w_j = 1 / (j + 10)``, shuffled. Each of
    ``n_groups`` taste groups prefers its own disjoint block of
    ``n_items / n_groups`` items. A user of group ``g`` interacts with a
    random number of items (``items_per_user`` on average, at least 5), drawn
    without replacement from the mixture ``(1 - noise) * w restricted to g's
    block + noise * w`` (each part normalised).

    Returns:
        ``(matrix, groups)``: the binary ``(n_users, n_items)`` float32 matrix
        and each user's group ``(n_users,)``.
    """
    n_users = check_positive_int(n_users, "n_users")
    n_items = check_positive_int(n_items, "n_items")
    n_groups = check_positive_int(n_groups, "n_groups")
    items_per_user = check_positive_int(items_per_user, "items_per_user")
    if n_groups > n_items:
        raise ValueError(f"n_groups must be <= n_items ({n_items}), got {n_groups}")
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must lie in [0, 1], got {noise}")
    rng = np.random.default_rng(seed)
    popularity = rng.permutation(1.0 / (np.arange(n_items) + 10.0))
    blocks = np.array_split(rng.permutation(n_items), n_groups)
    groups = rng.integers(n_groups, size=n_users)
    counts = np.clip(
        rng.poisson(items_per_user, size=n_users), MIN_INTERACTIONS, n_items
    )
    matrix = np.zeros((n_users, n_items), np.float32)
    for user, (group, count) in enumerate(zip(groups, counts)):
        taste = np.zeros(n_items)
        taste[blocks[group]] = popularity[blocks[group]]
        weights = (
            1.0 - noise
        ) * taste / taste.sum() + noise * popularity / popularity.sum()
        count = min(count, int(np.sum(weights > 0)))
        matrix[user, rng.choice(n_items, size=count, replace=False, p=weights)] = 1.0
    return matrix, groups


def split_fold_in(
    users: np.ndarray, test_fraction: float, rng: np.random.Generator
) -> HeldOutUsers:
    """Hide a random ``test_fraction`` of each user's items (at least one) from the
    recommender.

    Users with fewer than 2 items are dropped; the rest keep the other items as fold-in.
    """
    users = users[users.sum(axis=1) >= 2]
    fold_in, held_out = users.copy(), np.zeros_like(users)
    for user, row in enumerate(users):
        items = np.flatnonzero(row)
        chosen = rng.choice(
            items, size=max(1, int(round(test_fraction * len(items)))), replace=False
        )
        fold_in[user, chosen], held_out[user, chosen] = 0.0, 1.0
    return HeldOutUsers(fold_in, held_out)


def split_heldout_users(
    matrix: np.ndarray,
    heldout_fraction: float = 0.2,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[np.ndarray, HeldOutUsers, HeldOutUsers]:
    """Split users into training, validation and test users; split the last two's items.

    A random ``heldout_fraction`` of the users is held out and cut in half:
    validation users, then test users. Items no training user interacted with
    are dropped (no model could score them). Each held-out user's items are
    split by :func:`split_fold_in`.

    Returns:
        ``(train, validation, test)``: the binary float32 training matrix and
        the two disjoint sets of held-out users.
    """
    if not 0.0 < heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must lie in (0, 1), got {heldout_fraction}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(matrix))
    n_heldout = int(round(heldout_fraction * len(matrix)))
    if n_heldout < 2:
        raise ValueError(
            f"heldout_fraction * {len(matrix)} users must give at least 2 held-out "
            f"users, got {n_heldout}"
        )
    train = matrix[order[n_heldout:]]
    seen = train.sum(axis=0) > 0
    validation, test = (
        matrix[part][:, seen] for part in np.array_split(order[:n_heldout], 2)
    )
    validation, test = (
        split_fold_in(users, test_fraction, rng) for users in (validation, test)
    )
    return train[:, seen], validation, test


def load_interactions(
    source: str | Path = "auto",
    n_users: int = 2000,
    n_items: int = 300,
    seed: int = 0,
    verbose: bool = True,
) -> InteractionData:
    """User-item interactions split into training, validation and test users.

    Args:
        source: ``"movielens"`` (download MovieLens-1M, ratings >= 4 are
            interactions; raise if impossible), ``"synthetic"`` (the SYNTHETIC
            set of :func:`make_synthetic_interactions`, no network) or
            ``"auto"`` (MovieLens, falling back to synthetic), or the path of
            a local copy of MovieLens-1M's ``ml-1m.zip``, for machines without internet.
        n_users, n_items: size of the synthetic set (MovieLens has its own).
        seed: fixes the synthetic data and the split of users and items.
        verbose: print one line naming the data that was used.
    """
    is_file = isinstance(source, Path) or (
        isinstance(source, str) and source.endswith(".zip")
    )
    if not is_file and source not in SOURCES:
        raise ValueError(
            f"source must be one of {SOURCES} or the path of ml-1m.zip, got {source!r}"
        )
    used, reason = ("movielens", "") if is_file else (source, "")
    if is_file:
        matrix = _load_movielens(source)
    elif source in ("auto", "movielens"):
        try:
            matrix, used = _load_movielens(), "movielens"
        except Exception as error:  # get_file raises a bare Exception on URL errors
            if source == "movielens":
                raise
            used, reason = "synthetic", f" (MovieLens download failed: {error})"
    if used == "synthetic":
        matrix, _ = make_synthetic_interactions(n_users, n_items, seed=seed)
    train, validation, test = split_heldout_users(matrix, seed=seed)
    origin = {
        "movielens": "MovieLens-1M, ratings >= 4 as interactions",
        "synthetic": (
            "SYNTHETIC implicit feedback with planted taste groups (not real users)"
        ),
    }[used]
    description = (
        f"{origin}; {train.shape[1]:,} items, {len(train):,} training users, "
        f"{len(validation):,} validation and {len(test):,} test users, "
        f"{int(matrix.sum()):,} interactions"
    )
    if verbose:
        print(textwrap.fill(f"Interaction data: {description}{reason}", width=88))
    return InteractionData(train, validation, test, used, description)


@dataclass(frozen=True)
class MultRun:
    """One early-stopped training of Mult-VAE or Mult-DAE.

    ``model`` holds the weights of ``best_epoch`` (counted from 1), the epoch
    whose validation NDCG@100 was highest; ``epochs`` is how many epochs ran,
    ``capped`` whether they reached the cap before the stopping rule ended
    them, and ``validation_ndcg`` ``(epochs,)`` the validation users' mean
    NDCG@100 after each epoch.
    """

    model: VAE | Autoencoder
    epochs: int
    best_epoch: int
    capped: bool
    validation_ndcg: tuple[float, ...]

    @property
    def recommend(self) -> Recommender:
        """The trained model's scores for fold-in clicks, ``model.reconstruct``."""
        return self.model.reconstruct


def train_mult_model(
    train: np.ndarray, validation: HeldOutUsers, **settings: Any
) -> MultRun:
    """Train Mult-VAE on ``train`` ``(n_users, n_items)``, Mult-DAE if ``beta`` is None,
    until the ``validation`` users' NDCG@100 stops rising, and say how the training
    ended. ``settings`` are :func:`fit_mult_model`'s keyword arguments."""
    model, history = fit_mult_model(train, validation, **settings)
    record = history.params[RANKING_RECORD]
    return MultRun(
        model=model,
        epochs=record["epochs_run"],
        best_epoch=record["best_epoch"],
        capped=not record["stopped"],
        validation_ndcg=tuple(history.history["val_ndcg"]),
    )


@cached_training
def fit_mult_model(
    train: np.ndarray,
    validation: HeldOutUsers,
    *,
    beta: float | None,
    seed: int,
    hidden_units: Sequence[int] = (600,),
    latent_dim: int = 200,
    max_epochs: int = 200,
    patience: int = 10,
    warmup_epochs: int = 20,
    batch_size: int = 100,
    learning_rate: float = 1e-3,
) -> tuple[VAE | Autoencoder, keras.callbacks.History]:
    """Mult-VAE trained on ``train`` ``(n_users, n_items)``, Mult-DAE if ``beta`` is
    None, with its ``History``.

    Mult-DAE carries Liang et al.'s weight penalty, ``MULT_DAE_L2 / batch_size``
    per squared weight (:func:`build_mult_dae`); Mult-VAE, as in their code, none.
    Mult-VAE's KL weight rises linearly from 0 to ``beta`` over the first
    ``warmup_epochs`` epochs and then stays (Liang et al.'s annealing).

    Training stops after ``patience`` epochs without a better validation
    NDCG@100, or at ``max_epochs``, and keeps the best epoch's weights
    (:class:`RankingEarlyStopping`; NDCG over every item where there are fewer
    than 100); for Mult-VAE only epochs at the final ``beta`` are eligible. The
    history logs ``val_ndcg`` after every epoch, and its
    ``params["ranking_stopping"]`` records ``epochs_run``, ``best_epoch`` (counted
    from 1) and ``stopped`` (whether the rule, not the cap, ended training).
    ``seed`` fixes the initial weights, the input dropout and the sampling of codes.
    The function goes through the model cache (:mod:`snippets.chapters.cache`); a
    Mult-DAE loaded from it ranks as the trained one did but no longer carries the
    weight penalty, which only training uses.
    """
    keras.utils.set_random_seed(seed)
    max_epochs = check_positive_int(max_epochs, "max_epochs")
    warmup_epochs = check_positive_int(warmup_epochs, "warmup_epochs")
    if warmup_epochs > max_epochs:
        raise ValueError(
            f"warmup_epochs must be <= max_epochs ({max_epochs}), got {warmup_epochs}"
        )
    n_items = train.shape[1]
    if beta is None:
        model = build_mult_dae(
            n_items, hidden_units, latent_dim, l2=MULT_DAE_L2 / batch_size
        )
        callbacks, first_eligible = [], 0
    else:
        model = build_mult_vae(n_items, hidden_units, latent_dim, beta=beta, seed=seed)
        callbacks = [KLWarmup(warmup_epochs=warmup_epochs, final_beta=beta)]
        first_eligible = warmup_epochs - 1  # the epoch at which beta reaches its value
    stopper = RankingEarlyStopping(
        validation.fold_in,
        validation.held_out,
        k=min(NDCG_K, n_items),
        patience=patience,
        start_from_epoch=first_eligible,
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate))
    history = model.fit(
        train,
        epochs=max_epochs,
        batch_size=batch_size,
        verbose=0,
        callbacks=[*callbacks, stopper],
    )
    history.params[RANKING_RECORD] = {
        "epochs_run": stopper.epochs_run,
        "best_epoch": stopper.best_epoch + 1,
        "stopped": stopper.stopped,
    }
    return model, history


def stopping_summary(runs: Sequence[MultRun]) -> dict[str, float | int]:
    """How ``runs`` ended (:func:`snippets.chapters.stopping.stopping_summary` of one
    model): ``median``, ``low`` and ``high`` of the epochs they ran, ``median_best`` of
    the epochs whose weights they kept, ``capped`` (how many reached the epoch cap
    first) and ``runs``."""
    if not runs:
        raise ValueError("runs must hold at least one training run")
    return stopping_rules.stopping_summary({"runs": runs})["runs"]


def stopping_statement(runs: Sequence[MultRun], max_epochs: int) -> str:
    """Markdown: how many of ``runs`` reached the cap of ``max_epochs`` epochs before
    their validation NDCG@100 stopped rising, and what that means for their numbers
    (:func:`snippets.chapters.stopping.stopping_statement`)."""
    return stopping_rules.stopping_statement(
        {"runs": stopping_summary(runs)},
        max_epochs,
        stopped_because="its validation NDCG@100 had stopped rising",
    )


def plot_validation_curves(runs: Mapping[str, Sequence[MultRun]]) -> Figure:
    """Validation NDCG@100 after each epoch, one line per run, one colour per model;
    a dot marks the epoch each run kept."""
    if not runs or not all(runs.values()):
        raise ValueError("runs must map each model name to at least one training run")
    fig = page_figure(3.6)
    ax = fig.subplots()
    for colour, (name, model_runs) in enumerate(runs.items()):
        for index, run in enumerate(model_runs):
            epochs = np.arange(1, run.epochs + 1)
            label = name if index == 0 else None
            ax.plot(epochs, run.validation_ndcg, color=f"C{colour}", lw=1, label=label)
            best = run.validation_ndcg[run.best_epoch - 1]
            ax.plot(run.best_epoch, best, "o", color=f"C{colour}", ms=4)
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean NDCG@100, validation users")
    ax.legend()
    return fig


def ease_weights_from_gram(gram: np.ndarray, l2: float) -> np.ndarray:
    """EASE^R's item-item weights ``(n_items, n_items)`` from ``gram = X^T X``.

    ``B`` minimises ``||X - X B||_F^2 + l2 ||B||_F^2`` subject to
    ``diag(B) = 0`` (an item may not predict itself). With
    ``P = (X^T X + l2 I)^{-1}`` the minimiser is ``B = I - P diagMat(1 / diag(P))``,
    that is ``B_ij = -P_ij / P_jj`` off the diagonal: one matrix inverse, no training.
    BLAS runs on one thread: for a matrix of this size more threads only
    contend, and on a busy machine slow the inverse tenfold.
    """
    l2 = check_number(l2, "l2", low=0.0, low_open=True)
    with threadpool_limits(limits=1, user_api="blas"):
        inverse = scipy.linalg.inv(gram + l2 * np.eye(len(gram)))
    weights = -inverse / np.diag(inverse)
    np.fill_diagonal(weights, 0.0)
    return weights


def _gram(train: np.ndarray) -> np.ndarray:
    """``X^T X`` of the binary clicks ``X`` ``(n_users, n_items)``, in float64:
    ``(n_items, n_items)``."""
    x = check_array(train, "train", (None,), low=0.0).astype(np.float64)
    with threadpool_limits(limits=1, user_api="blas"):
        return x.T @ x


def ease_recommenders(
    train: np.ndarray, l2_grid: Sequence[float]
) -> dict[float, Recommender]:
    """EASE^R for each weight in ``l2_grid``: a user's scores are ``fold_in @ B``.

    ``X^T X`` is formed once for the whole grid; each weight costs one inverse.
    """
    gram = _gram(train)
    return {
        float(l2): _linear_scores(ease_weights_from_gram(gram, l2)) for l2 in l2_grid
    }


def item_knn_weights_from_gram(gram: np.ndarray, n_neighbours: int) -> np.ndarray:
    """Item-kNN's weights ``(n_items, n_items)`` from ``gram = X^T X``.

    The cosine similarity of items ``i`` and ``j`` over the training users is
    ``S_ij = G_ij / sqrt(G_ii G_jj)`` (0 for an item nobody clicked), with
    ``S_jj = 0``. Each column ``j`` keeps only its ``n_neighbours`` largest
    entries, the items most similar to ``j``, so a user's score for ``j`` is the
    summed similarity of the items they clicked among ``j``'s neighbours
    (Sarwar et al., 2001; Deshpande and Karypis, 2004).
    """
    n_neighbours = check_positive_int(n_neighbours, "n_neighbours")
    norms = np.sqrt(np.diag(gram))
    with np.errstate(invalid="ignore", divide="ignore"):
        similarity = np.nan_to_num(gram / np.outer(norms, norms), posinf=0.0)
    np.fill_diagonal(similarity, 0.0)
    if n_neighbours < len(gram) - 1:
        weakest = np.argpartition(-similarity, n_neighbours, axis=0)[n_neighbours:]
        np.put_along_axis(similarity, weakest, 0.0, axis=0)
    return similarity


def item_knn_recommenders(
    train: np.ndarray, neighbour_grid: Sequence[int]
) -> dict[float, Recommender]:
    """Item-kNN for each neighbourhood size in ``neighbour_grid``: a user's scores are
    ``fold_in @ W`` (:func:`item_knn_weights_from_gram`)."""
    gram = _gram(train)
    return {
        float(n): _linear_scores(item_knn_weights_from_gram(gram, n))
        for n in neighbour_grid
    }


def _linear_scores(weights: np.ndarray) -> Recommender:
    """The recommender whose scores are ``fold_in @ weights``."""

    def recommend(fold_in: np.ndarray) -> np.ndarray:
        return np.asarray(fold_in, np.float64) @ weights

    return recommend


def ranking_quality(
    recommend: Recommender,
    users: HeldOutUsers,
    metric: Callable[..., np.ndarray] = ndcg_at_k,
    k: int = NDCG_K,
) -> np.ndarray:
    """``metric`` at ``k`` of each user's ranking, fold-in items excluded:
    ``(n_users,)``."""
    return metric(recommend(users.fold_in), users.held_out, k, users.fold_in)


@dataclass(frozen=True)
class Choice:
    """The candidate value with the highest mean validation NDCG, and every
    candidate's."""

    best: float
    validation_ndcg: dict[float, float]

    def describe(self, symbol: str) -> str:
        """``"symbol = value: NDCG"`` for every candidate, e.g.
        ``"β = 0.2: 0.412, β = 1: 0.398"``."""
        return ", ".join(
            f"{symbol} = {value:g}: {ndcg:.3f}"
            for value, ndcg in self.validation_ndcg.items()
        )


def choose_on_validation(
    candidates: Mapping[float, Recommender], users: HeldOutUsers, *, k: int = NDCG_K
) -> Choice:
    """Pick the hyperparameter whose recommender ranks ``users`` (validation users) best
    by NDCG@k.

    ``candidates`` maps each value tried to the recommender trained or fitted with it.
    """
    if not candidates:
        raise ValueError("candidates must hold at least one recommender")
    scores = {
        float(value): float(ranking_quality(recommend, users, k=k).mean())
        for value, recommend in candidates.items()
    }
    return Choice(best=max(scores, key=scores.get), validation_ndcg=scores)


@dataclass(frozen=True)
class RankingRuns:
    """Per-user ranking quality of one recommender, a row per training run:
    ``(n_runs, n_users)``.

    A deterministic recommender (popularity, EASE^R) has one run.
    """

    validation_ndcg: np.ndarray
    test_recall: np.ndarray
    test_ndcg: np.ndarray

    def test_summary(self) -> dict[str, MeanWithError]:
        """Mean test Recall@20 and NDCG@100 over runs, with their standard errors across
        runs."""
        per_run = {
            "recall": self.test_recall.mean(axis=1),
            "ndcg": self.test_ndcg.mean(axis=1),
        }
        return {
            name: mean_and_standard_error(values) for name, values in per_run.items()
        }


def evaluate_runs(
    recommenders: Sequence[Recommender],
    data: InteractionData,
    *,
    recall_k: int = RECALL_K,
    ndcg_k: int = NDCG_K,
) -> RankingRuns:
    """Validation NDCG@100, test Recall@20 and test NDCG@100 (default ``k``) of each run
    of a recommender."""
    if not recommenders:
        raise ValueError("recommenders must hold at least one run")

    def rows(
        users: HeldOutUsers, metric: Callable[..., np.ndarray], k: int
    ) -> np.ndarray:
        return np.stack(
            [ranking_quality(recommend, users, metric, k) for recommend in recommenders]
        )

    return RankingRuns(
        validation_ndcg=rows(data.validation, ndcg_at_k, ndcg_k),
        test_recall=rows(data.test, recall_at_k, recall_k),
        test_ndcg=rows(data.test, ndcg_at_k, ndcg_k),
    )


def best_on_validation(runs: Mapping[str, RankingRuns]) -> str:
    """The name of the recommender with the highest mean validation NDCG@100."""
    return max(runs, key=lambda name: runs[name].validation_ndcg.mean())


@dataclass(frozen=True)
class PairedDifference:
    """A model's metric minus a baseline's on the same test users, with two standard
    errors.

    ``across_runs`` is the spread from training (the runs' mean differences, over
    ``n_runs`` runs); ``across_users`` the spread from which users were drawn
    (each user's difference averaged over runs, over ``n_users`` users).
    ``runs_ahead`` counts runs with a positive mean difference.
    """

    mean: float
    across_runs: float
    across_users: float
    runs_ahead: int
    n_runs: int
    n_users: int

    @property
    def error(self) -> MeanWithError:
        """The difference with both sources of spread added and Welch's degrees of
        freedom (:func:`snippets.chapters.comparison.independent_errors`).

        The users' error is computed from run-averaged differences, so it holds a
        little of the runs' spread too: the sum is slightly conservative.
        """
        return independent_errors(
            self.mean,
            [
                MeanWithError(self.mean, self.across_runs, self.n_runs),
                MeanWithError(self.mean, self.across_users, self.n_users),
            ],
        )

    @property
    def verdict(self) -> str:
        """``"ahead of"``, ``"behind"`` or ``"level with"``: does the 95 % Student-t
        interval of :attr:`error` exclude zero
        (:func:`snippets.chapters.comparison.direction`)?"""
        return direction(
            self.error, below="behind", above="ahead of", level="level with"
        )

    @property
    def detectable(self) -> float:
        """The half-width of the interval :attr:`verdict` reads: a measured difference
        inside it is called level
        (:func:`snippets.chapters.comparison.detectable_difference`)."""
        return detectable_difference(self.error)


def paired_user_difference(model: np.ndarray, baseline: np.ndarray) -> PairedDifference:
    """Compare per-user metrics ``(n_runs, n_users)``; a one-run baseline is paired with
    every run."""
    model, baseline = np.asarray(model, np.float64), np.asarray(baseline, np.float64)
    if model.ndim != 2 or baseline.ndim != 2 or model.shape[1] != baseline.shape[1]:
        shapes = f"{model.shape} and {baseline.shape}"
        raise ValueError(
            f"model and baseline must be (n_runs, n_users), same users, got {shapes}"
        )
    if len(baseline) not in (1, len(model)):
        raise ValueError(
            f"baseline must have one run or as many as model ({len(model)}): "
            f"{len(baseline)}"
        )
    differences = model - baseline
    per_run = mean_and_standard_error(differences.mean(axis=1))
    per_user = mean_and_standard_error(differences.mean(axis=0))
    ahead = int(np.sum(differences.mean(axis=1) > 0))
    return PairedDifference(
        per_run.mean,
        per_run.standard_error,
        per_user.standard_error,
        ahead,
        n_runs=len(differences),
        n_users=differences.shape[1],
    )


def recall_curve(
    recommenders: Sequence[Recommender], users: HeldOutUsers, ks: Sequence[int]
) -> np.ndarray:
    """Mean Recall@k over runs and users for each ``k`` in ``ks``: ``(len(ks),)``.

    Each run's ranking is computed once, to the largest ``k``.
    """
    per_run = []
    for recommend in recommenders:
        hits = _ranked_hits(
            recommend(users.fold_in), users.held_out, max(ks), users.fold_in
        )
        per_run.append([_recall(hits, users.held_out, k).mean() for k in ks])
    return np.mean(per_run, axis=0)


def plot_recall_curves(curves: Mapping[str, np.ndarray], ks: Sequence[int]) -> Figure:
    """Mean Recall@k against ``k``, one line per recommender: ``curves[name]`` is
    ``(len(ks),)``."""
    if not curves:
        raise ValueError("curves must hold at least one recommender")
    fig = page_figure(3.6)
    ax = fig.subplots()
    for name, values in curves.items():
        ax.plot(ks, values, marker=".", label=name)
    ax.set_xlabel("k (length of the recommendation list)")
    ax.set_ylabel("mean Recall@k, test users")
    ax.set_ylim(0.0, 1.0)
    ax.legend()
    return fig
