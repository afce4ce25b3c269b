"""Collaborative filtering with a VAE: Mult-VAE (Liang et al., 2018) on implicit feedback.

Each user is a binary vector over the catalogue (1 = the user interacted with
the item). The model encodes a user's history into a Gaussian code and decodes
it into a multinomial distribution over items; ranking the items by that
distribution recommends. The data are MovieLens-1M ratings binarised at
``rating >= 4`` where they can be downloaded, and otherwise a clearly labelled
SYNTHETIC set with planted user tastes, so that the chapter runs offline; the
returned object and one printed line say which.

Evaluation follows Liang et al.: a set of held-out users never seen in
training, each with their interactions split into a *fold-in* part (given to
the model) and a *test* part (to be predicted); fold-in items are excluded from
the ranking.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from keras import layers
from matplotlib.figure import Figure

from snippets.data import DOWNLOAD_TIMEOUT_S, _socket_timeout
from snippets.likelihoods import Multinomial
from snippets.models import VAE, _dense_stack
from snippets.validation import check_number, check_positive_int

MOVIELENS_URL = "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
MOVIELENS_RATINGS = "ml-1m/ratings.dat"
SOURCES = ("auto", "movielens", "synthetic")
POSITIVE_RATING = 4
MIN_INTERACTIONS = 5


@dataclass(frozen=True)
class InteractionData:
    """Binary user-item matrices for training and for evaluation on held-out users.

    ``train`` is ``(n_train_users, n_items)``; ``fold_in`` and ``test`` are
    ``(n_heldout_users, n_items)`` and split each held-out user's interactions
    (no item is in both). All are float32 with values 0 or 1.
    """

    train: np.ndarray
    fold_in: np.ndarray
    test: np.ndarray
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
            f"raw must hold 4 fields per line (user::item::rating::timestamp), got {table.shape[1]}"
        )
    return table[:, :3]


def binarize_ratings(ratings: np.ndarray, threshold: int = POSITIVE_RATING) -> np.ndarray:
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
        raise FileNotFoundError(f"source {str(path)!r} is not a file; expected MovieLens-1M's ml-1m.zip")
    with zipfile.ZipFile(path) as archive:
        if MOVIELENS_RATINGS not in archive.namelist():
            raise KeyError(f"{path} holds no {MOVIELENS_RATINGS}; expected the ml-1m.zip of MovieLens-1M")
        return binarize_ratings(parse_movielens_ratings(archive.read(MOVIELENS_RATINGS)))


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
    counts = np.clip(rng.poisson(items_per_user, size=n_users), MIN_INTERACTIONS, n_items)
    matrix = np.zeros((n_users, n_items), np.float32)
    for user, (group, count) in enumerate(zip(groups, counts)):
        taste = np.zeros(n_items)
        taste[blocks[group]] = popularity[blocks[group]]
        weights = (1.0 - noise) * taste / taste.sum() + noise * popularity / popularity.sum()
        count = min(count, int(np.sum(weights > 0)))
        matrix[user, rng.choice(n_items, size=count, replace=False, p=weights)] = 1.0
    return matrix, groups


def split_heldout_users(
    matrix: np.ndarray, heldout_fraction: float = 0.2, test_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split users into training and held-out ones; split held-out users' items.

    Items no training user interacted with are dropped (the model could not
    score them). Each held-out user keeps a random ``1 - test_fraction`` of
    their items as fold-in and the rest (at least one) as test; held-out users
    left with fewer than 2 items are dropped.

    Returns:
        ``(train, fold_in, test)`` binary float32 matrices.
    """
    if not 0.0 < heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must lie in (0, 1), got {heldout_fraction}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(matrix))
    n_heldout = int(round(heldout_fraction * len(matrix)))
    heldout, train = matrix[order[:n_heldout]], matrix[order[n_heldout:]]
    seen = train.sum(axis=0) > 0
    train, heldout = train[:, seen], heldout[:, seen]
    heldout = heldout[heldout.sum(axis=1) >= 2]
    fold_in, test = heldout.copy(), np.zeros_like(heldout)
    for user, row in enumerate(heldout):
        items = np.flatnonzero(row)
        chosen = rng.choice(items, size=max(1, int(round(test_fraction * len(items)))), replace=False)
        fold_in[user, chosen], test[user, chosen] = 0.0, 1.0
    return train, fold_in, test


