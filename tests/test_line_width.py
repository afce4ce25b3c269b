"""Every line of the book's code is at most 88 characters: what fits a code block of the
text column (book/_static/reading.css) and what ruff formats to (pyproject's line-length).

* ``test_code_lines_fit_88_columns``   no line of ``snippets/**/*.py`` or of a chapter's code
                                       cells is longer than 88 characters.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_COLUMNS = 88


def _code_lines(path: Path) -> list[str]:
    if path.suffix == ".py":
        return path.read_text(encoding="utf-8").splitlines()
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [
        line
        for cell in cells
        if cell["cell_type"] == "code"
        for line in "".join(cell["source"]).splitlines()
    ]


def _book_code_files() -> list[Path]:
    chapters = [
        path
        for path in (ROOT / "book").rglob("*.ipynb")
        if not any(part.startswith((".", "_")) for part in path.relative_to(ROOT).parts)
    ]
    return sorted((ROOT / "snippets").rglob("*.py")) + sorted(chapters)


def test_code_lines_fit_88_columns():
    files = _book_code_files()
    assert files, "no snippets or chapters found"
    too_long = {}
    for path in files:
        name = path.relative_to(ROOT).as_posix()
        count = sum(len(line) > MAX_COLUMNS for line in _code_lines(path))
        if count:
            too_long[name] = count
    assert not too_long, (
        f"lines over {MAX_COLUMNS} characters (file: count): {too_long}"
    )
