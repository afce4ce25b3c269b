"""Recommending with a VAE: Mult-VAE and Mult-DAE (Liang et al., 2018) and their ranking
metrics.

Each user is a binary click vector over the catalogue ``(n_items,)``. The
networks encode a user's history into a code and decode it into a multinomial
distribution over items; ranking the items by that distribution recommends.
:func:`recall_at_k` and :func:`ndcg_at_k` score a ranking against the items a
user was hiding, per user, the items the model was given excluded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np
from keras import layers

from snippets.likelihoods import Multinomial
from snippets.models import VAE, Autoencoder, build_dense_decoder, build_dense_encoder
from snippets.validation import check_number, check_positive_int, check_seed

Recommender = Callable[[np.ndarray], np.ndarray]
"""Fold-in clicks ``(n_users, n_items)`` to scores ``(n_users, n_items)``; higher is
recommended first."""


def build_mult_encoder(
    n_items: int,
    hidden_units: Sequence[int] = (600,),
    latent_dim: int = 200,
    *,
    dropout: float = 0.5,
    variational: bool = True,
) -> keras.Model:
    """Mult-VAE inference network: ``(batch, n_items)`` to ``[z_mean, z_log_var]``.

    The click vector is scaled to unit length (users with many and few clicks
    give inputs of the same size), ``dropout`` of its entries are zeroed
    during training, then the book's dense encoder with tanh layers gives the
    Gaussian's parameters, each ``(batch, latent_dim)``. With
    ``variational=False`` it gives one code ``(batch, latent_dim)``: Mult-DAE's encoder.
    """
    n_items = check_positive_int(n_items, "n_items")
    dropout = check_number(dropout, "dropout", low=0.0, high=1.0, high_open=True)
    inputs = keras.Input(shape=(n_items,), name="clicks")
    x = layers.UnitNormalization(name="unit_length")(inputs)
    x = layers.Dropout(dropout, name="input_dropout")(x)
    mlp = build_dense_encoder(
        latent_dim,
        input_dim=n_items,
        hidden_units=hidden_units,
        variational=variational,
        activation="tanh",
        name="mlp",
    )
    return keras.Model(inputs, mlp(x), name="encoder")


def build_mult_decoder(
    n_items: int, hidden_units: Sequence[int] = (600,), latent_dim: int = 200
) -> keras.Model:
    """Mult-VAE generative network: ``(batch, latent_dim)`` to item logits
    ``(batch, n_items)``."""
    return build_dense_decoder(
        latent_dim, output_dim=n_items, hidden_units=hidden_units, activation="tanh"
    )


def build_mult_vae(
    n_items: int,
    hidden_units: Sequence[int] = (600,),
    latent_dim: int = 200,
    *,
    dropout: float = 0.5,
    beta: float = 0.2,
    seed: int | None = None,
) -> VAE:
    """Mult-VAE: :class:`snippets.VAE` with a multinomial likelihood over items.

    The loss per user is ``-sum_i x_i log softmax(logits)_i + beta * KL``;
    Liang et al. anneal ``beta`` from 0 to 0.2 (use :class:`snippets.KLWarmup`).
    ``model.reconstruct(clicks)`` gives each user's item probabilities
    ``(n_users, n_items)``, the scores to rank by.
    """
    encoder = build_mult_encoder(n_items, hidden_units, latent_dim, dropout=dropout)
    decoder = build_mult_decoder(n_items, hidden_units, latent_dim)
    return VAE(encoder, decoder, likelihood=Multinomial(), beta=beta, seed=seed)


def build_mult_dae(
    n_items: int,
    hidden_units: Sequence[int] = (600,),
    latent_dim: int = 200,
    *,
    dropout: float = 0.5,
    l2: float = 0.0,
) -> Autoencoder:
    """Mult-DAE: Mult-VAE's networks and likelihood, without code noise or KL.

    A denoising autoencoder, :class:`snippets.Autoencoder`: the input dropout
    corrupts the clicks, and the loss per user is ``-sum_i x_i log
    softmax(logits)_i`` for the logits decoded from the one code. Each batch's
    mean loss gets ``l2 * sum(W ** 2)`` over every weight matrix ``W`` (not the
    biases), the penalty of Liang et al.'s code (:data:`MULT_DAE_L2`).
    """
    encoder = build_mult_encoder(
        n_items, hidden_units, latent_dim, dropout=dropout, variational=False
    )
    decoder = build_mult_decoder(n_items, hidden_units, latent_dim)
    l2 = check_number(l2, "l2", low=0.0)
    if l2 > 0:
        for network in (encoder, decoder):
            for variable in network.trainable_weights:
                if len(variable.shape) == 2:  # a Dense kernel
                    variable.regularizer = keras.regularizers.L2(l2)
    return Autoencoder(encoder, decoder, likelihood=Multinomial())


MULT_DAE_L2 = 0.01
"""Liang et al.'s weight penalty for Mult-DAE, per batch: their loss is the batch's mean
negative log-likelihood plus ``(0.01 / batch_size) * sum(W ** 2)`` over the weight
matrices."""


def popularity_recommender(train: np.ndarray) -> Recommender:
    """The popularity baseline: every user gets the items' training counts as scores."""
    counts = np.asarray(train, np.float64).sum(axis=0)

    def recommend(fold_in: np.ndarray) -> np.ndarray:
        return np.tile(counts, (len(fold_in), 1))

    return recommend


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """``(n_users, k)`` item indices of each row's ``k`` highest scores, best first.

    The same as ``argsort(-scores, kind="stable")[:, :k]`` (ties go to the lower
    item index) without sorting whole rows: the ``k``-th largest score is found
    by partition, the items above it and the first tied ones are kept, and only
    those ``k`` are sorted.
    """
    threshold = np.partition(scores, -k, axis=1)[:, [-k]]
    above, tied = scores > threshold, scores == threshold
    free_places = k - above.sum(axis=1, keepdims=True)
    chosen = np.nonzero(above | (tied & (np.cumsum(tied, axis=1) <= free_places)))[
        1
    ].reshape(len(scores), k)
    order = np.argsort(
        -np.take_along_axis(scores, chosen, axis=1), axis=1, kind="stable"
    )
    return np.take_along_axis(chosen, order, axis=1)


