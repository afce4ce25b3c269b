"""The record of the book's full-size runs and the status page's tables made from it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "book" / "_ext")]

import full_profile  # noqa: E402
import full_profile_results as results  # noqa: E402

pytestmark = pytest.mark.backend_independent


def _glue_output(name: str, plain: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output(
        "display_data", data={"application/papermill.record/text/plain": plain},
        metadata={"scrapbook": {"name": name, "mime_prefix": "application/papermill.record/"}},
    )


def test_glued_values_are_read_by_name_from_an_executed_chapter(tmp_path):
    cell = nbformat.v4.new_code_cell("glue(...)")
    cell.outputs = [_glue_output("iwae_nats", "90.07"), _glue_output("word", "'level with'"),
                    nbformat.v4.new_output("stream", name="stdout", text="not glued\n")]
    path = tmp_path / "chapter.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), path)
    assert full_profile.glued_values(path) == {"iwae_nats": "90.07", "word": "'level with'"}
    assert full_profile.glued_values(tmp_path / "missing.ipynb") == {}


def test_the_data_fingerprint_names_the_digits_not_the_files_compression(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (5, 28, 28), np.uint8), "y_train": np.arange(5, dtype=np.uint8),
              "x_test": rng.integers(0, 256, (2, 28, 28), np.uint8), "y_test": np.arange(2, dtype=np.uint8)}
    np.savez(tmp_path / "plain.npz", **arrays)
    np.savez_compressed(tmp_path / "packed.npz", **arrays)
    fingerprint = full_profile.data_fingerprint(tmp_path / "plain.npz")
    assert fingerprint == full_profile.data_fingerprint(tmp_path / "packed.npz")
    arrays["y_test"] = arrays["y_test"][::-1].copy()
    np.savez(tmp_path / "other.npz", **arrays)
    assert full_profile.data_fingerprint(tmp_path / "other.npz") != fingerprint


def test_recording_a_chapter_replaces_its_entry_and_keeps_the_others(tmp_path):
    record = tmp_path / "results" / "full.json"
    full_profile.record_chapter(record, "book/b.ipynb", {"wall_s": 1.0})
    full_profile.record_chapter(record, "book/a.ipynb", {"wall_s": 2.0})
    full_profile.record_chapter(record, "book/b.ipynb", {"wall_s": 3.0})
    assert json.loads(record.read_text()) == {"book/a.ipynb": {"wall_s": 2.0}, "book/b.ipynb": {"wall_s": 3.0}}


def _entry(sha256: str, glued: dict[str, str], load=None) -> dict:
    return {"wall_s": 1234.4, "peak_mb": 2048, "status": "ok", "started": "2026-12-05T02:00:00+00:00",
            "commit": "abc1234", "backend": "tensorflow", "machine": {"cores": 2},
            "data": {"file": "mnist.npz", "sha256": sha256}, "load_average": load, "glued": glued}


def test_the_status_tables_show_recorded_runs_and_say_where_a_chapter_has_none():
    chapters = ["book/keras/evaluation.ipynb", "book/keras/vae_dense.ipynb", "book/theory/elbo.ipynb"]
    record = {
        "book/keras/evaluation.ipynb": _entry(results.REAL_MNIST, {
            "k_max": "5000", "epochs": "50", "iwae_nats": "90.0716", "iwae_se": "1.1643"},
            load={"before": 0.5, "after": 1.25}),
        "book/keras/vae_dense.ipynb": _entry("0" * 64, {"vae_epochs": "38"}),
    }
    runs = results.runs_rows(record, chapters)
    assert runs[0] == ["keras/evaluation", "1,234", "not measured", "2,048 resident sum", "succeeded",
                       "real MNIST", "2026-12-05, abc1234", "0.5 / 1.2"]
    assert runs[1][5] == "other data (mnist.npz)" and runs[1][7] == "not sampled"
    assert runs[2][4] == "not yet run at full size"
    assert len(runs) == 3, "no whole-book row while a chapter has no run"
    headlines = results.headline_rows(record, chapters)
    assert headlines[0][1:4] == ["held-out −IWAE, k = 5,000, after 50 epochs", "90.07 ± 1.16 nats", "real MNIST"]
    assert headlines[0][4].startswith("Burda et al. (2016): 86.76 nats")
    assert headlines[1][2] == "not in the recorded run"  # its glued test loss is missing


@pytest.mark.parametrize(("pss", "words"), [(2000, "2,000"), (1500, "1,500 (2,048 resident)")])
def test_the_memory_shown_is_the_proportional_size_with_the_resident_sum_where_it_is_larger(pss, words):
    entry = _entry(results.REAL_MNIST, {}) | {"peak_pss_mb": pss}
    assert results.runs_rows({"book/theory/elbo.ipynb": entry}, ["book/theory/elbo.ipynb"])[0][3] == words


def _cached(models: dict | None, **fields) -> dict:
    """An entry of a run with the model cache on, which trained and loaded ``models``."""
    return _entry(results.REAL_MNIST, {}) | {"model_cache": True, "models": models or {}} | fields


def test_the_whole_book_reuses_the_cached_chapters_models_and_counts_the_others_as_run():
    chapters = ["book/theory/elbo.ipynb", "book/keras/vae_conv.ipynb", "book/keras/recipes.ipynb"]
    record = {
        "book/theory/elbo.ipynb": _cached({"trained": 0, "loaded": 0}),  # nothing through the cache
        "book/keras/vae_conv.ipynb": _cached({"trained": 8, "loaded": 0}),
        "book/keras/recipes.ipynb": _cached({"trained": 26}),
    }
    reused = {"book/keras/vae_conv.ipynb": _cached({"loaded": 8}, wall_s=77.1)}
    runs = results.runs_rows(record, chapters, reused)
    assert [row[2] for row in runs[:3]] == ["nothing to reuse", "77", "not measured"]
    assert runs[3][:3] == ["whole book", "3,703", "not measured"]
    reused["book/keras/recipes.ipynb"] = _cached({"loaded": 26}, wall_s=100.0)
    assert results.runs_rows(record, chapters, reused)[3][:3] == ["whole book", "3,703", "1,412"]


@pytest.mark.parametrize(
    ("cold", "reused", "words"),
    [
        (_entry(results.REAL_MNIST, {}), None, "not measured"),  # cache off: whether it uses it is unknown
        (_cached({"trained": 3}), _cached({"loaded": 3}, status="timed out"), "timed out"),
        (_cached({"trained": 3}), _entry("0" * 64, {}), "not measured"),  # a second run on other data
    ],
)
def test_a_time_with_models_reused_is_shown_only_where_it_was_measured(cold, reused, words):
    chapter = "book/keras/recipes.ipynb"
    rows = results.runs_rows({chapter: cold}, [chapter], {chapter: reused} if reused else {})
    assert rows[0][2] == words and rows[1][:3] == ["whole book", "1,234", "not measured"]


def test_a_failed_chapter_leaves_the_whole_book_time_unmeasured():
    chapter = "book/theory/elbo.ipynb"
    rows = results.runs_rows({chapter: _cached({}, status="failed")}, [chapter])
    assert rows[1][:3] == ["whole book", "not measured", "not measured"]


def test_every_headline_names_a_chapter_of_the_book():
    assert set(results.HEADLINES) <= set(results.chapters_in_order())


def test_the_committed_record_holds_complete_entries_for_chapters_of_the_book():
    if not results.RECORD.is_file():
        pytest.skip("no full-size run has been recorded")
    record = json.loads(results.RECORD.read_text())
    chapters = set(results.chapters_in_order())
    for chapter, entry in record.items():
        assert chapter in chapters, chapter
        assert {"wall_s", "peak_mb", "status", "started", "commit", "data", "glued"} <= set(entry), chapter
        assert entry["wall_s"] > 0 and entry["peak_mb"] > 0 and len(entry["data"]["sha256"]) == 64, chapter
