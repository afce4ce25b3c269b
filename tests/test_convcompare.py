import numpy as np
import pytest

from snippets import binarize, build_conv_decoder, build_conv_encoder, build_dense_decoder, build_dense_encoder
from snippets.chapters.convcompare import SCORES, compare_architectures, scores, summary_table, train_architecture
from snippets.chapters.diagnostics import held_out_iwae
from snippets.evaluation import log_weight_statistics

ARCHITECTURES = {"dense": (build_dense_encoder, build_dense_decoder),
                 "convolutional": (build_conv_encoder, build_conv_decoder)}


@pytest.fixture(scope="module")
def digits():
    rng = np.random.default_rng(0)
    x = rng.random((96, 784)).astype(np.float32)
    return x[:64], binarize(x[64:])


@pytest.fixture(scope="module")
def runs(digits):
    return compare_architectures(ARCHITECTURES, *digits, seeds=[0, 1], epochs=2, batch_size=32,
                                 iwae_k=20, iwae_examples=8)


def test_every_architecture_gets_one_run_per_seed_with_data_in_its_own_shape(runs):
    assert list(runs) == ["dense", "convolutional"]
    assert all(len(seed_runs) == 2 for seed_runs in runs.values())
    assert runs["convolutional"][0].vae.encoder.input_shape[1:] == (28, 28, 1)
    assert runs["dense"][0].vae.encoder.input_shape[1:] == (784,)


def test_held_out_loss_is_reconstruction_plus_kl_and_kl_is_not_negative(runs):
    for seed_runs in runs.values():
        loss, reconstruction, kl = (scores(seed_runs, name) for name in ("loss", "reconstruction", "kl"))
        np.testing.assert_allclose(loss, reconstruction + kl, rtol=1e-4)
        assert np.all(kl >= 0)


def test_same_seed_reproduces_the_run_and_another_seed_does_not(runs, digits):
    again = train_architecture(*ARCHITECTURES["dense"], *digits, seed=0, epochs=2, batch_size=32)
    assert again.loss == pytest.approx(runs["dense"][0].loss, rel=1e-5)
    assert runs["dense"][1].loss != pytest.approx(runs["dense"][0].loss, rel=1e-5)


def test_epoch_times_are_positive_and_the_first_epoch_is_timed_apart(runs):
    for seed_runs in runs.values():
        assert np.all(scores(seed_runs, "first_epoch_seconds") > 0)
        assert np.all(scores(seed_runs, "seconds_per_epoch") > 0)


def test_summary_table_has_the_weights_and_mean_with_error_of_every_score(runs):
    table = summary_table(runs)
    assert list(table.index) == ["dense", "convolutional"]
    assert list(table.columns) == ["weights", *SCORES.values()]
    model = runs["convolutional"][0].vae
    assert table.loc["convolutional", "weights"] == f"{model.encoder.count_params() + model.decoder.count_params():,}"
    mean = scores(runs["dense"], "loss").mean()
    assert table.loc["dense", SCORES["loss"]].startswith(f"{mean:,.2f} ± ")


def test_the_importance_weighted_bound_is_that_of_the_first_test_digits_and_beats_the_elbo(runs, digits):
    for seed_runs in runs.values():
        run = seed_runs[0]
        x_test = digits[1].reshape(-1, *run.vae.encoder.input_shape[1:])
        assert run.neg_iwae == pytest.approx(held_out_iwae(run.vae, x_test[:8], 20)["neg_iwae"], rel=1e-6)
        same_draws = log_weight_statistics(run.vae, x_test[:8], 20)
        assert run.neg_elbo_k == pytest.approx(-same_draws.elbo.mean(), rel=1e-6)
        assert run.neg_iwae <= run.neg_elbo_k


def test_without_iwae_the_bound_is_nan_and_the_table_leaves_it_out(digits):
    runs = compare_architectures({"dense": ARCHITECTURES["dense"]}, *digits, seeds=[0], epochs=1, batch_size=32)
    assert np.isnan(runs["dense"][0].neg_iwae) and np.isnan(runs["dense"][0].neg_elbo_k)
    assert not {SCORES["neg_iwae"], SCORES["neg_elbo_k"]} & set(summary_table(runs).columns)


def test_bad_arguments_are_named(digits):
    with pytest.raises(ValueError, match="seeds"):
        compare_architectures(ARCHITECTURES, *digits, seeds=[], epochs=1, batch_size=32)
    with pytest.raises(ValueError, match="name"):
        scores([], "elbo")
    with pytest.raises(ValueError, match="x_train"):
        train_architecture(*ARCHITECTURES["dense"], digits[0] * 255, digits[1], seed=0, epochs=1, batch_size=32)
    with pytest.raises(ValueError, match="epochs"):
        train_architecture(*ARCHITECTURES["dense"], *digits, seed=0, epochs=0, batch_size=32)
    with pytest.raises(ValueError, match="iwae_k"):
        train_architecture(*ARCHITECTURES["dense"], *digits, seed=0, epochs=1, batch_size=32, iwae_k=0)
