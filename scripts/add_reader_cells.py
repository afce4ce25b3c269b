"""Make chapters read in Jupyter and Colab as they do in the rendered book.

For every chapter notebook given, this script

1. puts an install cell before the first code cell: it quiets TensorFlow's C++ logging
   (``TF_CPP_MIN_LOG_LEVEL``, read when TensorFlow loads) and, where ``snippets`` is not
   importable (Colab, a fresh Jupyter), runs ``%pip install`` of the package with its
   TensorFlow extra from the repository named in ``_config.yml``;
2. imports the book's :func:`snippets.chapters.glued.glue` instead of ``myst_nb``'s
   (the same glue, which also remembers each value);
3. puts a ``show_glued()`` cell at the end of every section that glued something, so
   the executed notebook shows the numbers the prose's ``{glue:text}`` roles quote.

The added cells are tagged ``remove-cell``: the rendered book hides them. Running the
script again rewrites them in place (it is idempotent); cells are recognised by their
ids (``reader-install``, ``show-glued-<n>``).

Usage: ``.venv/bin/python scripts/add_reader_cells.py book/keras/vae_dense.ipynb ...``
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTION = "vae-book-snippets"
EXTRA = "tensorflow"
HIDDEN = {"tags": ["remove-cell"]}
INSTALL_ID = "reader-install"
SUMMARY_ID = re.compile(r"show-glued-\d+")
SUMMARY_SOURCE = "show_glued()"
MYST_GLUE_IMPORT = re.compile(r"^from myst_nb import glue$", re.MULTILINE)
BOOK_GLUE_IMPORT = "from snippets.chapters.glued import glue, show_glued"
HEADING = re.compile(r"^#{1,6} ")


def repository_url(config: Path = ROOT / "_config.yml") -> str:
    """The ``repository.url`` of the book's ``_config.yml`` (what the launch buttons link to)."""
    url = (yaml.safe_load(config.read_text(encoding="utf-8")).get("repository") or {}).get("url")
    if not isinstance(url, str) or not url.startswith("https://"):
        raise ValueError(f"{config}: repository.url must be an https URL, got {url!r}")
    return url


def requirement(url: str) -> str:
    """The pip requirement of the package with its backend extra, from the git repository ``url``."""
    return f"{DISTRIBUTION}[{EXTRA}] @ git+{url}"


def install_source(url: str) -> str:
    """The install cell's code: quiet TensorFlow's C++ logging, install the package where it is missing."""
    return "\n".join([
        "# Run first. Quiets TensorFlow's C++ logging (read when TensorFlow loads) and, in Colab",
        "# or a Jupyter without the book's package, installs it with its TensorFlow backend.",
        "import importlib.util",
        "import os",
        "",
        'os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")',
        f'REPOSITORY = "git+{url}"',
        f'PACKAGE = f"{DISTRIBUTION}[{EXTRA}] @ {{REPOSITORY}}"',
        'if importlib.util.find_spec("snippets") is None:',
        '    get_ipython().run_line_magic("pip", f\'install --quiet "{PACKAGE}"\')',
    ])


def install_requirement(source: str) -> str:
    """The requirement an install cell's ``source`` installs (what a test installs from a local path)."""
    repository = re.search(r'^REPOSITORY = "(.+)"$', source, re.MULTILINE)
    package = re.search(r'^PACKAGE = f"(.+)"$', source, re.MULTILINE)
    if repository is None or package is None:
        raise ValueError('not an install cell: no REPOSITORY = "..." and PACKAGE = f"..." lines')
    return package.group(1).replace("{REPOSITORY}", repository.group(1))


def is_reader_cell(cell: nbformat.NotebookNode) -> bool:
    """Whether this script added ``cell`` (so a second run replaces it)."""
    return cell.get("id") == INSTALL_ID or bool(SUMMARY_ID.fullmatch(cell.get("id", "")))


def glues(cell: nbformat.NotebookNode) -> bool:
    """Whether a code ``cell`` calls ``glue(...)``."""
    if cell.cell_type != "code":
        return False
    source = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in cell.source.splitlines())
    return any(isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "glue"
               for node in ast.walk(ast.parse(source)))


def starts_section(cell: nbformat.NotebookNode) -> bool:
    """Whether a markdown ``cell`` holds a heading (outside fenced blocks)."""
    if cell.cell_type != "markdown":
        return False
    fenced = False
    for line in cell.source.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and HEADING.match(line):
            return True
    return False


def add_reader_cells(notebook: nbformat.NotebookNode, url: str) -> nbformat.NotebookNode:
    """``notebook`` with the install cell, the book's glue and a summary after every glueing section.

    A section ends before the next markdown cell holding a heading, or at the notebook's
    end; the cells this script added before are dropped first, so the result does not
    depend on how often it ran. Raises ``ValueError`` when the notebook glues without
    importing ``glue`` from ``myst_nb`` or the book.
    """
    cells = [cell for cell in notebook.cells if not is_reader_cell(cell)]
    taken = {cell.get("id") for cell in cells}
    if INSTALL_ID in taken or any(SUMMARY_ID.fullmatch(i or "") for i in taken):
        raise ValueError("a chapter cell already has an id this script uses")
    for cell in cells:
        if cell.cell_type == "code":
            cell.source = MYST_GLUE_IMPORT.sub(BOOK_GLUE_IMPORT, cell.source)
    if any(glues(cell) for cell in cells) and not any(BOOK_GLUE_IMPORT in cell.source for cell in cells):
        raise ValueError(f"the chapter calls glue but no cell has `{BOOK_GLUE_IMPORT}` "
                         "or `from myst_nb import glue`")
    result, pending = [], False
    for cell in cells:
        if pending and starts_section(cell):
            result.append(summary_cell(result))
            pending = False
        if cell.cell_type == "code" and not any(c.cell_type == "code" for c in result):
            result.append(nbformat.v4.new_code_cell(install_source(url), id=INSTALL_ID, metadata=HIDDEN))
        result.append(cell)
        pending = pending or glues(cell)
    if pending:
        result.append(summary_cell(result))
    notebook.cells = result
    return notebook


def summary_cell(cells_before: list[nbformat.NotebookNode]) -> nbformat.NotebookNode:
    """A hidden ``show_glued()`` cell, numbered after the summaries in ``cells_before``."""
    number = sum(bool(SUMMARY_ID.fullmatch(cell.get("id", ""))) for cell in cells_before) + 1
    return nbformat.v4.new_code_cell(SUMMARY_SOURCE, id=f"show-glued-{number}", metadata=HIDDEN)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path, help="chapter notebooks to rewrite in place")
    parser.add_argument("--config", type=Path, default=ROOT / "_config.yml",
                        help="the book's _config.yml, whose repository.url the install cell installs from")
    args = parser.parse_args(argv)
    url = repository_url(args.config)
    for path in args.notebooks:
        notebook = nbformat.read(path, as_version=4)
        before = nbformat.writes(notebook)
        after = nbformat.writes(add_reader_cells(notebook, url))
        if after != before:
            path.write_text(after + "\n", encoding="utf-8")
            print(f"{path}: reader cells written")
        else:
            print(f"{path}: unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
