"""Mult-VAE and its evaluation: ranking metrics, data, likelihood, saving, errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from snippets import VAE, Multinomial
from snippets.chapters import recommend
from snippets.chapters.recommend import (
    InteractionData,
    binarize_ratings,
    build_mult_vae,
    load_interactions,
    make_synthetic_interactions,
    ndcg_at_k,
    parse_movielens_ratings,
    plot_recall_curves,
    popularity_scores,
    recall_at_k,
    split_heldout_users,
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


def test_held_out_split_keeps_fold_in_and_test_disjoint_and_non_empty():
    matrix, _ = make_synthetic_interactions(n_users=300, n_items=100, seed=3)
    train, fold_in, test = split_heldout_users(matrix, seed=0)
    assert train.shape[1] == fold_in.shape[1] == test.shape[1]
    assert not np.any((fold_in > 0) & (test > 0))
    assert test.sum(axis=1).min() >= 1 and fold_in.sum(axis=1).min() >= 1
    assert len(train) + len(test) == 300


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
    scores = model.reconstruct(data.fold_in)
    popular = popularity_scores(data.train, len(data.test))
    assert recall_at_k(scores, data.test, 10, data.fold_in).mean() > recall_at_k(popular, data.test, 10, data.fold_in).mean()
    path = tmp_path / "mult_vae.keras"
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(restored, VAE) and isinstance(restored.likelihood, Multinomial)
    assert np.isclose(float(restored.beta.numpy()), 0.2)
    assert np.array_equal(restored.reconstruct(data.fold_in), scores)
    assert np.allclose(model.decode(np.zeros((2, 8))).sum(axis=1), 1.0, atol=1e-5)


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
    assert len(data.train) + len(data.test) == 40
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
        archive.writestr("readme.txt", "not MovieLens")
    with pytest.raises(KeyError, match=r"other.zip holds no ml-1m/ratings.dat"):
        load_interactions(tmp_path / "other.zip")
    with pytest.raises(FileNotFoundError, match=r"missing.zip' is not a file"):
        load_interactions(str(tmp_path / "missing.zip"))