def _ranked_hits(
    scores: np.ndarray, held_out: np.ndarray, k: int, exclude: np.ndarray | None
) -> np.ndarray:
    """``(n_users, k)`` booleans: is the item at rank ``r`` a held-out item?"""
    scores = np.array(scores, dtype=np.float64)
    held_out = np.asarray(held_out) > 0
    if scores.ndim != 2 or scores.shape != held_out.shape:
        raise ValueError(
            f"scores and held_out must have the same 2-D shape, got {scores.shape} "
            f"and {held_out.shape}"
        )
    k = check_positive_int(k, "k")
    if k > scores.shape[1]:
        raise ValueError(
            f"k must be <= the number of items ({scores.shape[1]}), got {k}"
        )
    if not held_out.any(axis=1).all():
        raise ValueError(
            "held_out has users without any held-out item; drop them before ranking"
        )
    if exclude is not None:
        exclude = np.asarray(exclude) > 0
        if exclude.shape != scores.shape:
            raise ValueError(
                f"exclude must have shape {scores.shape}, got {exclude.shape}"
            )
        scores[exclude] = -np.inf
    return np.take_along_axis(held_out, _top_k(scores, k), axis=1)


def _recall(hits: np.ndarray, held_out: np.ndarray, k: int) -> np.ndarray:
    """Recall@k per user from the first ``k`` columns of :func:`_ranked_hits`."""
    n_relevant = (np.asarray(held_out) > 0).sum(axis=1)
    return hits[:, :k].sum(axis=1) / np.minimum(k, n_relevant)


