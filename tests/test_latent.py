"""Latent-space helpers measure what they claim on constructed cases."""

from __future__ import annotations

import base64
import json
import tracemalloc
from statistics import NormalDist

import numpy as np
import pytest

from snippets import binarize
from snippets.chapters.conditional import build_conditional_vae
from snippets.chapters.latent import (
    aggregate_posterior_variance,
    class_centres,
    compare_latent_sizes,
    confident_pixel_percent,
    explorer_error_levels,
    explorer_html,
    explorer_payload,
    far_from_the_prior,
    gap_between_classes,
    hole_fraction,
    lerp,
    nearest_code_distance,
    normal_quantile_grid,
    prior_mass_within,
    sample_bounding_box,
    sample_standard_normal,
    slerp,
)
from snippets.export import export_dense_decoder, exported_decoder_logits
from snippets.models import VAE, build_dense_decoder, build_dense_encoder

INTERPOLATIONS = pytest.mark.parametrize("interpolate", [lerp, slerp], ids=["lerp", "slerp"])


def test_box_samples_stay_inside_the_box_of_the_codes():
    codes = np.array([[0.0, -1.0], [2.0, 3.0], [1.0, 0.0]])
    points = sample_bounding_box(codes, 1000, seed=0)
    assert points.shape == (1000, 2)
    assert np.all(points >= codes.min(axis=0)) and np.all(points <= codes.max(axis=0))


def test_standard_normal_samples_have_unit_moments():
    z = sample_standard_normal(100_000, 3, seed=0)
    assert np.allclose(z.mean(axis=0), 0.0, atol=0.02) and np.allclose(z.std(axis=0), 1.0, atol=0.02)


def test_nearest_code_distance_on_a_hand_computable_case():
    codes = np.array([[0.0, 0.0], [10.0, 0.0]])
    points = np.array([[3.0, 4.0], [10.0, 1.0]])
    assert np.allclose(nearest_code_distance(codes, points), [5.0, 1.0])


def test_holes_are_found_between_two_clusters_and_not_inside_them():
    rng = np.random.default_rng(0)
    clusters = np.concatenate([rng.normal(-5, 0.3, (300, 2)), rng.normal(5, 0.3, (300, 2))])
    inside = rng.normal(5, 0.3, (200, 2))
    between = np.zeros((50, 2))
    assert hole_fraction(clusters, inside) < 0.05
    assert hole_fraction(clusters, between) == 1.0


def brute_force_nearest(codes, points):
    """The definition, one (n, m, d) array: distance from each point to its nearest code."""
    return np.sqrt(np.min(np.sum((points[:, None, :] - codes[None, :, :]) ** 2, axis=-1), axis=1))


def brute_force_hole_fraction(codes, points, quantile):
    squared = np.sum((codes[:, None, :] - codes[None, :, :]) ** 2, axis=-1)
    np.fill_diagonal(squared, np.inf)
    spacing = np.quantile(np.sqrt(squared.min(axis=1)), quantile)
    return float(np.mean(brute_force_nearest(codes, points) > spacing))


@pytest.mark.parametrize("latent_dim", [1, 2, 8])
def test_distances_and_holes_equal_the_brute_force_definition(latent_dim):
    rng = np.random.default_rng(latent_dim)
    codes = rng.normal(size=(300, latent_dim)) * rng.uniform(0.5, 2.0, latent_dim)
    codes[:5] = codes[5]  # duplicated codes: their nearest other code is at distance 0
    points = rng.normal(scale=2.0, size=(250, latent_dim))
    points[:3] = codes[[7, 8, 9]]  # a point on a code is at distance 0
    assert np.allclose(nearest_code_distance(codes, points), brute_force_nearest(codes, points),
                       rtol=1e-12, atol=1e-12)
    for quantile in (0.1, 0.5, 0.9, 0.99):
        assert hole_fraction(codes, points, quantile) == brute_force_hole_fraction(codes, points, quantile)


def test_full_size_distances_need_memory_in_n_plus_m_not_n_times_m():
    """10,000 test codes of dimension 8 and 10,000 draws: an (n, m) matrix alone would be 800 MB."""
    rng = np.random.default_rng(0)
    codes = rng.standard_normal((10_000, 8)).astype(np.float32)
    points = rng.standard_normal((10_000, 8))
    tracemalloc.start()
    try:
        distances = nearest_code_distance(codes, points)
        fraction = hole_fraction(codes, points)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert distances.shape == (10_000,) and np.all(distances > 0.0)
    assert 0.0 <= fraction <= 1.0
    assert peak < 500 * 2**20, f"peak traced memory {peak / 2**20:.0f} MiB"


