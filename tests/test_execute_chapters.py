"""scripts/execute_chapters.py: the chapters ``make test`` executes side by side before the build."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest
from jupyter_cache import get_cache

pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("execute_chapters", ROOT / "scripts" / "execute_chapters.py")
execute_chapters = importlib.util.module_from_spec(spec)
spec.loader.exec_module(execute_chapters)


def notebook_with(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "chapter.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_it_executes_every_chapter_of_the_book_in_reading_order():
    chapters = execute_chapters.chapters_in_toc()
    notebooks = {p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts}
    assert set(chapters) == notebooks and len(chapters) == len(notebooks)
    assert chapters[0].name == "autoencoder.ipynb" and chapters[-1].name == "distributed.ipynb"


def test_an_executed_chapter_is_found_by_the_lookup_the_build_makes(tmp_path):
    notebook = notebook_with(tmp_path, "import os, sys\nprint(6 * 7, os.getcwd(), flush=True)\n"
                                       "print('noise', file=sys.stderr, flush=True)\nprint('end')")
    cache_path = tmp_path / "cache"
    _, seconds, traceback = execute_chapters.execute_into_cache(notebook, cache_path, timeout=120)
    assert traceback is None and seconds > 0
    _, cached = get_cache(str(cache_path)).merge_match_into_notebook(nbformat.read(notebook, as_version=4))
    # Its streams are merged, one per name, as the build merges them.
    streams = {output["name"]: output["text"] for output in cached.cells[0].outputs}
    assert streams == {"stdout": f"42 {tmp_path}\nend\n", "stderr": "noise\n"}


def test_a_failing_chapter_is_reported_and_not_cached(tmp_path):
    notebook = notebook_with(tmp_path, "raise ValueError('broken chapter')")
    cache_path = tmp_path / "cache"
    _, _, traceback = execute_chapters.execute_into_cache(notebook, cache_path, timeout=120)
    assert "broken chapter" in traceback
    with pytest.raises(KeyError):
        get_cache(str(cache_path)).match_cache_notebook(nbformat.read(notebook, as_version=4))
