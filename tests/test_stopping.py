"""Early stopping as a setting: the rule, where it stopped, and that a network stopped
by it is loaded from the model cache with the same record."""

from __future__ import annotations

import dataclasses
import json

import keras
import numpy as np
import pytest

from snippets.chapters.anomaly import fit_autoencoder
from snippets.chapters.augmentation import fit_denoiser
from snippets.chapters.cache import use_model_cache
from snippets.chapters.diagnostics import fit_dense_vae
from snippets.chapters.stopping import (
    StoppingRule,
    TrainingRecord,
    fit_until_stopped,
    hold_back,
    plot_validation_loss,
    stopping_statement,
    stopping_summary,
    training_record,
)
from snippets.data import binarize
from snippets.models import Autoencoder, build_dense_decoder, build_dense_encoder

# No epoch after the first improves by a million nats, so the rule stops after two.
STOP_AFTER_THE_SECOND = StoppingRule(max_epochs=20, patience=1, min_delta=1e6)
SMALL = dict(latent_dim=2, hidden_units=(8,), batch_size=50)


@pytest.fixture
def split(mnist_small):
    return hold_back(binarize(mnist_small.x_train[:300], seed=0), 0.2, seed=0)


@pytest.fixture
def cache_folder(tmp_path):
    use_model_cache(tmp_path / "models")
    yield tmp_path / "models"
    use_model_cache(None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(max_epochs=0), "max_epochs"),
        (dict(max_epochs=2, patience=0), "patience"),
        (dict(max_epochs=2, min_delta=-1.0), "min_delta"),
        (dict(max_epochs=2, held_back=1.0), "held_back"),
        (dict(max_epochs=2, start_from_epoch=2), "start_from_epoch"),
        (dict(max_epochs=2, start_from_epoch=-1), "start_from_epoch"),
        (dict(max_epochs=2, start_from_epoch=0.5), "start_from_epoch"),
    ],
)
def test_stopping_rule_rejects_bad_settings_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StoppingRule(**kwargs)


def test_an_early_stopped_network_keeps_the_weights_of_its_best_epoch(split):
    fitted, held = split
    autoencoder, history = fit_autoencoder(
        fitted,
        epochs=STOP_AFTER_THE_SECOND.max_epochs,
        validation_data=held,
        stopping=STOP_AFTER_THE_SECOND,
        **SMALL,
    )
    record = training_record(history)
    assert record == TrainingRecord(
        epochs=2, best_epoch=1, capped=False, val_loss=record.val_loss
    )
    restored = autoencoder.evaluate(held, batch_size=50, verbose=0)
    assert restored == pytest.approx(record.val_loss[0], rel=1e-4)


def test_the_epochs_before_start_from_epoch_are_not_watched(split):
    """A rule that would stop after the second epoch, told to watch from the fourth,
    keeps the fourth epoch's weights and stops after the fifth."""
    fitted, held = split
    rule = dataclasses.replace(STOP_AFTER_THE_SECOND, start_from_epoch=3)
    _, history = fit_autoencoder(
        fitted, epochs=rule.max_epochs, validation_data=held, stopping=rule, **SMALL
    )
    record = training_record(history)
    assert (record.epochs, record.best_epoch, record.capped) == (5, 4, False)


def test_a_run_that_never_meets_the_rule_is_capped(split):
    fitted, held = split
    never = StoppingRule(max_epochs=2, patience=5, min_delta=0.0)
    _, history = fit_dense_vae(
        fitted, epochs=2, validation_data=held, stopping=never, **SMALL
    )
    record = training_record(history)
    assert record.capped and record.epochs == 2 and 1 <= record.best_epoch <= 2


@pytest.mark.parametrize("fit", [fit_dense_vae, fit_autoencoder])
def test_a_stopped_network_is_loaded_with_the_record_it_was_trained_with(
    cache_folder, split, fit
):
    fitted, held = split
    runs = [
        fit(
            fitted,
            epochs=STOP_AFTER_THE_SECOND.max_epochs,
            validation_data=held,
            stopping=STOP_AFTER_THE_SECOND,
            **SMALL,
        )
        for _ in range(2)
    ]
    counts = json.loads((cache_folder / "counts.json").read_text())
    assert counts == {"trained": 1, "loaded": 1}
    (trained, trained_history), (loaded, loaded_history) = runs
    assert training_record(loaded_history) == training_record(trained_history)
    assert all(
        np.array_equal(a, b) for a, b in zip(loaded.get_weights(), trained.get_weights())
    )


