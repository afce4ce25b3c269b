"""`pip install` of the repository brings everything a chapter imports (Colab's launch button relies on it)."""

from __future__ import annotations

import ast
import json
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Import names whose distribution is called otherwise.
DISTRIBUTION = {"sklearn": "scikit-learn", "skimage": "scikit-image", "myst_nb": "myst-nb", "IPython": "ipython", "mpl_toolkits": "matplotlib"}
# The Keras backend is the reader's choice (Colab ships TensorFlow); scaling.py and its chapter are about it.
BACKENDS = {"tensorflow", "jax", "torch"}
# Pulled in by scikit-learn, which the chapters declare.
TRANSITIVE = {"threadpoolctl": "scikit-learn"}


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {re.split(r"[<>=!~\[ ]", requirement)[0].lower() for requirement in project["dependencies"]}


def imported_top_level_names() -> dict[str, str]:
    """Top-level import names used by the package and the chapters' code cells, with one place each."""
    found: dict[str, str] = {}
    sources = [(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8")) for p in (ROOT / "snippets").rglob("*.py")]
    for notebook in sorted((ROOT / "book").rglob("*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        sources.append((str(notebook.relative_to(ROOT)), re.sub(r"^\s*[%!].*$", "", code, flags=re.M)))
    for where, source in sources:
        for node in ast.walk(ast.parse(source)):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                found.setdefault(name.split(".")[0], where)
    return found


def test_every_imported_distribution_is_declared_in_pyproject():
    needed = declared()
    missing = {}
    for name, where in imported_top_level_names().items():
        if name in sys.stdlib_module_names or name in BACKENDS or name in ("snippets", "__future__"):
            continue
        distribution = TRANSITIVE.get(name, DISTRIBUTION.get(name, name)).lower()
        if distribution not in needed:
            missing[name] = where
    assert missing == {}, f"imported but not in pyproject.toml's dependencies (name: first user): {missing}"


def test_the_chapter_subpackage_is_packaged():
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"]
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "snippets").rglob("__init__.py")}
    assert on_disk <= set(packages), f"packages missing from [tool.setuptools]: {sorted(on_disk - set(packages))}"
