"""House rules every chapter notebook keeps (the book itself runs under nbval)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
CHECKED_TAG = "nbval-check-output"  # nbval compares such a cell's output with the stored one


def is_checked(cell: dict) -> bool:
    return CHECKED_TAG in cell.get("metadata", {}).get("tags", [])


def code_cells(path: Path) -> list[dict]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [cell for cell in cells if cell["cell_type"] == "code"]


def test_the_book_has_chapters():
    assert len(CHAPTERS) >= 2


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_only_checked_cells_store_outputs(path):
    """Stored outputs would go stale: only nbval's reference outputs are kept."""
    for index, cell in enumerate(code_cells(path)):
        if not is_checked(cell):
            assert cell["outputs"] == [], f"cell {index} stores outputs"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_checked_cells_have_a_reference_output(path):
    """A checked cell with nothing stored would compare against nothing."""
    for index, cell in enumerate(code_cells(path)):
        if is_checked(cell):
            assert cell["outputs"], f"cell {index} is checked but stores no output"
            assert cell["execution_count"] is not None, f"cell {index}: nbval treats it as unrun"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_chapter_runs_on_the_installed_kernel(path):
    kernel = json.loads(path.read_text(encoding="utf-8"))["metadata"]["kernelspec"]["name"]
    assert kernel == "python3"
