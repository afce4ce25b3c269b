"""The gallery is current, every entry runs pasted alone, and every public name is exercised by a test."""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import snippets

ROOT = Path(__file__).resolve().parents[1]
# Pasted into a fresh interpreter, an entry must not reach the installed package.
BLOCK_THE_PACKAGE = "import sys\nsys.modules['snippets'] = None\n"


def load_gallery_script():
    spec = importlib.util.spec_from_file_location("make_gallery", ROOT / "scripts" / "make_gallery.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


GALLERY = load_gallery_script()


def test_committed_gallery_matches_the_package():
    assert GALLERY.PAGE.read_text(encoding="utf-8") == GALLERY.render(), (
        "book/reference/gallery.md is stale: run python scripts/make_gallery.py"
    )


@pytest.mark.parametrize("entry", GALLERY.ENTRIES, ids=lambda entry: entry.usage.removesuffix(".py"))
def test_every_gallery_entry_runs_pasted_alone_into_a_fresh_interpreter(entry, tmp_path):
    """The page's blocks, in order, with the package itself unimportable: the usage script runs to the end."""
    script = tmp_path / "pasted.py"
    script.write_text(BLOCK_THE_PACKAGE + GALLERY.script(entry) + "\nprint('ENTRY DONE')\n", encoding="utf-8")
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-I", str(script)], cwd=tmp_path, env=environment,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and "ENTRY DONE" in result.stdout, result.stderr[-3000:]


def test_every_core_module_appears_in_the_gallery():
    shown = {module for entry in GALLERY.ENTRIES for module in GALLERY.modules_in_order(entry)}
    core = {path.stem for path in (ROOT / "snippets").glob("*.py")} - {"__init__"}
    assert core <= shown, f"core modules in no gallery entry: {sorted(core - shown)}"


def _names_used_by_tests() -> set[str]:
    names = set()
    for path in (ROOT / "tests").glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.Attribute):
                names.add(node.attr)
    return names


def test_every_public_name_is_used_by_a_test():
    unused = sorted(set(snippets.__all__) - _names_used_by_tests())
    assert unused == [], f"public names no test uses: {unused}"