@pytest.mark.parametrize("bad", ["codes", "points"])
def test_non_finite_codes_or_points_are_named(bad):
    arrays = {"codes": np.zeros((3, 2)), "points": np.zeros((2, 2))}
    arrays[bad][1, 0] = np.nan
    with pytest.raises(ValueError, match=f"{bad} must be finite"):
        nearest_code_distance(arrays["codes"], arrays["points"])
    with pytest.raises(ValueError, match=f"{bad} must be finite"):
        hole_fraction(arrays["codes"], arrays["points"])


@pytest.mark.parametrize("quantile", [0.0, 1.0, 1.5])
def test_hole_fraction_rejects_a_quantile_outside_the_open_unit_interval(quantile):
    with pytest.raises(ValueError, match="quantile must lie in"):
        hole_fraction(np.zeros((3, 2)), np.zeros((1, 2)), quantile)


def test_mismatched_latent_dims_are_named():
    with pytest.raises(ValueError, match="points have latent_dim 3 but codes have 2"):
        nearest_code_distance(np.zeros((2, 2)), np.zeros((1, 3)))


def test_quantile_grid_has_one_point_per_cell_in_scatter_orientation():
    """Row-major (n*n, 2): z_1 grows along a row, z_2 shrinks from the top row down."""
    grid = normal_quantile_grid(4)
    assert grid.shape == (16, 2)
    rows = grid.reshape(4, 4, 2)
    assert np.all(np.diff(rows[..., 0], axis=1) > 0) and np.all(np.diff(rows[..., 1], axis=0) < 0)
    assert np.all(rows[..., 0] == rows[0, :, 0]) and np.all(rows[..., 1] == rows[:, :1, 1])


def test_quantile_grid_is_symmetric_about_the_origin():
    grid = normal_quantile_grid(5)
    assert np.allclose(grid[::-1], -grid)
    assert np.allclose(grid[12], [0.0, 0.0])


def test_quantile_grid_marginals_are_the_requested_normal_quantiles():
    grid = normal_quantile_grid(3, low=0.1, high=0.6)
    expected = [NormalDist().inv_cdf(p) for p in (0.1, 0.35, 0.6)]
    assert np.allclose(np.unique(grid[:, 0]), expected)
    assert np.allclose(np.unique(grid[:, 1]), expected)
    # Phi^{-1}(0.95) = 1.6449: the default grid spans the central 90% of each axis.
    assert np.isclose(normal_quantile_grid(15).max(), 1.6448536, atol=1e-6)


def test_a_one_point_grid_is_the_median():
    assert np.allclose(normal_quantile_grid(1), [[0.0, 0.0]])


@INTERPOLATIONS
def test_interpolation_endpoints_are_the_endpoints(interpolate):
    rng = np.random.default_rng(0)
    z0, z1 = rng.standard_normal((2, 16))
    path = interpolate(z0, z1, np.linspace(0.0, 1.0, 7))
    assert path.shape == (7, 16)
    assert np.allclose(path[0], z0, atol=1e-12) and np.allclose(path[-1], z1, atol=1e-12)


@INTERPOLATIONS
def test_decoding_the_path_endpoints_decodes_the_endpoints(interpolate):
    vae = VAE(build_dense_encoder(hidden_units=(16,), latent_dim=3),
              build_dense_decoder(hidden_units=(16,), latent_dim=3))
    z0, z1 = np.random.default_rng(1).standard_normal((2, 3))
    decoded = vae.decode(interpolate(z0, z1, [0.0, 1.0]))
    assert np.allclose(decoded, vae.decode(np.stack([z0, z1])), atol=1e-6)


@INTERPOLATIONS
def test_pairs_are_interpolated_at_once_like_one_at_a_time(interpolate):
    """A batch (n, d) of pairs gives (m, n, d), row i the path of pair i."""
    z0, z1 = np.random.default_rng(2).standard_normal((2, 5, 4))
    t = np.array([0.0, 0.3, 1.0])
    batched = interpolate(z0, z1, t)
    assert batched.shape == (3, 5, 4)
    assert np.allclose(batched[:, 2], interpolate(z0[2], z1[2], t))


