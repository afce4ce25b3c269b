"""snippets.applications: the reusable part of the application chapters, as public API."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import keras
import numpy as np
import pytest

import snippets.applications
from snippets import VAE, Multinomial, build_dense_decoder, build_dense_encoder
from snippets.applications import (
    MULT_DAE_L2,
    NUM_CLASSES,
    THRESHOLD_QUANTILE,
    Recommender,
    anomaly_scores,
    build_conditional_vae,
    build_mult_dae,
    build_mult_decoder,
    build_mult_encoder,
    build_mult_vae,
    decode_every_label,
    ndcg_at_k,
    one_hot_labels,
    popularity_recommender,
    recall_at_k,
    validation_threshold,
)

APPLICATIONS = Path(snippets.applications.__file__).parent
MODULES = ("recommend", "anomaly", "conditional")


def public_top_level_names(module: str) -> set[str]:
    """Names a module defines at top level without a leading underscore."""
    tree = ast.parse((APPLICATIONS / f"{module}.py").read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
    return {name for name in names if not name.startswith("_")}


# --- the subpackage -------------------------------------------------------------------


def test_all_lists_every_public_name_of_every_module_once():
    listed = snippets.applications.__all__
    assert len(listed) == len(set(listed))
    defined = set().union(*(public_top_level_names(module) for module in MODULES))
    assert set(listed) == defined
    for name in listed:
        assert getattr(snippets.applications, name) is not None


def test_the_subpackage_and_each_module_are_documented():
    for module in MODULES:
        assert f"snippets.applications.{module}" in snippets.applications.__doc__
        assert importlib.import_module(f"snippets.applications.{module}").__doc__.strip()
    for name in snippets.applications.__all__:
        value = getattr(snippets.applications, name)
        if inspect.isfunction(value) or inspect.isclass(value):
            assert (value.__doc__ or "").strip(), f"{name} has no docstring"


def test_the_chapters_use_the_very_objects_the_subpackage_defines():
    for module in MODULES:
        chapter = importlib.import_module(f"snippets.chapters.{module}")
        for name in public_top_level_names(module):
            if hasattr(chapter, name):
                assert getattr(chapter, name) is getattr(snippets.applications, name), f"{module}.{name} is a copy"


# --- recommending ---------------------------------------------------------------------


def test_a_perfect_ranking_has_recall_and_ndcg_one_and_the_reversed_ranking_less():
    held_out = np.array([[1, 1, 0, 0, 0, 0], [0, 0, 0, 1, 0, 1]], np.float32)
    perfect = held_out + np.linspace(0.1, 0.0, 6)  # held-out items first
    assert np.allclose(recall_at_k(perfect, held_out, 2), 1.0)
    assert np.allclose(ndcg_at_k(perfect, held_out, 4), 1.0)
    reversed_ranking = -perfect
    assert np.all(recall_at_k(reversed_ranking, held_out, 2) == 0.0)
    assert np.all(ndcg_at_k(reversed_ranking, held_out, 4) < 1.0)


def test_excluded_items_never_count_as_found():
    held_out = np.array([[1, 0, 1, 0]], np.float32)
    scores = np.array([[0.1, 0.9, 0.8, 0.0]])
    assert recall_at_k(scores, held_out, 1)[0] == 0.0
    assert recall_at_k(scores, held_out, 1, exclude=np.array([[0, 1, 0, 0]]))[0] == 1.0


def test_a_ranking_metric_names_a_k_beyond_the_catalogue():
    with pytest.raises(ValueError, match="k must be"):
        ndcg_at_k(np.zeros((1, 3)), np.ones((1, 3)), 4)


def test_the_mult_networks_map_clicks_to_a_gaussian_code_and_the_code_to_item_logits():
    clicks = np.eye(7, 30, dtype="float32")
    z_mean, z_log_var = build_mult_encoder(30, hidden_units=(16,), latent_dim=4)(clicks)
    assert z_mean.shape == z_log_var.shape == (7, 4)
    assert build_mult_decoder(30, hidden_units=(16,), latent_dim=4)(z_mean).shape == (7, 30)


def test_mult_dae_penalises_every_weight_matrix_and_no_bias():
    model = build_mult_dae(30, hidden_units=(16,), latent_dim=4, l2=MULT_DAE_L2)
    weights = [w for network in (model.encoder, model.decoder) for w in network.trainable_weights]
    assert all((w.regularizer is not None) == (len(w.shape) == 2) for w in weights)


def test_popularity_ranks_the_most_clicked_items_first_for_everyone():
    train = np.array([[1, 0, 1], [1, 0, 0], [1, 1, 0]], np.float32)
    recommend: Recommender = popularity_recommender(train)
    assert np.array_equal(np.argsort(-recommend(np.zeros((2, 3))), axis=1)[:, 0], [0, 0])


def test_a_mult_vae_reloads_with_safe_mode_and_gives_the_same_outputs(tmp_path):
    clicks = (np.random.default_rng(0).random((64, 30)) < 0.2).astype("float32")
    model = build_mult_vae(30, hidden_units=(16,), latent_dim=4, seed=0)
    model.compile(optimizer="adam")
    model.fit(clicks, epochs=1, batch_size=32, verbose=0)
    model.save(tmp_path / "mult_vae.keras")
    restored = keras.saving.load_model(tmp_path / "mult_vae.keras", safe_mode=True)
    assert isinstance(restored, VAE) and isinstance(restored.likelihood, Multinomial)
    scores = model.reconstruct(clicks)
    assert np.array_equal(restored.reconstruct(clicks), scores)
    assert np.allclose(scores.sum(axis=1), 1.0, atol=1e-5)  # a distribution over items


# --- anomaly scores -------------------------------------------------------------------


def test_a_threshold_at_the_q_quantile_of_normal_scores_flags_about_one_minus_q_of_new_normal_data():
    normal = np.random.default_rng(0).normal(size=20_000)
    for quantile in (0.9, THRESHOLD_QUANTILE, 0.99):
        threshold = validation_threshold(normal[:10_000], quantile)
        flagged = np.mean(normal[10_000:] > threshold)
        assert abs(flagged - (1 - quantile)) < 0.01


def test_a_threshold_names_a_quantile_outside_zero_to_one():
    with pytest.raises(ValueError, match="quantile"):
        validation_threshold(np.arange(10.0), 1.5)


def test_the_iwae_score_never_exceeds_the_elbo_score_and_every_score_is_per_example():
    x = (np.random.default_rng(1).random((12, 784)) < 0.3).astype("float32")
    vae = VAE(build_dense_encoder(latent_dim=2, hidden_units=(16,)),
              build_dense_decoder(latent_dim=2, hidden_units=(16,)), seed=0)
    scores = anomaly_scores(vae, x, k=8)
    assert set(scores) == {"neg_elbo", "neg_iwae", "neg_recon_prob", "squared_error"}
    assert all(values.shape == (12,) and np.all(np.isfinite(values)) for values in scores.values())
    assert np.all(scores["neg_iwae"] <= scores["neg_elbo"] + 1e-9)


# --- the conditional VAE --------------------------------------------------------------


def test_a_cvae_generates_images_of_the_asked_class_for_every_label():
    model = build_conditional_vae(2, hidden_units=(16,), seed=0)
    z = np.random.default_rng(2).normal(size=(5, 2)).astype("float32")
    for label in range(NUM_CLASSES):
        images = model.decode(z, condition=one_hot_labels(np.full(5, label)))
        assert images.shape == (5, 784) and np.all((images >= 0) & (images <= 1))
    every_label = decode_every_label(model, z)
    assert every_label.shape == (NUM_CLASSES * 5, 784)
    asked = model.decode(z, condition=one_hot_labels(np.full(5, 3)))
    assert np.allclose(every_label[3 * 5 : 4 * 5], asked, atol=1e-6)  # row k is digit k


def test_a_label_out_of_range_is_refused_by_name():
    with pytest.raises(ValueError, match="labels must lie in"):
        one_hot_labels(np.array([0, NUM_CLASSES]))


def test_every_public_name_is_used_by_a_test():
    used = set()
    for path in Path(__file__).parent.glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Name):
                used.add(node.id)
            elif isinstance(node, ast.Attribute):
                used.add(node.attr)
    assert sorted(set(snippets.applications.__all__) - used) == []
