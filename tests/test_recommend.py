"""Mult-VAE, its rivals (popularity, item-kNN, EASE^R, Mult-DAE) and their evaluation: ranking
metrics, data and splits, closed-form weights, early stopping on validation NDCG, choice on
validation users, paired differences, saving, errors."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from scipy import stats

from snippets import VAE, Autoencoder, Multinomial
from snippets.applications.recommend import RankingEarlyStopping
from snippets.chapters import recommend
from snippets.chapters.cache import use_model_cache
from snippets.chapters.recommend import (
    Choice,
    HeldOutUsers,
    InteractionData,
    best_on_validation,
    binarize_ratings,
    build_mult_dae,
    build_mult_vae,
    choose_on_validation,
    ease_recommenders,
    ease_weights_from_gram,
    evaluate_runs,
    item_knn_recommenders,
    item_knn_weights_from_gram,
    load_interactions,
    make_synthetic_interactions,
    ndcg_at_k,
    paired_user_difference,
    parse_movielens_ratings,
    plot_recall_curves,
    plot_validation_curves,
    popularity_recommender,
    recall_at_k,
    recall_curve,
    split_heldout_users,
    stopping_statement,
    stopping_summary,
    train_mult_model,
)


def small_mult_vae(n_items: int, seed: int = 0) -> VAE:
    model = build_mult_vae(n_items, (32,), 8, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


def test_a_perfect_ranking_scores_one_on_both_metrics():
    held_out = np.array([[1, 0, 1, 0, 0], [0, 1, 0, 0, 0]])
    scores = held_out + 0.01 * np.arange(5)  # held-out items first
    assert np.allclose(recall_at_k(scores, held_out, 2), 1.0)
    assert np.allclose(ndcg_at_k(scores, held_out, 3), 1.0)


def test_ties_rank_as_a_full_stable_sort_would_place_them():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 4, size=(50, 30)).astype(float)  # many ties, also across the k-th place
    held_out = rng.random((50, 30)) < 0.3
    held_out[:, 0] = True
    exclude = rng.random((50, 30)) < 0.2
    ranked = np.where(exclude, -np.inf, scores)
    for k in (1, 7, 30):
        top = np.argsort(-ranked, axis=1, kind="stable")[:, :k]  # ties go to the lower item index
        hits = np.take_along_axis(held_out, top, axis=1).sum(axis=1)
        expected = hits / np.minimum(k, held_out.sum(axis=1))
        assert np.allclose(recall_at_k(scores, held_out, k, exclude), expected)
    assert np.allclose(recall_curve([lambda fold_in: scores], HeldOutUsers(exclude, held_out), [1, 30]),
                       [recall_at_k(scores, held_out, k, exclude).mean() for k in (1, 30)])


def test_metrics_match_a_hand_computed_ranking():
    # Ranking 4, 3, 2, 1, 0; held-out items 3 and 0 sit at ranks 2 and 5.
    scores = np.array([[0.0, 1.0, 2.0, 3.0, 4.0]])
    held_out = np.array([[1, 0, 0, 1, 0]])
    # Recall@3: one hit / min(3, 2) = 0.5. NDCG@3: (1/log2 3) / (1 + 1/log2 3).
    assert np.isclose(recall_at_k(scores, held_out, 3)[0], 0.5)
    assert np.isclose(ndcg_at_k(scores, held_out, 3)[0], (1 / np.log2(3)) / (1 + 1 / np.log2(3)))
    # Recall@1 divides by min(1, 2) = 1, not by the two held-out items.
    assert recall_at_k(scores, held_out, 1)[0] == 0.0
    assert np.isclose(recall_at_k(np.array([[0.0, 0, 0, 5, 0]]), held_out, 1)[0], 1.0)


def test_fold_in_items_are_never_recommended():
    # Items 0 and 1 score highest but were given to the model: the top two become 2 and 3.
    scores = np.array([[9.0, 8.0, 3.0, 2.0, 1.0]])
    fold_in = np.array([[1, 1, 0, 0, 0]])
    held_out = np.array([[0, 0, 1, 1, 0]])
    assert recall_at_k(scores, held_out, 2)[0] == 0.0
    assert recall_at_k(scores, held_out, 2, exclude=fold_in)[0] == 1.0
    assert ndcg_at_k(scores, held_out, 2, exclude=fold_in)[0] == 1.0


def test_users_of_a_taste_group_share_far_more_items_than_strangers():
    matrix, groups = make_synthetic_interactions(n_users=600, n_items=300, n_groups=6, seed=1)
    rows = matrix > 0
    overlap = (rows.astype(float) @ rows.T) / np.sqrt(np.outer(rows.sum(1), rows.sum(1)))  # cosine
    same = groups[:, None] == groups[None, :]
    np.fill_diagonal(same, False)
    different = groups[:, None] != groups[None, :]
    assert overlap[same].mean() > 5 * overlap[different].mean()


def test_synthetic_item_popularity_is_skewed():
    matrix, _ = make_synthetic_interactions(n_users=1000, n_items=300, seed=2)
    counts = np.sort(matrix.sum(axis=0))[::-1]
    assert counts[:30].sum() > 0.3 * counts.sum()  # the top 10% of items hold over 30% of clicks
    assert matrix.sum(axis=1).min() >= 5


def test_held_out_split_keeps_fold_in_and_held_out_items_disjoint_and_non_empty():
    matrix, _ = make_synthetic_interactions(n_users=300, n_items=100, seed=3)
    train, validation, test = split_heldout_users(matrix, seed=0)
    for users in (validation, test):
        assert train.shape[1] == users.fold_in.shape[1] == users.held_out.shape[1]
        assert not np.any((users.fold_in > 0) & (users.held_out > 0))
        assert users.held_out.sum(axis=1).min() >= 1 and users.fold_in.sum(axis=1).min() >= 1
    assert len(validation) == len(test) == 30 and len(train) == 240


def test_every_user_is_in_exactly_one_of_training_validation_and_test():
    matrix, _ = make_synthetic_interactions(n_users=300, n_items=100, seed=3)
    train, validation, test = split_heldout_users(matrix, seed=0)
    assert train.shape[1] == 100  # no item dropped, so whole rows can be compared
    rows = np.vstack([train, validation.fold_in + validation.held_out, test.fold_in + test.held_out])
    assert sorted(map(tuple, rows.tolist())) == sorted(map(tuple, matrix.tolist()))


def test_offline_source_is_the_labelled_synthetic_set(capsys, monkeypatch):
    monkeypatch.setattr(recommend, "_load_movielens", lambda: pytest.fail("must not download"))
    data = load_interactions("synthetic", n_users=200, n_items=50)
    assert isinstance(data, InteractionData) and data.source == "synthetic" and "SYNTHETIC" in data.description
    assert "SYNTHETIC" in capsys.readouterr().out


def test_movielens_lines_parse_and_binarize_at_four_stars():
    raw = b"".join(b"1::%d::%d::978300760\n" % (item, 5 if item < 6 else 3) for item in range(1, 9))
    raw += b"2::1::4::978300760\n"  # a user with one positive rating is dropped
    ratings = parse_movielens_ratings(raw)
    assert ratings.shape == (9, 3) and ratings[0].tolist() == [1, 1, 5]
    matrix = binarize_ratings(ratings)
    assert matrix.tolist() == [[1.0] * 5]


def test_mult_vae_learns_to_beat_popularity_and_reloads_identically(tmp_path):
    data = load_interactions("synthetic", n_users=600, n_items=60, verbose=False)
    model = small_mult_vae(data.n_items, seed=1)
    model.fit(data.train, epochs=15, batch_size=50, verbose=0)
    users = data.test
    scores = model.reconstruct(users.fold_in)
    popular = popularity_recommender(data.train)(users.fold_in)
    assert recall_at_k(scores, users.held_out, 10, users.fold_in).mean() > recall_at_k(
        popular, users.held_out, 10, users.fold_in
    ).mean()
    path = tmp_path / "mult_vae.keras"
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(restored, VAE) and isinstance(restored.likelihood, Multinomial)
    assert np.isclose(float(restored.beta.numpy()), 0.2)
    assert np.array_equal(restored.reconstruct(users.fold_in), scores)
    assert np.allclose(model.decode(np.zeros((2, 8))).sum(axis=1), 1.0, atol=1e-5)


def test_mult_dae_weight_penalty_adds_l2_times_the_squared_weight_matrices_to_the_batch_loss():
    dae = build_mult_dae(12, (8,), 3, l2=0.5)
    dae.compile(optimizer="adam")
    clicks = np.eye(12, dtype="float32")[:4] + np.eye(12, dtype="float32")[4:8]
    kernels = [v for network in (dae.encoder, dae.decoder) for v in network.trainable_weights if len(v.shape) == 2]
    assert len(kernels) == 4  # two Dense layers per network; their biases are not penalised
    penalty = 0.5 * sum(float(np.sum(keras.ops.convert_to_numpy(v) ** 2)) for v in kernels)
    plain = build_mult_dae(12, (8,), 3)
    plain.compile(optimizer="adam")
    plain.set_weights(dae.get_weights())
    with_penalty = dae.compute_loss(clicks, y_pred=dae(clicks), training=False)
    without = plain.compute_loss(clicks, y_pred=plain(clicks), training=False)
    assert float(with_penalty) - float(without) == pytest.approx(penalty, rel=1e-5)
    with pytest.raises(ValueError, match="l2"):
        build_mult_dae(12, (8,), 3, l2=-1.0)


def test_mult_dae_is_the_mult_vae_networks_as_a_denoising_autoencoder(tmp_path):
    dae, vae = build_mult_dae(12, (8,), 3), build_mult_vae(12, (8,), 3)
    assert isinstance(dae, Autoencoder) and isinstance(dae.likelihood, Multinomial)
    assert dae.encoder.output_shape == (None, 3)
    # The same decoder; the encoder differs only by the second head (z_log_var: 8 * 3 + 3 weights).
    assert dae.decoder.count_params() == vae.decoder.count_params()
    assert vae.encoder.count_params() - dae.encoder.count_params() == 8 * 3 + 3
    clicks = np.eye(12, dtype="float32")[:4] + np.eye(12, dtype="float32")[4:8]
    codes = [keras.ops.convert_to_numpy(dae.encoder(clicks, training=training)) for training in (False, False, True)]
    assert np.array_equal(codes[0], codes[1])
    assert not np.allclose(codes[2], codes[0])  # the input dropout is on while training
    assert np.allclose(dae.reconstruct(clicks).sum(axis=1), 1.0, atol=1e-5)
    dae(clicks)  # build the model itself, not only its networks, before saving
    dae.save(tmp_path / "mult_dae.keras")
    restored = keras.saving.load_model(tmp_path / "mult_dae.keras", safe_mode=True)
    assert np.array_equal(restored.reconstruct(clicks), dae.reconstruct(clicks))


def test_training_is_reproducible_per_seed_and_anneals_beta_to_its_final_value():
    data = load_interactions("synthetic", n_users=100, n_items=20, seed=4, verbose=False)
    options = dict(hidden_units=(8,), latent_dim=3, max_epochs=4, warmup_epochs=2, batch_size=20)
    first, again = (train_mult_model(data.train, data.validation, beta=0.5, seed=7, **options) for _ in range(2))
    other = train_mult_model(data.train, data.validation, beta=0.5, seed=8, **options)
    assert isinstance(first.model, VAE) and np.isclose(float(first.model.beta.numpy()), 0.5)
    assert first.model.history.history["beta"][:2] == [0.25, 0.5]
    assert np.array_equal(first.recommend(data.train), again.recommend(data.train))
    assert not np.allclose(first.recommend(data.train), other.recommend(data.train))
    assert first.best_epoch >= 2  # epochs still warming the KL weight up are never kept
    dae = train_mult_model(data.train, data.validation, beta=None, seed=7, **options)
    assert isinstance(dae.model, Autoencoder)


def test_training_stops_on_validation_ndcg_and_keeps_the_best_epoch():
    data = load_interactions("synthetic", n_users=300, n_items=40, seed=5, verbose=False)
    run = train_mult_model(data.train, data.validation, beta=None, seed=0, hidden_units=(16,), latent_dim=4,
                           max_epochs=60, patience=2, batch_size=30, learning_rate=1e-2)
    assert not run.capped and run.epochs == run.best_epoch + 2 < 60
    assert len(run.validation_ndcg) == run.epochs
    assert run.validation_ndcg[run.best_epoch - 1] == max(run.validation_ndcg)
    kept = recommend.ranking_quality(run.recommend, data.validation, k=data.n_items).mean()
    assert kept == pytest.approx(max(run.validation_ndcg), abs=1e-6)
    capped = train_mult_model(data.train, data.validation, beta=None, seed=0, hidden_units=(16,), latent_dim=4,
                              max_epochs=2, warmup_epochs=1, patience=5, batch_size=30)
    summary = stopping_summary([run, capped])
    assert capped.capped and capped.epochs == 2
    assert summary == {"median": (run.epochs + 2) / 2, "low": 2, "high": run.epochs,
                       "median_best": (run.best_epoch + capped.best_epoch) / 2, "capped": 1, "runs": 2}


def test_a_mult_model_is_loaded_the_second_time_with_how_its_training_ended(tmp_path):
    data = load_interactions("synthetic", n_users=100, n_items=20, seed=4, verbose=False)
    options = dict(hidden_units=(8,), latent_dim=3, max_epochs=6, warmup_epochs=2, patience=1,
                   batch_size=20)
    use_model_cache(tmp_path)
    try:
        for beta in (0.5, None):
            trained, loaded = (train_mult_model(data.train, data.validation, beta=beta, seed=3, **options)
                               for _ in range(2))
            assert (loaded.epochs, loaded.best_epoch, loaded.capped, loaded.validation_ndcg) == (
                trained.epochs, trained.best_epoch, trained.capped, trained.validation_ndcg)
            assert np.array_equal(loaded.recommend(data.train), trained.recommend(data.train))
    finally:
        use_model_cache(None)
    assert json.loads((tmp_path / "counts.json").read_text()) == {"trained": 2, "loaded": 2}


class ScriptedScores(keras.Model):
    """Every user gets the same item scores, a weight that a test sets epoch by epoch."""

    def __init__(self, n_items: int):
        super().__init__()
        self.scores = self.add_weight(shape=(n_items,), initializer="zeros", name="scores")

    def call(self, x):
        return x * 0.0 + self.scores

    def reconstruct(self, x):
        return np.tile(keras.ops.convert_to_numpy(self.scores), (len(x), 1))


class SetScores(keras.callbacks.Callback):
    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule

    def on_epoch_end(self, epoch, logs=None):
        self.model.scores.assign(self.schedule[epoch])


def fit_scripted(schedule, **options):
    """Fit :class:`ScriptedScores` (no learning) whose scores follow ``schedule``, one row per epoch."""
    fold_in = np.array([[1, 0, 0, 0], [1, 0, 0, 0]], np.float32)
    held_out = np.array([[0, 1, 0, 0], [0, 1, 1, 0]], np.float32)  # items 1 and 2 are wanted
    model = ScriptedScores(4)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    stopper = RankingEarlyStopping(fold_in, held_out, k=2, **options)
    history = model.fit(fold_in, fold_in, epochs=len(schedule), verbose=0,
                        callbacks=[SetScores(schedule), stopper])
    return model, stopper, history


# Item 1 and 2 ranked: last (bad), then best, then mediocre for ever after.
SCHEDULE = np.array([[0, 0, 1, 2], [0, 2, 1, 0], *[[0, 1, 0, 2]] * 8], np.float32)


def test_ranking_early_stopping_restores_the_best_epochs_weights_and_stops():
    model, stopper, history = fit_scripted(SCHEDULE, patience=3)
    assert np.array_equal(keras.ops.convert_to_numpy(model.scores), SCHEDULE[1])
    assert stopper.best_epoch == 1 and stopper.best == 1.0 and stopper.stopped
    assert stopper.epochs_run == len(history.history["val_ndcg"]) == 5  # 3 epochs without a better one
    assert history.history["val_ndcg"][1] == 1.0 > history.history["val_ndcg"][2]


def test_ranking_early_stopping_ignores_epochs_before_its_start_and_reports_a_capped_run():
    model, stopper, _ = fit_scripted(SCHEDULE[:4], patience=5, start_from_epoch=2)
    assert stopper.best_epoch == 2 and not stopper.stopped and stopper.epochs_run == 4
    assert np.array_equal(keras.ops.convert_to_numpy(model.scores), SCHEDULE[2])


@pytest.mark.parametrize(
    "options, error, match",
    [
        (dict(held_out=np.ones((2, 3))), ValueError, "same 2-D shape"),
        (dict(held_out=np.zeros((2, 4))), ValueError, "without any held-out"),
        (dict(k=5), ValueError, r"k must be <= the number of items \(4\)"),
        (dict(patience=0), ValueError, "patience must be an integer >= 1"),
        (dict(min_delta=-0.1), ValueError, "min_delta must be a finite number"),
        (dict(start_from_epoch=-1), ValueError, "start_from_epoch must be a non-negative integer"),
        (dict(start_from_epoch=1.5), TypeError, "start_from_epoch must be a non-negative integer"),
    ],
)
def test_ranking_early_stopping_names_a_bad_argument(options, error, match):
    arguments = dict(fold_in=np.ones((2, 4)), held_out=np.eye(2, 4), k=2) | options
    with pytest.raises(error, match=match):
        RankingEarlyStopping(**arguments)


def test_ranking_early_stopping_needs_a_model_that_scores_items():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(TypeError, match="needs a model with reconstruct"):
        model.fit(np.ones((2, 4)), np.ones((2, 4)), verbose=0,
                  callbacks=[RankingEarlyStopping(np.ones((2, 4)), np.eye(2, 4), k=2)])


def test_item_knn_scores_by_cosine_similarity_over_the_nearest_neighbours():
    x = (np.random.default_rng(8).random((50, 6)) < 0.5).astype(np.float64)
    x[:, 5] = 0.0  # an item nobody clicked is similar to nothing
    cosine = (x.T @ x) / np.sqrt(np.outer(x.sum(0), x.sum(0)) + 1e-300)
    np.fill_diagonal(cosine, 0.0)
    everyone = item_knn_weights_from_gram(x.T @ x, 5)
    assert np.allclose(everyone, cosine) and np.all(everyone[:, 5] == 0.0)
    nearest = item_knn_weights_from_gram(x.T @ x, 2)
    for j in range(5):  # each item keeps its two most similar items, and only them
        kept = np.flatnonzero(nearest[:, j])
        assert len(kept) == 2 and set(kept) == set(np.argsort(-cosine[:, j], kind="stable")[:2])
        assert np.allclose(nearest[kept, j], cosine[kept, j])
    grid = item_knn_recommenders(x.astype(np.float32), [2, 5])
    assert list(grid) == [2.0, 5.0] and np.allclose(grid[2.0](x[:3]), x[:3] @ nearest)


def test_validation_curves_draw_every_run_and_mark_its_kept_epoch():
    runs = [recommend.MultRun(None, 3, 2, False, (0.1, 0.3, 0.2)), recommend.MultRun(None, 2, 2, True, (0.2, 0.4))]
    (ax,) = plot_validation_curves({"Mult-VAE": runs[:1], "Mult-DAE": runs[1:]}).axes
    assert len(ax.lines) == 4 and [t.get_text() for t in ax.get_legend().get_texts()] == ["Mult-VAE", "Mult-DAE"]
    assert ax.lines[1].get_xydata().tolist() == [[2.0, 0.3]]
    with pytest.raises(ValueError, match="at least one training run"):
        plot_validation_curves({"Mult-VAE": []})


def ease_by_direct_solves(x: np.ndarray, l2: float) -> np.ndarray:
    """Column j of B: ridge regression of item j on all the other items, its own weight fixed at 0."""
    n_items = x.shape[1]
    weights = np.zeros((n_items, n_items))
    for j in range(n_items):
        others = np.delete(np.arange(n_items), j)
        a = x[:, others]
        weights[others, j] = np.linalg.solve(a.T @ a + l2 * np.eye(n_items - 1), a.T @ x[:, j])
    return weights


@pytest.mark.parametrize("l2", [0.5, 10.0])
def test_ease_closed_form_solves_the_constrained_least_squares(l2):
    x = (np.random.default_rng(5).random((40, 7)) < 0.4).astype(np.float64)
    weights = ease_weights_from_gram(x.T @ x, l2)
    assert np.all(np.diag(weights) == 0.0)
    assert np.allclose(weights, ease_by_direct_solves(x, l2), atol=1e-10)


def test_every_ease_of_a_grid_scores_as_its_own_closed_form():
    x = (np.random.default_rng(5).random((40, 7)) < 0.4).astype(np.float32)
    grid = ease_recommenders(x, [0.5, 10.0])
    assert list(grid) == [0.5, 10.0]
    for l2, recommend in grid.items():
        expected = x[:3] @ ease_by_direct_solves(x.astype(np.float64), l2)
        assert np.allclose(recommend(x[:3]), expected, atol=1e-9)


def test_ease_recommends_what_co_occurs_and_never_a_fold_in_item_once_excluded():
    # Two blocks of items that are always clicked together: 0-2 and 3-5.
    train = np.repeat(np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], np.float32), 10, axis=0)
    fold_in = np.array([[1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 0]], np.float32)
    scores = ease_recommenders(train, [1.0])[1.0](fold_in)
    assert scores.shape == (2, 6) and np.argmax(scores[0]) == 2 and np.argmax(scores[1]) in (3, 5)
    # With the fold-in items excluded, none of them is ever in the top k, however high it scores.
    assert np.all(recall_at_k(scores, fold_in, 4, exclude=fold_in) == 0.0)
    assert np.all(recall_at_k(scores + 10 * fold_in, fold_in, 1) == 1.0)


def small_data() -> InteractionData:
    fold_in = np.array([[1, 0, 0, 0], [0, 1, 0, 0]], np.float32)
    held_out = np.array([[0, 0, 1, 0], [0, 0, 0, 1]], np.float32)
    users = HeldOutUsers(fold_in, held_out)
    return InteractionData(np.ones((3, 4), np.float32), users, users, "synthetic", "tiny")


def perfect(fold_in):
    return np.array([[0, 0, 2, 1], [0, 0, 1, 2]], np.float64)[: len(fold_in)]


def worst(fold_in):
    return np.array([[0, 2, 0, 1], [2, 0, 1, 0]], np.float64)[: len(fold_in)]


def test_validation_choice_keeps_the_best_ranking_value_and_reports_all():
    choice = choose_on_validation({0.1: worst, 1.0: perfect}, small_data().validation, k=2)
    assert choice.best == 1.0 and choice.validation_ndcg[1.0] == 1.0 > choice.validation_ndcg[0.1]
    assert Choice(2.0, {0.5: 0.25, 2.0: 0.5}).describe("λ") == "λ = 0.5: 0.250, λ = 2: 0.500"


def test_runs_hold_one_row_per_run_and_one_run_has_no_spread():
    data = small_data()
    runs = {name: evaluate_runs(runs, data, recall_k=1, ndcg_k=2)
            for name, runs in (("perfect", [perfect]), ("mixed", [perfect, worst, perfect]))}
    assert runs["mixed"].test_ndcg.shape == runs["mixed"].test_recall.shape == (3, 2)
    assert runs["perfect"].test_summary()["ndcg"].standard_error == 0.0
    assert runs["perfect"].test_summary()["recall"].mean == 1.0
    assert runs["mixed"].test_summary()["recall"].standard_error > 0.0
    assert best_on_validation(runs) == "perfect"
    assert np.allclose(recall_curve([perfect, worst], data.test, [1, 2]), [0.5, 0.5])  # the mean of 1 and 0


def test_paired_user_difference_adds_the_runs_and_users_errors_before_reading_the_direction():
    rng = np.random.default_rng(6)
    baseline = rng.random((3, 200))
    ahead = paired_user_difference(baseline + 0.1 + 0.01 * rng.standard_normal((3, 200)), baseline)
    assert np.isclose(ahead.mean, 0.1, atol=0.01) and ahead.verdict == "ahead of" and ahead.runs_ahead == 3
    assert paired_user_difference(baseline - 0.1, baseline).verdict == "behind"
    spread = 0.1 * rng.standard_normal((3, 200))
    noise = paired_user_difference(baseline + spread - spread.mean(), baseline)  # differences averaging 0
    assert noise.across_users > 0 and noise.verdict == "level with"
    variance = noise.across_runs**2 + noise.across_users**2  # both sources, Welch's degrees of freedom
    degrees = variance**2 / (noise.across_runs**4 / 2 + noise.across_users**4 / 199)
    t = stats.t.ppf(0.975, int(degrees))
    assert noise.detectable == pytest.approx(t * np.sqrt(variance), rel=1e-6)
    assert noise.error.n == int(degrees + 1e-9) + 1 and noise.n_users == 200
    one_run = paired_user_difference(baseline, baseline[:1])  # a deterministic baseline meets every run
    assert one_run.n_runs == 3 and np.isclose(one_run.mean, (baseline - baseline[0]).mean())


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: recall_at_k(np.zeros((2, 5)), np.ones((2, 5)), 0), ValueError, "k must be"),
        (lambda: recall_at_k(np.zeros((2, 5)), np.ones((2, 5)), 6), ValueError, "k must be <="),
        (lambda: ndcg_at_k(np.zeros((2, 5)), np.ones((2, 4)), 2), ValueError, "same 2-D shape"),
        (lambda: recall_at_k(np.zeros((2, 5)), np.zeros((2, 5)), 2), ValueError, "without any held-out"),
        (lambda: recall_at_k(np.zeros((1, 5)), np.ones((1, 5)), 2, np.ones((1, 4))), ValueError, "exclude"),
        (lambda: make_synthetic_interactions(n_users=0), ValueError, "n_users"),
        (lambda: make_synthetic_interactions(noise=1.5), ValueError, "noise"),
        (lambda: split_heldout_users(np.ones((4, 4)), heldout_fraction=1.0), ValueError, "heldout_fraction"),
        (lambda: load_interactions("imdb"), ValueError, "source must be"),
        (lambda: build_mult_vae(10, dropout=1.0), ValueError, r"dropout must be a finite number in \[0, 1\)"),
        (lambda: parse_movielens_ratings(b"1::2::3\n"), ValueError, "4 fields"),
        (lambda: ease_weights_from_gram(np.eye(3), 0.0), ValueError, "l2 must be"),
        (lambda: ease_recommenders(np.ones(3), [1.0]), ValueError, "train"),
        (lambda: item_knn_weights_from_gram(np.eye(3), 0), ValueError, "n_neighbours must be"),
        (lambda: train_mult_model(np.ones((4, 4)), small_data().validation, beta=0.2, seed=0,
                                  max_epochs=2, warmup_epochs=3), ValueError, "warmup_epochs must be <="),
        (lambda: stopping_summary([]), ValueError, "at least one training run"),
        (lambda: choose_on_validation({}, small_data().test), ValueError, "candidates"),
        (lambda: evaluate_runs([], small_data()), ValueError, "recommenders"),
        (lambda: paired_user_difference(np.ones((2, 3)), np.ones((2, 4))), ValueError, "same users"),
        (lambda: paired_user_difference(np.ones((3, 3)), np.ones((2, 3))), ValueError, "one run or"),
        (lambda: split_heldout_users(np.ones((4, 4)), heldout_fraction=0.2), ValueError, "at least 2 held"),
    ],
)
def test_bad_arguments_raise_errors_naming_them(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_recall_figure_draws_one_line_per_recommender_and_needs_one():
    curves = {"Mult-VAE": np.array([0.3, 0.5]), "popularity": np.array([0.1, 0.2])}
    (ax,) = plot_recall_curves(curves, [10, 20]).axes
    assert [line.get_label() for line in ax.lines] == list(curves)
    assert np.array_equal(ax.lines[0].get_xdata(), [10, 20])
    with pytest.raises(ValueError, match="curves must hold at least one recommender"):
        plot_recall_curves({}, [10])


def test_a_local_movielens_zip_loads_without_a_network_and_a_bad_one_is_named(tmp_path, monkeypatch):
    import zipfile

    monkeypatch.setattr(recommend.keras.utils, "get_file", lambda *a, **k: pytest.fail("must not download"))
    lines = [f"{user}::{item}::5::978300760" for user in range(1, 41) for item in range(1, 8)]
    with zipfile.ZipFile(tmp_path / "ml-1m.zip", "w") as archive:
        archive.writestr("ml-1m/ratings.dat", "\n".join(lines) + "\n")
    data = load_interactions(tmp_path / "ml-1m.zip", verbose=False)
    assert data.source == "movielens" and data.n_items == 7
    assert len(data.train) + len(data.validation) + len(data.test) == 40
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
        archive.writestr("readme.txt", "not MovieLens")
    with pytest.raises(KeyError, match=r"other.zip holds no ml-1m/ratings.dat"):
        load_interactions(tmp_path / "other.zip")
    with pytest.raises(FileNotFoundError, match=r"missing.zip' is not a file"):
        load_interactions(str(tmp_path / "missing.zip"))


def test_stopping_statement_says_whether_any_run_reached_the_cap():
    stopped = recommend.MultRun(None, 8, 5, False, (0.1,) * 8)
    capped = recommend.MultRun(None, 20, 20, True, (0.1,) * 20)
    assert stopping_statement([stopped, stopped], 20).startswith("none of the 2 runs reached the cap of 20")
    assert stopping_statement([stopped, capped], 20).startswith("1 of the 2 runs reached the cap of 20")
    with pytest.raises(ValueError, match="max_epochs must be"):
        stopping_statement([stopped], 0)
