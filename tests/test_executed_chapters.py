"""The chapters as the book build executed them: no errors, and checked cells print their reference output.

``make test`` executes every chapter once (``scripts/execute_chapters.py``, into the
execution cache of ``_build/quick``), and the book build (``jupyter-book build`` into
``_build/quick``) keeps each executed notebook under ``_build/jupyter_execute``. These tests read those executed notebooks and compare
them with the committed ones the way ``nbval --nbval-lax`` would: every cell ran
without an error, and every cell marked ``# NBVAL_CHECK_OUTPUT`` printed exactly its
stored output.

``VAE_BOOK_EXECUTED`` points at another folder of executed notebooks; with
``VAE_BOOK_REQUIRE_EXECUTED=1`` (``make test``) a missing build fails instead of skipping.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from myst_nb.core.utils import coalesce_streams

ROOT = Path(__file__).resolve().parents[1]
EXECUTED = Path(os.environ.get("VAE_BOOK_EXECUTED", ROOT / "_build" / "quick" / "_build" / "jupyter_execute"))
REQUIRE = os.environ.get("VAE_BOOK_REQUIRE_EXECUTED", "") not in ("", "0", "false", "no")
CHAPTERS = sorted(p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
CHECK_MARKER = "# NBVAL_CHECK_OUTPUT"


def comparable(outputs: list[dict], *, coalesced: bool) -> dict[str, str]:
    """What nbval compares in a cell's outputs: the printed text and the plain-text results.

    Like nbval, the printed text is the cell's stdout streams merged into one
    (``coalesce_streams``, which myst-nb adapted from nbval). The book build
    (``nb_merge_streams``, or ``scripts/execute_chapters.py`` before it) has already
    merged them into the first stdout stream of its executed copy, leaving any later
    ones in place: there the first is read.
    """
    streams = [o for o in outputs if o["output_type"] == "stream" and o["name"] == "stdout"]
    if coalesced:
        printed = "".join(streams[0]["text"]) if streams else ""
    else:
        merged = coalesce_streams([nbformat.from_dict({**o, "text": "".join(o["text"])}) for o in streams])
        printed = "".join(merged[0]["text"]) if merged else ""
    results = "".join(
        "".join(o["data"].get("text/plain", ""))
        for o in outputs
        if o["output_type"] in ("execute_result", "display_data")
    )
    return {"stdout": printed, "text/plain": results}


def executed_version(chapter: Path) -> dict:
    path = EXECUTED / chapter.relative_to(ROOT).with_suffix(".ipynb")
    if not path.is_file():
        message = f"no executed notebook {path}: run the book build (make test does)"
        if REQUIRE:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return json.loads(path.read_text(encoding="utf-8"))


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
        if CHECK_MARKER in "".join(reference["source"]):
            assert comparable(ran["outputs"], coalesced=True) == comparable(reference["outputs"], coalesced=False), (
                f"cell {index} printed other output than its reference; if the change is intended, "
                f"run scripts/refresh_notebooks.py {chapter.relative_to(ROOT)}"
            )