def test_slerp_keeps_the_norm_when_both_ends_share_it():
    rng = np.random.default_rng(3)
    z0, z1 = rng.standard_normal((2, 16))
    z1 *= np.linalg.norm(z0) / np.linalg.norm(z1)
    path = slerp(z0, z1, np.linspace(0.0, 1.0, 11))
    assert np.allclose(np.linalg.norm(path, axis=1), np.linalg.norm(z0))


def test_the_straight_midpoint_of_typical_prior_draws_is_short_and_slerp_is_not():
    """For z ~ N(0, I_d) |z| is near sqrt(d); the linear midpoint's norm is near sqrt(d/2)."""
    z = sample_standard_normal(2000, 64, seed=0)
    linear = np.linalg.norm(lerp(z[:1000], z[1000:], [0.5])[0], axis=1)
    spherical = np.linalg.norm(slerp(z[:1000], z[1000:], [0.5])[0], axis=1)
    assert np.isclose(linear.mean(), np.sqrt(32), rtol=0.05)
    assert np.isclose(spherical.mean(), np.sqrt(64), rtol=0.05)


@pytest.mark.parametrize("z1_direction", [2.0, -1.0], ids=["parallel", "opposite"])
def test_slerp_of_parallel_codes_falls_back_to_lerp_without_nan(z1_direction):
    z0 = np.array([1.0, 2.0, -0.5])
    t = np.linspace(0.0, 1.0, 5)
    for z1 in (z1_direction * z0, np.zeros(3)):
        path = slerp(z0, z1, t)
        assert np.all(np.isfinite(path)) and np.allclose(path, lerp(z0, z1, t))


@INTERPOLATIONS
@pytest.mark.parametrize(
    ("z0", "z1", "t", "message"),
    [
        (np.zeros(2), np.zeros(2), [0.0, 1.5], r"t must lie in \[0, 1\]"),
        (np.zeros(2), np.zeros(2), [-0.1], r"t must lie in \[0, 1\]"),
        (np.zeros(2), np.zeros(2), [np.nan], r"t must lie in \[0, 1\]"),
        (np.zeros(2), np.zeros(2), [[0.5]], r"t must be a non-empty 1-D array"),
        (np.zeros(2), np.zeros(2), 0.5, r"t must be a non-empty 1-D array"),
        (np.zeros(2), np.zeros(3), [0.5], r"z0 and z1 must have the same shape"),
        (np.zeros((1, 2, 2)), np.zeros((1, 2, 2)), [0.5], r"z0 must have shape \(latent_dim,\)"),
    ],
)
def test_bad_interpolation_arguments_are_named(interpolate, z0, z1, t, message):
    with pytest.raises(ValueError, match=message):
        interpolate(z0, z1, t)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_per_side": 0}, r"n_per_side must be an integer >= 1"),
        ({"n_per_side": 3, "low": 0.6, "high": 0.4}, r"0 < low < high < 1, got low=0.6, high=0.4"),
        ({"n_per_side": 3, "low": 0.5, "high": 0.5}, r"0 < low < high < 1"),
        ({"n_per_side": 3, "low": 0.0, "high": 0.9}, r"0 < low < high < 1"),
        ({"n_per_side": 3, "low": 0.1, "high": 1.0}, r"0 < low < high < 1"),
    ],
)
def test_bad_grid_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        normal_quantile_grid(**kwargs)


def test_latent_size_runs_pair_up_and_their_bound_is_its_two_terms(mnist_small):
    x_test = binarize(mnist_small.x_test)
    comparison = compare_latent_sizes(
        mnist_small.x_train, x_test, x_test, seeds=[0, 1], epochs=1, batch_size=100,
        learning_rate=1e-3, latent_dims=(2, 4), hidden_units=(16,),
    )
    for d in (2, 4):
        scores = comparison.scores[d]
        assert scores["loss"].shape == (2,) and scores["loss"][0] != scores["loss"][1]
        assert np.allclose(scores["loss"], scores["reconstruction"] + scores["kl"], rtol=1e-4)
        assert comparison.models[d].latent_dim == d and len(comparison.histories[d]["val_loss"]) == 1
    assert comparison.difference(4, 2, "kl").n == 2