def load_interactions(
    source: str | Path = "auto",
    n_users: int = 2000,
    n_items: int = 300,
    seed: int = 0,
    verbose: bool = True,
) -> InteractionData:
    """User-item interactions split for training and held-out evaluation.

    Args:
        source: ``"movielens"`` (download MovieLens-1M, ratings >= 4 are
            interactions; raise if impossible), ``"synthetic"`` (the SYNTHETIC
            set of :func:`make_synthetic_interactions`, no network) or
            ``"auto"`` (MovieLens, falling back to synthetic), or the path of
            a local copy of MovieLens-1M's ``ml-1m.zip``, for machines without internet.
        n_users, n_items: size of the synthetic set (MovieLens has its own).
        seed: fixes the synthetic data and the held-out split.
        verbose: print one line naming the data that was used.
    """
    is_file = isinstance(source, Path) or (isinstance(source, str) and source.endswith(".zip"))
    if not is_file and source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES} or the path of ml-1m.zip, got {source!r}")
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
    train, fold_in, test = split_heldout_users(matrix, seed=seed)
    origin = {
        "movielens": "MovieLens-1M, ratings >= 4 as interactions",
        "synthetic": "SYNTHETIC implicit feedback with planted taste groups (not real users)",
    }[used]
    description = (
        f"{origin}; {train.shape[1]:,} items, {len(train):,} training users, "
        f"{len(test):,} held-out users, {int(matrix.sum()):,} interactions"
    )
    if verbose:
        print(f"Interaction data: {description}{reason}")
    return InteractionData(train, fold_in, test, used, description)


def build_mult_encoder(
    n_items: int, hidden_units: Sequence[int] = (600,), latent_dim: int = 200, dropout: float = 0.5
) -> keras.Model:
    """Mult-VAE inference network: ``(batch, n_items)`` to ``[z_mean, z_log_var]``.

    The click vector is scaled to unit length (users with many and few clicks
    give inputs of the same size), ``dropout`` of its entries are zeroed
    during training, then tanh layers lead to the Gaussian's parameters, each
    ``(batch, latent_dim)``.
    """
    n_items = check_positive_int(n_items, "n_items")
    latent_dim = check_positive_int(latent_dim, "latent_dim")
    dropout = check_number(dropout, "dropout", low=0.0, high=1.0, high_open=True)
    inputs = keras.Input(shape=(n_items,), name="clicks")
    x = layers.UnitNormalization(name="unit_length")(inputs)
    x = _dense_stack(layers.Dropout(dropout, name="input_dropout")(x), hidden_units, "encoder", "tanh")
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    return keras.Model(inputs, [z_mean, z_log_var], name="encoder")


def build_mult_decoder(n_items: int, hidden_units: Sequence[int] = (600,), latent_dim: int = 200) -> keras.Model:
    """Mult-VAE generative network: ``(batch, latent_dim)`` to item logits ``(batch, n_items)``."""
    n_items = check_positive_int(n_items, "n_items")
    latent_dim = check_positive_int(latent_dim, "latent_dim")
    inputs = keras.Input(shape=(latent_dim,), name="z")
    logits = layers.Dense(n_items, name="logits")(_dense_stack(inputs, hidden_units, "decoder", "tanh"))
    return keras.Model(inputs, logits, name="decoder")


def build_mult_vae(
    n_items: int,
    hidden_units: Sequence[int] = (600,),
    latent_dim: int = 200,
    *,
    dropout: float = 0.5,
    beta: float = 0.2,
    seed: int | None = None,
) -> VAE:
    """Mult-VAE: the package's :class:`snippets.VAE` with a multinomial likelihood over items.

    The loss per user is ``-sum_i x_i log softmax(logits)_i + beta * KL``;
    Liang et al. anneal ``beta`` from 0 to 0.2 (use :class:`snippets.KLWarmup`).
    ``model.reconstruct(clicks)`` gives each user's item probabilities
    ``(n_users, n_items)``, the scores to rank by.
    """
    encoder = build_mult_encoder(n_items, hidden_units, latent_dim, dropout)
    decoder = build_mult_decoder(n_items, hidden_units, latent_dim)
    return VAE(encoder, decoder, likelihood=Multinomial(), beta=beta, seed=seed)