def test_a_denoiser_is_loaded_the_second_time_with_its_record(cache_folder, split):
    fitted, held = split
    rule = StoppingRule(max_epochs=2, patience=1, min_delta=0.0)
    options = dict(hidden_units=(8,), latent_dim=2, batch_size=50, seed=1, stopping=rule)
    records = [
        training_record(
            fit_denoiser("denoising autoencoder", fitted, fitted, (held, held), **options)[1]
        )
        for _ in range(2)
    ]
    counts = json.loads((cache_folder / "counts.json").read_text())
    assert counts == {"trained": 1, "loaded": 1} and records[0] == records[1]


def small_autoencoder() -> Autoencoder:
    model = Autoencoder(
        build_dense_encoder(2, hidden_units=(8,), variational=False),
        build_dense_decoder(2, hidden_units=(8,)),
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


def test_a_rule_that_stops_on_the_last_epoch_is_not_capped(split):
    fitted, held = split
    rule = dataclasses.replace(STOP_AFTER_THE_SECOND, max_epochs=2)
    _, history = fit_autoencoder(
        fitted, epochs=2, validation_data=held, stopping=rule, **SMALL
    )
    assert training_record(history)[:3] == (2, 1, False)


def test_stopping_without_held_back_examples_or_of_the_wrong_type_is_refused(split):
    fitted, held = split
    with pytest.raises(ValueError, match="epochs=3 differs from stopping.max_epochs=20"):
        fit_until_stopped(
            small_autoencoder(),
            fitted,
            stopping=STOP_AFTER_THE_SECOND,
            epochs=3,
            validation_data=held,
        )
    with pytest.raises(ValueError, match="stopping needs validation_data"):
        fit_until_stopped(
            small_autoencoder(), fitted, stopping=STOP_AFTER_THE_SECOND, epochs=20
        )
    with pytest.raises(TypeError, match="stopping must be a StoppingRule or None, got int"):
        fit_until_stopped(small_autoencoder(), fitted, stopping=3, epochs=1)


def test_a_history_trained_without_a_rule_has_no_record(split):
    fitted, _ = split
    history = fit_until_stopped(small_autoencoder(), fitted, stopping=None, epochs=1)
    with pytest.raises(ValueError, match="holds no early-stopping outcome"):
        training_record(history)


def test_stopping_summary_takes_medians_over_seeds_and_counts_capped_runs():
    def record(epochs, best, capped):
        return TrainingRecord(epochs, best, capped, tuple(range(epochs, 0, -1)))
    runs = [record(5, 3, False), record(9, 9, True), record(7, 5, False)]
    summary = stopping_summary({"denoising VAE": runs})
    assert summary == {"denoising VAE": {"median": 7.0, "low": 5, "high": 9, "median_best": 5.0,
                                         "capped": 1, "runs": 3}}
    for empty in ({}, {"denoising VAE": []}):
        with pytest.raises(ValueError, match="records must hold at least one"):
            stopping_summary(empty)
    assert stopping_statement(summary, 9).startswith("1 of the 3 runs reached the cap of 9 epochs")
    uncapped = {"denoising VAE": {**summary["denoising VAE"], "capped": 0}}
    assert stopping_statement(uncapped, 9).startswith("none of the 3 runs reached the cap")
    assert stopping_statement(uncapped, 9, stopped_because="its NDCG stopped rising").endswith(
        "each stopped because its NDCG stopped rising")
    with pytest.raises(ValueError, match="max_epochs must be"):
        stopping_statement(summary, 0)


def test_validation_loss_figure_draws_each_curve_and_circles_the_kept_epoch():
    training = {"denoising VAE": TrainingRecord(4, 2, False, (90.0, 80.0, 81.0, 82.0))}
    (ax,) = plot_validation_loss(training).axes
    curve, kept = ax.lines
    assert np.array_equal(curve.get_ydata(), [90.0, 80.0, 81.0, 82.0])
    assert list(kept.get_xdata()) == [2] and list(kept.get_ydata()) == [80.0]