def recall_at_k(scores, held_out, k: int, exclude=None) -> np.ndarray:
    """Recall@k per user (Liang et al.): ``hits in top k / min(k, |held-out items|)``.

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
    return _recall(_ranked_hits(scores, held_out, k, exclude), held_out, k)


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


class RankingEarlyStopping(keras.callbacks.Callback):
    """Stop training once validation users' NDCG@k stops rising; keep the best epoch.

    After every epoch the model ranks every item for each validation user from
    their fold-in clicks ``fold_in`` ``(n_users, n_items)`` (``model.reconstruct``,
    the fold-in items excluded), and the mean :func:`ndcg_at_k` of the items
    they hid, ``held_out`` ``(n_users, n_items)``, is logged as ``val_ndcg``:
    Liang et al.'s selection rule, written as a callback. An epoch at or after
    ``start_from_epoch`` (counted from 0) that beats the best so far by more
    than ``min_delta`` becomes the best, and its weights are copied; after
    ``patience`` such epochs without a new best, training stops. When training
    ends, for whatever reason, the model gets the best epoch's weights back.

    Epochs before ``start_from_epoch`` are scored and logged but never kept
    (a KL weight still rising, say). The copies are NumPy arrays from
    ``get_weights``, so the callback works on every Keras backend.

    After ``fit``: ``best`` (the best mean NDCG@k, ``None`` if no epoch was
    eligible), ``best_epoch`` (counted from 0), ``epochs_run`` and
    ``stopped`` (``True`` if patience ran out, ``False`` if ``fit`` reached
    its last epoch first).
    """

    logged_names = ("val_ndcg",)

    def __init__(
        self,
        fold_in,
        held_out,
        *,
        k: int = 100,
        patience: int = 10,
        min_delta: float = 0.0,
        start_from_epoch: int = 0,
    ):
        super().__init__()
        self.fold_in = np.asarray(fold_in, np.float32)
        self.held_out = np.asarray(held_out, np.float32)
        if self.fold_in.ndim != 2 or self.fold_in.shape != self.held_out.shape:
            raise ValueError(
                "fold_in and held_out must have the same 2-D shape (n_users, n_items), "
                f"got {self.fold_in.shape} and {self.held_out.shape}"
            )
        if not (self.held_out > 0).any(axis=1).all():
            raise ValueError(
                "held_out has users without any held-out item; drop them first"
            )
        self.k = check_positive_int(k, "k")
        if self.k > self.fold_in.shape[1]:
            raise ValueError(
                f"k must be <= the number of items ({self.fold_in.shape[1]}), got {k}"
            )
        self.patience = check_positive_int(patience, "patience")
        self.min_delta = check_number(min_delta, "min_delta", low=0.0)
        self.start_from_epoch = check_seed(start_from_epoch, "start_from_epoch")
        self._reset()

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not callable(getattr(self.model, "reconstruct", None)):
            raise TypeError(
                "RankingEarlyStopping needs a model with reconstruct(clicks) giving "
                "item scores, such as Mult-VAE or Mult-DAE; got "
                f"{type(self.model).__name__}"
            )
        self._reset()

    def _reset(self) -> None:
        self.best, self.best_epoch, self._best_weights = None, None, None
        self.epochs_run, self.stopped, self._wait = 0, False, 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        scores = self.model.reconstruct(self.fold_in)
        ndcg = float(ndcg_at_k(scores, self.held_out, self.k, self.fold_in).mean())
        if logs is not None:
            logs["val_ndcg"] = ndcg
        self.epochs_run = epoch + 1
        if epoch < self.start_from_epoch:
            return
        if self.best is None or ndcg > self.best + self.min_delta:
            self.best, self.best_epoch, self._wait = ndcg, epoch, 0
            self._best_weights = self.model.get_weights()
            return
        self._wait += 1
        if self._wait >= self.patience:
            self.model.stop_training, self.stopped = True, True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._best_weights is not None:
            self.model.set_weights(self._best_weights)