def popularity_scores(train: np.ndarray, n_users: int) -> np.ndarray:
    """The popularity baseline: every user gets the items' training counts, ``(n_users, n_items)``."""
    n_users = check_positive_int(n_users, "n_users")
    return np.tile(np.asarray(train, np.float64).sum(axis=0), (n_users, 1))


def _ranked_hits(scores: np.ndarray, held_out: np.ndarray, k: int, exclude: np.ndarray | None) -> np.ndarray:
    """``(n_users, k)`` booleans: is the item at rank ``r`` a held-out item?"""
    scores = np.array(scores, dtype=np.float64)
    held_out = np.asarray(held_out) > 0
    if scores.ndim != 2 or scores.shape != held_out.shape:
        raise ValueError(
            f"scores and held_out must have the same 2-D shape, got {scores.shape} and {held_out.shape}"
        )
    k = check_positive_int(k, "k")
    if k > scores.shape[1]:
        raise ValueError(f"k must be <= the number of items ({scores.shape[1]}), got {k}")
    if not held_out.any(axis=1).all():
        raise ValueError("held_out has users without any held-out item; drop them before ranking")
    if exclude is not None:
        exclude = np.asarray(exclude) > 0
        if exclude.shape != scores.shape:
            raise ValueError(f"exclude must have shape {scores.shape}, got {exclude.shape}")
        scores[exclude] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(held_out, top, axis=1)


def recall_at_k(scores, held_out, k: int, exclude=None) -> np.ndarray:
    """Liang et al.'s Recall@k per user: ``hits in the top k / min(k, |held-out items|)``.

    Args:
        scores: ``(n_users, n_items)``, higher is recommended first (ties go to
            the lower item index).
        held_out: ``(n_users, n_items)`` binary, the items to be found.
        exclude: ``(n_users, n_items)`` binary, items never recommended (the
            fold-in items the model was given).

    Returns:
        ``(n_users,)`` values in ``[0, 1]``; 1 when the top k hold as many
        held-out items as they can.
    """
    hits = _ranked_hits(scores, held_out, k, exclude)
    n_relevant = (np.asarray(held_out) > 0).sum(axis=1)
    return hits.sum(axis=1) / np.minimum(k, n_relevant)


def ndcg_at_k(scores, held_out, k: int, exclude=None) -> np.ndarray:
    """Normalised discounted cumulative gain at ``k`` per user, ``(n_users,)``.

    ``DCG@k = sum_{r=1..k} hit_r / log2(r + 1)``, divided by its largest
    possible value, ``sum_{r=1..min(k, |held-out|)} 1 / log2(r + 1)``.
    Arguments as for :func:`recall_at_k`.
    """
    hits = _ranked_hits(scores, held_out, k, exclude)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    n_relevant = np.minimum(k, (np.asarray(held_out) > 0).sum(axis=1))
    ideal = np.cumsum(discounts)[n_relevant - 1]
    return (hits * discounts).sum(axis=1) / ideal


def plot_recall_curves(curves: Mapping[str, np.ndarray], ks: Sequence[int]) -> Figure:
    """Mean Recall@k against ``k``, one line per recommender: ``curves[name]`` is ``(len(ks),)``."""
    if not curves:
        raise ValueError("curves must hold at least one recommender")
    fig = Figure(figsize=(5.5, 3.6), layout="constrained")
    ax = fig.subplots()
    for name, values in curves.items():
        ax.plot(ks, values, marker=".", label=name)
    ax.set_xlabel("k (length of the recommendation list)")
    ax.set_ylabel("mean Recall@k, held-out users")
    ax.set_ylim(0.0, 1.0)
    ax.legend()
    return fig