def test_importance_weighted_scores_bound_the_elbo_from_above(mnist_small):
    x_test = binarize(mnist_small.x_test)
    comparison = compare_latent_sizes(
        mnist_small.x_train, x_test, x_test, seeds=[0, 1], epochs=1, batch_size=100,
        learning_rate=1e-3, latent_dims=(2, 4), hidden_units=(16,), x_iwae=x_test[:20], iwae_samples=8,
    )
    for d in (2, 4):
        scores = comparison.scores[d]
        assert scores["neg_iwae"].shape == (2,) and np.all(scores["bound_gap"] >= 0.0)
        assert np.all(np.abs(scores["neg_iwae"] - scores["loss"]) < 0.2 * scores["loss"])
    assert comparison.difference(4, 2, "neg_iwae").n == 2


def test_class_centres_are_the_mean_code_of_each_class():
    codes = np.array([[0.0, 0.0], [2.0, 0.0], [5.0, 5.0], [1.0, 1.0]])
    assert np.allclose(class_centres(codes, np.array([0, 0, 1, 2])), [[1.0, 0.0], [5.0, 5.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match=r"no code of class \[1\]"):
        class_centres(codes, np.array([0, 0, 2, 2]))


def test_confident_pixels_are_those_near_zero_or_one():
    images = np.array([[0.0, 0.05, 0.5, 0.95], [1.0, 0.2, 0.85, 0.1]])
    assert confident_pixel_percent(images) == pytest.approx(100 * 5 / 8)
    assert np.allclose(confident_pixel_percent(images, axis=-1), [75.0, 50.0])
    with pytest.raises(ValueError, match="margin"):
        confident_pixel_percent(images, margin=0.7)


def test_prior_mass_within_a_radius_is_the_chi_squared_cdf():
    assert prior_mass_within(1.0, 2) == pytest.approx(1 - np.exp(-0.5))
    assert prior_mass_within(1.0, 1) == pytest.approx(NormalDist().cdf(1) - NormalDist().cdf(-1))


def small_vae(conditional: bool, hidden_units: tuple[int, ...] = (8,)) -> VAE:
    if conditional:
        return build_conditional_vae(2, hidden_units=hidden_units, seed=0)
    return VAE(build_dense_encoder(2, hidden_units=hidden_units), build_dense_decoder(2, hidden_units=hidden_units), seed=0)


def test_explorer_payload_holds_both_decoders_and_the_rounded_codes():
    rng = np.random.default_rng(0)
    x, labels = (rng.random((30, 784)) < 0.3).astype("float32"), np.arange(30) % 10
    vae, cvae = small_vae(False), small_vae(True)
    payload = json.loads(json.dumps(explorer_payload(vae, cvae, x, labels, extent=3.5)))
    assert (payload["format"], payload["version"], payload["extent"]) == ("latent-explorer", 2, 3.5)
    for name, model, condition in (("vae", vae, None), ("cvae", cvae, np.eye(10)[labels])):
        entry = payload["models"][name]
        codes = np.frombuffer(base64.b64decode(entry["codes"]), "<i2").reshape(-1, 2) / payload["scale"]
        assert np.max(np.abs(codes - model.encode(x, condition))) <= 0.5 / payload["scale"] + 1e-6
        assert entry["labels"] == "".join(str(k) for k in labels)
        z = rng.normal(size=(5, 2))
        cond = None if condition is None else np.eye(10)[:5]
        means = 1 / (1 + np.exp(-exported_decoder_logits(entry["decoder"], z, cond)))
        assert np.max(np.abs(means - model.decode(z, cond))) <= 0.5 / 255
    with pytest.raises(ValueError, match="cvae must be a conditional VAE"):
        explorer_payload(vae, vae, x, labels)


def test_the_explorer_error_is_the_page_arithmetic_against_keras_in_grey_levels():
    rng = np.random.default_rng(0)
    x, labels = (rng.random((30, 784)) < 0.3).astype("float32"), np.arange(30) % 10
    vae, cvae = small_vae(False), small_vae(True)
    payload = explorer_payload(vae, cvae, x, labels, extent=3.0)
    levels = explorer_error_levels(payload, vae, cvae, n_per_side=7)
    assert 0.0 < levels <= 0.5  # quantised weights move the means, by less than half a level
    coarse = json.loads(json.dumps(payload))
    coarse["models"]["cvae"]["decoder"] = export_dense_decoder(cvae.decoder, bits=4)
    assert explorer_error_levels(coarse, vae, cvae, n_per_side=7) > levels
    with pytest.raises(ValueError, match="n_per_side"):
        explorer_error_levels(payload, vae, cvae, n_per_side=0)


def test_the_chapter_sized_explorer_element_stays_under_500_kb():
    """Two 784-128-2 decoders and the codes of 2,000 digits: a size that does not depend on the weights or codes."""
    rng = np.random.default_rng(0)
    x, labels = (rng.random((2000, 784)) < 0.3).astype("float32"), np.arange(2000) % 10
    payload = explorer_payload(small_vae(False, (128,)), small_vae(True, (128,)), x, labels)
    assert len(explorer_html(payload)) < 500_000


def test_explorer_codes_far_off_the_panel_are_clipped_to_two_bytes():
    vae, cvae = small_vae(False), small_vae(True)
    z_mean = vae.encoder.get_layer("z_mean")
    z_mean.kernel.assign(np.zeros(z_mean.kernel.shape))
    z_mean.bias.assign([500.0, -1.25])
    payload = explorer_payload(vae, cvae, np.zeros((3, 784), "float32"), np.arange(3))
    codes = np.frombuffer(base64.b64decode(payload["models"]["vae"]["codes"]), "<i2").reshape(-1, 2)
    assert np.array_equal(codes, [[32767, -125]] * 3)


def test_explorer_html_carries_the_payload_as_json_that_cannot_close_its_script():
    payload = {"format": "latent-explorer", "note": "</script><b>"}
    html = explorer_html(payload)
    assert html.count("</script>") == 1 and 'class="latent-explorer"' in html
    inline = html.split('class="latent-explorer-data">')[1].split("</script>")[0]
    assert json.loads(inline) == payload


class ConstantDecoder:
    """Stands in for a VAE whose decoder draws the same image wherever the code is, so every difference is 0."""

    def decode(self, z):
        return np.full((len(z), 4), 0.95)


def test_aggregate_posterior_variance_is_the_variance_of_codes_drawn_from_every_posterior():
    rng = np.random.default_rng(0)
    x = (rng.random((200, 784)) < 0.3).astype("float32")
    vae = small_vae(False)
    means, log_variances = (np.asarray(part, np.float64) for part in vae.encoder.predict(x, verbose=0))
    draws = means + np.exp(log_variances / 2) * rng.normal(size=(2000, *means.shape))
    pooled = draws.reshape(-1, 2).var(axis=0)
    assert np.allclose(aggregate_posterior_variance(vae, x), pooled, rtol=0.02)


def test_the_gap_between_two_classes_is_measured_between_their_centres():
    codes = np.array([[0.0, 0.0], [0.0, 2.0], [3.0, 0.0], [3.0, 1.0], [0.0, 10.0]])
    labels = np.array([0, 0, 1, 1, 2])
    gap = gap_between_classes(ConstantDecoder(), codes, labels, 0, 1)
    assert gap["gap"] == pytest.approx(np.hypot(3.0, 0.5))
    assert gap["pairs_closer"] == 0 and gap["median_pair"] == pytest.approx(9.0)
    assert gap["middle_to_first"] == gap["middle_to_second"] == gap["first_to_second"] == 0.0


def test_far_from_the_prior_measures_the_circle_against_the_codes():
    codes = np.array([[0.0, 0.0], [0.0, 0.1], [0.5, 0.0]])
    far = far_from_the_prior(ConstantDecoder(), codes, radius=2.0, n_points=4)
    assert far["prior_outside_percent"] == pytest.approx(100 * np.exp(-2.0))
    assert far["nearest_code"] == pytest.approx(np.median([1.5, 1.9, 2.0, 2.0]))
    assert far["code_spacing"] == pytest.approx(0.1)
    assert far["code_spacing_99"] == pytest.approx(np.percentile([0.1, 0.1, 0.5], 99))
    assert far["codes_outside_percent"] == 0.0
    assert far["far_confident_percent"] == far["data_confident_percent"] == 100.0
    assert far["data_less_confident_percent"] == 0.0  # every image is equally sure
    assert far_from_the_prior(ConstantDecoder(), codes, radius=0.3, n_points=4)["codes_outside_percent"] == pytest.approx(100 / 3)
    with pytest.raises(ValueError, match="two-dimensional"):
        far_from_the_prior(ConstantDecoder(), np.zeros((3, 4)), radius=2.0)
