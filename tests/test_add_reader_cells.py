"""scripts/add_reader_cells.py: the install cell, the book's glue and the section summaries, idempotently."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("add_reader_cells", ROOT / "scripts" / "add_reader_cells.py")
reader = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reader)

URL = "https://github.com/example/book"


def chapter(*cells: tuple[str, str]) -> nbformat.NotebookNode:
    """A notebook of ``(cell type, source)`` pairs."""
    make = {"markdown": nbformat.v4.new_markdown_cell, "code": nbformat.v4.new_code_cell}
    return nbformat.v4.new_notebook(cells=[make[kind](source) for kind, source in cells])


def layout(notebook: nbformat.NotebookNode) -> list[str]:
    """Each cell as ``install``, ``summary``, or its source's first line."""
    names = {reader.INSTALL_ID: "install"}
    return [names.get(cell.id, "summary" if reader.SUMMARY_ID.fullmatch(cell.id) else cell.source.splitlines()[0])
            for cell in notebook.cells]


GLUEING = chapter(
    ("markdown", "# Title\n\nIntroduction."),
    ("code", "from myst_nb import glue\n\nfrom snippets import load_mnist"),
    ("markdown", "## Training"),
    ("code", 'glue("loss", 1.5, display=False)'),
    ("markdown", "It is {glue:text}`loss:.1f` nats.\n\n## Sampling"),
    ("code", "x = 1"),
    ("markdown", "## Scoring\n\n```python\n# not a heading\n```"),
    ("code", 'glue("score", 2.0, display=False)'),
)


def test_install_cell_comes_before_the_first_code_cell_and_summaries_end_glueing_sections():
    notebook = reader.add_reader_cells(GLUEING, URL)
    assert layout(notebook) == [
        "# Title", "install", "from snippets.chapters.glued import glue, show_glued", "## Training",
        'glue("loss", 1.5, display=False)', "summary", "It is {glue:text}`loss:.1f` nats.", "x = 1",
        "## Scoring", 'glue("score", 2.0, display=False)', "summary"]


def test_added_cells_are_hidden_from_the_rendered_book():
    notebook = reader.add_reader_cells(GLUEING, URL)
    added = [cell for cell in notebook.cells if reader.is_reader_cell(cell)]
    assert len(added) == 3 and all(cell.metadata["tags"] == ["remove-cell"] for cell in added)


def test_install_cell_installs_the_package_with_its_tensorflow_extra_from_the_repository():
    source = reader.install_source(URL)
    assert reader.install_requirement(source) == "vae-book-snippets[tensorflow] @ git+https://github.com/example/book"
    assert 'find_spec("snippets") is None' in source and 'run_line_magic("pip"' in source
    # TensorFlow reads its log level once, when it loads: the setting comes before any import of it.
    assert source.index("TF_CPP_MIN_LOG_LEVEL") < source.index("run_line_magic")


def test_a_second_run_changes_nothing():
    once = nbformat.writes(reader.add_reader_cells(nbformat.from_dict(GLUEING), URL))
    twice = nbformat.writes(reader.add_reader_cells(nbformat.reads(once, as_version=4), URL))
    assert twice == once


def test_a_moved_repository_rewrites_the_install_cell_instead_of_adding_one():
    notebook = reader.add_reader_cells(nbformat.from_dict(GLUEING), URL)
    notebook = reader.add_reader_cells(notebook, "https://github.com/fork/book")
    installs = [cell for cell in notebook.cells if cell.id == reader.INSTALL_ID]
    assert len(installs) == 1 and "git+https://github.com/fork/book" in installs[0].source


def test_a_chapter_that_glues_without_importing_glue_is_refused():
    with pytest.raises(ValueError, match="calls glue but no cell"):
        reader.add_reader_cells(chapter(("code", 'glue("x", 1)')), URL)


def test_repository_url_is_read_from_the_book_config(tmp_path):
    assert reader.repository_url().startswith("https://github.com/")
    config = tmp_path / "_config.yml"
    config.write_text("title: x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="repository.url must be an https URL"):
        reader.repository_url(config)


@pytest.mark.parametrize("name", ["keras/vae_dense.ipynb", "theory/elbo.ipynb"])
def test_the_script_rewrites_a_chapter_copy_once(tmp_path, name, capsys):
    copy = tmp_path / Path(name).name
    shutil.copy(ROOT / "book" / name, copy)
    reader.main([str(copy)])
    first = copy.read_text(encoding="utf-8")
    reader.main([str(copy)])
    assert copy.read_text(encoding="utf-8") == first
    assert capsys.readouterr().out.splitlines()[-1] == f"{copy}: unchanged"
    notebook = nbformat.read(copy, as_version=4)
    nbformat.validate(notebook)
    assert notebook.cells[[c.cell_type for c in notebook.cells].index("code")].id == reader.INSTALL_ID
    assert "from myst_nb import glue" not in first and sum(c.source == "show_glued()" for c in notebook.cells) >= 1
