"""The chapters as the book build executed them: no errors, and checked cells print their reference output.

``make test`` executes every chapter once, into the execution cache of the quick build
(``scripts/execute_chapters.py``, then ``jupyter-book build`` into ``_build/quick``,
which renders each chapter from that cache). These tests read the executed chapters
from the same cache, looked up the way the build looks them up (by the code of the
chapter as committed, so an outdated execution is not found), and compare them with
the committed notebooks the way ``nbval --nbval-lax`` would: every cell ran without an
error, and every cell tagged ``nbval-check-output`` printed exactly its stored output.

The cache, not the build's ``_build/jupyter_execute`` folder, is read because on a
cache hit myst-nb writes the notebook as it read it there, committed outputs and all.

``VAE_BOOK_EXECUTED`` points at a folder of executed notebooks instead (such as the one
``benchmarks/full_profile.py`` writes); with ``VAE_BOOK_REQUIRE_EXECUTED=1``
(``make test``) a missing execution fails instead of skipping.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from jupyter_cache import get_cache
from myst_nb.core.utils import coalesce_streams
from nbval.plugin import get_sanitize_patterns

ROOT = Path(__file__).resolve().parents[1]
EXECUTION_CACHE = ROOT / "_build" / "quick" / "_build" / ".jupyter_cache"
EXECUTED = os.environ.get("VAE_BOOK_EXECUTED")
REQUIRE = os.environ.get("VAE_BOOK_REQUIRE_EXECUTED", "") not in ("", "0", "false", "no")
CHAPTERS = sorted(p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
CHECKED_TAG = "nbval-check-output"
SANITIZE_PATTERNS = get_sanitize_patterns((ROOT / "tests" / "nbval_sanitize.cfg").read_text())


def comparable(outputs: list[dict]) -> dict[str, str]:
    """What nbval compares in a cell's outputs: the printed text and the plain-text results.

    Like nbval, the printed text is the cell's stdout streams merged into one
    (``coalesce_streams``, which myst-nb adapted from nbval; merging merged
    streams again changes nothing).
    """
    streams = [
        nbformat.from_dict({**o, "text": "".join(o["text"])})
        for o in outputs
        if o["output_type"] == "stream" and o["name"] == "stdout"
    ]
    merged = coalesce_streams(streams)
    results = "".join(
        "".join(o["data"].get("text/plain", ""))
        for o in outputs
        if o["output_type"] in ("execute_result", "display_data")
    )
    stdout = "".join(merged[0]["text"]) if merged else ""
    return {"stdout": sanitized(stdout), "text/plain": sanitized(results)}


def sanitized(text: str) -> str:
    """``text`` after the replacements nbval applies (``tests/nbval_sanitize.cfg``)."""
    for pattern, replacement in SANITIZE_PATTERNS:
        text = re.sub(pattern, replacement, text)
    return text


def missing(message: str):
    if REQUIRE:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def executed_version(chapter: Path) -> dict:
    """``chapter`` as executed: from ``VAE_BOOK_EXECUTED`` if set, else from the quick build's cache."""
    if EXECUTED:
        path = Path(EXECUTED) / chapter.relative_to(ROOT)
        if not path.is_file():
            missing(f"no executed notebook {path}")
        return json.loads(path.read_text(encoding="utf-8"))
    if not EXECUTION_CACHE.is_dir():
        missing(f"no execution cache {EXECUTION_CACHE}: run the book build (make test does)")
    try:
        _, executed = get_cache(str(EXECUTION_CACHE)).merge_match_into_notebook(nbformat.read(chapter, as_version=4))
    except KeyError:
        missing(f"{chapter.relative_to(ROOT)} has no execution of its current code in {EXECUTION_CACHE}: "
                "rebuild the book")
    return json.loads(nbformat.writes(executed))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_cell_ran_and_checked_cells_match_their_reference(chapter):
    committed = json.loads(chapter.read_text(encoding="utf-8"))["cells"]
    executed = executed_version(chapter)["cells"]
    assert ["".join(c["source"]) for c in executed] == ["".join(c["source"]) for c in committed], (
        "the executed notebook is not this chapter's current source: rebuild the book"
    )
    for index, (reference, ran) in enumerate(zip(committed, executed)):
        if ran["cell_type"] != "code":
            continue
        errors = [o for o in ran["outputs"] if o["output_type"] == "error"]
        assert not errors, f"cell {index} raised {errors[0]['ename']}: {errors[0]['evalue']}"
        if CHECKED_TAG in reference["metadata"].get("tags", []):
            assert comparable(ran["outputs"]) == comparable(reference["outputs"]), (
                f"cell {index} printed other output than its reference; if the change is intended, "
                f"run scripts/refresh_notebooks.py {chapter.relative_to(ROOT)}"
            )


def test_a_line_flushed_in_two_pieces_compares_equal_to_the_line_printed_whole():
    whole = [{"output_type": "stream", "name": "stdout", "text": "a\nb\n"}]
    pieces = [
        {"output_type": "stream", "name": "stdout", "text": "a"},
        {"output_type": "stream", "name": "stdout", "text": "\nb\n"},
    ]
    assert comparable(pieces) == comparable(whole)
    assert comparable([{"output_type": "stream", "name": "stdout", "text": "a\nc\n"}]) != comparable(whole)
